use std::time::{Instant, SystemTime};

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use monthly_reset::{Event, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // The fan-out and continuations invoke this very function (Lambda sets its name).
    let (job, fanout) = &monthly_reset::cold_start("AWS_LAMBDA_FUNCTION_NAME").await?;
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
