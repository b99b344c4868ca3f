//! Stripe, as the product sees it: which price is which plan or package, and what a verified
//! event asks for. Pure: the event is read from its JSON (`serde_json::Value`), so an event of
//! an older or newer API version (fields moved between `2024-11` and `2026-07-29.dahlia`) maps
//! to the same command.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::account::UserId;
use crate::plan::{Credits, Package, Plan};

pub mod decide;
pub mod records;

/// What a price sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    Plan(Plan),
    Package(Package),
}

/// Price ids to products. Configured (`STRIPE_PRICES`), never edited in code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceMap(BTreeMap<String, Product>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid price map entry {entry:?}: {problem}")]
pub struct InvalidPriceMap {
    pub entry: String,
    pub problem: &'static str,
}

impl PriceMap {
    /// The local stack's price ids (SPEC, "The local stack").
    pub const DEFAULT: &'static str = "price_pro_monthly=pro_monthly,price_pro_yearly=pro_yearly,\
        price_lifetime=lifetime,price_credits_100=basic,price_credits_200=standard,\
        price_credits_500=premium,price_credits_1000=enterprise";

    /// `price_id=product` pairs separated by commas (whitespace ignored); a product is a paid
    /// plan id (`pro_monthly`, `pro_yearly`, `lifetime`) or a package id (`basic`, ...).
    pub fn parse(spec: &str) -> Result<Self, InvalidPriceMap> {
        let mut map = BTreeMap::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = |problem| InvalidPriceMap {
                entry: entry.to_owned(),
                problem,
            };
            let (price, product) = entry
                .split_once('=')
                .ok_or_else(|| bad("expected price=product"))?;
            let (price, product) = (price.trim(), product.trim());
            if price.is_empty() {
                return Err(bad("empty price id"));
            }
            let product = match (product.parse::<Plan>(), product.parse::<Package>()) {
                (Ok(Plan::Free), _) => return Err(bad("free has no price")),
                (Ok(plan), _) => Product::Plan(plan),
                (_, Ok(package)) => Product::Package(package),
                _ => return Err(bad("unknown plan or package")),
            };
            if map.insert(price.to_owned(), product).is_some() {
                return Err(bad("price listed twice"));
            }
        }
        Ok(Self(map))
    }

    pub fn get(&self, price: &str) -> Option<Product> {
        self.0.get(price).copied()
    }
}

impl Default for PriceMap {
    fn default() -> Self {
        Self::parse(Self::DEFAULT).unwrap_or(Self(BTreeMap::new()))
    }
}

/// A subscription's status as Stripe names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Active,
    Trialing,
    PastDue,
    Canceled,
    Unpaid,
    Incomplete,
    IncompleteExpired,
    Paused,
    Other(String),
}

impl Status {
    pub fn parse(s: &str) -> Self {
        match s {
            "active" => Self::Active,
            "trialing" => Self::Trialing,
            "past_due" => Self::PastDue,
            "canceled" => Self::Canceled,
            "unpaid" => Self::Unpaid,
            "incomplete" => Self::Incomplete,
            "incomplete_expired" => Self::IncompleteExpired,
            "paused" => Self::Paused,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Active => "active",
            Self::Trialing => "trialing",
            Self::PastDue => "past_due",
            Self::Canceled => "canceled",
            Self::Unpaid => "unpaid",
            Self::Incomplete => "incomplete",
            Self::IncompleteExpired => "incomplete_expired",
            Self::Paused => "paused",
            Self::Other(s) => s,
        }
    }
}

/// The plan one subscription gives, from its status (SPEC, "Subscription status"):
/// `active`/`trialing` give the price's plan; `past_due`, `incomplete` (and a status this code
/// does not know) keep what it gave before; `canceled`, `unpaid`, `incomplete_expired`, `paused`
/// give nothing. `cancel_at_period_end` is not read: the status stays `active` until the end.
pub fn subscription_grant(
    status: &Status,
    price_plan: Option<Plan>,
    before: Option<Plan>,
) -> Option<Plan> {
    match status {
        Status::Active | Status::Trialing => {
            price_plan.filter(|p| matches!(p, Plan::ProMonthly | Plan::ProYearly))
        }
        Status::PastDue | Status::Incomplete | Status::Other(_) => before,
        Status::Canceled | Status::Unpaid | Status::IncompleteExpired | Status::Paused => None,
    }
}

