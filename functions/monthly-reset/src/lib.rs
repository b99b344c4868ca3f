//! The monthly reset: the EventBridge Scheduler target (`cron(0 0 1 * ? *)` UTC) and the admin
//! trigger. The scheduled invocation starts the period's run and fans out one asynchronous
//! invocation of this same function per scan segment; a segment that nears the Lambda deadline
//! checkpoints and invokes itself again to resume. Locally the segments run in process.

pub mod admin;
pub mod config;
pub mod in_process;
pub mod support;

use std::time::{Duration, Instant};

use credits::app::App;
use credits::clock::Clock;
use credits::period::Period;
use credits::reset::{
    ResetError, ResetJob, ResetSettings, RunRecord, SCHEDULED_RUN, SegmentOutcome,
};
use credits::views::RunView;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use config::FANOUT_VAR;
use config::{FanoutTarget, ResetConfig};

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

impl Fanout {
    /// The fan-out `target` names, its Lambda client on `sdk`.
    pub fn new(target: FanoutTarget, sdk: &aws_config::SdkConfig) -> Self {
        match target {
            FanoutTarget::InProcess => Fanout::local(),
            FanoutTarget::Lambda { function } => Fanout::Lambda {
                client: aws_sdk_lambda::Client::new(sdk),
                function,
            },
        }
    }

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

/// What the monthly-reset function works with, built once per cold start: the job, how its
/// segments are started, and the time it acts on (the App's clock).
pub struct Reset {
    pub job: ResetJob,
    pub fanout: Fanout,
    pub clock: Clock,
}

impl Reset {
    /// The job over `app`'s table with `settings`, at `app`'s time.
    pub fn new(app: &App, settings: ResetSettings, fanout: Fanout) -> Self {
        Self {
            job: ResetJob::new(app.service.clone(), settings),
            fanout,
            clock: app.clock.clone(),
        }
    }

    /// Logging, the configuration ([`ResetConfig`]), the App and the fan-out.
    pub async fn cold_start() -> Result<Self, credits::config::ConfigError> {
        credits::app::init_logging();
        let config = ResetConfig::from_env()?;
        let (app, fanout) = connect(config.app, config.fanout).await;
        Ok(Self::new(&app, config.job, fanout))
    }

    /// The run with its progress so far.
    pub async fn view(&self, period: Period, run_id: &str) -> Result<Option<RunView>, ResetError> {
        Ok(self
            .job
            .progress(period, run_id)
            .await?
            .map(|p| RunView::new(&p)))
    }

    /// Starts every unfinished segment of `run`. In process, they run to the end (or the
    /// budget) before this returns; on Lambda, they are queued.
    pub async fn launch(&self, run: &RunRecord) -> Result<RunView, JobError> {
        match &self.fanout {
            Fanout::InProcess { budget } => {
                Ok(
                    in_process::run_segments(&self.job, &self.clock, run, Instant::now() + *budget)
                        .await?,
                )
            }
            Fanout::Lambda { .. } => {
                for segment in 0..run.segments {
                    self.fanout
                        .invoke(&Event::Segment {
                            period: run.period,
                            run_id: run.run_id.clone(),
                            segment,
                        })
                        .await?;
                }
                self.view(run.period, &run.run_id)
                    .await?
                    .ok_or_else(|| JobError::Reset(ResetError::missing(run)))
            }
        }
    }
}

/// The App and the fan-out over the AWS SDK's configuration, built once.
async fn connect(config: credits::config::Config, fanout: FanoutTarget) -> (App, Fanout) {
    let sdk = credits::config::aws().await;
    (App::new(&sdk, config), Fanout::new(fanout, &sdk))
}

/// One invocation. An error makes Lambda retry the same event, which resumes from the
/// checkpoints: a retried or repeated run changes nothing twice.
pub async fn handle(reset: &Reset, event: Event, deadline: Instant) -> Result<Value, JobError> {
    match event {
        Event::Start => {
            let run = reset
                .job
                .start(SCHEDULED_RUN, "schedule", reset.clock.now())
                .await?;
            let view = reset.launch(&run).await?;
            Ok(serde_json::to_value(view).unwrap_or(Value::Null))
        }
        Event::Segment {
            period,
            run_id,
            segment,
        } => {
            let outcome = reset
                .job
                .run_segment(
                    &reset.clock,
                    period,
                    &run_id,
                    segment,
                    reset.fanout.deadline(deadline),
                )
                .await?;
            if outcome == SegmentOutcome::Paused {
                reset
                    .fanout
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
