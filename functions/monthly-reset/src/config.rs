//! The configuration of the two binaries, each read once per cold start from the environment;
//! a variable that is set but invalid fails the cold start with a message naming it.

use std::time::Duration;

use credits::config::{Config, ConfigError};
use credits::reset::ResetSettings;

/// `CREDITS_RESET_FANOUT`: `lambda` (the default) or `in-process`.
pub const FANOUT_VAR: &str = "CREDITS_RESET_FANOUT";

/// How a run's segments are started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FanoutTarget {
    /// One asynchronous invocation of the monthly-reset function, named here, per segment.
    Lambda { function: String },
    /// In the process that started the run (local runs, where no Lambda service answers).
    InProcess,
}

/// The monthly-reset function's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetConfig {
    pub app: Config,
    pub job: ResetSettings,
    /// On Lambda, the fan-out and continuations invoke this very function (Lambda names it in
    /// `AWS_LAMBDA_FUNCTION_NAME`).
    pub fanout: FanoutTarget,
}

impl ResetConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(env)
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            app: Config::from_lookup(&lookup)?,
            job: job_settings(&lookup)?,
            fanout: fanout(&lookup, "AWS_LAMBDA_FUNCTION_NAME")?,
        })
    }
}

/// What the admin trigger needs besides the App and the fan-out: the job's settings (it starts
/// runs, and runs their segments when in process) and the admin group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    pub job: ResetSettings,
    /// `CREDITS_ADMIN_GROUP` (default `admin`): the `cognito:groups` entry of an admin.
    pub group: String,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            job: ResetSettings::default(),
            group: "admin".into(),
        }
    }
}

impl AdminSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(env)
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let group = match lookup("CREDITS_ADMIN_GROUP") {
            None => Self::default().group,
            Some(g) if !g.trim().is_empty() && !g.trim().contains(char::is_whitespace) => {
                g.trim().to_owned()
            }
            Some(g) => {
                return Err(ConfigError {
                    name: "CREDITS_ADMIN_GROUP",
                    problem: format!("expected one group name, got {g:?}"),
                });
            }
        };
        Ok(Self {
            job: job_settings(&lookup)?,
            group,
        })
    }
}

/// The admin-reset function's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminResetConfig {
    pub app: Config,
    pub admin: AdminSettings,
    /// On Lambda, the monthly-reset function named by `CREDITS_RESET_FUNCTION`.
    pub fanout: FanoutTarget,
}

impl AdminResetConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(env)
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            app: Config::from_lookup(&lookup)?,
            admin: AdminSettings::from_lookup(&lookup)?,
            fanout: fanout(&lookup, "CREDITS_RESET_FUNCTION")?,
        })
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// `CREDITS_RESET_SEGMENTS` (1 to 64, default 4), `CREDITS_RESET_PAGE_SIZE` (1 to 1000, default
/// 200) and `CREDITS_RESET_MARGIN_SECONDS` (0 to 300, default 15).
fn job_settings(lookup: impl Fn(&str) -> Option<String>) -> Result<ResetSettings, ConfigError> {
    let d = ResetSettings::default();
    let number = |name: &'static str, default: u64, min: u64, max: u64| {
        let Some(raw) = lookup(name) else {
            return Ok(default);
        };
        match raw.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ConfigError {
                name,
                problem: format!("expected a whole number from {min} to {max}, got {raw:?}"),
            }),
        }
    };
    Ok(ResetSettings {
        segments: number("CREDITS_RESET_SEGMENTS", d.segments.into(), 1, 64)? as u32,
        page_size: number("CREDITS_RESET_PAGE_SIZE", d.page_size as u64, 1, 1000)? as i32,
        margin: Duration::from_secs(number(
            "CREDITS_RESET_MARGIN_SECONDS",
            d.margin.as_secs(),
            0,
            300,
        )?),
    })
}

