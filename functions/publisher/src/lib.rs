//! The outbox's publisher: sends each outbox item's events to the EventBridge bus in one
//! `PutEvents` call, then deletes the item. An item whose publish fails stays, and is sent
//! again by the next run with the same event ids (consumers deduplicate on `event_id`).
//!
//! Two drivers: the table's DynamoDB Stream (filtered to new outbox items: published within a
//! second of their commit), and a schedule that sweeps what is older than
//! `CREDITS_OUTBOX_SWEEP_AGE_SECONDS` (what the stream path failed on), reporting what it could
//! not publish as the `EventsUnpublished` metric. The local stack sweeps every second instead
//! (the emulator has no streams).

use std::time::Duration;

use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use chrono::{DateTime, Utc};
use credits::metrics::{self, Metric};
use credits::rules::notify::SOURCE;
use credits::store::outbox::{OutboxItem, is_outbox_key};
use credits::store::{Store, StoreError};
use serde_json::Value;

/// Items one sweep publishes at most: a run stays well inside the function's timeout; the rest
/// waits for the next run.
pub const SWEEP_LIMIT: usize = 500;

pub mod config;
pub use config::{PublisherConfig, Settings};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("EventBridge PutEvents failed: {0}")]
    Events(String),
    #[error("EventBridge refused {failed} of {sent} events of {item}: {first}")]
    Refused {
        item: String,
        sent: usize,
        failed: i32,
        first: String,
    },
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Outbox items published and deleted.
    pub published: usize,
    /// Items whose publish failed: still in the outbox.
    pub failed: usize,
}

#[derive(Clone)]
pub struct Publisher {
    store: Store,
    events: aws_sdk_eventbridge::Client,
    bus: String,
}

impl Publisher {
    pub fn new(store: Store, events: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        Self {
            store,
            events,
            bus: bus.into(),
        }
    }

    /// Sends one item's events in one `PutEvents` call, then deletes the item.
    pub async fn publish(&self, item: &OutboxItem) -> Result<(), PublishError> {
        let events = item.events()?;
        let entries = events
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(SOURCE)
                    .detail_type(&e.detail_type)
                    .detail(e.detail.to_string())
                    .build()
            })
            .collect::<Vec<_>>();
        let sent = entries.len();
        let out = self
            .events
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| PublishError::Events(DisplayErrorContext(e).to_string()))?;
        if out.failed_entry_count() > 0 {
            // The item stays whole: a retry sends every event again under the same ids.
            let first = out
                .entries()
                .iter()
                .find_map(|e| e.error_message().map(str::to_owned))
                .unwrap_or_default();
            return Err(PublishError::Refused {
                item: item.sk.clone(),
                sent,
                failed: out.failed_entry_count(),
                first,
            });
        }
        self.store.delete_outbox_item(item).await?;
        tracing::info!(item = %item.sk, user = %item.user_id, events = sent, "published");
        Ok(())
    }

    /// Publishes every item written before `before` (at most [`SWEEP_LIMIT`]); an item that
    /// fails is logged and left for the next sweep.
    pub async fn sweep(&self, before: DateTime<Utc>) -> Result<Sweep, PublishError> {
        let mut sweep = Sweep::default();
        for item in self.store.pending_events(before, SWEEP_LIMIT).await? {
            match self.publish(&item).await {
                Ok(()) => sweep.published += 1,
                Err(e) => {
                    tracing::error!(item = %item.sk, error = %e, "publish failed");
                    sweep.failed += 1;
                }
            }
        }
        Ok(sweep)
    }

    /// A batch of the table's stream: each new outbox item, read again (the sweep may have
    /// published it already) and published. Fails the batch on the first fault, so that
    /// Lambda retries it (what was published is gone by then and not sent again).
    pub async fn on_stream(&self, batch: &Value) -> Result<usize, PublishError> {
        let mut published = 0;
        for (pk, sk) in outbox_keys(batch) {
            if let Some(item) = self.store.outbox_item(&pk, &sk).await? {
                self.publish(&item).await?;
                published += 1;
            }
        }
        Ok(published)
    }
}

/// The keys of the outbox items a stream batch inserted.
pub fn outbox_keys(batch: &Value) -> Vec<(String, String)> {
    let records = batch.get("Records").and_then(Value::as_array);
    records
        .into_iter()
        .flatten()
        .filter(|r| r.get("eventName").and_then(Value::as_str) == Some("INSERT"))
        .filter_map(|r| {
            let keys = r.get("dynamodb")?.get("Keys")?;
            let pk = keys.get("pk")?.get("S")?.as_str()?;
            let sk = keys.get("sk")?.get("S")?.as_str()?;
            is_outbox_key(pk).then(|| (pk.to_owned(), sk.to_owned()))
        })
        .collect()
}

/// One invocation: a stream batch (it has `Records`) or the schedule's sweep.
pub async fn handle(
    publisher: &Publisher,
    settings: &Settings,
    payload: Value,
    now: DateTime<Utc>,
) -> Result<Value, PublishError> {
    if payload.get("Records").is_some() {
        let published = publisher.on_stream(&payload).await?;
        return Ok(serde_json::json!({ "published": published }));
    }
    let age = chrono::Duration::from_std(settings.sweep_age).unwrap_or(chrono::Duration::zero());
    let sweep = publisher.sweep(now - age).await?;
    metrics::emit(
        "publisher",
        &[
            Metric::count("EventsPublished", sweep.published as u64),
            Metric::count("EventsUnpublished", sweep.failed as u64),
        ],
    );
    Ok(serde_json::json!({ "published": sweep.published, "failed": sweep.failed }))
}

/// The EventBridge client on `sdk`, with `endpoint` overriding where it connects (the fault
/// tests' proxy).
pub fn events_client(
    sdk: &aws_config::SdkConfig,
    endpoint: Option<&str>,
) -> aws_sdk_eventbridge::Client {
    let mut conf = aws_sdk_eventbridge::config::Builder::from(sdk);
    if let Some(url) = endpoint {
        conf = conf.endpoint_url(url);
    }
    aws_sdk_eventbridge::Client::from_conf(conf.build())
}

#[cfg(test)]
mod tests;

/// The local stack's stand-in for the stream: a sweep of everything every `period`, forever.
pub async fn sweep_every(publisher: Publisher, period: Duration) {
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        if let Err(e) = publisher.sweep(Utc::now()).await {
            tracing::warn!(error = %e, "local sweep failed");
        }
    }
}

/// Creates the bus `name` unless it exists (the local stack's emulator).
pub async fn create_bus(
    client: &aws_sdk_eventbridge::Client,
    name: &str,
) -> Result<(), PublishError> {
    match client.create_event_bus().name(name).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(PublishError::Events(DisplayErrorContext(e).to_string())),
    }
}
