//! Applying a verified Stripe event: read the user's account and Stripe items, decide with the
//! pure rules, write the decision and the event's record in one transaction. A lost race reads
//! and decides again; a second delivery is refused on the record and changes nothing.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Attempt, CreditService, retry};
use crate::account::UserId;
use crate::flags::Flags;
use crate::plan::{Package, Plan};
use crate::rules;
use crate::store::stripe::{
    EventRecord, Purchase, RejectedPurchase, StripeState, StripeWrite, StripeWriteError,
    SubscriptionState,
};
use crate::store::{StoreError, Stored};
use crate::stripe::{
    Buy, Command, Event, PriceMap, Product, Subscription, effective_plan, refund_share,
    subscription_grant,
};

/// The webhook's answer: `{"received": true, "outcome": ...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Changed the account or the links.
    Applied,
    /// Already applied by an earlier delivery.
    Duplicate,
    /// Older than the subscription state already applied.
    Stale,
    /// Nothing to do (recorded when it concerns a known user).
    Ignored,
    /// A v2 package purchase: no credits, recorded for a refund.
    Rejected,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Stale => "stale",
            Outcome::Ignored => "ignored",
            Outcome::Rejected => "rejected",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// No user is linked yet: Stripe retries, and the link (a checkout) usually arrives first.
    #[error("cannot attribute the event to a user yet: {0}")]
    Unattributable(&'static str),
    /// A package purchase needs the v1/v2 flag, and Parameter Store was never read.
    #[error("the system version is unknown (flags never read)")]
    FlagsUnknown,
    #[error("the account is too busy; retry")]
    Contention,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<super::ServiceError> for StripeError {
    fn from(e: super::ServiceError) -> Self {
        match e {
            super::ServiceError::Store(e) => StripeError::Store(e),
            // `retry` only ever gives up with Contention, or returns a store fault.
            _ => StripeError::Contention,
        }
    }
}

/// What the decision of one event needs besides the event.
pub struct StripeContext<'a> {
    pub prices: &'a PriceMap,
    /// The flags in force, `None` while Parameter Store was never read.
    pub flags: Option<Flags>,
}

/// An attempt's failure that is not a lost race.
enum Stop {
    Duplicate,
    Fail(StripeError),
}

