//! The publisher's configuration, read once per cold start from the environment; a variable
//! that is set but invalid (blank included) fails the cold start with a message naming it.

use std::time::Duration;

use credits::config::{Config, ConfigError};

/// `CREDITS_EVENT_BUS`: the bus the events go to.
pub const BUS_VAR: &str = "CREDITS_EVENT_BUS";
pub const DEFAULT_BUS: &str = "credits";
/// `CREDITS_OUTBOX_SWEEP_AGE_SECONDS`: the scheduled sweep's age.
pub const SWEEP_AGE_VAR: &str = "CREDITS_OUTBOX_SWEEP_AGE_SECONDS";
pub const DEFAULT_SWEEP_AGE_SECONDS: u64 = 120;

/// The publisher function's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherConfig {
    /// The core's: the table holding the outbox.
    pub app: Config,
    pub publish: Settings,
}

impl PublisherConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            app: Config::from_lookup(&lookup)?,
            publish: Settings::from_lookup(&lookup)?,
        })
    }
}

/// Where and when the outbox is published (the local gateway's sweep reads these too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `CREDITS_EVENT_BUS`: the bus's name (or ARN).
    pub bus: String,
    /// `CREDITS_OUTBOX_SWEEP_AGE_SECONDS`: the scheduled sweep publishes items older than this
    /// (younger ones are the stream's).
    pub sweep_age: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bus: DEFAULT_BUS.into(),
            sweep_age: Duration::from_secs(DEFAULT_SWEEP_AGE_SECONDS),
        }
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let bus = match lookup(BUS_VAR) {
            None => DEFAULT_BUS.to_owned(),
            Some(b) if b.trim().is_empty() => {
                return Err(ConfigError {
                    name: BUS_VAR,
                    problem: "empty".into(),
                });
            }
            Some(b) => b.trim().to_owned(),
        };
        let sweep_age = match lookup(SWEEP_AGE_VAR) {
            None => DEFAULT_SWEEP_AGE_SECONDS,
            Some(raw) => raw.trim().parse::<u64>().map_err(|_| ConfigError {
                name: SWEEP_AGE_VAR,
                problem: format!("expected whole seconds, got {raw:?}"),
            })?,
        };
        Ok(Self {
            bus,
            sweep_age: Duration::from_secs(sweep_age),
        })
    }
}
