use lambda_http::{Error, Request, run, service_fn};
use monthly_reset::admin::{Admin, serve};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (app, admin) = &Admin::cold_start().await?;
    run(service_fn(move |req: Request| {
        credits::app::observed("admin-reset", serve(app, admin, req))
    }))
    .await
}
