use lambda_http::{Error, Request, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (job, fanout) = &monthly_reset::cold_start("CREDITS_RESET_FUNCTION").await?;
    run(service_fn(move |req: Request| {
        credits::app::observed(
            "admin-reset",
            monthly_reset::admin::handle(job, fanout, req),
        )
    }))
    .await
}
