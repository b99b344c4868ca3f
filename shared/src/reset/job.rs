//! The job: a parallel scan of the accounts, segment by segment, applying the period's reset
//! with the very rule and conditional write that reset-on-touch uses
//! ([`CreditService::reset_seen`]), so the job, the admin trigger and requests never reset one
//! account twice in a period. Each segment checkpoints its cursor and counts in the table, stops
//! before its deadline, and resumes from the checkpoint on its next invocation.
//!
//! The time the job acts on is the caller's: `now` or the [`Clock`] is passed to every call.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::records::{Counts, Cursor, Progress, RunRecord, SegmentOutcome};
use crate::clock::Clock;
use crate::period::Period;
use crate::service::CreditService;
use crate::store::{ScanCursor, Store, StoreError, Stored};

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("no run {run_id} for {period} (or no segment {segment} in it)")]
    NoSuchRun {
        period: Period,
        run_id: String,
        segment: u32,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ResetError {
    /// `run` has no record (or no checkpoint of its first segment).
    pub fn missing(run: &RunRecord) -> Self {
        ResetError::NoSuchRun {
            period: run.period,
            run_id: run.run_id.clone(),
            segment: 0,
        }
    }
}

/// The job's knobs (the monthly-reset function reads them from its environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetSettings {
    /// The parallel scan's TotalSegments.
    pub segments: u32,
    /// Items read per Scan call, and how often a segment checkpoints.
    pub page_size: i32,
    /// Stop this long before the Lambda deadline.
    pub margin: Duration,
}

impl Default for ResetSettings {
    fn default() -> Self {
        Self {
            segments: 4,
            page_size: 200,
            margin: Duration::from_secs(15),
        }
    }
}

/// The job over one table. Cheap to clone: segments run as tasks of their own.
#[derive(Clone)]
pub struct ResetJob {
    service: CreditService,
    settings: ResetSettings,
}

impl ResetJob {
    pub fn new(service: CreditService, settings: ResetSettings) -> Self {
        Self { service, settings }
    }

    pub fn settings(&self) -> &ResetSettings {
        &self.settings
    }

    fn store(&self) -> &Store {
        self.service.store()
    }

    /// The run `run_id` for the period holding `now`: created with one checkpoint per segment,
    /// or, when it exists already (a retried trigger), returned as it is.
    pub async fn start(
        &self,
        run_id: &str,
        trigger: &str,
        now: DateTime<Utc>,
    ) -> Result<RunRecord, ResetError> {
        let run = RunRecord::new(run_id, trigger, self.settings.segments, now);
        let period = run.period;
        if self
            .store()
            .create_run(&run, &run.first_checkpoints())
            .await?
        {
            tracing::info!(%period, run_id, trigger, segments = run.segments, "reset run started");
            return Ok(run);
        }
        self.store()
            .run(period, run_id)
            .await?
            .ok_or_else(|| ResetError::missing(&run))
    }

    /// The run with its progress so far.
    pub async fn progress(
        &self,
        period: Period,
        run_id: &str,
    ) -> Result<Option<Progress>, ResetError> {
        let Some(run) = self.store().run(period, run_id).await? else {
            return Ok(None);
        };
        let checkpoints = self.store().checkpoints(period, run_id).await?;
        Ok(Some(Progress { run, checkpoints }))
    }

