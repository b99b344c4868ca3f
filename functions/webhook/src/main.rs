use credits::app::App;
use lambda_http::{Error, run, service_fn};
use webhook::Webhook;

#[tokio::main]
async fn main() -> Result<(), Error> {
    credits::app::init_logging();
    let config = credits::config::Config::from_env()?;
    let sdk = credits::config::aws().await;
    // The signing secret is read once per cold start (SSM SecureString or the local env).
    let hook = &Webhook::from_env(&sdk).await?;
    let app = &App::new(&sdk, config);
    run(service_fn(move |req| {
        credits::app::observed("webhook", webhook::handle(app, hook, req))
    }))
    .await
}
