//! The Stripe decision, pure: an event, what the store holds about its user and its payment,
//! the flags, the price map and the time in; the outcome and the one write out, as plain data
//! that `store::stripe` turns into one transaction. The service reads what [`needs`] names,
//! calls [`decide`] and writes; a lost race reads and decides again.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::records::{
    EventRecord, ParkedEvent, ParkedRefund, Payment, Purchase, RejectedPurchase, StripeState,
    SubscriptionState,
};
use super::{
    Buy, Command, PriceMap, Product, Status, StripeEvent, Subscription, effective_plan,
    refund_share, subscription_grant,
};
use crate::account::{Account, UserId};
use crate::flags::Flags;
use crate::plan::{Credits, Package, Plan};
use crate::rules::{self, Change};

/// The webhook's answer: `{"received": true, "outcome": ...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventOutcome {
    /// Changed the account or the links.
    Applied,
    /// Already applied by an earlier delivery.
    Duplicate,
    /// Older than the subscription state already applied.
    Stale,
    /// Nothing to do, now or ever (recorded when it concerns a known user).
    Ignored,
    /// A v2 package purchase: no credits, recorded for a refund.
    Rejected,
    /// Cannot apply yet (a price this deployment does not know, a refund before its purchase):
    /// kept, listed for operators, and not recorded as done, so that a later delivery applies.
    Parked,
}

impl EventOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            EventOutcome::Applied => "applied",
            EventOutcome::Duplicate => "duplicate",
            EventOutcome::Stale => "stale",
            EventOutcome::Ignored => "ignored",
            EventOutcome::Rejected => "rejected",
            EventOutcome::Parked => "parked",
        }
    }
}

/// What the decision of one event needs besides the event and what the store holds.
pub struct StripeContext<'a> {
    pub prices: &'a PriceMap,
    /// The flags in force, `None` while Parameter Store was never read.
    pub flags: Option<Flags>,
}

/// Whose event it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Nobody,
    /// The user the event names, else the one its customer is linked to.
    Named {
        user: Option<UserId>,
        customer: Option<String>,
    },
    /// The user whose purchase the payment ([`Needs::payment`]) paid for.
    Payer,
}

/// What to read before deciding an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    pub who: Who,
    /// The payment item of this key: a purchase's (a refund parked before it, or the purchase
    /// applied already) or a refund's (its purchase's user).
    pub payment: Option<String>,
    /// The user's account (brought current), and their subscriptions and purchases.
    pub account: bool,
    pub stripe_state: bool,
}

/// What was read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub user: Option<UserId>,
    pub account: Option<Account>,
    pub state: StripeState,
    pub payment: Option<Payment>,
}

/// Why an event cannot be decided now: Stripe is asked to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No user is linked yet: the link (a checkout) usually arrives first.
    #[error("cannot attribute the event to a user yet: no user_id and no customer link")]
    Unattributable,
    /// A package purchase needs the v1/v2 flag, and Parameter Store was never read.
    #[error("the system version is unknown (flags never read)")]
    FlagsUnknown,
}

/// The outcome, the one write that goes with it, and a note for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: EventOutcome,
    pub write: Write,
    pub note: Option<String>,
}

/// Everything one event writes, in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Write {
    /// The event's record (conditioned on not existing: a second delivery is a duplicate).
    pub event: Option<EventRecord>,
    /// The account's change (conditioned on the revision read, written even when empty: it
    /// serialises every change to the user's Stripe items, which are written only with it).
    pub change: Option<Change>,
    pub customer: Option<(String, UserId)>,
    pub payment: Option<PaymentWrite>,
    pub subscription: Option<SubscriptionState>,
    pub purchase: Option<Purchase>,
    pub rejected: Option<RejectedPurchase>,
    pub parked: Option<ParkedEvent>,
}

/// A payment item to put, conditioned on it being as it was read (`None`: absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentWrite {
    pub key: String,
    pub payment: Payment,
    pub read: Option<Payment>,
}

