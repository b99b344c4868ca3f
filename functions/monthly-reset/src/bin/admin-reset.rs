use lambda_http::{Error, Request, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (app, job, fanout) = &monthly_reset::cold_start_app("CREDITS_RESET_FUNCTION").await?;
    run(service_fn(move |req: Request| {
        credits::app::observed(
            "admin-reset",
            monthly_reset::admin::serve(app, job, fanout, req),
        )
    }))
    .await
}
