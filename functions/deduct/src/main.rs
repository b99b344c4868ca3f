use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let app = &credits::app::cold_start().await?;
    run(service_fn(move |req| {
        credits::app::observed("deduct", deduct::handle(app, req))
    }))
    .await
}
