use credits::app::{App, init_logging};
use credits::config::Config;
use credits::reset::{ResetJob, ResetSettings};
use lambda_http::{Error, Request, run, service_fn};
use monthly_reset::Fanout;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = Config::from_env()?;
    let sdk = credits::config::aws().await;
    let app = App::new(&sdk, config);
    let job = ResetJob::new(app.service.clone(), ResetSettings::from_env()?);
    let function = std::env::var("CREDITS_RESET_FUNCTION")
        .map_err(|_| "CREDITS_RESET_FUNCTION (the monthly-reset function's name) is not set")?;
    let fanout = Fanout::Lambda {
        client: aws_sdk_lambda::Client::new(&sdk),
        function,
    };
    let (job, fanout) = (&job, &fanout);
    run(service_fn(move |req: Request| {
        credits::app::observed(
            "admin-reset",
            monthly_reset::admin::handle(job, fanout, req),
        )
    }))
    .await
}
