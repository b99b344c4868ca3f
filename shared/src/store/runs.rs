//! The monthly reset's items, added beside the accounts in the same table:
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | run record | `RUN#<period>` | `RUN#<run id>` | trigger, segments, started_at, finished_at?, totals? |
//! | segment checkpoint | `RUN#<period>` | `RUN#<run id>#SEG#<nnn>` | cursor_pk?, cursor_sk?, counts, done, invocations, failed_users, rev |
//!
//! And the parallel scan of the account items that the job walks.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use super::{
    ACCOUNT_SK, AccountItem, Item, PK, SK, Store, StoreError, Stored, built, decode, encode, s,
    unavailable,
};
use crate::period::Period;
use crate::reset::records::{Checkpoint, RunRecord};

fn run_pk(period: Period) -> String {
    format!("RUN#{period}")
}

fn run_sk(run_id: &str) -> String {
    format!("RUN#{run_id}")
}

fn segment_sk(run_id: &str, segment: u32) -> String {
    format!("RUN#{run_id}#SEG#{segment:03}")
}

#[derive(serde::Serialize, serde::Deserialize)]
struct RunItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    run: RunRecord,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CheckpointItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    checkpoint: Checkpoint,
}

fn checkpoint_item(cp: &Checkpoint) -> Result<Item, StoreError> {
    encode(&CheckpointItem {
        pk: run_pk(cp.period),
        sk: segment_sk(&cp.run_id, cp.segment),
        checkpoint: cp.clone(),
    })
}

/// Where a scan goes on: the last key DynamoDB evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanCursor {
    pub pk: String,
    pub sk: String,
}

/// A page of a scan segment: the accounts (or why one could not be read) and where to go on.
pub struct ScanPage {
    pub accounts: Vec<Result<Stored, StoreError>>,
    pub next: Option<ScanCursor>,
}

/// A scan page is background work (the reset, a migration), not a caller waiting: it may take
/// longer than a request's store call, and on the emulator it does (it reads the whole table for
/// every page).
const SCAN_ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const SCAN_CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Store {
    /// One page of segment `segment` of `total` of a parallel scan, account items only. `limit`
    /// counts every item read (ledger entries too), as DynamoDB's `Limit` does.
    pub async fn scan_accounts(
        &self,
        segment: u32,
        total: u32,
        from: Option<&ScanCursor>,
        limit: i32,
    ) -> Result<ScanPage, StoreError> {
        let start =
            from.map(|c| HashMap::from([(PK.to_owned(), s(&c.pk)), (SK.to_owned(), s(&c.sk))]));
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .segment(segment as i32)
            .total_segments(total as i32)
            .filter_expression("sk = :account")
            .expression_attribute_values(":account", s(ACCOUNT_SK))
            .set_exclusive_start_key(start)
            .limit(limit)
            .customize()
            .config_override(aws_sdk_dynamodb::config::Builder::default().timeout_config(
                crate::config::timeouts(SCAN_ATTEMPT_TIMEOUT, SCAN_CALL_TIMEOUT),
            ))
            .send()
            .await
            .map_err(unavailable("Scan"))?;
        let next = out.last_evaluated_key.as_ref().and_then(|k| {
            Some(ScanCursor {
                pk: k.get(PK)?.as_s().ok()?.clone(),
                sk: k.get(SK)?.as_s().ok()?.clone(),
            })
        });
        let accounts = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                decode::<AccountItem>(item).map(|i| Stored {
                    account: i.account,
                    rev: i.rev,
                })
            })
            .collect();
        Ok(ScanPage { accounts, next })
    }

    /// Creates a run record and its segments' checkpoints in one write, unless the run exists
    /// (then nothing changes: a retried start is harmless). Returns whether it was created.
    pub async fn create_run(
        &self,
        run: &RunRecord,
        checkpoints: &[Checkpoint],
    ) -> Result<bool, StoreError> {
        let put = |item: Item| {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build();
            built(put).map(|p| TransactWriteItem::builder().put(p).build())
        };
        let mut items = vec![put(encode(&RunItem {
            pk: run_pk(run.period),
            sk: run_sk(&run.run_id),
            run: run.clone(),
        })?)?];
        for cp in checkpoints {
            items.push(put(checkpoint_item(cp)?)?);
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable("TransactWriteItems")(e)),
        }
    }

    pub async fn run(&self, period: Period, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        let item: Option<RunItem> = self.get(run_pk(period), run_sk(run_id)).await?;
        Ok(item.map(|i| i.run))
    }

    /// Every segment's checkpoint of a run, by segment.
    pub async fn checkpoints(
        &self,
        period: Period,
        run_id: &str,
    ) -> Result<Vec<Checkpoint>, StoreError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(run_pk(period)))
                .expression_attribute_values(":prefix", s(format!("RUN#{run_id}#SEG#")))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable("Query"))?;
            for item in out.items.unwrap_or_default() {
                found.push(decode::<CheckpointItem>(item)?.checkpoint);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(found);
            }
        }
    }

    pub async fn checkpoint(
        &self,
        period: Period,
        run_id: &str,
        segment: u32,
    ) -> Result<Option<Checkpoint>, StoreError> {
        let item: Option<CheckpointItem> = self
            .get(run_pk(period), segment_sk(run_id, segment))
            .await?;
        Ok(item.map(|i| i.checkpoint))
    }

    /// Saves a checkpoint if nobody else saved one since `cp` was read (its `rev`); bumps `rev`.
    /// Returns false when another invocation of the same segment got there first.
    pub async fn save_checkpoint(&self, cp: &mut Checkpoint) -> Result<bool, StoreError> {
        let expected = cp.rev;
        cp.rev += 1;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(checkpoint_item(cp)?))
            .condition_expression("rev = :rev")
            .expression_attribute_values(":rev", AttributeValue::N(expected.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                cp.rev = expected;
                Ok(false)
            }
            Err(e) => Err(unavailable("PutItem")(e)),
        }
    }

    /// Records a run's end and totals once. Returns whether this call recorded it.
    pub async fn finish_run(&self, run: &RunRecord) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(encode(&RunItem {
                pk: run_pk(run.period),
                sk: run_sk(&run.run_id),
                run: run.clone(),
            })?))
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(finished_at)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable("PutItem")(e)),
        }
    }

    /// A cheap strongly consistent read of a key that never exists: proves the table answers.
    pub async fn health(&self) -> Result<(), StoreError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key("HEALTH".into(), "HEALTH".into())))
            .send()
            .await
            .map_err(unavailable("GetItem"))?;
        Ok(())
    }
}

fn is_condition_failure<R: std::fmt::Debug>(
    e: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        R,
    >,
) -> bool {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
    matches!(e.as_service_error(), Some(E::TransactionCanceledException(c))
        if c.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed")))
}
