//! What a function builds once per cold start and shares across invocations.

use crate::clock::Clock;
use crate::config::{
    Config, FLAGS_CALL_TIMEOUT, STORE_ATTEMPT_TIMEOUT, STORE_CALL_TIMEOUT, retries, timeouts,
};
use crate::flags::FlagReader;
use crate::prices::PriceReader;
use crate::service::CreditService;
use crate::store::Store;

pub struct App {
    pub config: Config,
    /// The time every handler acts on: the system clock, or one a test sets.
    pub clock: Clock,
    pub service: CreditService,
    pub flags: FlagReader,
    /// The feature price list, cached like the flags.
    pub prices: PriceReader,
}

impl App {
    pub fn new(sdk: &aws_config::SdkConfig, config: Config) -> Self {
        let (dynamodb, ssm) = clients(sdk, None);
        Self::with_clients(dynamodb, ssm, config)
    }

    /// With clients built by the caller: [`clients`] with an interceptor (the benchmarks' probe)
    /// or another endpoint (the fault tests' proxy).
    pub fn with_clients(
        dynamodb: aws_sdk_dynamodb::Client,
        ssm: aws_sdk_ssm::Client,
        config: Config,
    ) -> Self {
        Self {
            service: CreditService::new(
                Store::new(dynamodb, config.table.clone())
                    .with_low_balance_percent(config.low_balance_percent),
                config.idempotency_ttl,
            ),
            prices: PriceReader::new(ssm.clone(), &config.parameter_prefix, config.flag_ttl),
            flags: FlagReader::new(ssm, &config.parameter_prefix, config.flag_ttl),
            config,
            clock: Clock::system(),
        }
    }

    /// The same App acting on `clock`'s time.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// From the environment: a bad variable fails the cold start with its name.
    pub async fn from_env() -> Result<Self, crate::config::ConfigError> {
        let config = Config::from_env()?;
        Ok(Self::new(&crate::config::aws().await, config))
    }
}

/// The product's DynamoDB and SSM clients: its timeouts and retries, on `sdk`'s region and
/// credentials. `endpoint` overrides where both connect (the fault tests' proxy); it is set on
/// each client because `AWS_ENDPOINT_URL` in the environment wins over one on `sdk`.
pub fn clients(
    sdk: &aws_config::SdkConfig,
    endpoint: Option<&str>,
) -> (aws_sdk_dynamodb::Client, aws_sdk_ssm::Client) {
    let retry = retries();
    let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(sdk)
        .retry_config(retry.clone())
        .timeout_config(timeouts(STORE_ATTEMPT_TIMEOUT, STORE_CALL_TIMEOUT));
    let mut ssm = aws_sdk_ssm::config::Builder::from(sdk)
        .retry_config(retry)
        .timeout_config(timeouts(FLAGS_CALL_TIMEOUT, FLAGS_CALL_TIMEOUT));
    if let Some(url) = endpoint {
        dynamodb = dynamodb.endpoint_url(url);
        ssm = ssm.endpoint_url(url);
    }
    (
        aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
        aws_sdk_ssm::Client::from_conf(ssm.build()),
    )
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
