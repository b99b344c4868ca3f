//! The monthly reset job: a parallel scan of the accounts, segment by segment, applying the
//! period's reset with the very rule and conditional write that reset-on-touch uses
//! ([`CreditService::reset_seen`]), so the job, the admin trigger and requests never reset one
//! account twice in a period. Each segment checkpoints its cursor and counts in the table, stops
//! before its deadline, and resumes from the checkpoint on its next invocation.

use std::ops::AddAssign;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::config::ConfigError;
use crate::period::Period;
use crate::service::CreditService;
use crate::store::{Store, StoreError, Stored};

/// How many failed user ids a checkpoint keeps for the operator (the count is always exact).
pub const MAX_FAILED_IDS: usize = 100;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub scanned: u64,
    pub reset: u64,
    pub already_current: u64,
    pub failed: u64,
}

impl AddAssign for Counts {
    fn add_assign(&mut self, o: Self) {
        self.scanned += o.scanned;
        self.reset += o.reset;
        self.already_current += o.already_current;
        self.failed += o.failed;
    }
}

/// Where a segment's scan goes on: the last key DynamoDB evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub pk: String,
    pub sk: String,
}

/// One run of the job for a period (item `RUN#<period>` / `RUN#<run id>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    pub period: Period,
    /// `schedule`, or `admin:<sub>`.
    pub trigger: String,
    pub segments: u32,
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totals: Option<Counts>,
}

/// A segment's progress (item `RUN#<period>` / `RUN#<run id>#SEG#<nnn>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub run_id: String,
    pub period: Period,
    pub segment: u32,
    pub segments: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Cursor>,
    pub counts: Counts,
    pub done: bool,
    pub invocations: u32,
    #[serde(default)]
    pub failed_users: Vec<String>,
    /// Optimistic concurrency: two invocations of one segment never both advance it.
    pub rev: u64,
    pub updated_at: DateTime<Utc>,
}

/// A run as the admin route and the logs show it: the record and its live progress.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunView {
    pub run_id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = r"^[0-9]{4}-[0-9]{2}$"))]
    pub period: Period,
    pub trigger: String,
    /// `running` or `done`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: &'static str,
    pub segments: u32,
    pub segments_done: u32,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub started_at: DateTime<Utc>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub finished_at: Option<DateTime<Utc>>,
    pub counts: Counts,
    /// Up to [`MAX_FAILED_IDS`] per segment, for a repeated run or a look by hand.
    pub failed_users: Vec<String>,
}

impl RunView {
    pub fn new(run: &RunRecord, checkpoints: &[Checkpoint]) -> Self {
        let mut counts = Counts::default();
        for cp in checkpoints {
            counts += cp.counts;
        }
        Self {
            run_id: run.run_id.clone(),
            period: run.period,
            trigger: run.trigger.clone(),
            status: if run.finished_at.is_some() {
                "done"
            } else {
                "running"
            },
            segments: run.segments,
            segments_done: checkpoints.iter().filter(|c| c.done).count() as u32,
            started_at: run.started_at,
            finished_at: run.finished_at,
            counts: run.totals.unwrap_or(counts),
            failed_users: checkpoints
                .iter()
                .flat_map(|c| c.failed_users.iter().cloned())
                .collect(),
        }
    }
}

/// How one invocation of a segment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentOutcome {
    /// The segment has been scanned to its end.
    Done,
    /// Stopped before the deadline; the checkpoint says where to resume.
    Paused,
    /// Another invocation of the same segment saved a checkpoint first: this one stepped back.
    Lost,
    /// The period ended while the run was still going: the next period's run takes over.
    Superseded,
}

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

/// The job's knobs, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetSettings {
    /// `CREDITS_RESET_SEGMENTS` (1 to 64, default 4): the parallel scan's TotalSegments.
    pub segments: u32,
    /// `CREDITS_RESET_PAGE_SIZE` (1 to 1000, default 200): items read per Scan call, and how
    /// often a segment checkpoints.
    pub page_size: i32,
    /// `CREDITS_RESET_MARGIN_SECONDS` (default 15): stop this long before the Lambda deadline.
    pub margin: Duration,
    /// `CREDITS_ADMIN_GROUP` (default `admin`): the `cognito:groups` entry of an admin.
    pub admin_group: String,
}

impl Default for ResetSettings {
    fn default() -> Self {
        Self {
            segments: 4,
            page_size: 200,
            margin: Duration::from_secs(15),
            admin_group: "admin".into(),
        }
    }
}