/// The reads `event` needs.
pub fn needs(event: &StripeEvent, ctx: &StripeContext<'_>) -> Needs {
    let nothing = Needs {
        who: Who::Nobody,
        payment: None,
        account: false,
        stripe_state: false,
    };
    let named = |user: &Option<UserId>, customer: &Option<String>| Who::Named {
        user: user.clone(),
        customer: customer.clone(),
    };
    match &event.command {
        Command::Ignore(_) | Command::Link { .. } | Command::InvoicePaid { .. } => nothing,
        Command::Subscription(sub) => Needs {
            who: named(&sub.user, &sub.customer),
            account: true,
            stripe_state: true,
            ..nothing
        },
        Command::Buy(buy) => match (product(buy, ctx.prices), ctx.flags) {
            (Some(Product::Plan(Plan::Lifetime)), _) => Needs {
                who: named(&buy.user, &buy.customer),
                payment: Some(buy.key().to_owned()),
                account: true,
                stripe_state: true,
            },
            (Some(Product::Package(_)), Some(flags)) => Needs {
                who: named(&buy.user, &buy.customer),
                payment: Some(buy.key().to_owned()),
                account: flags.purchases_enabled(),
                stripe_state: false,
            },
            // Parked, or refused while the flags are unknown: nothing to read.
            _ => nothing,
        },
        Command::Refund { payment_intent, .. } => Needs {
            who: Who::Payer,
            payment: Some(payment_intent.clone()),
            account: true,
            stripe_state: true,
        },
    }
}

/// Decides `event` on what was read.
pub fn decide(
    event: &StripeEvent,
    facts: &Facts,
    ctx: &StripeContext<'_>,
    now: DateTime<Utc>,
) -> Result<Decision, Refusal> {
    let d = Decider { event, facts, now };
    match &event.command {
        Command::Ignore(why) => Ok(d.done(EventOutcome::Ignored, Write::default(), Some(why))),
        Command::Link { customer, user } => Ok(d.done(
            EventOutcome::Applied,
            Write {
                event: d.record(EventOutcome::Applied, Some(user)),
                customer: Some((customer.clone(), user.clone())),
                ..Write::default()
            },
            None,
        )),
        Command::InvoicePaid { customer, user } => {
            // Credits come with the monthly reset; paying an invoice grants nothing more.
            let link = customer.clone().zip(user.clone());
            let outcome = if link.is_some() {
                EventOutcome::Applied
            } else {
                EventOutcome::Ignored
            };
            Ok(d.done(
                outcome,
                Write {
                    event: d.record(outcome, user.as_ref()),
                    customer: link,
                    ..Write::default()
                },
                None,
            ))
        }
        Command::Subscription(sub) => d.subscription(sub, ctx.prices),
        Command::Buy(buy) => d.buy(buy, ctx),
        Command::Refund {
            payment_intent,
            amount,
            amount_refunded,
        } => Ok(d.refund(payment_intent, *amount, *amount_refunded)),
    }
}

/// What a paid checkout's price sells, if this deployment knows it.
fn product(buy: &Buy, prices: &PriceMap) -> Option<Product> {
    buy.price.as_deref().and_then(|p| prices.get(p))
}

/// Where a subscription's state stands in its history: Stripe's `created` second first (its
/// only clock, with one-second resolution); within one second, the subscription's own
/// lifecycle ([`lifecycle`]); then the larger plan. An event applies only when it stands after
/// the state already applied, so events of one second end in the same state in any order, and
/// a paying user is never left on the lower plan.
pub fn order(state: &SubscriptionState) -> (i64, u8, Credits) {
    (
        state.event_created,
        lifecycle(&Status::parse(&state.status), state.deleted),
        state.plan.map_or(0, Plan::monthly_credits),
    )
}

/// A subscription's statuses in the order its life goes through them: `incomplete`, then
/// `trialing`, `active` (and statuses this code does not know), `past_due`, `unpaid` or
/// `paused`, and last the ends (`canceled`, `incomplete_expired`, deleted).
pub fn lifecycle(status: &Status, deleted: bool) -> u8 {
    if deleted {
        return 5;
    }
    match status {
        Status::Incomplete => 0,
        Status::Trialing => 1,
        Status::Active | Status::Other(_) => 2,
        Status::PastDue => 3,
        Status::Unpaid | Status::Paused => 4,
        Status::Canceled | Status::IncompleteExpired => 5,
    }
}

