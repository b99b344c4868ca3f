use lambda_http::{Error, Request, run, service_fn};
use monthly_reset::admin::{Admin, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let admin = &Admin::cold_start().await?;
    run(service_fn(move |req: Request| {
        credits::app::observed("admin-reset", handle(admin, req))
    }))
    .await
}
