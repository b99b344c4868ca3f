use std::time::{Instant, SystemTime};

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use monthly_reset::{Event, Reset, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let reset = &Reset::cold_start().await?;
    run(service_fn(move |event: LambdaEvent<Event>| async move {
        let left = event
            .context
            .deadline()
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        Ok::<_, Error>(handle(reset, event.payload, Instant::now() + left).await?)
    }))
    .await
}
