//! What the store keeps about Stripe, as plain data: the decision reads these and says which
//! to write; `store::stripe` keys them and writes them in one transaction.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::account::UserId;
use crate::plan::{Credits, Plan};

/// The record that makes an event id apply once: written for an event that applied, or that
/// can never apply (`ignored`, `stale`, `rejected`); never for a parked one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    pub at: DateTime<Utc>,
}

/// The last state of one subscription that was applied, and the event it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionState {
    pub subscription: String,
    pub status: String,
    /// The event was a `customer.subscription.deleted`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// The plan this subscription gives now, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    pub event_created: i64,
    pub event_id: String,
}

/// A paid checkout (Lifetime or a v1 package), kept for its refunds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    /// The payment intent (the session id when Stripe gave none).
    pub key: String,
    pub session: String,
    /// `lifetime` or a package id.
    pub product: String,
    /// Credits the purchase added to the purchased bucket (0 for Lifetime).
    pub credits: Credits,
    /// What was paid, in the currency's smallest unit.
    pub amount: i64,
    pub amount_refunded: i64,
    /// Credits owed back so far by refunds (taken, or recorded as a shortfall).
    pub revoked: Credits,
    /// Fully refunded.
    pub refunded: bool,
    pub event_id: String,
}

/// A v2 package purchase that granted nothing: for an operator to refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedPurchase {
    pub session: String,
    pub user_id: UserId,
    pub price: String,
    pub product: String,
    pub amount: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_intent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    pub event_id: String,
    pub at: DateTime<Utc>,
}

/// One payment, by its key (the payment intent, or the checkout session without one): the user
/// whose purchase it paid for, once that purchase is applied or rejected; before that, a refund
/// that arrived first, parked until the purchase applies it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parked_refund: Option<ParkedRefund>,
}

/// A `charge.refunded` whose purchase is not recorded yet. `amount_refunded` is cumulative, so
/// the latest (largest) one stands for all before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedRefund {
    pub event_id: String,
    /// The charge's amount.
    pub amount: i64,
    pub amount_refunded: i64,
    pub at: DateTime<Utc>,
}

/// An event that could not apply yet, listed for operators (`credits-ops parked`): a paid
/// checkout whose price is not in the price map, or a refund whose purchase is not recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedEvent {
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The payment key the event concerns (a refund's payment intent, a checkout's payment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<String>,
    pub at: DateTime<Utc>,
}

/// A user's Stripe items, read together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StripeState {
    pub subscriptions: Vec<SubscriptionState>,
    pub purchases: Vec<Purchase>,
}
