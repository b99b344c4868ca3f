use std::time::{Instant, SystemTime};

use credits::app::{App, init_logging};
use credits::config::Config;
use credits::reset::{ResetJob, ResetSettings};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use monthly_reset::{Event, Fanout, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = Config::from_env()?;
    let sdk = credits::config::aws().await;
    let app = App::new(&sdk, config);
    let job = ResetJob::new(app.service.clone(), ResetSettings::from_env()?);
    // The fan-out and continuations invoke this very function.
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME")
        .map_err(|_| "AWS_LAMBDA_FUNCTION_NAME is not set (set by Lambda)")?;
    let fanout = Fanout::Lambda {
        client: aws_sdk_lambda::Client::new(&sdk),
        function,
    };
    let (job, fanout) = (&job, &fanout);
    run(service_fn(move |event: LambdaEvent<Event>| async move {
        let left = event
            .context
            .deadline()
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        Ok::<_, Error>(handle(job, fanout, event.payload, Instant::now() + left).await?)
    }))
    .await
}