/// A subscription's plan price: of its items' prices, one the price map names as a
/// subscription plan (the largest if several: an add-on item beside it changes nothing), else
/// its first price and no plan.
pub fn plan_price(prices: &[String], map: &PriceMap) -> (Option<String>, Option<Plan>) {
    prices
        .iter()
        .filter_map(|p| match map.get(p) {
            Some(Product::Plan(plan @ (Plan::ProMonthly | Plan::ProYearly))) => Some((p, plan)),
            _ => None,
        })
        .max_by_key(|(_, plan)| plan.monthly_credits())
        .map_or_else(
            || (prices.first().cloned(), None),
            |(p, plan)| (Some(p.clone()), Some(plan)),
        )
}

/// A refund of `amount_refunded` (cumulative) of a charge of `amount` against `purchase`: the
/// purchase as it stands after it, and the package credits it owes back beyond those revoked
/// before (SPEC: `floor(credits * amount_refunded / amount)` in total).
pub fn refund_purchase(
    purchase: &Purchase,
    amount: i64,
    amount_refunded: i64,
) -> (Purchase, Credits) {
    let mut after = purchase.clone();
    after.amount_refunded = amount_refunded.max(purchase.amount_refunded);
    let paid = if amount > 0 { amount } else { purchase.amount };
    after.refunded = after.amount_refunded >= paid;
    if purchase.product == Plan::Lifetime.id() {
        return (after, 0);
    }
    let owed = refund_share(purchase.credits, paid, after.amount_refunded);
    after.revoked = owed.max(purchase.revoked);
    (after, owed - purchase.revoked)
}

/// Whether an unrefunded Lifetime purchase remains, leaving out the one of `except`.
fn lifetime(state: &StripeState, except: Option<&str>) -> bool {
    state
        .purchases
        .iter()
        .any(|p| p.product == Plan::Lifetime.id() && !p.refunded && Some(p.key.as_str()) != except)
}

struct Decider<'a> {
    event: &'a StripeEvent,
    facts: &'a Facts,
    now: DateTime<Utc>,
}

