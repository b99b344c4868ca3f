//! The monthly reset: the EventBridge Scheduler target (`cron(0 0 1 * ? *)` UTC) and the admin
//! trigger. The scheduled invocation starts the period's run and fans out one asynchronous
//! invocation of this same function per scan segment; a segment that nears the Lambda deadline
//! checkpoints and invokes itself again to resume. Locally the segments run in process.

pub mod admin;
pub mod support;

use std::time::{Duration, Instant};

use credits::period::Period;
use credits::reset::{ResetError, ResetJob, RunRecord, RunView, SCHEDULED_RUN, SegmentOutcome};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What the function is invoked with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// From the schedule: start (or, when retried, resume) the period's scheduled run.
    Start,
    /// From the fan-out or a continuation: work on one segment.
    Segment {
        period: Period,
        run_id: String,
        segment: u32,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Reset(#[from] ResetError),
    #[error("could not invoke {function} for segment {segment}: {message}")]
    Launch {
        function: String,
        segment: u32,
        message: String,
    },
}

/// How segments are started.
pub enum Fanout {
    /// One asynchronous (`Event`) invocation of `function` per segment.
    Lambda {
        client: aws_sdk_lambda::Client,
        function: String,
    },
    /// In this process, for at most `budget` (the local stack and tests).
    InProcess { budget: Duration },
}

/// How long a local run may take when its segments run in process.
pub const LOCAL_BUDGET: Duration = Duration::from_secs(600);

/// `CREDITS_RESET_FANOUT`: `lambda` (the default) or `in-process`.
pub const FANOUT_VAR: &str = "CREDITS_RESET_FANOUT";

impl Fanout {
    /// The segments of a local run, in this process for at most [`LOCAL_BUDGET`].
    pub fn local() -> Self {
        Fanout::InProcess {
            budget: LOCAL_BUDGET,
        }
    }

    /// When a segment invoked with the Lambda `deadline` must stop. In process the budget
    /// bounds it instead: a local runtime's deadline is not to be trusted (`cargo lambda
    /// watch` reports a duration, read as no time left).
    pub fn deadline(&self, deadline: Instant) -> Instant {
        match self {
            Fanout::InProcess { budget } => Instant::now() + *budget,
            Fanout::Lambda { .. } => deadline,
        }
    }

    /// Starts every unfinished segment of `run`. In process, they run to the end (or the
    /// budget) before this returns; on Lambda, they are queued.
    pub async fn launch(&self, job: &ResetJob, run: &RunRecord) -> Result<RunView, JobError> {
        match self {
            Fanout::InProcess { budget } => {
                Ok(job.run_in_process(run, Instant::now() + *budget).await?)
            }
            Fanout::Lambda { .. } => {
                for segment in 0..run.segments {
                    self.invoke(&Event::Segment {
                        period: run.period,
                        run_id: run.run_id.clone(),
                        segment,
                    })
                    .await?;
                }
                job.view(run.period, &run.run_id)
                    .await?
                    .ok_or_else(|| JobError::Reset(missing(run)))
            }
        }
    }

    async fn invoke(&self, event: &Event) -> Result<(), JobError> {
        let Fanout::Lambda { client, function } = self else {
            return Ok(());
        };
        let segment = match event {
            Event::Segment { segment, .. } => *segment,
            Event::Start => 0,
        };
        let payload = serde_json::to_vec(event).unwrap_or_default();
        client
            .invoke()
            .function_name(function)
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload))
            .send()
            .await
            .map_err(|e| JobError::Launch {
                function: function.clone(),
                segment,
                message: aws_sdk_lambda::error::DisplayErrorContext(e).to_string(),
            })?;
        Ok(())
    }
}

fn missing(run: &RunRecord) -> ResetError {
    ResetError::NoSuchRun {
        period: run.period,
        run_id: run.run_id.clone(),
        segment: 0,
    }
}

/// One invocation. An error makes Lambda retry the same event, which resumes from the
/// checkpoints: a retried or repeated run changes nothing twice.
pub async fn handle(
    job: &ResetJob,
    fanout: &Fanout,
    event: Event,
    deadline: Instant,
) -> Result<Value, JobError> {
    match event {
        Event::Start => {
            let run = job
                .start(SCHEDULED_RUN, "schedule", job.clock().now())
                .await?;
            let view = fanout.launch(job, &run).await?;
            Ok(serde_json::to_value(view).unwrap_or(Value::Null))
        }
        Event::Segment {
            period,
            run_id,
            segment,
        } => {
            let outcome = job
                .run_segment(period, &run_id, segment, fanout.deadline(deadline))
                .await?;
            if outcome == SegmentOutcome::Paused {
                fanout
                    .invoke(&Event::Segment {
                        period,
                        run_id: run_id.clone(),
                        segment,
                    })
                    .await?;
            }
            Ok(json!({
                "period": period,
                "run_id": run_id,
                "segment": segment,
                "outcome": format!("{outcome:?}").to_lowercase(),
            }))
        }
    }
}

#[cfg(test)]
mod tests;

/// What both binaries build once per cold start: logging, the job over the App, and the
/// fan-out: with `CREDITS_RESET_FANOUT=in-process` (local runs, such as `cargo lambda watch`,
/// where no Lambda service answers) the segments run in this process; otherwise each is an
/// asynchronous invocation of the reset function named by the environment variable
/// `function_var`, which must then be set.
pub async fn cold_start(
    function_var: &str,
) -> Result<(ResetJob, Fanout), Box<dyn std::error::Error + Send + Sync>> {
    let (_, job, fanout) = cold_start_app(function_var).await?;
    Ok((job, fanout))
}

/// [`cold_start`], and the App the job works with: the admin function's support routes use it.
pub async fn cold_start_app(
    function_var: &str,
) -> Result<(credits::app::App, ResetJob, Fanout), Box<dyn std::error::Error + Send + Sync>> {
    credits::app::init_logging();
    let config = credits::config::Config::from_env()?;
    let sdk = credits::config::aws().await;
    let app = credits::app::App::new(&sdk, config);
    let job = ResetJob::new(
        app.service.clone(),
        credits::reset::ResetSettings::from_env()?,
        app.clock.clone(),
    );
    let fanout = match std::env::var(FANOUT_VAR).as_deref() {
        Ok("in-process") => Fanout::local(),
        Ok("lambda") | Err(_) => Fanout::Lambda {
            client: aws_sdk_lambda::Client::new(&sdk),
            function: std::env::var(function_var).map_err(|_| {
                format!(
                    "{function_var} (the monthly-reset function's name) is not set; for a \
                     local run set {FANOUT_VAR}=in-process"
                )
            })?,
        },
        Ok(other) => {
            return Err(
                format!("{FANOUT_VAR}: expected lambda or in-process, got {other:?}").into(),
            );
        }
    };
    Ok((app, job, fanout))
}
