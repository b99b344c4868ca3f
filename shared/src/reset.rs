//! The monthly reset: its records (pure) and the job that walks the accounts with them.

pub mod job;
pub mod records;

pub use job::{ResetError, ResetJob, ResetSettings};
pub use records::{
    Checkpoint, Counts, Cursor, MAX_FAILED_IDS, Progress, RunRecord, SCHEDULED_RUN, SegmentOutcome,
    admin_run_id,
};
