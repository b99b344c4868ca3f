//! The webhook's configuration, read once per cold start: the endpoint's signing secret, the
//! price map, and the Stripe API settings for listing a checkout's line items. A variable that
//! is set but invalid (blank included) fails the cold start with a message naming it.

use std::fmt;

use credits::stripe::PriceMap;

use crate::line_items::{ApiKey, LineItems};

/// The local stack's signing secret (SPEC).
pub const LOCAL_SECRET: &str = "whsec_local";

/// The endpoint's signing secret. Never printed.
#[derive(Clone)]
pub struct SigningSecret(String);

impl SigningSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// For signing test and sample events.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

/// What the webhook needs besides the core's [`credits::app::App`]: built once per cold start.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub secret: SigningSecret,
    pub prices: PriceMap,
    /// The Stripe API, for a paid checkout without `metadata.price_id`; `None` without a key
    /// (such a checkout is then answered 503 until one is configured).
    pub line_items: Option<LineItems>,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookConfigError {
    #[error("environment variable {name} is invalid: {problem}")]
    Invalid { name: &'static str, problem: String },
    #[error("the SSM parameter {name} cannot be read: {message}")]
    Parameter { name: String, message: String },
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// `name`'s value, `None` when unset; set but blank is refused.
fn set(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<String>, WebhookConfigError> {
    match lookup(name) {
        Some(v) if v.trim().is_empty() => Err(WebhookConfigError::Invalid {
            name,
            problem: "empty (unset it for the default)".into(),
        }),
        v => Ok(v),
    }
}

impl Webhook {
    /// The signing secret from the SSM SecureString named by `STRIPE_WEBHOOK_SECRET_PARAMETER`,
    /// else `STRIPE_WEBHOOK_SECRET` (default `whsec_local`); the Stripe API key likewise from
    /// `STRIPE_API_KEY_PARAMETER` (empty: none, as the template passes it without a key), else
    /// `STRIPE_API_KEY` (none: no lookup). Both parameters are read here, together, with
    /// decryption; a failure fails the cold start.
    pub async fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, WebhookConfigError> {
        let ssm = aws_sdk_ssm::Client::new(sdk);
        let secret_parameter = set(&env, "STRIPE_WEBHOOK_SECRET_PARAMETER")?;
        let key_parameter = env("STRIPE_API_KEY_PARAMETER").filter(|v| !v.trim().is_empty());
        let (secret, key) = tokio::try_join!(
            secure(&ssm, secret_parameter, "STRIPE_WEBHOOK_SECRET"),
            secure(&ssm, key_parameter.clone(), "STRIPE_API_KEY"),
        )?;
        let key_name = match key_parameter {
            Some(_) => "STRIPE_API_KEY_PARAMETER",
            None => "STRIPE_API_KEY",
        };
        Self::build(&env, secret, key.map(|k| (k, key_name)))
    }

    /// The local stack's: `STRIPE_WEBHOOK_SECRET` (default `whsec_local`), `STRIPE_API_KEY`,
    /// `STRIPE_API_BASE` and `STRIPE_PRICES`, each read through `lookup`.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, WebhookConfigError> {
        let secret = set(&lookup, "STRIPE_WEBHOOK_SECRET")?;
        let key = set(&lookup, "STRIPE_API_KEY")?;
        Self::build(&lookup, secret, key.map(|k| (k, "STRIPE_API_KEY")))
    }

    /// `key` with the name of the variable it came from.
    fn build(
        lookup: &impl Fn(&str) -> Option<String>,
        secret: Option<String>,
        key: Option<(String, &'static str)>,
    ) -> Result<Self, WebhookConfigError> {
        let invalid = |name, problem: String| WebhookConfigError::Invalid { name, problem };
        let prices = PriceMap::parse(
            set(lookup, "STRIPE_PRICES")?
                .as_deref()
                .unwrap_or(PriceMap::DEFAULT),
        )
        .map_err(|e| invalid("STRIPE_PRICES", e.to_string()))?;
        let base = set(lookup, "STRIPE_API_BASE")?;
        let line_items = match key {
            None if base.is_some() => {
                return Err(invalid(
                    "STRIPE_API_BASE",
                    "set without STRIPE_API_KEY, which the Stripe API needs".into(),
                ));
            }
            None => None,
            Some((key, key_name)) => {
                let key = ApiKey::parse(key).map_err(|e| invalid(key_name, e.to_string()))?;
                Some(
                    LineItems::new(&key, base.as_deref())
                        .map_err(|problem| invalid("STRIPE_API_BASE", problem))?,
                )
            }
        };
        Ok(Self {
            secret: SigningSecret(secret.unwrap_or_else(|| LOCAL_SECRET.into())),
            prices,
            line_items,
        })
    }
}

/// The SecureString named `parameter` (read with decryption), else the value of `plain`.
async fn secure(
    ssm: &aws_sdk_ssm::Client,
    parameter: Option<String>,
    plain: &'static str,
) -> Result<Option<String>, WebhookConfigError> {
    let Some(name) = parameter else {
        return set(&env, plain);
    };
    let failed = |message: String| WebhookConfigError::Parameter {
        name: name.clone(),
        message,
    };
    let out = ssm
        .get_parameter()
        .name(&name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| failed(aws_sdk_ssm::error::DisplayErrorContext(e).to_string()))?;
    out.parameter
        .and_then(|p| p.value)
        .filter(|v| !v.is_empty())
        .map(Some)
        .ok_or_else(|| failed("empty".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Webhook, WebhookConfigError> {
        Webhook::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    fn invalid_name(pairs: &[(&str, &str)]) -> &'static str {
        match from(pairs) {
            Err(WebhookConfigError::Invalid { name, .. }) => name,
            other => panic!("{pairs:?}: {other:?}"),
        }
    }

    #[test]
    fn the_local_defaults_are_the_specs() {
        let hook = from(&[]).unwrap();
        assert_eq!(hook.secret.expose(), LOCAL_SECRET);
        assert!(hook.line_items.is_none());
        assert!(hook.prices.get("price_credits_100").is_some());
        let hook = from(&[
            ("STRIPE_WEBHOOK_SECRET", "whsec_other"),
            ("STRIPE_API_KEY", "sk_test_1"),
            ("STRIPE_API_BASE", "http://127.0.0.1:3000/local/stripe/"),
        ])
        .unwrap();
        assert_eq!(hook.secret.expose(), "whsec_other");
        assert!(hook.line_items.is_some());
    }

    #[test]
    fn a_bad_value_fails_the_cold_start_by_name() {
        for (pairs, name) in [
            (&[("STRIPE_PRICES", "price_x=gold")][..], "STRIPE_PRICES"),
            (&[("STRIPE_API_KEY", "pk_test_1")], "STRIPE_API_KEY"),
            (
                &[
                    ("STRIPE_API_KEY", "sk_test_1"),
                    ("STRIPE_API_BASE", "not a url"),
                ],
                "STRIPE_API_BASE",
            ),
            // Set but blank is not unset: no silent fall back to the local secret or prices.
            (&[("STRIPE_WEBHOOK_SECRET", " ")], "STRIPE_WEBHOOK_SECRET"),
            (&[("STRIPE_PRICES", "")], "STRIPE_PRICES"),
            (&[("STRIPE_API_KEY", "")], "STRIPE_API_KEY"),
        ] {
            assert_eq!(invalid_name(pairs), name, "{pairs:?}");
        }
    }
}
