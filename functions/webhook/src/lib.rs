//! The Stripe webhook (a Lambda Function URL): verify the signature on the raw body, map the
//! event to a command (`credits::stripe`), apply it once (`CreditService::apply_stripe`).

use std::fmt;

use credits::api::{ApiError, json_response};
use credits::app::App;
use credits::flags::FlagSource;
use credits::service::stripe::{StripeContext, StripeError};
use credits::stripe::{Command, PriceMap};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

pub use signature::{SignatureError, sign};

pub mod signature;

/// Stripe's events are a few KiB; anything this large is not one.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
pub const SIGNATURE_HEADER: &str = "stripe-signature";
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

/// What the webhook needs besides the core's [`App`]: built once per cold start.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub secret: SigningSecret,
    pub prices: PriceMap,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookConfigError {
    #[error("environment variable {name} is invalid: {problem}")]
    Invalid { name: &'static str, problem: String },
    #[error("the signing secret parameter {name} cannot be read: {message}")]
    Secret { name: String, message: String },
}

impl Webhook {
    /// `STRIPE_WEBHOOK_SECRET_PARAMETER` (an SSM SecureString's name, read here with
    /// decryption) or else `STRIPE_WEBHOOK_SECRET` (default `whsec_local`); `STRIPE_PRICES`.
    pub async fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, WebhookConfigError> {
        let var = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let prices = prices_from(var("STRIPE_PRICES"))?;
        let Some(name) = var("STRIPE_WEBHOOK_SECRET_PARAMETER") else {
            return Self::local(var("STRIPE_WEBHOOK_SECRET"), prices);
        };
        let secret_error = |message: String| WebhookConfigError::Secret {
            name: name.clone(),
            message,
        };
        let out = aws_sdk_ssm::Client::new(sdk)
            .get_parameter()
            .name(&name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| secret_error(aws_sdk_ssm::error::DisplayErrorContext(e).to_string()))?;
        let secret = out
            .parameter
            .and_then(|p| p.value)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| secret_error("empty".into()))?;
        Ok(Self {
            secret: SigningSecret(secret),
            prices,
        })
    }

    /// The local stack's: `STRIPE_WEBHOOK_SECRET` (default `whsec_local`) and `STRIPE_PRICES`.
    pub fn from_local_env() -> Result<Self, WebhookConfigError> {
        let var = |name| {
            std::env::var(name)
                .ok()
                .filter(|v: &String| !v.trim().is_empty())
        };
        Self::local(
            var("STRIPE_WEBHOOK_SECRET"),
            prices_from(var("STRIPE_PRICES"))?,
        )
    }

    fn local(secret: Option<String>, prices: PriceMap) -> Result<Self, WebhookConfigError> {
        Ok(Self {
            secret: SigningSecret(secret.unwrap_or_else(|| LOCAL_SECRET.into())),
            prices,
        })
    }
}

fn prices_from(spec: Option<String>) -> Result<PriceMap, WebhookConfigError> {
    PriceMap::parse(spec.as_deref().unwrap_or(PriceMap::DEFAULT)).map_err(|e| {
        WebhookConfigError::Invalid {
            name: "STRIPE_PRICES",
            problem: e.to_string(),
        }
    })
}

pub async fn handle(app: &App, hook: &Webhook, req: Request) -> Response<Body> {
    match receive(app, hook, &req).await {
        Ok(outcome) => json_response(
            StatusCode::OK,
            &json!({"received": true, "outcome": outcome}),
        ),
        Err(e) => e.into_response(),
    }
}

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

async fn receive(app: &App, hook: &Webhook, req: &Request) -> Result<&'static str, ApiError> {
    if req.method() != Method::POST {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Stripe events are POSTed",
        ));
    }
    let body = req.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return Err(bad(
            "invalid_request",
            format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        ));
    }
    // One reading for the whole event: the signature's tolerance and the rules see one time.
    let now = app.clock.now();
    let payload =
        std::str::from_utf8(body).map_err(|_| bad("invalid_request", "the body is not UTF-8"))?;
    let signature = req
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            bad(
                "invalid_signature",
                "the Stripe-Signature header is missing",
            )
        })?;
    match signature::verify(payload, signature, hook.secret.expose(), now.timestamp()) {
        Ok(()) => {}
        Err(SignatureError::Stale(t)) => {
            tracing::warn!(timestamp = t, "signature timestamp outside the tolerance");
            return Err(bad(
                "invalid_signature",
                "the signature's timestamp is outside the tolerance",
            ));
        }
        Err(e) => {
            tracing::warn!(error = %e, "bad signature");
            return Err(bad("invalid_signature", "the signature does not match"));
        }
    }
    let value: Value = serde_json::from_str(payload)
        .map_err(|e| bad("invalid_request", format!("malformed JSON: {e}")))?;
    let event =
        credits::stripe::command(&value).map_err(|e| bad("invalid_request", e.to_string()))?;
    // Only a package purchase moves money by the flag; other events do not read it.
    let flags = if matches!(event.command, Command::Buy(_)) {
        let reading = app.flags.read().await;
        (reading.source != FlagSource::Default).then_some(reading.flags)
    } else {
        None
    };
    let ctx = StripeContext {
        prices: &hook.prices,
        flags,
    };
    let outcome = app.service.apply_stripe(&event, &ctx, now).await.map_err(|e| {
        tracing::error!(event_id = %event.id, event_type = %event.kind, error = %e, "event not applied; Stripe retries");
        match e {
            StripeError::Store(e) => ApiError::from(e),
            _ => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "the event cannot be applied now; retry",
            ),
        }
    })?;
    tracing::info!(event_id = %event.id, event_type = %event.kind, outcome = outcome.as_str(), "event");
    Ok(outcome.as_str())
}

#[cfg(test)]
mod tests;
