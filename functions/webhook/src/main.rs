use credits::app::cold_start;
use lambda_http::{Error, run, service_fn};
use webhook::Webhook;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let app = &cold_start().await?;
    // The signing secret is read once per cold start (SSM SecureString or the local env).
    let hook = &Webhook::from_env(&credits::config::aws().await).await?;
    run(service_fn(move |req| {
        credits::app::observed("webhook", webhook::handle(app, hook, req))
    }))
    .await
}
