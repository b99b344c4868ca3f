//! The Stripe items of the table, and the one transaction that applies an event.
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | processed event | `STRIPE#EVENT#<evt>` | `EVENT` | type, outcome, user_id?, at |
//! | customer link | `STRIPE#CUSTOMER#<cus>` | `LINK` | user_id |
//! | payment link | `STRIPE#PAYMENT#<pi>` | `LINK` | user_id |
//! | subscription | `USER#<user>` | `STRIPE#SUB#<sub>` | status, price, plan?, event_created, event_id |
//! | purchase | `USER#<user>` | `STRIPE#PURCHASE#<pi>` | product, credits, amount, amount_refunded, revoked, refunded |
//! | rejected purchase | `STRIPE#REJECTED` | `<session>` | user_id, price, product, amount, payment_intent, event_id, at |

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    Item, SK, Store, StoreError, WriteError, built, decode, encode, s, unavailable, user_pk,
};
use crate::account::UserId;
use crate::plan::{Credits, Plan};
use crate::rules::Change;

const SUB_PREFIX: &str = "STRIPE#SUB#";
const PURCHASE_PREFIX: &str = "STRIPE#PURCHASE#";
const REJECTED_PK: &str = "STRIPE#REJECTED";

/// The record that makes an event id apply once.
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

/// A user's Stripe items, read together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StripeState {
    pub subscriptions: Vec<SubscriptionState>,
    pub purchases: Vec<Purchase>,
}

/// What one event writes, all in one transaction.
#[derive(Debug, Default)]
pub struct StripeWrite<'a> {
    pub event: Option<EventRecord>,
    /// The account (at the revision it was read), written even when unchanged: its revision
    /// serialises every change to the user's Stripe items.
    pub account: Option<(Option<u64>, &'a Change)>,
    pub customer: Option<(String, UserId)>,
    pub payment: Option<(String, UserId)>,
    pub subscription: Option<SubscriptionState>,
    pub purchase: Option<Purchase>,
    pub rejected: Option<RejectedPurchase>,
}

#[derive(Debug, thiserror::Error)]
pub enum StripeWriteError {
    /// The event is already recorded: another delivery applied it.
    #[error("the event is already applied")]
    Duplicate,
    /// The account changed since it was read: read again and decide again.
    #[error("the account changed concurrently")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Serialize, Deserialize)]
struct Keyed<T> {
    pk: String,
    sk: String,
    #[serde(flatten)]
    value: T,
}

#[derive(Serialize, Deserialize)]
struct Link {
    user_id: UserId,
}

fn event_pk(id: &str) -> String {
    format!("STRIPE#EVENT#{id}")
}

fn customer_pk(id: &str) -> String {
    format!("STRIPE#CUSTOMER#{id}")
}

fn payment_pk(id: &str) -> String {
    format!("STRIPE#PAYMENT#{id}")
}

fn keyed<T: Serialize>(pk: String, sk: String, value: T) -> Result<Item, StoreError> {
    encode(&Keyed { pk, sk, value })
}

impl Store {
    /// The record of an event already applied.
    pub async fn stripe_event(&self, id: &str) -> Result<Option<EventRecord>, StoreError> {
        let item: Option<Keyed<EventRecord>> = self.get(event_pk(id), "EVENT".into()).await?;
        Ok(item.map(|k| k.value))
    }

    /// The user a Stripe customer belongs to, once a checkout or subscription named them.
    pub async fn customer_user(&self, customer: &str) -> Result<Option<UserId>, StoreError> {
        let item: Option<Keyed<Link>> = self.get(customer_pk(customer), "LINK".into()).await?;
        Ok(item.map(|k| k.value.user_id))
    }

    /// The user whose purchase a payment intent paid for.
    pub async fn payment_user(&self, payment_intent: &str) -> Result<Option<UserId>, StoreError> {
        let item: Option<Keyed<Link>> = self.get(payment_pk(payment_intent), "LINK".into()).await?;
        Ok(item.map(|k| k.value.user_id))
    }