impl ResetSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let d = Self::default();
        let number = |name: &'static str, default: u64, min: u64, max: u64| {
            let Some(raw) = lookup(name) else {
                return Ok(default);
            };
            match raw.trim().parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(ConfigError {
                    name,
                    problem: format!("expected a whole number from {min} to {max}, got {raw:?}"),
                }),
            }
        };
        let admin_group = match lookup("CREDITS_ADMIN_GROUP") {
            None => d.admin_group,
            Some(g) if !g.trim().is_empty() && !g.trim().contains(char::is_whitespace) => {
                g.trim().to_owned()
            }
            Some(g) => {
                return Err(ConfigError {
                    name: "CREDITS_ADMIN_GROUP",
                    problem: format!("expected one group name, got {g:?}"),
                });
            }
        };
        Ok(Self {
            segments: number("CREDITS_RESET_SEGMENTS", d.segments.into(), 1, 64)? as u32,
            page_size: number("CREDITS_RESET_PAGE_SIZE", d.page_size as u64, 1, 1000)? as i32,
            margin: Duration::from_secs(number(
                "CREDITS_RESET_MARGIN_SECONDS",
                d.margin.as_secs(),
                0,
                300,
            )?),
            admin_group,
        })
    }
}

/// The job over one table. Cheap to clone: segments run as tasks of their own.
#[derive(Clone)]
pub struct ResetJob {
    service: CreditService,
    settings: ResetSettings,
    clock: Clock,
}

impl ResetJob {
    pub fn new(service: CreditService, settings: ResetSettings, clock: Clock) -> Self {
        Self {
            service,
            settings,
            clock,
        }
    }

    /// The time the job acts on (the App's clock).
    pub fn clock(&self) -> &Clock {
        &self.clock
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
        let period = Period::containing(now);
        let run = RunRecord {
            run_id: run_id.to_owned(),
            period,
            trigger: trigger.to_owned(),
            segments: self.settings.segments,
            started_at: now,
            finished_at: None,
            totals: None,
        };
        let checkpoints: Vec<Checkpoint> = (0..run.segments)
            .map(|segment| Checkpoint {
                run_id: run.run_id.clone(),
                period,
                segment,
                segments: run.segments,
                cursor: None,
                counts: Counts::default(),
                done: false,
                invocations: 0,
                failed_users: Vec::new(),
                rev: 0,
                updated_at: now,
            })
            .collect();
        if self.store().create_run(&run, &checkpoints).await? {
            tracing::info!(%period, run_id, trigger, segments = run.segments, "reset run started");
            return Ok(run);
        }
        self.store()
            .run(period, run_id)
            .await?
            .ok_or_else(|| ResetError::NoSuchRun {
                period,
                run_id: run_id.to_owned(),
                segment: 0,
            })
    }

    /// The run with its progress so far.
    pub async fn view(&self, period: Period, run_id: &str) -> Result<Option<RunView>, ResetError> {
        let Some(run) = self.store().run(period, run_id).await? else {
            return Ok(None);
        };
        let checkpoints = self.store().checkpoints(period, run_id).await?;
        Ok(Some(RunView::new(&run, &checkpoints)))
    }

