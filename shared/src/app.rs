//! What a function builds once per cold start and shares across invocations.

use crate::config::Config;
use crate::flags::FlagReader;
use crate::service::CreditService;
use crate::store::Store;

pub struct App {
    pub config: Config,
    pub service: CreditService,
    pub flags: FlagReader,
}

impl App {
    pub fn new(sdk: &aws_config::SdkConfig, config: Config) -> Self {
        let store = Store::new(aws_sdk_dynamodb::Client::new(sdk), config.table.clone());
        Self {
            service: CreditService::new(store, config.idempotency_ttl),
            flags: FlagReader::new(
                aws_sdk_ssm::Client::new(sdk),
                &config.parameter_prefix,
                config.flag_ttl,
            ),
            config,
        }
    }

    /// From the environment: a bad variable fails the cold start with its name.
    pub async fn from_env() -> Result<Self, crate::config::ConfigError> {
        let config = Config::from_env()?;
        Ok(Self::new(&crate::config::aws().await, config))
    }
}

/// Logs as JSON lines (the Lambda runtime adds the request id to each), level from `RUST_LOG`
/// or `AWS_LAMBDA_LOG_LEVEL`.
pub fn init_logging() {
    lambda_http::tracing::init_default_subscriber();
}

/// Logging, then the App from the environment: what an API function does once per cold start.
pub async fn cold_start() -> Result<App, crate::config::ConfigError> {
    init_logging();
    App::from_env().await
}

/// Runs one request's handling and reports its EMF metrics (requests, errors, latency).
pub async fn observed(
    function: &'static str,
    handling: impl std::future::Future<Output = lambda_http::Response<lambda_http::Body>>,
) -> Result<lambda_http::Response<lambda_http::Body>, lambda_http::Error> {
    let started = std::time::Instant::now();
    let response = handling.await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    crate::metrics::http(function, response.status().as_u16(), ms);
    Ok(response)
}