    /// A user's subscriptions and purchases (one consistent Query of the user's partition).
    pub async fn stripe_state(&self, user: &UserId) -> Result<StripeState, StoreError> {
        let items = self.query_all(user_pk(user), Some("STRIPE#")).await?;
        let mut state = StripeState::default();
        for item in items {
            let sk = item
                .get(SK)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            if sk.starts_with(SUB_PREFIX) {
                state
                    .subscriptions
                    .push(decode::<Keyed<SubscriptionState>>(item)?.value);
            } else if sk.starts_with(PURCHASE_PREFIX) {
                state.purchases.push(decode::<Keyed<Purchase>>(item)?.value);
            }
        }
        Ok(state)
    }

    /// Every v2 package purchase that granted nothing, oldest session id first.
    pub async fn rejected_purchases(&self) -> Result<Vec<RejectedPurchase>, StoreError> {
        self.query_all(REJECTED_PK.to_owned(), None)
            .await?
            .into_iter()
            .map(|i| decode::<Keyed<RejectedPurchase>>(i).map(|k| k.value))
            .collect()
    }

    async fn query_all(&self, pk: String, prefix: Option<&str>) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_values(":pk", s(pk.clone()))
                .set_exclusive_start_key(start);
            q = match prefix {
                Some(p) => q
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":prefix", s(p)),
                None => q.key_condition_expression("pk = :pk"),
            };
            let out = q.send().await.map_err(unavailable("Query"))?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Applies an event in one transaction: its record (conditioned on not existing, so a
    /// second delivery is a `Duplicate`), the account and ledger entries (conditioned on the
    /// revision read) and the Stripe items that go with them.
    pub async fn apply_stripe(
        &self,
        w: &StripeWrite<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StripeWriteError> {
        let put = |item: Item, condition: Option<&str>| {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .set_condition_expression(condition.map(str::to_owned))
                .build();
            built(put).map(|p| TransactWriteItem::builder().put(p).build())
        };
        let mut items = Vec::new();
        let mut event_index = None;
        if let Some(e) = &w.event {
            let record = keyed(event_pk(&e.event_id), "EVENT".into(), e)?;
            items.push(put(record, Some("attribute_not_exists(pk)"))?);
            event_index = Some(0);
        }
        if let Some((rev, change)) = w.account {
            items.extend(self.change_items(rev, change, now)?);
            let pk = user_pk(&change.account.user_id);
            if let Some(sub) = &w.subscription {
                let sk = format!("{SUB_PREFIX}{}", sub.subscription);
                items.push(put(keyed(pk.clone(), sk, sub)?, None)?);
            }
            if let Some(p) = &w.purchase {
                let sk = format!("{PURCHASE_PREFIX}{}", p.key);
                items.push(put(keyed(pk.clone(), sk, p)?, None)?);
            }
        }
        for (pk, link) in [
            (w.customer.as_ref(), customer_pk as fn(&str) -> String),
            (w.payment.as_ref(), payment_pk),
        ]
        .into_iter()
        .filter_map(|(l, f)| l.map(|(id, user)| (f(id), user)))
        {
            let link = Link {
                user_id: link.clone(),
            };
            items.push(put(keyed(pk, "LINK".into(), link)?, None)?);
        }
        if let Some(r) = &w.rejected {
            items.push(put(keyed(REJECTED_PK.into(), r.session.clone(), r)?, None)?);
        }
        if items.is_empty() {
            return Ok(());
        }
        match self.transact(items, event_index).await {
            Ok(()) => Ok(()),
            Err(WriteError::KeyTaken) => Err(StripeWriteError::Duplicate),
            Err(WriteError::Conflict) => Err(StripeWriteError::Conflict),
            Err(WriteError::Store(e)) => Err(StripeWriteError::Store(e)),
        }
    }
}
