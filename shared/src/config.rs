//! Typed configuration, read once per cold start from the environment.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

/// Everything a function reads from its environment. Secrets never live here: they are
/// fetched where they are used and never printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `CREDITS_TABLE`: the single table.
    pub table: String,
    /// `CREDITS_PARAMETER_PREFIX`: where the flag parameters live.
    pub parameter_prefix: String,
    /// `CREDITS_FLAG_TTL_SECONDS`: how long a flag value read from SSM is trusted.
    pub flag_ttl: Duration,
    /// `CREDITS_IDEMPOTENCY_TTL_SECONDS`: how long an Idempotency-Key is remembered.
    pub idempotency_ttl: Duration,
}

/// The shortest time an Idempotency-Key may be remembered: far longer than any retry (the
/// SDK's, a client's backoff, a second click) takes to come. Shorter would let a late retry
/// spend again; 0 would turn idempotency off.
pub const MIN_IDEMPOTENCY_TTL_SECONDS: u64 = 3600;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {name} is invalid: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads each variable through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = |name: &'static str, default: &str| -> Result<String, ConfigError> {
            match lookup(name) {
                None => Ok(default.to_owned()),
                Some(v) if v.trim().is_empty() => Err(ConfigError {
                    name,
                    problem: "empty".into(),
                }),
                Some(v) => Ok(v.trim().to_owned()),
            }
        };
        let seconds = |name: &'static str,
                       default: u64,
                       (min, max): (u64, u64)|
         -> Result<Duration, ConfigError> {
            let Some(raw) = lookup(name) else {
                return Ok(Duration::from_secs(default));
            };
            match raw.trim().parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(Duration::from_secs(n)),
                _ => Err(ConfigError {
                    name,
                    problem: format!("expected whole seconds from {min} to {max}, got {raw:?}"),
                }),
            }
        };
        let prefix = text("CREDITS_PARAMETER_PREFIX", "/credits")?;
        if !prefix.starts_with('/') || prefix.ends_with('/') {
            return Err(ConfigError {
                name: "CREDITS_PARAMETER_PREFIX",
                problem: format!("expected a path such as /credits, got {prefix:?}"),
            });
        }
        Ok(Self {
            table: text("CREDITS_TABLE", "credits")?,
            parameter_prefix: prefix,
            flag_ttl: seconds("CREDITS_FLAG_TTL_SECONDS", 30, (0, 3600))?,
            idempotency_ttl: seconds(
                "CREDITS_IDEMPOTENCY_TTL_SECONDS",
                86_400,
                (MIN_IDEMPOTENCY_TTL_SECONDS, 30 * 86_400),
            )?,
        })
    }
}

/// Attempts the SDK makes for one call (the first and two retries) on a throttle, a timeout or a
/// broken connection, with the standard jittered backoff.
pub const STORE_ATTEMPTS: u32 = 3;

/// How long the product waits on DynamoDB. A store that does not answer must become a 503 with
/// `Retry-After` well inside the function's 10 s timeout (otherwise the caller gets the gateway's
/// own 5xx instead of the contract's): one call gives up after [`STORE_CALL_TIMEOUT`], and one
/// request's store work after [`crate::service::DEADLINE`]. DynamoDB answers in milliseconds; the
/// per-attempt limit is generous so that a busy local emulator is not taken for a fault.
pub const STORE_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub const STORE_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
pub const STORE_CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Parameter Store is read for the flags, whose last good value stays in force when a read
/// fails, so a slow read is given up sooner than a store call.
pub const FLAGS_CALL_TIMEOUT: Duration = Duration::from_millis(1500);

pub fn timeouts(attempt: Duration, call: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(STORE_CONNECT_TIMEOUT)
        .operation_attempt_timeout(attempt)
        .operation_timeout(call)
        .build()
}

/// The SDK's standard retries, [`STORE_ATTEMPTS`] attempts in all, with a jittered backoff from
/// 50 ms (DynamoDB's own SDKs start there; the generic 1 s would spend a request's whole
/// call timeout waiting) up to 1 s.
pub fn retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(STORE_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_secs(1))
}

/// The AWS SDK configuration: region, credentials and `AWS_ENDPOINT_URL` from the environment,
/// as every AWS tool reads them, with the product's timeouts and retries for every client built
/// from it ([`crate::app::clients`] sets them on the store's clients too). Built once per cold
/// start.
pub async fn aws() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(retries())
        .timeout_config(timeouts(STORE_ATTEMPT_TIMEOUT, STORE_CALL_TIMEOUT))
        .load()
        .await
}

/// For the operators' tools and the local stack's provisioning: the same region, credentials and
/// endpoint with patient timeouts (a person waits, and a freshly started emulator takes seconds
/// to answer its first calls). The store's clients of an [`crate::app::App`] built on it still
/// carry the product's own timeouts.
pub async fn aws_for_tools() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(retries())
        .timeout_config(timeouts(Duration::from_secs(20), Duration::from_secs(60)))
        .load()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_are_the_specs() {
        let c = from(&[]).unwrap();
        assert_eq!(c.table, "credits");
        assert_eq!(c.parameter_prefix, "/credits");
        assert_eq!(c.flag_ttl, Duration::from_secs(30));
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let e = from(&[("CREDITS_FLAG_TTL_SECONDS", "soon")]).unwrap_err();
        assert_eq!(e.name, "CREDITS_FLAG_TTL_SECONDS");
        let e = from(&[("CREDITS_PARAMETER_PREFIX", "credits/")]).unwrap_err();
        assert_eq!(e.name, "CREDITS_PARAMETER_PREFIX");
        let e = from(&[("CREDITS_TABLE", " ")]).unwrap_err();
        assert_eq!(e.name, "CREDITS_TABLE");
    }

    /// 0 would turn idempotency off (every record expired at
    /// once, so a retried deduct spends again). The cold start refuses it.
    #[test]
    fn an_idempotency_time_below_an_hour_fails_the_cold_start() {
        for bad in ["0", "1", "3599", "2592001"] {
            let e = from(&[("CREDITS_IDEMPOTENCY_TTL_SECONDS", bad)]).unwrap_err();
            assert_eq!(e.name, "CREDITS_IDEMPOTENCY_TTL_SECONDS", "{bad}");
        }
        let c = from(&[("CREDITS_IDEMPOTENCY_TTL_SECONDS", "3600")]).unwrap();
        assert_eq!(c.idempotency_ttl, Duration::from_secs(3600));
        assert_eq!(
            from(&[]).unwrap().idempotency_ttl,
            Duration::from_secs(86_400)
        );
    }

    #[test]
    fn values_override_defaults() {
        let c = from(&[("CREDITS_TABLE", "t1"), ("CREDITS_FLAG_TTL_SECONDS", "5")]).unwrap();
        assert_eq!(
            (c.table.as_str(), c.flag_ttl),
            ("t1", Duration::from_secs(5))
        );
    }
}
