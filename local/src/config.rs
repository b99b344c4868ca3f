//! The local gateway's configuration: every variable it reads, read once when it starts. A
//! variable that is present but not a valid value (empty included) stops the start with a
//! message naming it; only an absent one takes its default.

use std::net::SocketAddr;

use credits::config::{Config, ConfigError};
use monthly_reset::config::AdminSettings;
use webhook::{Webhook, WebhookConfigError};

use crate::cors::{self, Cors, CorsRules};
use crate::error::LocalError;

/// `CREDITS_LOCAL_ADDR`: where the gateway listens.
pub const ADDR_VAR: &str = "CREDITS_LOCAL_ADDR";
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";
/// `LOCAL_JWT_SECRET`: the HS256 secret of the local authorizer and of local tokens.
pub const JWT_SECRET_VAR: &str = "LOCAL_JWT_SECRET";
pub const DEFAULT_JWT_SECRET: &str = "local-dev-secret";

/// Everything `credits-local serve` reads from its environment.
#[derive(Debug)]
pub struct GatewayConfig {
    pub addr: SocketAddr,
    /// The core's: table, parameter prefix, flag and idempotency times.
    pub app: Config,
    pub gateway: GatewaySettings,
}

/// What the gateway holds besides the App.
pub struct GatewaySettings {
    pub jwt_secret: String,
    /// `CREDITS_CORS_ALLOWED_ORIGINS`.
    pub cors: Cors,
    /// `STRIPE_WEBHOOK_SECRET`, `STRIPE_PRICES`, `STRIPE_API_KEY`, `STRIPE_API_BASE`.
    pub webhook: Webhook,
    /// `CREDITS_RESET_*` and `CREDITS_ADMIN_GROUP`, for the admin route.
    pub admin: AdminSettings,
}

/// The JWT secret is never printed.
impl std::fmt::Debug for GatewaySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewaySettings")
            .field("jwt_secret", &"<redacted>")
            .field("cors", &self.cors)
            .field("webhook", &self.webhook)
            .field("admin", &self.admin)
            .finish()
    }
}

impl GatewaySettings {
    /// The local defaults with `jwt_secret`, nothing read from the environment (tests).
    pub fn local(jwt_secret: &str) -> Result<Self, LocalError> {
        GatewayConfig::from_lookup(|name| (name == JWT_SECRET_VAR).then(|| jwt_secret.to_owned()))
            .map(|c| c.gateway)
    }
}