    /// Works on one segment from its checkpoint until it is done or `deadline` (less the
    /// margin) is near, checkpointing after every page, at the time `clock` tells. It always
    /// works on at least one page: a deadline that leaves no time beyond the margin (a margin at
    /// or above the function's timeout, or `cargo lambda watch`, which reports the deadline as a
    /// duration) makes it go one page per invocation, never pause having done nothing.
    #[tracing::instrument(skip(self, clock, deadline), fields(%period))]
    pub async fn run_segment(
        &self,
        clock: &Clock,
        period: Period,
        run_id: &str,
        segment: u32,
        deadline: Instant,
    ) -> Result<SegmentOutcome, ResetError> {
        let store = self.store();
        let mut cp = store
            .checkpoint(period, run_id, segment)
            .await?
            .ok_or_else(|| ResetError::NoSuchRun {
                period,
                run_id: run_id.to_owned(),
                segment,
            })?;
        if cp.done {
            return Ok(SegmentOutcome::Done);
        }
        cp.invocations += 1;
        cp.updated_at = clock.now();
        if !store.save_checkpoint(&mut cp).await? {
            return Ok(SegmentOutcome::Lost);
        }
        let mut this_call = Counts::default();
        if Instant::now() + self.settings.margin >= deadline {
            tracing::warn!(
                margin_seconds = self.settings.margin.as_secs(),
                "no time left beyond the margin: one page in this invocation"
            );
        }
        let mut pages = 0u32;
        loop {
            if pages > 0 && Instant::now() + self.settings.margin >= deadline {
                tracing::info!(?this_call, "segment paused before the deadline");
                return Ok(SegmentOutcome::Paused);
            }
            let now = clock.now();
            if Period::containing(now) != period {
                tracing::warn!("the period ended during the run; the next run takes over");
                return Ok(SegmentOutcome::Superseded);
            }
            let from = cp.cursor.as_ref().map(|c| ScanCursor {
                pk: c.pk.clone(),
                sk: c.sk.clone(),
            });
            let page = store
                .scan_accounts(segment, cp.segments, from.as_ref(), self.settings.page_size)
                .await?;
            pages += 1;
            let (counts, failed) = self.reset_page(page.accounts, now).await;
            this_call += counts;
            let next = page.next.map(|c| Cursor { pk: c.pk, sk: c.sk });
            cp.record_page(counts, failed, next, clock.now());
            if !store.save_checkpoint(&mut cp).await? {
                return Ok(SegmentOutcome::Lost);
            }
            if cp.done {
                tracing::info!(?this_call, total = ?cp.counts, "segment done");
                self.finish_if_complete(period, run_id, clock.now()).await?;
                return Ok(SegmentOutcome::Done);
            }
        }
    }

    /// Resets a page's accounts; those that fail are tried once more after a pause. Returns the
    /// counts and the user ids that still failed.
    async fn reset_page(
        &self,
        accounts: Vec<Result<Stored, StoreError>>,
        now: DateTime<Utc>,
    ) -> (Counts, Vec<String>) {
        let mut counts = Counts::default();
        let mut again = Vec::new();
        let mut failed = Vec::new();
        for account in accounts {
            counts.scanned += 1;
            match account {
                Ok(stored) => match self.service.reset_seen(stored.clone(), now).await {
                    Ok(true) => counts.reset += 1,
                    Ok(false) => counts.already_current += 1,
                    Err(e) => {
                        tracing::warn!(user = %stored.account.user_id, error = %e, "reset failed; will retry");
                        again.push(stored);
                    }
                },
                Err(e) => {
                    tracing::error!(error = %e, "unreadable account skipped");
                    counts.failed += 1;
                    failed.push(e.to_string());
                }
            }
        }
        if !again.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for stored in again {
            let user = stored.account.user_id.to_string();
            match self.service.reset_seen(stored, now).await {
                Ok(true) => counts.reset += 1,
                Ok(false) => counts.already_current += 1,
                Err(e) => {
                    tracing::error!(%user, error = %e, "reset failed twice; left for the next run or the user's next request");
                    counts.failed += 1;
                    failed.push(user);
                }
            }
        }
        (counts, failed)
    }

    /// When every segment is done, records the run's end (at `now`) and totals (once) and
    /// reports them in the log and the metrics.
    async fn finish_if_complete(
        &self,
        period: Period,
        run_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ResetError> {
        // The checkpoints first: a segment that is not the last one done stops at this read.
        let checkpoints = self.store().checkpoints(period, run_id).await?;
        if !checkpoints.iter().all(|c| c.done) {
            return Ok(());
        }
        let Some(run) = self.store().run(period, run_id).await? else {
            return Ok(());
        };
        if run.finished_at.is_some() {
            return Ok(());
        }
        let progress = Progress { run, checkpoints };
        let c = progress.counts();
        let run = RunRecord {
            finished_at: Some(now),
            totals: Some(c),
            ..progress.run
        };
        if self.store().finish_run(&run).await? {
            let seconds = (now - run.started_at).num_milliseconds() as f64 / 1000.0;
            tracing::info!(
                %period,
                run_id,
                scanned = c.scanned,
                reset = c.reset,
                already_current = c.already_current,
                failed = c.failed,
                seconds,
                "reset run finished"
            );
            crate::metrics::reset_finished(&c);
        }
        Ok(())
    }
}
