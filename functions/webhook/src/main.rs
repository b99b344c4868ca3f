use credits::app::{App, init_logging};
use lambda_http::{Error, Request, run, service_fn};
use webhook::Webhook;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let app = App::from_env().await?;
    // The signing secret is read once per cold start (SSM SecureString or the local env).
    let hook = Webhook::from_env(&credits::config::aws().await).await?;
    let (app, hook) = (&app, &hook);
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(webhook::handle(app, hook, req).await)
    }))
    .await
}
