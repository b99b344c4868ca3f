//! The reset's records: a run, its segments' checkpoints and their counts, as stored and as the
//! job advances them. Pure data and pure functions; the job and the store both build on them.

use std::ops::AddAssign;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::period::Period;

/// How many failed user ids a checkpoint keeps for the operator (the count is always exact).
pub const MAX_FAILED_IDS: usize = 100;

/// The run id of the scheduled run of a period: fixed, so a retried schedule resumes it.
pub const SCHEDULED_RUN: &str = "scheduled";

/// A fresh run id for an admin-triggered run.
pub fn admin_run_id(now: DateTime<Utc>) -> String {
    format!("admin-{}", now.format("%Y%m%dT%H%M%S%3fZ"))
}

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

impl Counts {
    /// The share of scanned accounts that ended current, in percent (all of none is 100).
    pub fn completion_percent(&self) -> f64 {
        let done = self.reset + self.already_current;
        if self.scanned == 0 {
            100.0
        } else {
            100.0 * done as f64 / self.scanned as f64
        }
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

impl RunRecord {
    /// A run of `segments` segments for the period holding `now`, started at `now`.
    pub fn new(run_id: &str, trigger: &str, segments: u32, now: DateTime<Utc>) -> Self {
        Self {
            run_id: run_id.to_owned(),
            period: Period::containing(now),
            trigger: trigger.to_owned(),
            segments,
            started_at: now,
            finished_at: None,
            totals: None,
        }
    }

    /// Each segment's checkpoint before any work: at the start of the scan, nothing counted.
    pub fn first_checkpoints(&self) -> Vec<Checkpoint> {
        (0..self.segments)
            .map(|segment| Checkpoint {
                run_id: self.run_id.clone(),
                period: self.period,
                segment,
                segments: self.segments,
                cursor: None,
                counts: Counts::default(),
                done: false,
                invocations: 0,
                failed_users: Vec::new(),
                rev: 0,
                updated_at: self.started_at,
            })
            .collect()
    }
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

impl Checkpoint {
    /// Records a page's work: its counts, the users that failed (up to [`MAX_FAILED_IDS`] kept
    /// in all), and where the scan goes on (`None`: the segment is done).
    pub fn record_page(
        &mut self,
        counts: Counts,
        failed: Vec<String>,
        next: Option<Cursor>,
        now: DateTime<Utc>,
    ) {
        self.counts += counts;
        let room = MAX_FAILED_IDS.saturating_sub(self.failed_users.len());
        self.failed_users.extend(failed.into_iter().take(room));
        self.done = next.is_none();
        self.cursor = next;
        self.updated_at = now;
    }
}

/// A run with its segments' checkpoints, as read together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub run: RunRecord,
    pub checkpoints: Vec<Checkpoint>,
}

impl Progress {
    /// The run's recorded totals once it has finished, else the sum of its segments so far.
    pub fn counts(&self) -> Counts {
        self.run.totals.unwrap_or_else(|| {
            let mut counts = Counts::default();
            for cp in &self.checkpoints {
                counts += cp.counts;
            }
            counts
        })
    }

    pub fn segments_done(&self) -> u32 {
        self.checkpoints.iter().filter(|c| c.done).count() as u32
    }

    pub fn failed_users(&self) -> Vec<String> {
        self.checkpoints
            .iter()
            .flat_map(|c| c.failed_users.iter().cloned())
            .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn a_new_run_has_one_fresh_checkpoint_per_segment_in_the_period_of_its_start() {
        let now = at("2026-12-01T00:00:00Z");
        let run = RunRecord::new("r", "schedule", 3, now);
        assert_eq!(run.period, Period::new(2026, 12).unwrap());
        let cps = run.first_checkpoints();
        assert_eq!(cps.iter().map(|c| c.segment).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(
            cps.iter()
                .all(|c| c.cursor.is_none() && !c.done && c.rev == 0)
        );
    }

    #[test]
    fn a_page_moves_the_cursor_adds_the_counts_and_keeps_a_bounded_list_of_failures() {
        let now = at("2026-12-01T00:00:00Z");
        let mut cp = RunRecord::new("r", "schedule", 1, now).first_checkpoints()[0].clone();
        let next = Cursor {
            pk: "USER#a".into(),
            sk: "ACCOUNT".into(),
        };
        let failed = |n: usize| (0..n).map(|i| format!("u{i}")).collect::<Vec<_>>();
        let counts = Counts {
            scanned: 3,
            reset: 1,
            already_current: 1,
            failed: 1,
        };
        cp.record_page(counts, failed(MAX_FAILED_IDS - 1), Some(next.clone()), now);
        assert_eq!((cp.cursor.as_ref(), cp.done), (Some(&next), false));
        cp.record_page(counts, failed(5), None, now);
        assert_eq!((cp.cursor, cp.done, cp.counts.scanned), (None, true, 6));
        assert_eq!(cp.failed_users.len(), MAX_FAILED_IDS);
    }

    #[test]
    fn completion_is_the_share_of_scanned_accounts_that_ended_current() {
        let counts = Counts {
            scanned: 4,
            reset: 2,
            already_current: 1,
            failed: 1,
        };
        assert_eq!(counts.completion_percent(), 75.0);
        assert_eq!(Counts::default().completion_percent(), 100.0);
    }
}
