//! Holds: `POST /credits/holds`, `POST /credits/holds/{id}/commit`, `DELETE /credits/holds/{id}`.

use credits::api::{self, ApiError, json_response};
use credits::app::App;
use credits::rules::{self, MAX_DEDUCT, MAX_HOLD_TTL, MIN_DEDUCT, MIN_HOLD_TTL};
use credits::service::{OpenHold, ServiceError};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::priced::{self, Cost, Form};
use crate::{MAX_BODY_BYTES, answer_once, idempotency_key, refused, whole_number};

/// `POST /credits/holds` with `{"amount": n}`: reserve `amount` credits for `ttl_seconds`
/// (default 900).
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HoldAmount {
    #[cfg_attr(feature = "openapi", schema(value_type = i64, minimum = 1, maximum = 1_000_000))]
    amount: Value,
    /// Seconds until the hold ends on its own: 1 to 86,400, 900 when absent.
    // No schema `default`: openapi-typescript makes a field that has one required.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<i64>, minimum = 1, maximum = 86_400)
    )]
    ttl_seconds: Option<Value>,
}

/// `POST /credits/holds` with `{"feature": "ai_generation", "quantity": 2}`: reserve what that
/// costs at the price in force, as a deduct would price it.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HoldFeature {
    /// A feature of the price list.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, pattern = r"^[a-z][a-z0-9_]{0,63}$")
    )]
    feature: Value,
    /// Units to hold: 1 to 1,000,000, 1 when absent.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<i64>, minimum = 1, maximum = 1_000_000)
    )]
    quantity: Option<Value>,
    /// Seconds until the hold ends on its own: 1 to 86,400, 900 when absent.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<i64>, minimum = 1, maximum = 86_400)
    )]
    ttl_seconds: Option<Value>,
}

/// A valid hold request; its JSON is what an Idempotency-Key is bound to.
#[derive(Serialize)]
struct HoldRequest {
    #[serde(flatten)]
    cost: Cost,
    ttl_seconds: i64,
}

/// Either body, checked.
fn hold_request(body: Map<String, Value>) -> Result<HoldRequest, ApiError> {
    let (cost, ttl) = match priced::form(&body)? {
        Form::Amount => {
            let body: HoldAmount = priced::fields(body)?;
            let amount = whole_number("amount", &body.amount, MIN_DEDUCT, MAX_DEDUCT)?;
            (Cost::Amount { amount }, body.ttl_seconds)
        }
        Form::Feature => {
            let body: HoldFeature = priced::fields(body)?;
            let cost = Cost::feature(&body.feature, body.quantity.as_ref())?;
            (cost, body.ttl_seconds)
        }
    };
    let ttl_seconds = match &ttl {
        None | Some(Value::Null) => rules::DEFAULT_HOLD_TTL,
        Some(v) => whole_number("ttl_seconds", v, MIN_HOLD_TTL, MAX_HOLD_TTL)?,
    };
    Ok(HoldRequest { cost, ttl_seconds })
}

pub async fn create(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let user = api::user(req)?;
    let key = idempotency_key(req)?;
    let request = hold_request(api::json_body(req, MAX_BODY_BYTES)?)?;
    let (amount, priced) = request.cost.priced(app).await?;
    let fingerprint = serde_json::to_string(&request).unwrap_or_default();
    let flags = app.flags.read().await.flags;
    let cmd = OpenHold {
        amount,
        priced: priced.as_ref(),
        ttl_seconds: request.ttl_seconds,
        key,
        request: &fingerprint,
    };
    let answer = app
        .service
        .open_hold(&user, &cmd, &flags, app.clock.now())
        .await;
    answer_once(answer, StatusCode::CREATED, &flags)
}

/// The `{id}` of the route, if it can name a hold at all; anything else is simply not found.
fn hold_id(req: &Request) -> Result<String, ApiError> {
    req.path_parameters_ref()
        .and_then(|p| p.first("id"))
        .filter(|id| {
            id.strip_prefix("h_")
                .is_some_and(|d| d.len() == 12 && d.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_owned)
        .ok_or_else(|| ApiError::from(ServiceError::HoldNotFound))
}

/// `POST /credits/holds/{id}/commit`: spend `amount` of the hold (all of it when absent).
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CommitBody {
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<i64>, minimum = 0, maximum = 1_000_000)
    )]
    amount: Option<Value>,
}

pub async fn commit(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let user = api::user(req)?;
    let id = hold_id(req)?;
    // The body is optional: none commits the whole hold.
    let amount = if req.body().as_ref().iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match api::json_body::<CommitBody>(req, MAX_BODY_BYTES)?.amount {
            None | Some(Value::Null) => None,
            Some(v) => Some(whole_number("amount", &v, 0, MAX_DEDUCT)?),
        }
    };
    let flags = app.flags.read().await.flags;
    let ended = app
        .service
        .commit_hold(&user, &id, amount, &flags, app.clock.now())
        .await
        .map_err(|e| refused(e, &flags))?;
    Ok(json_response(StatusCode::OK, &ended))
}

pub async fn release(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let user = api::user(req)?;
    let id = hold_id(req)?;
    let flags = app.flags.read().await.flags;
    let ended = app
        .service
        .release_hold(&user, &id, &flags, app.clock.now())
        .await
        .map_err(|e| refused(e, &flags))?;
    Ok(json_response(StatusCode::OK, &ended))
}

#[cfg(test)]
mod tests;
