//! The DynamoDB adapter. One table; every change is one conditional write.
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | account | `USER#<user>` | `ACCOUNT` | plan, period, monthly, purchased, held, seq, rev |
//! | ledger entry | `USER#<user>` | `TX#<seq, 12 digits>` | type, amount, bucket, balance_after, ... |
//! | idempotency record | `USER#<user>` | `IDEM#<key>` | request, status, response, expires_at (TTL) |
//! | closed hold | `USER#<user>` | `HOLD#<hold id>` | outcome, amount, committed, released, expired, closed_at |
//!
//! Open holds live in the account item (`holds`), so a hold and its buckets change together.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::account::{Account, UserId};
use crate::ledger::{Entry, TransactionId};
use crate::rules::{Change, ClosedHold};

pub mod limits;
mod runs;
pub use runs::{ScanCursor, ScanPage};

pub mod stripe_items;

/// Key and TTL attribute names: the table's definition in `infra/template.yaml` must agree.
pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const TTL_ATTRIBUTE: &str = "expires_at";

const ACCOUNT_SK: &str = "ACCOUNT";
const TX_PREFIX: &str = "TX#";
const IDEM_PREFIX: &str = "IDEM#";
const HOLD_PREFIX: &str = "HOLD#";

/// An account with the revision its optimistic concurrency is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub account: Account,
    pub rev: u64,
}

impl Stored {
    /// The account as a successful write of `change` on this one leaves it.
    pub fn after(self, change: Change) -> Stored {
        Stored {
            account: change.account,
            rev: self.rev + 1,
        }
    }
}

/// The first answer to an idempotent request, kept so that a retry gets it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// The request as the handler normalised it; another body under the same key is a conflict.
    pub request: String,
    /// The first answer, as JSON.
    pub response: String,
    /// Unix seconds. DynamoDB's TTL deletes the record some time after; until then the code
    /// treats an expired record as absent.
    pub expires_at: i64,
}

impl IdempotencyRecord {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at > now.timestamp()
    }
}

/// A page of the ledger, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub entries: Vec<Entry>,
    /// The id of the last entry returned, when older ones remain.
    pub next: Option<TransactionId>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB could not be reached, throttled past the SDK's retries, or failed.
    #[error("DynamoDB {operation} failed: {message}")]
    Unavailable {
        operation: &'static str,
        message: String,
    },
    /// An item that this code cannot read: a bug or a manual edit, never a client's fault.
    #[error("item {key} cannot be read: {message}")]
    Corrupt { key: String, message: String },
    /// A request this code cannot build: a bug, never a client's fault.
    #[error("a DynamoDB request cannot be built: {0}")]
    Build(String),
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The account changed since it was read: read again and decide again.
    #[error("the account changed concurrently")]
    Conflict,
    /// The idempotency key is already recorded for this user.
    #[error("the idempotency key is taken")]
    KeyTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
}

fn unavailable<E, R>(operation: &'static str) -> impl FnOnce(SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    move |e| StoreError::Unavailable {
        operation,
        message: DisplayErrorContext(e).to_string(),
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn user_pk(user: &UserId) -> String {
    format!("USER#{user}")
}

fn tx_sk(seq: u64) -> String {
    format!("{TX_PREFIX}{seq:012}")
}

#[derive(Serialize, Deserialize)]
struct AccountItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    account: Account,
    rev: u64,
    updated_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct EntryItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    entry: Entry,
}

#[derive(Serialize, Deserialize)]
struct IdempotencyItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    record: IdempotencyRecord,
}

#[derive(Serialize, Deserialize)]
struct ClosedHoldItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    hold: ClosedHold,
}

use limits::Item;

/// The items of an account new to the table (revision 1) and of its ledger entries, as the store
/// keeps them: what a test or a benchmark writes to prepare a table without the rules' writes.
pub fn new_account_items(
    change: &Change,
    now: DateTime<Utc>,
) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
    let pk = user_pk(&change.account.user_id);
    let mut items = vec![encode(&AccountItem {
        pk: pk.clone(),
        sk: ACCOUNT_SK.into(),
        account: change.account.clone(),
        rev: 1,
        updated_at: now,
    })?];
    for entry in &change.entries {
        items.push(encode(&EntryItem {
            pk: pk.clone(),
            sk: tx_sk(entry.seq),
            entry: entry.clone(),
        })?);
    }
    Ok(items)
}