    /// Works on one segment from its checkpoint until it is done or `deadline` (less the
    /// margin) is near, checkpointing after every page. It always works on at least one page:
    /// a deadline that leaves no time beyond the margin (a margin at or above the function's
    /// timeout, or `cargo lambda watch`, which reports the deadline as a duration) makes it go
    /// one page per invocation, never pause having done nothing.
    #[tracing::instrument(skip(self, deadline), fields(%period))]
    pub async fn run_segment(
        &self,
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
        cp.updated_at = self.clock.now();
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
            let now = self.clock.now();
            if Period::containing(now) != period {
                tracing::warn!("the period ended during the run; the next run takes over");
                return Ok(SegmentOutcome::Superseded);
            }
            let page = store
                .scan_accounts(
                    segment,
                    cp.segments,
                    cp.cursor.as_ref(),
                    self.settings.page_size,
                )
                .await?;
            pages += 1;
            let (counts, failed) = self.reset_page(page.accounts, now).await;
            cp.counts += counts;
            this_call += counts;
            let room = MAX_FAILED_IDS.saturating_sub(cp.failed_users.len());
            cp.failed_users.extend(failed.into_iter().take(room));
            cp.done = page.next.is_none();
            cp.cursor = page.next;
            cp.updated_at = self.clock.now();
            if !store.save_checkpoint(&mut cp).await? {
                return Ok(SegmentOutcome::Lost);
            }
            if cp.done {
                tracing::info!(?this_call, total = ?cp.counts, "segment done");
                self.finish_if_complete(period, run_id).await?;
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

    /// When every segment is done, records the run's end and totals (once) and logs a summary.
    async fn finish_if_complete(&self, period: Period, run_id: &str) -> Result<(), ResetError> {
        let checkpoints = self.store().checkpoints(period, run_id).await?;
        if !checkpoints.iter().all(|c| c.done) {
            return Ok(());
        }
        let Some(mut run) = self.store().run(period, run_id).await? else {
            return Ok(());
        };
        if run.finished_at.is_some() {
            return Ok(());
        }
        let view = RunView::new(&run, &checkpoints);
        run.finished_at = Some(self.clock.now());
        run.totals = Some(view.counts);
        if self.store().finish_run(&run).await? {
            let c = view.counts;
            let seconds = (run.finished_at.unwrap_or(run.started_at) - run.started_at)
                .num_milliseconds() as f64
                / 1000.0;
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
            // Reset completion: the share of scanned accounts that ended current.
            let done = c.reset + c.already_current;
            crate::metrics::emit(
                "monthly-reset",
                &[
                    crate::metrics::Metric::count("ResetAccounts", c.scanned),
                    crate::metrics::Metric::count("ResetFailed", c.failed),
                    crate::metrics::Metric {
                        name: "ResetCompletion",
                        value: if c.scanned == 0 {
                            100.0
                        } else {
                            100.0 * done as f64 / c.scanned as f64
                        },
                        unit: "Percent",
                    },
                ],
            );
        }
        Ok(())
    }

    /// Runs every unfinished segment of a run at once in this process (the local stand-in for
    /// the fan-out), each until done or `deadline`; returns the run as it then stands.
    pub async fn run_in_process(
        &self,
        run: &RunRecord,
        deadline: Instant,
    ) -> Result<RunView, ResetError> {
        let mut tasks = tokio::task::JoinSet::new();
        for segment in 0..run.segments {
            let (job, run_id, period) = (self.clone(), run.run_id.clone(), run.period);
            tasks.spawn(async move { job.run_segment(period, &run_id, segment, deadline).await });
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(outcome) => {
                    outcome?;
                }
                Err(e) => tracing::error!(error = %e, "a segment task failed"),
            }
        }
        self.view(run.period, &run.run_id)
            .await?
            .ok_or_else(|| ResetError::NoSuchRun {
                period: run.period,
                run_id: run.run_id.clone(),
                segment: 0,
            })
    }
}

/// The run id of the scheduled run of a period: fixed, so a retried schedule resumes it.
pub const SCHEDULED_RUN: &str = "scheduled";

/// A fresh run id for an admin-triggered run.
pub fn admin_run_id(now: DateTime<Utc>) -> String {
    format!("admin-{}", now.format("%Y%m%dT%H%M%S%3fZ"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<ResetSettings, ConfigError> {
        ResetSettings::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn settings_default_and_refuse_bad_values_by_name() {
        assert_eq!(from(&[]).unwrap(), ResetSettings::default());
        let s = from(&[
            ("CREDITS_RESET_SEGMENTS", "16"),
            ("CREDITS_ADMIN_GROUP", "ops"),
        ])
        .unwrap();
        assert_eq!((s.segments, s.admin_group.as_str()), (16, "ops"));
        for (name, value) in [
            ("CREDITS_RESET_SEGMENTS", "0"),
            ("CREDITS_RESET_SEGMENTS", "65"),
            ("CREDITS_RESET_PAGE_SIZE", "many"),
            ("CREDITS_RESET_MARGIN_SECONDS", "-1"),
            ("CREDITS_ADMIN_GROUP", "a b"),
        ] {
            assert_eq!(from(&[(name, value)]).unwrap_err().name, name);
        }
    }

    #[test]
    fn a_view_sums_the_segments_until_the_totals_are_recorded() {
        let now = Utc::now();
        let period = Period::containing(now);
        let run = RunRecord {
            run_id: "r".into(),
            period,
            trigger: "schedule".into(),
            segments: 2,
            started_at: now,
            finished_at: None,
            totals: None,
        };
        let cp = |segment, reset, done| Checkpoint {
            run_id: "r".into(),
            period,
            segment,
            segments: 2,
            cursor: None,
            counts: Counts {
                scanned: reset + 1,
                reset,
                already_current: 1,
                failed: 0,
            },
            done,
            invocations: 1,
            failed_users: vec![],
            rev: 1,
            updated_at: now,
        };
        let v = RunView::new(&run, &[cp(0, 3, true), cp(1, 4, false)]);
        assert_eq!(
            (v.status, v.segments_done, v.counts.reset, v.counts.scanned),
            ("running", 1, 7, 9)
        );
        let done = RunRecord {
            finished_at: Some(now),
            totals: Some(Counts::default()),
            ..run
        };
        assert_eq!(RunView::new(&done, &[cp(0, 3, true)]).status, "done");
    }
}
