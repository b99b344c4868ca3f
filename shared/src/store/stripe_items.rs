//! The Stripe items of the table, and the one transaction that applies an event's decision
//! ([`crate::stripe::decide::Write`]).
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | processed event | `STRIPE#EVENT#<evt>` | `EVENT` | type, outcome, user_id?, at |
//! | customer link | `STRIPE#CUSTOMER#<cus>` | `LINK` | user_id |
//! | payment | `STRIPE#PAYMENT#<pi>` | `LINK` | user_id? (its purchase's user), parked_refund? |
//! | subscription | `USER#<user>` | `STRIPE#SUB#<sub>` | status, deleted?, price, plan?, event_created, event_id |
//! | purchase | `USER#<user>` | `STRIPE#PURCHASE#<pi>` | product, credits, amount, amount_refunded, revoked, refunded |
//! | rejected purchase | `STRIPE#REJECTED` | `<session>` | user_id, price, product, amount, payment_intent, event_id, at |
//! | parked event | `STRIPE#PARKED` | `<evt>` | type, reason, user_id?, price?, session?, payment?, at |

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    Item, SK, Store, StoreError, WriteError, built, decode, encode, s, unavailable, user_pk,
};
use crate::account::UserId;
use crate::stripe::decide::{PaymentWrite, Write};
use crate::stripe::records::{
    EventRecord, ParkedEvent, Payment, Purchase, RejectedPurchase, StripeState, SubscriptionState,
};

const SUB_PREFIX: &str = "STRIPE#SUB#";
const PURCHASE_PREFIX: &str = "STRIPE#PURCHASE#";
const REJECTED_PK: &str = "STRIPE#REJECTED";
const PARKED_PK: &str = "STRIPE#PARKED";

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

    /// What is known of a payment: its purchase's user, or a refund parked before it.
    pub async fn payment(&self, key: &str) -> Result<Option<Payment>, StoreError> {
        let item: Option<Keyed<Payment>> = self.get(payment_pk(key), "LINK".into()).await?;
        Ok(item.map(|k| k.value))
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
        self.listed(REJECTED_PK).await
    }

    /// Every parked event, oldest event id first; some may have applied since (see
    /// [`Store::parked_applied`]).
    pub async fn parked_events(&self) -> Result<Vec<ParkedEvent>, StoreError> {
        self.listed(PARKED_PK).await
    }

    /// The items of a list partition (rejected purchases, parked events).
    async fn listed<T: for<'de> Deserialize<'de>>(&self, pk: &str) -> Result<Vec<T>, StoreError> {
        self.query_all(pk.to_owned(), None)
            .await?
            .into_iter()
            .map(|i| decode::<Keyed<T>>(i).map(|k| k.value))
            .collect()
    }

    /// Whether a parked event has applied since: a checkout by a later delivery (its record),
    /// a refund by its purchase (the payment's user).
    pub async fn parked_applied(&self, parked: &ParkedEvent) -> Result<bool, StoreError> {
        if self.stripe_event(&parked.event_id).await?.is_some() {
            return Ok(true);
        }
        match (parked.kind.as_str(), &parked.payment) {
            ("charge.refunded", Some(key)) => Ok(self
                .payment(key)
                .await?
                .is_some_and(|p| p.user_id.is_some())),
            _ => Ok(false),
        }
    }

    /// Removes a parked event from the list (once it has applied).
    pub async fn forget_parked(&self, event_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.key(PARKED_PK.into(), event_id.to_owned())))
            .send()
            .await
            .map_err(unavailable("DeleteItem"))?;
        Ok(())
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

    /// Applies a decision's write in one transaction: the event's record (conditioned on not
    /// existing, so a second delivery is a `Duplicate`), the account and its entries
    /// (conditioned on the revision read), the payment (conditioned on being as read) and the
    /// other Stripe items that go with them.
    pub async fn write_stripe_decision(
        &self,
        rev: Option<u64>,
        w: &Write,
        now: DateTime<Utc>,
    ) -> Result<(), StripeWriteError> {
        let (items, event_index) = self.stripe_items(rev, w, now)?;
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

    /// The transaction of [`Store::write_stripe_decision`], and the index of the event's record in it.
    pub(crate) fn stripe_items(
        &self,
        rev: Option<u64>,
        w: &Write,
        now: DateTime<Utc>,
    ) -> Result<(Vec<TransactWriteItem>, Option<usize>), StoreError> {
        let mut items = Vec::new();
        let mut event_index = None;
        if let Some(e) = &w.event {
            let record = keyed(event_pk(&e.event_id), "EVENT".into(), e)?;
            items.push(self.put(record, Some("attribute_not_exists(pk)"), None)?);
            event_index = Some(0);
        }
        if let Some(change) = &w.change {
            items.extend(self.change_items(rev, change, now)?);
            let pk = user_pk(&change.account.user_id);
            if let Some(sub) = &w.subscription {
                let sk = format!("{SUB_PREFIX}{}", sub.subscription);
                items.push(self.put(keyed(pk.clone(), sk, sub)?, None, None)?);
            }
            if let Some(p) = &w.purchase {
                let sk = format!("{PURCHASE_PREFIX}{}", p.key);
                items.push(self.put(keyed(pk.clone(), sk, p)?, None, None)?);
            }
        }
        if let Some((customer, user)) = &w.customer {
            let link = Link {
                user_id: user.clone(),
            };
            items.push(self.put(
                keyed(customer_pk(customer), "LINK".into(), link)?,
                None,
                None,
            )?);
        }
        if let Some(p) = &w.payment {
            items.push(self.payment_put(p)?);
        }
        if let Some(r) = &w.rejected {
            let item = keyed(REJECTED_PK.into(), r.session.clone(), r)?;
            items.push(self.put(item, None, None)?);
        }
        if let Some(p) = &w.parked {
            let item = keyed(PARKED_PK.into(), p.event_id.clone(), p)?;
            items.push(self.put(item, None, None)?);
        }
        Ok((items, event_index))
    }

    fn put(
        &self,
        item: Item,
        condition: Option<&str>,
        values: Option<HashMap<String, AttributeValue>>,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_values(values)
            .build();
        Ok(TransactWriteItem::builder().put(built(put)?).build())
    }

    /// A payment's put, conditioned on the item being as it was read: a purchase and a refund
    /// parked for it, or two purchases of one payment, never both pass on the same reading.
    fn payment_put(&self, p: &PaymentWrite) -> Result<TransactWriteItem, StoreError> {
        let item = keyed(payment_pk(&p.key), "LINK".into(), &p.payment)?;
        let Some(read) = &p.read else {
            return self.put(item, Some("attribute_not_exists(pk)"), None);
        };
        let mut values = HashMap::new();
        let user = match &read.user_id {
            Some(u) => {
                values.insert(":user".to_owned(), s(u.as_str()));
                "user_id = :user"
            }
            None => "attribute_not_exists(user_id)",
        };
        let parked = match &read.parked_refund {
            Some(r) => {
                values.insert(":parked".to_owned(), s(r.event_id.clone()));
                "parked_refund.event_id = :parked"
            }
            None => "attribute_not_exists(parked_refund)",
        };
        let condition = format!("attribute_exists(pk) AND {user} AND {parked}");
        self.put(
            item,
            Some(&condition),
            (!values.is_empty()).then_some(values),
        )
    }
}
