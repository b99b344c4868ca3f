//! The Stripe webhook (a Lambda Function URL): verify the signature on the raw body, map the
//! event to a command (`credits::stripe`), apply it once (`CreditService::apply_stripe_event`).

use credits::api::{ApiError, ErrorCode, json_response};
use credits::app::App;
use credits::flags::FlagSource;
use credits::service::stripe_event::{StripeContext, StripeError};
use credits::stripe::Command;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

pub use config::{LOCAL_SECRET, SigningSecret, Webhook, WebhookConfigError};
pub use line_items::{ApiKey, LineItems};
pub use signature::{SignatureError, sign};

pub mod config;
pub mod line_items;
pub mod signature;

/// Stripe's events are a few KiB; anything this large is not one.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
pub const SIGNATURE_HEADER: &str = "stripe-signature";

pub async fn handle(app: &App, hook: &Webhook, req: Request) -> Response<Body> {
    match receive(app, hook, &req).await {
        Ok(outcome) => json_response(
            StatusCode::OK,
            &json!({"received": true, "outcome": outcome}),
        ),
        Err(e) => e.into_response(),
    }
}

async fn receive(app: &App, hook: &Webhook, req: &Request) -> Result<&'static str, ApiError> {
    if req.method() != Method::POST {
        return Err(ApiError::new(
            ErrorCode::MethodNotAllowed,
            "Stripe events are POSTed",
        ));
    }
    let body = req.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::invalid(format!(
            "the body is larger than {MAX_BODY_BYTES} bytes"
        )));
    }
    // One reading for the whole event: the signature's tolerance and the rules see one time.
    let now = app.clock.now();
    let payload =
        std::str::from_utf8(body).map_err(|_| ApiError::invalid("the body is not UTF-8"))?;
    let signature = req
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidSignature,
                "the Stripe-Signature header is missing",
            )
        })?;
    match signature::verify(payload, signature, hook.secret.expose(), now.timestamp()) {
        Ok(()) => {}
        Err(SignatureError::Stale(t)) => {
            tracing::warn!(timestamp = t, "signature timestamp outside the tolerance");
            return Err(ApiError::new(
                ErrorCode::InvalidSignature,
                "the signature's timestamp is outside the tolerance",
            ));
        }
        Err(e) => {
            tracing::warn!(error = %e, "bad signature");
            return Err(ApiError::new(
                ErrorCode::InvalidSignature,
                "the signature does not match",
            ));
        }
    }
    let value: Value = serde_json::from_str(payload)
        .map_err(|e| ApiError::invalid(format!("malformed JSON: {e}")))?;
    let mut event =
        credits::stripe::command(&value).map_err(|e| ApiError::invalid(e.to_string()))?;
    if let Command::Buy(buy) = &mut event.command
        && buy.price.is_none()
    {
        buy.price = price_from_line_items(hook, &event.id, &buy.session).await?;
    }
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
    let outcome = app.service.apply_stripe_event(&event, &ctx, now).await.map_err(|e| {
        tracing::error!(event_id = %event.id, event_type = %event.kind, error = %e, "event not applied; Stripe retries");
        match e {
            StripeError::Store(e) => ApiError::from(e),
            _ => ApiError::new(
                ErrorCode::ServiceUnavailable,
                "the event cannot be applied now; retry",
            ),
        }
    })?;
    tracing::info!(event_id = %event.id, event_type = %event.kind, outcome = outcome.as_str(), "event");
    Ok(outcome.as_str())
}

/// A paid checkout without `metadata.price_id`: the price from the session's line items, or
/// `None` when none is configured (the decision then treats it as an unknown price). A lookup
/// that fails, or no key to make it with, is a 503: the event is not recorded, Stripe retries.
async fn price_from_line_items(
    hook: &Webhook,
    event_id: &str,
    session: &str,
) -> Result<Option<String>, ApiError> {
    let retry = || {
        ApiError::new(
            ErrorCode::ServiceUnavailable,
            "the checkout's line items cannot be read now; retry",
        )
    };
    let Some(client) = &hook.line_items else {
        tracing::error!(
            event_id,
            session,
            "paid checkout without metadata.price_id and no Stripe API key to list its line \
             items (STRIPE_API_KEY_PARAMETER); Stripe retries"
        );
        return Err(retry());
    };
    let choice = client.choose(session, &hook.prices).await.map_err(|e| {
        tracing::error!(event_id, session, error = %e, "line items not read; Stripe retries");
        retry()
    })?;
    if !choice.ungranted.is_empty() {
        tracing::error!(
            event_id,
            session,
            granted = choice.price.as_deref().unwrap_or("<none>"),
            ungranted = ?choice.ungranted,
            "a checkout sold more than one configured unit: only the first is granted"
        );
    }
    tracing::info!(
        event_id,
        session,
        price = choice.price.as_deref().unwrap_or("<none>"),
        "price from the line items"
    );
    Ok(choice.price)
}

#[cfg(test)]
mod tests;
