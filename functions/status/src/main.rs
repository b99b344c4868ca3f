use credits::app::{App, init_logging};
use lambda_http::{Error, Request, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let app = App::from_env().await?;
    let app = &app;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(status::handle(app, req).await)
    }))
    .await
}
