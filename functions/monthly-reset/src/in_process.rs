//! The local stand-in for the fan-out: every unfinished segment of a run at once, as tasks of
//! this process (the local stack, `cargo lambda watch`, tests and benchmarks).

use std::time::Instant;

use credits::clock::Clock;
use credits::reset::{ResetError, ResetJob, RunRecord};
use credits::views::RunView;

/// Runs each unfinished segment of `run` until it is done or `deadline`, at `clock`'s time;
/// returns the run as it then stands.
pub async fn run_segments(
    job: &ResetJob,
    clock: &Clock,
    run: &RunRecord,
    deadline: Instant,
) -> Result<RunView, ResetError> {
    let mut tasks = tokio::task::JoinSet::new();
    for segment in 0..run.segments {
        let (job, clock, run_id, period) =
            (job.clone(), clock.clone(), run.run_id.clone(), run.period);
        tasks.spawn(async move {
            job.run_segment(&clock, period, &run_id, segment, deadline)
                .await
        });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(outcome) => {
                outcome?;
            }
            Err(e) => tracing::error!(error = %e, "a segment task failed"),
        }
    }
    job.progress(run.period, &run.run_id)
        .await?
        .map(|p| RunView::new(&p))
        .ok_or_else(|| ResetError::missing(run))
}