impl CreditService {
    /// Applies `event` at most once, whatever the number and order of its deliveries.
    pub async fn apply_stripe(
        &self,
        event: &Event,
        ctx: &StripeContext<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, StripeError> {
        if let Command::Ignore(_) = event.command {
            return Ok(Outcome::Ignored);
        }
        let result = retry(|| async {
            match self.attempt(event, ctx, now).await {
                Ok(outcome) => Ok(Ok(outcome)),
                Err(Ok(stop)) => Ok(Err(stop)),
                Err(Err(attempt)) => Err(attempt),
            }
        })
        .await?;
        match result {
            Ok(outcome) => Ok(outcome),
            Err(Stop::Duplicate) => Ok(Outcome::Duplicate),
            Err(Stop::Fail(e)) => Err(e),
        }
    }

    async fn attempt(
        &self,
        event: &Event,
        ctx: &StripeContext<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, Result<Stop, Attempt>> {
        // No read of the event's record first: the transaction below is conditioned on it, so
        // a second delivery is refused there (`Duplicate`), and a first one, the usual case,
        // costs one round trip less.
        let store = self.store();
        let record = |outcome: Outcome, user: Option<&UserId>| EventRecord {
            event_id: event.id.clone(),
            kind: event.kind.clone(),
            outcome: outcome.as_str().to_owned(),
            user_id: user.cloned(),
            at: now,
        };
        let cause = format!("stripe:{}", event.id);
        match &event.command {
            Command::Ignore(_) => Ok(Outcome::Ignored),
            Command::Link { customer, user } => {
                let w = StripeWrite {
                    event: Some(record(Outcome::Applied, Some(user))),
                    customer: Some((customer.clone(), user.clone())),
                    ..StripeWrite::default()
                };
                self.commit(&w, Outcome::Applied, now).await
            }
            Command::InvoicePaid { customer, user } => {
                // Credits come with the monthly reset; paying an invoice grants nothing more.
                let link = customer.clone().zip(user.clone());
                let outcome = if link.is_some() {
                    Outcome::Applied
                } else {
                    Outcome::Ignored
                };
                let w = StripeWrite {
                    event: Some(record(outcome, user.as_ref())),
                    customer: link,
                    ..StripeWrite::default()
                };
                self.commit(&w, outcome, now).await
            }
            Command::Subscription(sub) => {
                let user = self
                    .attribute(sub.user.as_ref(), sub.customer.as_deref())
                    .await?;
                let (stored, state) = self.stripe_read(&user).await?;
                let before = state
                    .subscriptions
                    .iter()
                    .find(|s| s.subscription == sub.id);
                if before.is_some_and(|b| b.event_created >= event.created) {
                    let w = StripeWrite {
                        event: Some(record(Outcome::Stale, Some(&user))),
                        ..StripeWrite::default()
                    };
                    return self.commit(&w, Outcome::Stale, now).await;
                }
                let grant = subscription_state(sub, ctx.prices, before.and_then(|b| b.plan), event);
                let plan = effective_plan(
                    lifetime(&state, None),
                    state
                        .subscriptions
                        .iter()
                        .filter(|s| s.subscription != sub.id)
                        .map(|s| s.plan)
                        .chain([grant.plan]),
                );
                let account = stored.as_ref().map(|s| &s.account);
                let change = rules::change_plan(account, &user, plan, &cause, now);
                let w = StripeWrite {
                    event: Some(record(Outcome::Applied, Some(&user))),
                    account: Some((stored.as_ref().map(|s| s.rev), &change)),
                    customer: sub.customer.clone().map(|c| (c, user.clone())),
                    subscription: Some(grant),
                    ..StripeWrite::default()
                };
                self.commit(&w, Outcome::Applied, now).await
            }
            Command::Buy(buy) => self.buy(event, buy, ctx, &cause, now).await,
            Command::Refund {
                payment_intent,
                amount,
                amount_refunded,
            } => {
                let Some(user) = store.payment_user(payment_intent).await.map_err(fault)? else {
                    // Not a purchase of ours (a subscription invoice, a rejected v2 package).
                    return Ok(Outcome::Ignored);
                };
                let (stored, state) = self.stripe_read(&user).await?;
                let Some(purchase) = state.purchases.iter().find(|p| &p.key == payment_intent)
                else {
                    return Ok(Outcome::Ignored);
                };
                let account = stored.as_ref().map(|s| &s.account);
                let rev = stored.as_ref().map(|s| s.rev);
                let mut after = purchase.clone();
                after.amount_refunded = (*amount_refunded).max(purchase.amount_refunded);
                let paid = if *amount > 0 {
                    *amount
                } else {
                    purchase.amount
                };
                let (change, outcome) = if purchase.product == Plan::Lifetime.id() {
                    after.refunded = after.amount_refunded >= paid;
                    if !after.refunded {
                        // A partial refund of Lifetime keeps the plan (SPEC: a *fully*
                        // refunded Lifetime ends as a downgrade).
                        (rules::touch(account, &user, now), Outcome::Ignored)
                    } else {
                        let plan = effective_plan(
                            lifetime(&state, Some(payment_intent)),
                            state.subscriptions.iter().map(|s| s.plan),
                        );
                        (
                            rules::change_plan(account, &user, plan, &cause, now),
                            Outcome::Applied,
                        )
                    }
                } else {
                    let owed = refund_share(purchase.credits, paid, after.amount_refunded);
                    let more = owed - purchase.revoked;
                    after.revoked = owed.max(purchase.revoked);
                    after.refunded = after.amount_refunded >= paid;
                    if more <= 0 {
                        (rules::touch(account, &user, now), Outcome::Ignored)
                    } else {
                        let reason = format!(
                            "refund of package {}: {owed} of {} credits owed back",
                            purchase.product, purchase.credits
                        );
                        (
                            rules::revoke(account, &user, more, &cause, &reason, now).0,
                            Outcome::Applied,
                        )
                    }
                };
                let w = StripeWrite {
                    event: Some(record(outcome, Some(&user))),
                    account: Some((rev, &change)),
                    purchase: Some(after),
                    ..StripeWrite::default()
                };
                self.commit(&w, outcome, now).await
            }
        }
    }

    async fn buy(
        &self,
        event: &Event,
        buy: &Buy,
        ctx: &StripeContext<'_>,
        cause: &str,
        now: DateTime<Utc>,
    ) -> Result<Outcome, Result<Stop, Attempt>> {
        let user = self
            .attribute(buy.user.as_ref(), buy.customer.as_deref())
            .await?;
        let record = |outcome: Outcome| EventRecord {
            event_id: event.id.clone(),
            kind: event.kind.clone(),
            outcome: outcome.as_str().to_owned(),
            user_id: Some(user.clone()),
            at: now,
        };
        let product = buy.price.as_deref().and_then(|p| ctx.prices.get(p));
        let key = buy
            .payment_intent
            .clone()
            .unwrap_or_else(|| buy.session.clone());
        let purchase = |product: &str, credits| Purchase {
            key: key.clone(),
            session: buy.session.clone(),
            product: product.to_owned(),
            credits,
            amount: buy.amount,
            amount_refunded: 0,
            revoked: 0,
            refunded: false,
            event_id: event.id.clone(),
        };
        // Lifetime changes the plan (the largest of it and every subscription); a package adds
        // purchased credits (v1 only). Either way: the account, the payment's link and the
        // purchase written with the event's record.
        let (stored, change, bought) = match product {
            Some(Product::Plan(Plan::Lifetime)) => {
                let (stored, state) = self.stripe_read(&user).await?;
                let plan = effective_plan(true, state.subscriptions.iter().map(|s| s.plan));
                let account = stored.as_ref().map(|s| &s.account);
                let change = rules::change_plan(account, &user, plan, cause, now);
                (stored, change, purchase(Plan::Lifetime.id(), 0))
            }
            Some(Product::Package(package)) => {
                let Some(flags) = ctx.flags else {
                    return Err(Ok(Stop::Fail(StripeError::FlagsUnknown)));
                };
                if !flags.purchases_enabled() {
                    let w = StripeWrite {
                        event: Some(record(Outcome::Rejected)),
                        rejected: Some(rejected(buy, &user, package, event, now)),
                        ..StripeWrite::default()
                    };
                    return self.commit(&w, Outcome::Rejected, now).await;
                }
                let stored = self.store().account(&user).await.map_err(fault)?;
                let account = stored.as_ref().map(|s| &s.account);
                let change = rules::purchase(account, &user, package, cause, now);
                (stored, change, purchase(package.id(), package.credits()))
            }
            _ => {
                tracing::error!(
                    event_id = %event.id,
                    price = buy.price.as_deref().unwrap_or("<none>"),
                    "paid checkout for a price that is not a package or Lifetime; set STRIPE_PRICES"
                );
                let w = StripeWrite {
                    event: Some(record(Outcome::Ignored)),
                    ..StripeWrite::default()
                };
                return self.commit(&w, Outcome::Ignored, now).await;
            }
        };
        let w = StripeWrite {
            event: Some(record(Outcome::Applied)),
            account: Some((stored.as_ref().map(|s| s.rev), &change)),
            customer: buy.customer.clone().map(|c| (c, user.clone())),
            payment: Some((key.clone(), user.clone())),
            purchase: Some(bought),
            ..StripeWrite::default()
        };
        self.commit(&w, Outcome::Applied, now).await
    }

    /// The user an event names, or the one its customer is linked to.
    async fn attribute(
        &self,
        named: Option<&UserId>,
        customer: Option<&str>,
    ) -> Result<UserId, Result<Stop, Attempt>> {
        if let Some(user) = named {
            return Ok(user.clone());
        }
        let linked = match customer {
            Some(c) => self.store().customer_user(c).await.map_err(fault)?,
            None => None,
        };
        linked.ok_or(Ok(Stop::Fail(StripeError::Unattributable(
            "no user_id in the object and no customer link yet",
        ))))
    }

    /// The account first, then the Stripe items: anything written in between bumps the
    /// account's revision, so the write of a decision made on a stale read fails.
    async fn stripe_read(
        &self,
        user: &UserId,
    ) -> Result<(Option<Stored>, StripeState), Result<Stop, Attempt>> {
        let stored = self.store().account(user).await.map_err(fault)?;
        let state = self.store().stripe_state(user).await.map_err(fault)?;
        Ok((stored, state))
    }

    async fn commit(
        &self,
        w: &StripeWrite<'_>,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> Result<Outcome, Result<Stop, Attempt>> {
        match self.store().apply_stripe(w, now).await {
            Ok(()) => Ok(outcome),
            Err(StripeWriteError::Duplicate) => Err(Ok(Stop::Duplicate)),
            Err(StripeWriteError::Conflict) => Err(Err(Attempt::Again)),
            Err(StripeWriteError::Store(e)) => Err(Ok(Stop::Fail(e.into()))),
        }
    }
}

fn fault(e: StoreError) -> Result<Stop, Attempt> {
    Ok(Stop::Fail(e.into()))
}

/// Whether an unrefunded Lifetime purchase remains, leaving out the one being refunded.
fn lifetime(state: &StripeState, except: Option<&String>) -> bool {
    state
        .purchases
        .iter()
        .any(|p| p.product == Plan::Lifetime.id() && !p.refunded && Some(&p.key) != except)
}

fn subscription_state(
    sub: &Subscription,
    prices: &PriceMap,
    before: Option<Plan>,
    event: &Event,
) -> SubscriptionState {
    let price_plan = match sub.price.as_deref().and_then(|p| prices.get(p)) {
        Some(Product::Plan(plan)) => Some(plan),
        _ => {
            tracing::warn!(event_id = %event.id, price = ?sub.price, "subscription price is not a configured plan");
            None
        }
    };
    let plan = if sub.deleted {
        None
    } else {
        subscription_grant(&sub.status, price_plan, before)
    };
    SubscriptionState {
        subscription: sub.id.clone(),
        status: sub.status.as_str().to_owned(),
        price: sub.price.clone(),
        plan,
        event_created: event.created,
        event_id: event.id.clone(),
    }
}

fn rejected(
    buy: &Buy,
    user: &UserId,
    package: Package,
    event: &Event,
    now: DateTime<Utc>,
) -> RejectedPurchase {
    RejectedPurchase {
        session: buy.session.clone(),
        user_id: user.clone(),
        price: buy.price.clone().unwrap_or_default(),
        product: package.id().to_owned(),
        amount: buy.amount,
        payment_intent: buy.payment_intent.clone(),
        customer: buy.customer.clone(),
        event_id: event.id.clone(),
        at: now,
    }
}