impl GatewayConfig {
    pub fn from_env() -> Result<Self, LocalError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads each variable through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, LocalError> {
        let invalid = |name: &'static str, problem: String| ConfigError { name, problem };
        // Present means set to a non-blank value; a blank one is a mistake, not a default.
        let present = |name: &'static str| -> Result<Option<String>, ConfigError> {
            match lookup(name) {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => Err(invalid(name, "empty".into())),
                Some(v) => Ok(Some(v.trim().to_owned())),
            }
        };
        let addr = present(ADDR_VAR)?.unwrap_or_else(|| DEFAULT_ADDR.into());
        let addr = addr.parse::<SocketAddr>().map_err(|_| {
            invalid(
                ADDR_VAR,
                format!("expected host:port such as {DEFAULT_ADDR}, got {addr:?}"),
            )
        })?;
        let jwt_secret = present(JWT_SECRET_VAR)?.unwrap_or_else(|| DEFAULT_JWT_SECRET.into());
        let origins = present(cors::ORIGINS_VAR)?.unwrap_or_else(|| cors::LOCAL_ORIGINS.to_owned());
        let rules = CorsRules::from_template().map_err(LocalError::Template)?;
        let cors = Cors::with_rules(&origins, rules)
            .map_err(|problem| invalid(cors::ORIGINS_VAR, problem))?;
        let webhook = Webhook::from_lookup(&lookup).map_err(|e| match e {
            WebhookConfigError::Invalid { name, problem } => invalid(name, problem),
            WebhookConfigError::Parameter { name, message } => {
                invalid("STRIPE_WEBHOOK_SECRET", format!("{name}: {message}"))
            }
        })?;
        Ok(Self {
            addr,
            app: Config::from_lookup(&lookup)?,
            gateway: GatewaySettings {
                jwt_secret,
                cors,
                webhook,
                admin: AdminSettings::from_lookup(&lookup)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<GatewayConfig, LocalError> {
        GatewayConfig::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    fn refused_variable(pairs: &[(&str, &str)]) -> &'static str {
        match from(pairs) {
            Err(LocalError::Config(e)) => e.name,
            other => panic!("{pairs:?} was not refused by name: {other:?}"),
        }
    }

    #[test]
    fn absent_variables_take_the_local_defaults() {
        let c = from(&[]).unwrap();
        assert_eq!(c.addr.to_string(), DEFAULT_ADDR);
        assert_eq!(c.gateway.jwt_secret, DEFAULT_JWT_SECRET);
        assert_eq!(c.gateway.webhook.secret.expose(), webhook::LOCAL_SECRET);
        assert!(c.gateway.webhook.line_items.is_none());
        assert!(c.gateway.cors.allows("http://localhost:5173"));
        assert_eq!(c.gateway.admin, AdminSettings::default());
        assert_eq!(c.app.table, "credits");
    }

    #[test]
    fn set_variables_are_used() {
        let c = from(&[
            (ADDR_VAR, "127.0.0.1:4000"),
            (JWT_SECRET_VAR, "s3cret"),
            (cors::ORIGINS_VAR, "https://app.example.com"),
            ("STRIPE_API_KEY", "sk_test_local"),
            ("STRIPE_API_BASE", "http://127.0.0.1:4000/local/stripe/"),
            ("CREDITS_RESET_SEGMENTS", "8"),
            ("CREDITS_TABLE", "t1"),
        ])
        .unwrap();
        assert_eq!(c.addr.port(), 4000);
        assert_eq!(c.gateway.jwt_secret, "s3cret");
        assert!(c.gateway.cors.allows("https://app.example.com"));
        assert!(!c.gateway.cors.allows("http://localhost:5173"));
        assert!(c.gateway.webhook.line_items.is_some());
        assert_eq!(c.gateway.admin.job.segments, 8);
        assert_eq!(c.app.table, "t1");
    }

    /// A bad value stops the start, named, instead of the default standing in for it.
    #[test]
    fn a_bad_value_of_any_variable_fails_the_start_naming_it() {
        for (name, bad) in [
            (ADDR_VAR, "3000"),
            (ADDR_VAR, "localhost:port"),
            (ADDR_VAR, ""),
            (JWT_SECRET_VAR, ""),
            (JWT_SECRET_VAR, "  "),
            (cors::ORIGINS_VAR, "app.example.com"),
            (cors::ORIGINS_VAR, ""),
            ("STRIPE_WEBHOOK_SECRET", ""),
            ("STRIPE_PRICES", "price_x"),
            ("STRIPE_API_KEY", "pk_live_public"),
            ("STRIPE_API_BASE", "http://127.0.0.1:4000/local/stripe/"),
            ("CREDITS_TABLE", ""),
            ("CREDITS_FLAG_TTL_SECONDS", "soon"),
            ("CREDITS_IDEMPOTENCY_TTL_SECONDS", "0"),
            ("CREDITS_RESET_SEGMENTS", "0"),
            ("CREDITS_RESET_MARGIN_SECONDS", "-1"),
            ("CREDITS_ADMIN_GROUP", "a b"),
        ] {
            assert_eq!(refused_variable(&[(name, bad)]), name, "{name}={bad:?}");
        }
        let bad_base = [
            ("STRIPE_API_KEY", "sk_test_local"),
            ("STRIPE_API_BASE", "not a url"),
        ];
        assert_eq!(refused_variable(&bad_base), "STRIPE_API_BASE");
    }

    #[test]
    fn the_secrets_are_never_printed() {
        let c = from(&[
            (JWT_SECRET_VAR, "s3cret"),
            ("STRIPE_WEBHOOK_SECRET", "whsec_s3cret"),
        ]);
        let printed = format!("{:?}", c.unwrap());
        assert!(!printed.contains("s3cret"), "{printed}");
    }

    #[test]
    fn the_message_names_the_variable_and_the_value() {
        let e = from(&[(ADDR_VAR, "localhost:port")])
            .unwrap_err()
            .to_string();
        assert!(e.contains(ADDR_VAR) && e.contains("localhost:port"), "{e}");
    }
}