impl Decider<'_> {
    fn done(&self, outcome: EventOutcome, write: Write, note: Option<&str>) -> Decision {
        Decision {
            outcome,
            write,
            note: note.map(str::to_owned),
        }
    }

    fn record(&self, outcome: EventOutcome, user: Option<&UserId>) -> Option<EventRecord> {
        Some(EventRecord {
            event_id: self.event.id.clone(),
            kind: self.event.kind.clone(),
            outcome: outcome.as_str().to_owned(),
            user_id: user.cloned(),
            at: self.now,
        })
    }

    fn cause(&self) -> String {
        format!("stripe:{}", self.event.id)
    }

    fn user(&self) -> Result<UserId, Refusal> {
        self.facts.user.clone().ok_or(Refusal::Unattributable)
    }

    fn account(&self) -> Option<&Account> {
        self.facts.account.as_ref()
    }

    fn subscription(&self, sub: &Subscription, prices: &PriceMap) -> Result<Decision, Refusal> {
        let user = self.user()?;
        let subs = &self.facts.state.subscriptions;
        let before = subs.iter().find(|s| s.subscription == sub.id);
        let (price, price_plan) = plan_price(&sub.prices, prices);
        let note = price_plan
            .is_none()
            .then(|| format!("no item's price is a configured plan: {:?}", sub.prices));
        let plan = if sub.deleted {
            None
        } else {
            subscription_grant(&sub.status, price_plan, before.and_then(|b| b.plan))
        };
        let state = SubscriptionState {
            subscription: sub.id.clone(),
            status: sub.status.as_str().to_owned(),
            deleted: sub.deleted,
            price,
            plan,
            event_created: self.event.created,
            event_id: self.event.id.clone(),
        };
        if before.is_some_and(|b| order(b) >= order(&state)) {
            let write = Write {
                event: self.record(EventOutcome::Stale, Some(&user)),
                ..Write::default()
            };
            return Ok(self.done(EventOutcome::Stale, write, None));
        }
        let others = subs.iter().filter(|s| s.subscription != sub.id);
        let account_plan = effective_plan(
            lifetime(&self.facts.state, None),
            others.map(|s| s.plan).chain([plan]),
        );
        let change =
            rules::change_plan(self.account(), &user, account_plan, &self.cause(), self.now);
        let write = Write {
            event: self.record(EventOutcome::Applied, Some(&user)),
            change: Some(change),
            customer: sub.customer.clone().map(|c| (c, user.clone())),
            subscription: Some(state),
            ..Write::default()
        };
        Ok(self.done(EventOutcome::Applied, write, note.as_deref()))
    }

    fn buy(&self, buy: &Buy, ctx: &StripeContext<'_>) -> Result<Decision, Refusal> {
        let package = match product(buy, ctx.prices) {
            Some(Product::Plan(Plan::Lifetime)) => None,
            Some(Product::Package(package)) => Some(package),
            _ => return Ok(self.park_checkout(buy)),
        };
        let enabled = match (package, ctx.flags) {
            (Some(_), None) => return Err(Refusal::FlagsUnknown),
            (Some(_), Some(flags)) => flags.purchases_enabled(),
            (None, _) => true,
        };
        let user = self.user()?;
        let read = self.facts.payment.clone();
        if read.as_ref().is_some_and(|p| p.user_id.is_some()) {
            let write = Write {
                event: self.record(EventOutcome::Ignored, Some(&user)),
                ..Write::default()
            };
            let note = "another event of this payment applied it already";
            return Ok(self.done(EventOutcome::Ignored, write, Some(note)));
        }
        let parked = read.as_ref().and_then(|p| p.parked_refund.clone());
        let payment = Some(PaymentWrite {
            key: buy.key().to_owned(),
            payment: Payment {
                user_id: Some(user.clone()),
                parked_refund: None,
            },
            read,
        });
        if let (Some(package), false) = (package, enabled) {
            let write = Write {
                event: self.record(EventOutcome::Rejected, Some(&user)),
                rejected: Some(self.rejected(buy, &user, package)),
                payment,
                ..Write::default()
            };
            return Ok(self.done(EventOutcome::Rejected, write, None));
        }
        let bought = Purchase {
            key: buy.key().to_owned(),
            session: buy.session.clone(),
            product: package.map_or(Plan::Lifetime.id(), Package::id).to_owned(),
            credits: package.map_or(0, Package::credits),
            amount: buy.amount,
            amount_refunded: 0,
            revoked: 0,
            refunded: false,
            event_id: self.event.id.clone(),
        };
        // A refund that arrived first is applied with its purchase, in the same write.
        let (bought, owed) = match &parked {
            Some(r) => refund_purchase(&bought, r.amount, r.amount_refunded),
            None => (bought, 0),
        };
        let cause = self.cause();
        let change = match package {
            None => {
                // Lifetime: the plan is the largest of it and every subscription's.
                let plan = effective_plan(
                    !bought.refunded || lifetime(&self.facts.state, None),
                    self.facts.state.subscriptions.iter().map(|s| s.plan),
                );
                rules::change_plan(self.account(), &user, plan, &cause, self.now)
            }
            Some(package) => {
                let change = rules::purchase(self.account(), &user, package, &cause, self.now);
                match parked.filter(|_| owed > 0) {
                    Some(r) => {
                        let reason = refund_reason(&bought);
                        let cause = format!("stripe:{}", r.event_id);
                        let (revoked, _) = rules::revoke(
                            Some(&change.account),
                            &user,
                            owed,
                            &cause,
                            &reason,
                            self.now,
                        );
                        change.then(revoked)
                    }
                    None => change,
                }
            }
        };
        let write = Write {
            event: self.record(EventOutcome::Applied, Some(&user)),
            change: Some(change),
            customer: buy.customer.clone().map(|c| (c, user.clone())),
            payment,
            purchase: Some(bought),
            ..Write::default()
        };
        Ok(self.done(EventOutcome::Applied, write, None))
    }

    /// A paid checkout this deployment cannot apply: parked, not recorded, so that a
    /// redelivery or a resend applies it once the price map knows its price.
    fn park_checkout(&self, buy: &Buy) -> Decision {
        let reason = match &buy.price {
            None => "no metadata.price_id, and no price found for the session".to_owned(),
            Some(p) => format!("price {p} is not a package or Lifetime in STRIPE_PRICES"),
        };
        let parked = ParkedEvent {
            event_id: self.event.id.clone(),
            kind: self.event.kind.clone(),
            reason: reason.clone(),
            user_id: buy.user.clone(),
            price: buy.price.clone(),
            session: Some(buy.session.clone()),
            payment: Some(buy.key().to_owned()),
            at: self.now,
        };
        let write = Write {
            parked: Some(parked),
            ..Write::default()
        };
        self.done(EventOutcome::Parked, write, Some(&reason))
    }

    fn refund(&self, payment_intent: &str, amount: i64, amount_refunded: i64) -> Decision {
        let Some(user) = self.facts.user.clone() else {
            return self.park_refund(payment_intent, amount, amount_refunded);
        };
        let state = &self.facts.state;
        let Some(purchase) = state.purchases.iter().find(|p| p.key == payment_intent) else {
            // A rejected v2 purchase: it granted nothing, so there is nothing to take back.
            let write = Write {
                event: self.record(EventOutcome::Ignored, Some(&user)),
                ..Write::default()
            };
            return self.done(
                EventOutcome::Ignored,
                write,
                Some("a purchase that granted nothing"),
            );
        };
        let (after, owed) = refund_purchase(purchase, amount, amount_refunded);
        let account = self.account();
        let cause = self.cause();
        let (change, outcome) = if purchase.product == Plan::Lifetime.id() {
            if after.refunded && !purchase.refunded {
                // SPEC: a fully refunded Lifetime ends as a downgrade.
                let plan = effective_plan(
                    lifetime(state, Some(payment_intent)),
                    state.subscriptions.iter().map(|s| s.plan),
                );
                let change = rules::change_plan(account, &user, plan, &cause, self.now);
                (change, EventOutcome::Applied)
            } else {
                // A partial refund of Lifetime keeps the plan; a full one ended it already.
                (
                    rules::touch(account, &user, self.now),
                    EventOutcome::Ignored,
                )
            }
        } else if owed > 0 {
            let reason = refund_reason(&after);
            let (change, _) = rules::revoke(account, &user, owed, &cause, &reason, self.now);
            (change, EventOutcome::Applied)
        } else {
            (
                rules::touch(account, &user, self.now),
                EventOutcome::Ignored,
            )
        };
        let write = Write {
            event: self.record(outcome, Some(&user)),
            change: Some(change),
            purchase: Some(after),
            ..Write::default()
        };
        self.done(outcome, write, None)
    }

    /// A refund whose purchase is not recorded (yet): parked on the payment, for the purchase
    /// to apply when it arrives. Not recorded: a redelivery parks it again (the larger
    /// cumulative refund stands).
    fn park_refund(&self, payment_intent: &str, amount: i64, amount_refunded: i64) -> Decision {
        let read = self.facts.payment.clone();
        let reason = "refund of a payment with no purchase recorded (yet)";
        let parked_already = read
            .as_ref()
            .and_then(|p| p.parked_refund.as_ref())
            .is_some_and(|r| r.amount_refunded >= amount_refunded);
        if parked_already {
            return self.done(EventOutcome::Parked, Write::default(), Some(reason));
        }
        let refund = ParkedRefund {
            event_id: self.event.id.clone(),
            amount,
            amount_refunded,
            at: self.now,
        };
        let write = Write {
            payment: Some(PaymentWrite {
                key: payment_intent.to_owned(),
                payment: Payment {
                    user_id: None,
                    parked_refund: Some(refund),
                },
                read,
            }),
            parked: Some(ParkedEvent {
                event_id: self.event.id.clone(),
                kind: self.event.kind.clone(),
                reason: reason.to_owned(),
                user_id: None,
                price: None,
                session: None,
                payment: Some(payment_intent.to_owned()),
                at: self.now,
            }),
            ..Write::default()
        };
        self.done(EventOutcome::Parked, write, Some(reason))
    }

    fn rejected(&self, buy: &Buy, user: &UserId, package: Package) -> RejectedPurchase {
        RejectedPurchase {
            session: buy.session.clone(),
            user_id: user.clone(),
            price: buy.price.clone().unwrap_or_default(),
            product: package.id().to_owned(),
            amount: buy.amount,
            payment_intent: buy.payment_intent.clone(),
            customer: buy.customer.clone(),
            event_id: self.event.id.clone(),
            at: self.now,
        }
    }
}

fn refund_reason(after: &Purchase) -> String {
    format!(
        "refund of package {}: {} of {} credits owed back",
        after.product, after.revoked, after.credits
    )
}

#[cfg(test)]
mod tests;
