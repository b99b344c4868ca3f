//! Spending: `POST /credits/deduct` (once per `Idempotency-Key`) and the holds routes.

mod holds;
mod priced;

pub use holds::{CommitBody, HoldAmount, HoldFeature};

use priced::{Cost, Form};

use credits::account::Account;
use credits::api::{self, ApiError, ErrorCode, json_response, raw_json_response};
use credits::app::App;
use credits::flags::Flags;
use credits::plan::Credits;
use credits::rules::{MAX_DEDUCT, MIN_DEDUCT};
use credits::service::{Answer, Deduct, ServiceError};
use credits::views::InsufficientView;
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Far above any valid body; a larger one is refused unread.
pub const MAX_BODY_BYTES: usize = 4096;
pub const MAX_KEY_LEN: usize = 255;
pub const MAX_REASON_CHARS: usize = 200;
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let result = match api::route(&req).as_str() {
        "POST /credits/deduct" => deduct(app, &req).await,
        "POST /credits/holds" => holds::create(app, &req).await,
        "POST /credits/holds/{id}/commit" => holds::commit(app, &req).await,
        "DELETE /credits/holds/{id}" => holds::release(app, &req).await,
        _ => Err(ApiError::not_found()),
    };
    result.unwrap_or_else(ApiError::into_response)
}

/// `{"amount": n}`: credits to spend. Fields are checked by hand so that every wrong shape gets
/// one clear message.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeductAmount {
    /// Credits to spend, all or nothing.
    #[cfg_attr(feature = "openapi", schema(value_type = i64, minimum = 1, maximum = 1_000_000))]
    amount: Value,
    /// What the credits pay for, kept in the ledger: at most 200 characters, no control characters.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")
    )]
    reason: Option<String>,
}

/// `{"feature": "pdf_export", "quantity": 2}`: units of a priced feature, at its price in
/// `GET /credits/plans` (unit price x quantity, at most 1,000,000 credits).
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeductFeature {
    /// A feature of the price list.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, pattern = r"^[a-z][a-z0-9_]{0,63}$")
    )]
    feature: Value,
    /// Units to spend: 1 to 1,000,000, 1 when absent.
    // No schema `default`: openapi-typescript makes a field that has one required.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<i64>, minimum = 1, maximum = 1_000_000)
    )]
    quantity: Option<Value>,
    /// As `reason` of an amount.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")
    )]
    reason: Option<String>,
}

/// A valid deduct request; its JSON is what an Idempotency-Key is bound to.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct DeductRequest {
    #[serde(flatten)]
    cost: Cost,
    reason: Option<String>,
}

/// Either body, checked.
fn deduct_request(body: Map<String, Value>) -> Result<DeductRequest, ApiError> {
    let (cost, reason) = match priced::form(&body)? {
        Form::Amount => {
            let body: DeductAmount = priced::fields(body)?;
            let amount = whole_number("amount", &body.amount, MIN_DEDUCT, MAX_DEDUCT)?;
            (Cost::Amount { amount }, body.reason)
        }
        Form::Feature => {
            let body: DeductFeature = priced::fields(body)?;
            (
                Cost::feature(&body.feature, body.quantity.as_ref())?,
                body.reason,
            )
        }
    };
    if let Some(reason) = &reason
        && (reason.chars().count() > MAX_REASON_CHARS || reason.chars().any(char::is_control))
    {
        return Err(ApiError::invalid(format!(
            "reason must be at most {MAX_REASON_CHARS} characters, without control characters"
        )));
    }
    Ok(DeductRequest { cost, reason })
}

/// A JSON number without a fractional part from `min` to `max`, as JSON Schema's `integer` (and
/// so the OpenAPI document) defines it: `2`, `2.0` and `2e0` are all 2; `1.5` and `"1"` are
/// refused. Beyond 2^53 a float is not exact, so it is refused too.
pub fn whole_number(name: &str, value: &Value, min: i64, max: i64) -> Result<i64, ApiError> {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    value
        .as_i64()
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() <= EXACT)
                .map(|f| f as i64)
        })
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "{name} must be a whole number from {min} to {max}, got {value}"
            ))
        })
}

/// 1 to 255 visible ASCII characters, such as a UUID.
pub fn idempotency_key(req: &Request) -> Result<&str, ApiError> {
    let key = api::header_str(req, IDEMPOTENCY_HEADER)?
        .ok_or_else(|| ApiError::invalid("the Idempotency-Key header is required"))?;
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
        )));
    }
    Ok(key)
}

async fn deduct(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let user = api::user(req)?;
    let key = idempotency_key(req)?;
    let request = deduct_request(api::json_body(req, MAX_BODY_BYTES)?)?;
    let (amount, priced) = request.cost.priced(app).await?;
    let fingerprint = serde_json::to_string(&request).unwrap_or_default();
    let flags = app.flags.read().await.flags;
    let cmd = Deduct {
        amount,
        priced: priced.as_ref(),
        reason: request.reason.as_deref(),
        key,
        request: &fingerprint,
    };
    let answer = app
        .service
        .deduct(&user, &cmd, &flags, app.clock.now())
        .await;
    answer_once(answer, StatusCode::OK, &flags)
}

/// An idempotent request's answer with `status`, or its error with a 402 that names the options.
pub(crate) fn answer_once<T: Serialize>(
    answer: Result<Answer<T>, ServiceError>,
    status: StatusCode,
    flags: &Flags,
) -> Result<Response<Body>, ApiError> {
    answer
        .map(|answer| respond(answer, status))
        .map_err(|e| refused(e, flags))
}

/// A refusal as the contract answers it: a 402 names the options, which only the flags know.
pub(crate) fn refused(e: ServiceError, flags: &Flags) -> ApiError {
    match e {
        ServiceError::Insufficient { account, required } => insufficient(&account, required, flags),
        e => e.into(),
    }
}

/// The 402: what the user has, needs, and can do about it.
fn insufficient(account: &Account, required: Credits, flags: &Flags) -> ApiError {
    ApiError::new(
        ErrorCode::InsufficientCredits,
        format!(
            "{required} credits required, {} available",
            account.balance()
        ),
    )
    .with(InsufficientView::new(account, required, flags))
}

/// An idempotent answer as the response; a replay, sent as recorded, says so in a header.
pub fn respond<T: Serialize>(answer: Answer<T>, status: StatusCode) -> Response<Body> {
    match answer {
        Answer::Applied(view) => json_response(status, &view),
        Answer::Replayed(recorded) => {
            let mut response = raw_json_response(status, recorded);
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            response
        }
    }
}

#[cfg(test)]
mod tests;
