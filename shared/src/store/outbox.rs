//! The transactional outbox: the events a change publishes ([`crate::rules::notify`]) are one
//! item written in the change's own transaction, so they exist exactly when the change
//! committed. A publisher sends them and deletes the item; what it fails to send stays for the
//! next run.
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | outbox | `OUTBOX#<shard, 0..8>` | `<RFC 3339 time>#<write id>` | user_id, events (JSON), created_at |
//!
//! A few shards spread the writes of busy moments; a sweep queries each, oldest first.

use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, decode, s, unavailable};
use crate::rules::notify::{self, Committed, Event};

pub const OUTBOX_PREFIX: &str = "OUTBOX#";
pub const OUTBOX_SHARDS: u64 = 8;

/// One committed write's events, waiting to be published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub pk: String,
    pub sk: String,
    pub user_id: String,
    /// The events as JSON: `[{"detail_type", "detail"}]`.
    pub events: String,
    /// Unix seconds.
    pub created_at: i64,
}

impl OutboxItem {
    pub fn events(&self) -> Result<Vec<Event>, StoreError> {
        serde_json::from_str(&self.events).map_err(|e| StoreError::Corrupt {
            key: format!("{}/{}", self.pk, self.sk),
            message: e.to_string(),
        })
    }
}

/// Whether a stream record's key is an outbox item's.
pub fn is_outbox_key(pk: &str) -> bool {
    pk.starts_with(OUTBOX_PREFIX)
}

impl Store {
    /// The outbox item of a committed write, or `None` when it publishes nothing.
    pub(super) fn outbox_put(
        &self,
        what: Committed<'_>,
    ) -> Result<Option<TransactWriteItem>, StoreError> {
        let id = format!("{:016x}", fastrand::u64(..));
        let events = notify::events(what, self.low_balance_percent, &id);
        let Some(user) = events
            .first()
            .and_then(|e| e.detail["user_id"].as_str().map(str::to_owned))
        else {
            return Ok(None);
        };
        let events =
            serde_json::to_string(&events).map_err(|e| StoreError::Build(e.to_string()))?;
        let item = OutboxItem {
            pk: format!("{OUTBOX_PREFIX}{}", fastrand::u64(..OUTBOX_SHARDS)),
            sk: format!(
                "{}#{id}",
                what.at.to_rfc3339_opts(SecondsFormat::Millis, true)
            ),
            user_id: user,
            events,
            created_at: what.at.timestamp(),
        };
        self.put_new(&item).map(Some)
    }

    /// Outbox items written before `before`, oldest first in each shard, at most `limit`.
    pub async fn pending_events(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let high = before.to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut found = Vec::new();
        for shard in 0..OUTBOX_SHARDS {
            let mut start = None;
            loop {
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk AND sk < :high")
                    .expression_attribute_values(":pk", s(format!("{OUTBOX_PREFIX}{shard}")))
                    .expression_attribute_values(":high", s(high.clone()))
                    .consistent_read(true)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(unavailable("Query"))?;
                for item in out.items.unwrap_or_default() {
                    found.push(decode::<OutboxItem>(item)?);
                    if found.len() >= limit {
                        return Ok(found);
                    }
                }
                start = out.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
        }
        Ok(found)
    }

    /// One outbox item by its key (strongly consistent), `None` once published.
    pub async fn outbox_item(&self, pk: &str, sk: &str) -> Result<Option<OutboxItem>, StoreError> {
        self.get(pk.to_owned(), sk.to_owned()).await
    }

    /// Removes a published item.
    pub async fn delete_outbox_item(&self, item: &OutboxItem) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.key(item.pk.clone(), item.sk.clone())))
            .send()
            .await
            .map_err(unavailable("DeleteItem"))?;
        Ok(())
    }
}