/// Our item types are plain structs of strings, numbers and maps: encoding fails only on a bug.
fn encode<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Build(e.to_string()))
}

/// A builder's result (it fails only when a required field is missing: a bug).
fn built<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Build(e.to_string()))
}

fn decode<T: for<'de> Deserialize<'de>>(item: Item) -> Result<T, StoreError> {
    let key = format!(
        "{}/{}",
        item.get(PK).and_then(|v| v.as_s().ok()).map_or("?", |v| v),
        item.get(SK).and_then(|v| v.as_s().ok()).map_or("?", |v| v)
    );
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
        key,
        message: e.to_string(),
    })
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn key(&self, pk: String, sk: String) -> Item {
        HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
    }

    /// The account as stored (strongly consistent), or `None` for a user never seen.
    pub async fn read_account(&self, user: &UserId) -> Result<Option<Stored>, StoreError> {
        let item: Option<AccountItem> = self.get(user_pk(user), ACCOUNT_SK.into()).await?;
        Ok(item.map(|i| Stored {
            account: i.account,
            rev: i.rev,
        }))
    }

    /// The record of a hold that has ended, if `id` names one of this user's.
    pub async fn closed_hold(
        &self,
        user: &UserId,
        id: &str,
    ) -> Result<Option<ClosedHold>, StoreError> {
        let item: Option<ClosedHoldItem> = self
            .get(user_pk(user), format!("{HOLD_PREFIX}{id}"))
            .await?;
        Ok(item.map(|i| i.hold))
    }

    pub async fn idempotency(
        &self,
        user: &UserId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let item: Option<IdempotencyItem> = self
            .get(user_pk(user), format!("{IDEM_PREFIX}{key}"))
            .await?;
        Ok(item.map(|i| i.record))
    }

    /// One item, read strongly consistent.
    async fn get<T: for<'de> Deserialize<'de>>(
        &self,
        pk: String,
        sk: String,
    ) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("GetItem"))?;
        out.item.map(decode).transpose()
    }

    /// Writes a change atomically: the account (conditional on the revision it was read at,
    /// or on not existing yet), its new ledger entries, and the idempotency record if any.
    pub async fn write(
        &self,
        rev: Option<u64>,
        change: &Change,
        idempotency: Option<(&str, &IdempotencyRecord)>,
        now: DateTime<Utc>,
    ) -> Result<(), WriteError> {
        let (items, idem_index) = self.write_items(rev, change, idempotency, now)?;
        self.transact(items, idem_index).await
    }

    /// The transaction of [`Store::write`], and the index of its idempotency record in it.
    fn write_items(
        &self,
        rev: Option<u64>,
        change: &Change,
        idempotency: Option<(&str, &IdempotencyRecord)>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<TransactWriteItem>, Option<usize>), StoreError> {
        let pk = user_pk(&change.account.user_id);
        let mut items = self.change_items(rev, change, now)?;
        let mut idem_index = None;
        if let Some((key, record)) = idempotency {
            let item = encode(&IdempotencyItem {
                pk: pk.clone(),
                sk: format!("{IDEM_PREFIX}{key}"),
                record: record.clone(),
            })?;
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                // An expired record may still be there: TTL deletion is lazy.
                .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
                .expression_attribute_values(":now", n(now.timestamp()))
                .build();
            items.push(TransactWriteItem::builder().put(built(put)?).build());
            idem_index = Some(items.len() - 1);
        }
        Ok((items, idem_index))
    }

    /// Sends one transaction; `once_index` names its once-only record, if any (see
    /// [`classify_cancellation`]).
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        once_index: Option<usize>,
    ) -> Result<(), WriteError> {
        debug_assert!(
            items.len() <= limits::MAX_TRANSACTION_ITEMS,
            "{} items",
            items.len()
        );
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify_cancellation(e, once_index))
    }

    /// A put of an item that must not exist yet.
    fn put_new(&self, item: &impl Serialize) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(encode(item)?))
            .condition_expression("attribute_not_exists(pk)")
            .build();
        Ok(TransactWriteItem::builder().put(built(put)?).build())
    }

    /// The account's write, its new ledger entries and the holds it closed: the part of every
    /// transaction that changes credits.
    fn change_items(
        &self,
        rev: Option<u64>,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let pk = user_pk(&change.account.user_id);
        let mut items = vec![self.account_write(&pk, rev, change, now)?];
        for entry in &change.entries {
            items.push(self.put_new(&EntryItem {
                pk: pk.clone(),
                sk: tx_sk(entry.seq),
                entry: entry.clone(),
            })?);
        }
        for hold in &change.closed_holds {
            items.push(self.put_new(&ClosedHoldItem {
                pk: pk.clone(),
                sk: format!("{HOLD_PREFIX}{}", hold.hold_id),
                hold: hold.clone(),
            })?);
        }
        Ok(items)
    }

    fn account_write(
        &self,
        pk: &str,
        rev: Option<u64>,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, StoreError> {
        let a = &change.account;
        let Some(rev) = rev else {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(encode(&AccountItem {
                    pk: pk.to_owned(),
                    sk: ACCOUNT_SK.into(),
                    account: a.clone(),
                    rev: 1,
                    updated_at: now,
                })?))
                .condition_expression("attribute_not_exists(pk)")
                .build();
            return Ok(TransactWriteItem::builder().put(built(put)?).build());
        };
        let holds = serde_dynamo::to_attribute_value(&a.holds)
            .map_err(|e| StoreError::Build(e.to_string()))?;
        // SET only the fields the rules own: attributes other features keep on the account
        // item (a Stripe customer link, say) are left alone.
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(self.key(pk.to_owned(), ACCOUNT_SK.into())))
            .update_expression(
                "SET #plan = :plan, #period = :period, monthly = :monthly, \
                 purchased = :purchased, held = :held, holds = :holds, seq = :seq, \
                 rev = :next, updated_at = :now, migrated_to = :migrated",
            )
            .condition_expression("rev = :rev")
            .expression_attribute_names("#plan", "plan")
            .expression_attribute_names("#period", "period")
            .expression_attribute_values(":plan", s(a.plan.id()))
            .expression_attribute_values(":period", s(a.period.to_string()))
            .expression_attribute_values(":monthly", n(a.monthly))
            .expression_attribute_values(":purchased", n(a.purchased))
            .expression_attribute_values(":held", n(a.held))
            .expression_attribute_values(":holds", holds)
            .expression_attribute_values(":seq", n(a.seq))
            .expression_attribute_values(
                ":migrated",
                a.migrated_to.as_ref().map_or(AttributeValue::Null(true), s),
            )
            .expression_attribute_values(":next", n(rev + 1))
            .expression_attribute_values(":rev", n(rev))
            .expression_attribute_values(":now", s(now.to_rfc3339()))
            .build();
        Ok(TransactWriteItem::builder().update(built(update)?).build())
    }

    /// Ledger entries newest first, `limit` of them, older than `before` when given.
    pub async fn entries(
        &self,
        user: &UserId,
        limit: usize,
        before: Option<TransactionId>,
    ) -> Result<Page, StoreError> {
        let high = match before {
            Some(TransactionId(0)) => {
                return Ok(Page {
                    entries: vec![],
                    next: None,
                });
            }
            Some(TransactionId(seq)) => tx_sk(seq - 1),
            None => format!("{TX_PREFIX}~"),
        };
        // One more than asked, to know whether a next page exists without a second query.
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :low AND :high")
            .expression_attribute_values(":pk", s(user_pk(user)))
            .expression_attribute_values(":low", s(TX_PREFIX))
            .expression_attribute_values(":high", s(high))
            .scan_index_forward(false)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(unavailable("Query"))?;
        let mut entries = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| decode::<EntryItem>(item).map(|i| i.entry))
            .collect::<Result<Vec<_>, _>>()?;
        let next = if entries.len() > limit {
            entries.truncate(limit);
            entries.last().map(Entry::id)
        } else {
            None
        };
        Ok(Page { entries, next })
    }
}

/// Tells a lost race (retry) from a taken once-only record at `once_index` (an idempotency key:
/// replay; a Stripe event's record: duplicate) from a real fault.
fn classify_cancellation<R: std::fmt::Debug>(
    e: SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
    once_index: Option<usize>,
) -> WriteError {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
    if let Some(E::TransactionCanceledException(cancel)) = e.as_service_error() {
        let codes: Vec<&str> = cancel
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().unwrap_or("None"))
            .collect();
        let failed = |i: usize| codes.get(i).is_some_and(|c| *c == "ConditionalCheckFailed");
        if once_index.is_some_and(failed) {
            return WriteError::KeyTaken;
        }
        if codes
            .iter()
            .any(|c| *c == "ConditionalCheckFailed" || *c == "TransactionConflict")
        {
            return WriteError::Conflict;
        }
    }
    WriteError::Store(unavailable("TransactWriteItems")(e))
}
