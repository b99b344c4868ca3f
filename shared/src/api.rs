//! Small HTTP helpers shared by the API functions: the caller's identity from the authorizer's
//! claims, JSON bodies in and out, and the one mapping from errors to the contract.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::account::UserId;
use crate::service::ServiceError;
use crate::store::StoreError;

mod error_code;
pub use error_code::ErrorCode;

/// An error in the contract's shape: `{"error": {"code", "message"}}` and optional fields beside;
/// its status is the code's.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub extra: Map<String, Value>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            extra: Map::new(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(ErrorCode::Unauthorized, "a valid bearer token is required")
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "no such route")
    }

    /// Adds the fields of `extra` (an object) beside `error`.
    pub fn with(mut self, extra: impl Serialize) -> Self {
        if let Ok(Value::Object(map)) = serde_json::to_value(extra) {
            self.extra.extend(map);
        }
        self
    }

    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        let mut body = self.extra;
        body.insert(
            "error".into(),
            json!({"code": self.code, "message": self.message}),
        );
        let mut response = json_response(status, &Value::Object(body));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable { .. } => {
                tracing::error!(error = %e, "store unavailable");
                Self::new(
                    ErrorCode::ServiceUnavailable,
                    "the store is unavailable; retry shortly",
                )
            }
            StoreError::Corrupt { .. } | StoreError::Build(_) => internal(&e),
        }
    }
}

/// Maps service errors that need no extra context. `Insufficient` needs the flags to name the
/// options, so the handler that can be refused builds that answer itself.
impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Store(e) => e.into(),
            ServiceError::IdempotencyConflict => Self::new(
                ErrorCode::IdempotencyConflict,
                "this Idempotency-Key was used with a different request",
            ),
            ServiceError::Contention => Self::new(
                ErrorCode::ServiceUnavailable,
                "the account is busy; retry with the same Idempotency-Key",
            ),
            ServiceError::TooManyHolds => Self::new(
                ErrorCode::TooManyHolds,
                format!(
                    "at most {} holds may be open at once; commit or release one",
                    crate::rules::MAX_OPEN_HOLDS
                ),
            ),
            ServiceError::HoldNotFound => Self::new(ErrorCode::HoldNotFound, "no such hold"),
            ServiceError::HoldClosed(closed) => {
                Self::new(ErrorCode::HoldClosed, "the hold has already ended")
                    .with(serde_json::json!({ "hold": closed }))
            }
            ServiceError::HoldExceeded { held } => Self::invalid(format!(
                "amount must be at most the {held} credits the hold holds"
            )),
            ServiceError::UserNotFound => Self::new(
                ErrorCode::UserNotFound,
                "no account for this user: the service has never seen them",
            ),
            ServiceError::BucketTooLow { bucket, available } => Self::new(
                ErrorCode::InsufficientBucket,
                format!("the adjustment would take the bucket below zero: it holds {available}"),
            )
            .with(serde_json::json!({ "bucket": bucket, "available": available })),
            ServiceError::Insufficient { .. } => internal(&e),
        }
    }
}

/// A 500: opaque to the caller, complete in the log.
pub fn internal(e: &dyn std::error::Error) -> ApiError {
    tracing::error!(error = %e, "internal error");
    ApiError::new(ErrorCode::InternalError, "internal error")
}

pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    // Our view types serialise infallibly; an empty object is the safe fallback.
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    raw_json_response(status, text)
}

pub fn raw_json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The route as API Gateway matched it (`GET /credits/balance`), so a stage prefix in the path
/// does not matter; falls back to method and path where no route key is given.
pub fn route(req: &Request) -> String {
    if let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref()
        && let Some(key) = &ctx.route_key
        && key != "$default"
    {
        return key.clone();
    }
    format!("{} {}", req.method(), req.raw_http_path())
}

/// The claims the JWT authorizer verified, as API Gateway passes them (strings).
pub fn claims(req: &Request) -> Option<&std::collections::HashMap<String, String>> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => Some(&ctx.authorizer.as_ref()?.jwt.as_ref()?.claims),
        _ => None,
    }
}

/// The caller: the verified token's `sub`. Nothing in the body or query can name another user.
pub fn user(req: &Request) -> Result<UserId, ApiError> {
    claims(req)
        .and_then(|c| c.get("sub"))
        .and_then(|sub| UserId::parse(sub.as_str()).ok())
        .ok_or_else(ApiError::unauthorized)
}

/// Parses a JSON body of at most `max` bytes into `T` (whose serde attributes refuse unknown
/// fields); every failure is a 400 that says what is wrong.
pub fn json_body<T: DeserializeOwned>(req: &Request, max: usize) -> Result<T, ApiError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > max {
        return Err(ApiError::invalid(format!(
            "the body is larger than {max} bytes"
        )));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid("a JSON body is required"));
    }
    // Through an object first: serde would otherwise accept a struct written as an array.
    let object: Map<String, Value> = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid(format!("the body must be a JSON object: {e}")))?;
    T::deserialize(Value::Object(object))
        .map_err(|e| ApiError::invalid(format!("invalid request body: {e}")))
}

/// A header's value, if present and visible ASCII.
pub fn header_str<'r>(req: &'r Request, name: &str) -> Result<Option<&'r str>, ApiError> {
    match req.headers().get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| ApiError::invalid(format!("the {name} header is not visible ASCII"))),
    }
}
