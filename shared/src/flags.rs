//! The v1/v2 switch, read from SSM Parameter Store and cached for a short time, so an operator's
//! change takes effect everywhere within that time, with no redeploy.

use std::time::Duration;

use serde::Serialize;

use crate::cached::Cached;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Version {
    V1,
    V2,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }

    /// Exactly `v1` or `v2`: a value with stray spaces or capitals is a mistake to report.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "v1" => Some(Version::V1),
            "v2" => Some(Version::V2),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags {
    pub version: Version,
    /// The `enable-purchases` parameter as read; see [`Flags::purchases_enabled`].
    pub enable_purchases: bool,
}

impl Flags {
    /// When SSM has never been read: v2 without purchases, which sells nothing that the
    /// deployment might not honour. Money-moving decisions check [`FlagSource`] first.
    pub const DEFAULT: Flags = Flags {
        version: Version::V2,
        enable_purchases: false,
    };

    /// Purchases are on only when both parameters say so.
    pub fn purchases_enabled(&self) -> bool {
        self.version == Version::V1 && self.enable_purchases
    }
}

/// Where the flags in force came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FlagSource {
    /// Read from Parameter Store within the cache time.
    ParameterStore,
    /// Parameter Store failed or held an invalid value: the last good value stays in force.
    LastGood,
    /// Never read successfully since this cold start: [`Flags::DEFAULT`].
    Default,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagReading {
    pub flags: Flags,
    pub source: FlagSource,
    /// Time since the value in force was read from Parameter Store (zero for the default).
    pub age: Duration,
    /// The last failure to read, while one is in force.
    pub error: Option<String>,
}

/// The parameter names under a prefix.
pub fn parameter_names(prefix: &str) -> [String; 2] {
    [
        format!("{prefix}/system-version"),
        format!("{prefix}/enable-purchases"),
    ]
}

pub struct FlagReader {
    ssm: aws_sdk_ssm::Client,
    names: [String; 2],
    cache: Cached<Flags>,
}

impl FlagReader {
    pub fn new(ssm: aws_sdk_ssm::Client, prefix: &str, ttl: Duration) -> Self {
        Self {
            ssm,
            names: parameter_names(prefix),
            cache: Cached::new(ttl),
        }
    }

    /// The flags in force now. Reads Parameter Store at most once per cache time, whether the
    /// read succeeds or not, so a failing SSM is not hammered.
    pub async fn read(&self) -> FlagReading {
        let reading = self.cache.read(|| self.fetch()).await;
        FlagReading {
            flags: reading.value.unwrap_or(Flags::DEFAULT),
            source: reading.source,
            age: reading.age,
            error: reading.error,
        }
    }

    /// Both parameters in one call. Any missing or invalid value fails the whole read, so a
    /// half-valid pair never mixes with the last good one.
    async fn fetch(&self) -> Result<Flags, String> {
        let out = crate::cached::get_parameters(&self.ssm, self.names.to_vec()).await?;
        let value = |name: &str| {
            out.parameters()
                .iter()
                .find(|p| p.name() == Some(name))
                .and_then(|p| p.value())
                .ok_or_else(|| format!("parameter {name} not found"))
        };
        let [version_name, purchases_name] = &self.names;
        parse_flags(value(version_name)?, value(purchases_name)?)
            .map_err(|problem| format!("{problem} (in {version_name} / {purchases_name})"))
    }
}

/// Parses the two parameter values; exact spellings only.
pub fn parse_flags(version: &str, enable_purchases: &str) -> Result<Flags, String> {
    let version = Version::parse(version)
        .ok_or_else(|| format!("system-version must be v1 or v2, got {version:?}"))?;
    let enable_purchases = match enable_purchases {
        "true" => true,
        "false" => false,
        other => {
            return Err(format!(
                "enable-purchases must be true or false, got {other:?}"
            ));
        }
    };
    Ok(Flags {
        version,
        enable_purchases,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_values_only() {
        assert_eq!(
            parse_flags("v1", "true").unwrap(),
            Flags {
                version: Version::V1,
                enable_purchases: true
            }
        );
        for (v, p) in [
            ("v3", "true"),
            ("", "true"),
            ("v1", "TRUE "),
            ("V1", "true"),
            ("v2", ""),
        ] {
            assert!(parse_flags(v, p).is_err(), "{v:?} {p:?}");
        }
    }

    #[test]
    fn purchases_need_v1_and_the_switch() {
        let f = |version, enable_purchases| Flags {
            version,
            enable_purchases,
        };
        assert!(f(Version::V1, true).purchases_enabled());
        assert!(!f(Version::V1, false).purchases_enabled());
        assert!(!f(Version::V2, true).purchases_enabled());
        assert!(!Flags::DEFAULT.purchases_enabled());
    }
}