/// The plan an account has from everything paid for: the largest allowance among an unrefunded
/// Lifetime purchase and each subscription's grant; Free without any.
pub fn effective_plan(lifetime: bool, grants: impl IntoIterator<Item = Option<Plan>>) -> Plan {
    grants
        .into_iter()
        .flatten()
        .chain(lifetime.then_some(Plan::Lifetime))
        .max_by_key(|p| p.monthly_credits())
        .unwrap_or(Plan::Free)
}

/// The credits a package refund takes back in total: `floor(credits * refunded / amount)`,
/// never more than the package gave. `amount_refunded` is cumulative, so this is the total
/// owed after this refund, not the increment.
pub fn refund_share(credits: Credits, amount: i64, amount_refunded: i64) -> Credits {
    if amount <= 0 || amount_refunded <= 0 {
        return 0;
    }
    let share = i128::from(credits) * i128::from(amount_refunded.min(amount)) / i128::from(amount);
    Credits::try_from(share).unwrap_or(credits).min(credits)
}

/// A verified event, reduced to what the product needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeEvent {
    pub id: String,
    pub kind: String,
    /// Unix seconds: orders events of one subscription.
    pub created: i64,
    pub command: Command,
}

/// What an event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `checkout.session.completed`, mode `subscription`: remember the customer's user.
    Link { customer: String, user: UserId },
    /// `checkout.session.completed` (mode `payment`, paid or no payment required) or
    /// `checkout.session.async_payment_succeeded`: Lifetime or a package, by price.
    Buy(Buy),
    /// `customer.subscription.created|updated|deleted`.
    Subscription(Subscription),
    /// `invoice.paid`: credits come with the monthly reset, so it only links a customer.
    InvoicePaid {
        customer: Option<String>,
        user: Option<UserId>,
    },
    /// `charge.refunded`: find the purchase by its payment intent.
    Refund {
        payment_intent: String,
        amount: i64,
        amount_refunded: i64,
    },
    /// Nothing to do (the answer is `ignored`); the reason is for the log.
    Ignore(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buy {
    pub session: String,
    pub user: Option<UserId>,
    pub customer: Option<String>,
    /// `metadata.price_id`, set by the app when it creates the session.
    pub price: Option<String>,
    /// The purchase's key for refunds; the session id when Stripe gave none.
    pub payment_intent: Option<String>,
    pub amount: i64,
}

impl Buy {
    /// The payment's key: its payment intent, or the session when there is none (a session
    /// that needed no payment).
    pub fn key(&self) -> &str {
        self.payment_intent.as_deref().unwrap_or(&self.session)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub customer: Option<String>,
    pub user: Option<UserId>,
    pub status: Status,
    /// Every item's price, in order (a subscription may carry add-ons beside its plan).
    pub prices: Vec<String>,
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Stripe event: {0}")]
pub struct MalformedEvent(pub &'static str);

fn text<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn owned(v: &Value, path: &[&str]) -> Option<String> {
    text(v, path).map(str::to_owned)
}

fn user(v: &Value, path: &[&str]) -> Option<UserId> {
    text(v, path).and_then(|s| UserId::parse(s).ok())
}

/// A customer field is an id, or an expanded object with one.
fn customer(object: &Value) -> Option<String> {
    owned(object, &["customer"]).or_else(|| owned(object, &["customer", "id"]))
}

/// The event envelope and, for the types the product handles, its command.
pub fn command(event: &Value) -> Result<StripeEvent, MalformedEvent> {
    let id = owned(event, &["id"]).ok_or(MalformedEvent("no id"))?;
    let kind = owned(event, &["type"]).ok_or(MalformedEvent("no type"))?;
    let created = event
        .get("created")
        .and_then(Value::as_i64)
        .ok_or(MalformedEvent("no created time"))?;
    let object = event
        .get("data")
        .and_then(|d| d.get("object"))
        .filter(|o| o.is_object())
        .ok_or(MalformedEvent("no data.object"))?;
    let command = match kind.as_str() {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            checkout(object)?
        }
        "customer.subscription.created" | "customer.subscription.updated" => {
            attributable(subscription(object, false)?)
        }
        "customer.subscription.deleted" => attributable(subscription(object, true)?),
        "invoice.paid" => Command::InvoicePaid {
            customer: customer(object),
            // dahlia: parent.subscription_details; before basil: subscription_details.
            user: user(
                object,
                &["parent", "subscription_details", "metadata", "user_id"],
            )
            .or_else(|| user(object, &["subscription_details", "metadata", "user_id"])),
        },
        "charge.refunded" => match owned(object, &["payment_intent"])
            .or_else(|| owned(object, &["payment_intent", "id"]))
        {
            Some(payment_intent) => Command::Refund {
                payment_intent,
                amount: object.get("amount").and_then(Value::as_i64).unwrap_or(0),
                amount_refunded: object
                    .get("amount_refunded")
                    .and_then(Value::as_i64)
                    .unwrap_or(0),
            },
            None => Command::Ignore("refund without a payment intent"),
        },
        _ => Command::Ignore("event type not handled"),
    };
    Ok(StripeEvent {
        id,
        kind,
        created,
        command,
    })
}

fn checkout(object: &Value) -> Result<Command, MalformedEvent> {
    let who =
        user(object, &["client_reference_id"]).or_else(|| user(object, &["metadata", "user_id"]));
    match text(object, &["mode"]) {
        Some("subscription") => Ok(match (customer(object), who) {
            (Some(customer), Some(user)) => Command::Link { customer, user },
            _ => Command::Ignore("subscription checkout without customer or user"),
        }),
        // `no_payment_required`: a 100% coupon. `unpaid`: a delayed payment method, whose
        // `checkout.session.async_payment_succeeded` (with `paid`) follows.
        Some("payment")
            if matches!(
                text(object, &["payment_status"]),
                Some("paid" | "no_payment_required")
            ) =>
        {
            let session = owned(object, &["id"]).ok_or(MalformedEvent("session without id"))?;
            let customer = customer(object);
            if who.is_none() && customer.is_none() {
                return Ok(Command::Ignore(NEVER_ATTRIBUTABLE));
            }
            Ok(Command::Buy(Buy {
                payment_intent: owned(object, &["payment_intent"])
                    .or_else(|| owned(object, &["payment_intent", "id"])),
                session,
                user: who,
                customer,
                price: owned(object, &["metadata", "price_id"]),
                amount: object
                    .get("amount_total")
                    .and_then(Value::as_i64)
                    .unwrap_or(0),
            }))
        }
        Some("payment") => Ok(Command::Ignore(
            "payment checkout not paid yet: its async_payment_succeeded grants",
        )),
        _ => Ok(Command::Ignore("checkout mode not handled")),
    }
}

/// Why a subscription or a paid checkout that names neither a user nor a customer is ignored:
/// no customer link can ever arrive for it, so answering "retry" (as for a customer not linked
/// yet) would have Stripe retry for three days in vain. Found by the `webhook_signed` fuzz target.
pub const NEVER_ATTRIBUTABLE: &str = "names neither a user nor a customer: never attributable";

fn attributable(sub: Subscription) -> Command {
    if sub.user.is_none() && sub.customer.is_none() {
        Command::Ignore(NEVER_ATTRIBUTABLE)
    } else {
        Command::Subscription(sub)
    }
}

fn subscription(object: &Value, deleted: bool) -> Result<Subscription, MalformedEvent> {
    let items = object
        .get("items")
        .and_then(|i| i.get("data"))
        .and_then(Value::as_array);
    Ok(Subscription {
        id: owned(object, &["id"]).ok_or(MalformedEvent("subscription without id"))?,
        customer: customer(object),
        user: user(object, &["metadata", "user_id"]),
        status: Status::parse(text(object, &["status"]).unwrap_or("")),
        prices: items
            .into_iter()
            .flatten()
            .filter_map(|i| owned(i, &["price", "id"]))
            .chain(owned(object, &["plan", "id"]))
            .collect(),
        deleted,
    })
}

#[cfg(test)]
mod tests;