/// [`FANOUT_VAR`]; with `lambda`, the function named by `function_var`, which must then be set.
fn fanout(
    lookup: impl Fn(&str) -> Option<String>,
    function_var: &'static str,
) -> Result<FanoutTarget, ConfigError> {
    match lookup(FANOUT_VAR).as_deref().map(str::trim) {
        Some("in-process") => Ok(FanoutTarget::InProcess),
        Some("lambda") | None => match lookup(function_var) {
            Some(function) if !function.trim().is_empty() => Ok(FanoutTarget::Lambda {
                function: function.trim().to_owned(),
            }),
            _ => Err(ConfigError {
                name: function_var,
                problem: format!(
                    "the monthly-reset function's name is not set; for a local run set \
                     {FANOUT_VAR}=in-process"
                ),
            }),
        },
        Some(other) => Err(ConfigError {
            name: FANOUT_VAR,
            problem: format!("expected lambda or in-process, got {other:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn admin(pairs: &[(&str, &str)]) -> Result<AdminSettings, ConfigError> {
        AdminSettings::from_lookup(lookup(pairs))
    }

    #[test]
    fn settings_default_and_refuse_bad_values_by_name() {
        assert_eq!(admin(&[]).unwrap(), AdminSettings::default());
        let s = admin(&[
            ("CREDITS_RESET_SEGMENTS", "16"),
            ("CREDITS_ADMIN_GROUP", "ops"),
        ])
        .unwrap();
        assert_eq!((s.job.segments, s.group.as_str()), (16, "ops"));
        for (name, value) in [
            ("CREDITS_RESET_SEGMENTS", "0"),
            ("CREDITS_RESET_SEGMENTS", "65"),
            ("CREDITS_RESET_PAGE_SIZE", "many"),
            ("CREDITS_RESET_MARGIN_SECONDS", "-1"),
            ("CREDITS_ADMIN_GROUP", "a b"),
        ] {
            assert_eq!(admin(&[(name, value)]).unwrap_err().name, name);
        }
    }

    #[test]
    fn the_monthly_reset_fans_out_to_itself_or_runs_in_process() {
        let c = ResetConfig::from_lookup(lookup(&[("AWS_LAMBDA_FUNCTION_NAME", "stack-reset")]))
            .unwrap();
        assert_eq!(
            c.fanout,
            FanoutTarget::Lambda {
                function: "stack-reset".into()
            }
        );
        assert_eq!(c.job, ResetSettings::default());
        let c = ResetConfig::from_lookup(lookup(&[(FANOUT_VAR, "in-process")])).unwrap();
        assert_eq!(c.fanout, FanoutTarget::InProcess);
    }

    #[test]
    fn a_bad_value_fails_either_cold_start_by_name() {
        let reset = |pairs: &[(&str, &str)]| ResetConfig::from_lookup(lookup(pairs));
        let admin = |pairs: &[(&str, &str)]| AdminResetConfig::from_lookup(lookup(pairs));
        let local = (FANOUT_VAR, "in-process");
        for (name, value) in [
            (FANOUT_VAR, "threads"),
            (FANOUT_VAR, ""),
            ("CREDITS_RESET_PAGE_SIZE", "0"),
            ("CREDITS_TABLE", ""),
        ] {
            let pairs = [("CREDITS_RESET_FUNCTION", "f"), (name, value)];
            assert_eq!(admin(&pairs).unwrap_err().name, name, "{name}={value:?}");
            let pairs = [("AWS_LAMBDA_FUNCTION_NAME", "f"), (name, value)];
            assert_eq!(reset(&pairs).unwrap_err().name, name, "{name}={value:?}");
        }
        assert_eq!(
            admin(&[local, ("CREDITS_ADMIN_GROUP", "")])
                .unwrap_err()
                .name,
            "CREDITS_ADMIN_GROUP"
        );
        // On Lambda the function to fan out to must be named, and not by an empty value.
        let e = admin(&[]).unwrap_err();
        assert_eq!(e.name, "CREDITS_RESET_FUNCTION");
        assert!(e.to_string().contains(FANOUT_VAR), "{e}");
        assert_eq!(
            admin(&[("CREDITS_RESET_FUNCTION", " ")]).unwrap_err().name,
            "CREDITS_RESET_FUNCTION"
        );
        assert_eq!(reset(&[]).unwrap_err().name, "AWS_LAMBDA_FUNCTION_NAME");
        assert!(admin(&[local]).is_ok() && reset(&[local]).is_ok());
    }
}
