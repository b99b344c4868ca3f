//! Every `error.code` the API answers, with its HTTP status: the handlers build errors from
//! these, and the OpenAPI document lists them from here.

use lambda_http::http::StatusCode;
use serde::Serialize;

/// A stable, snake_case error code of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidSignature,
    /// A priced spend named a feature the price list does not have.
    UnknownFeature,
    Unauthorized,
    InsufficientCredits,
    Forbidden,
    NotFound,
    HoldNotFound,
    UserNotFound,
    MethodNotAllowed,
    IdempotencyConflict,
    TooManyHolds,
    HoldClosed,
    InsufficientBucket,
    PayloadTooLarge,
    InternalError,
    BadGateway,
    ServiceUnavailable,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 18] = [
        Self::InvalidRequest,
        Self::InvalidSignature,
        Self::UnknownFeature,
        Self::Unauthorized,
        Self::InsufficientCredits,
        Self::Forbidden,
        Self::NotFound,
        Self::HoldNotFound,
        Self::UserNotFound,
        Self::MethodNotAllowed,
        Self::IdempotencyConflict,
        Self::TooManyHolds,
        Self::HoldClosed,
        Self::InsufficientBucket,
        Self::PayloadTooLarge,
        Self::InternalError,
        Self::BadGateway,
        Self::ServiceUnavailable,
    ];

    /// The code as it is sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidSignature => "invalid_signature",
            Self::UnknownFeature => "unknown_feature",
            Self::Unauthorized => "unauthorized",
            Self::InsufficientCredits => "insufficient_credits",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::HoldNotFound => "hold_not_found",
            Self::UserNotFound => "user_not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::IdempotencyConflict => "idempotency_conflict",
            Self::TooManyHolds => "too_many_holds",
            Self::HoldClosed => "hold_closed",
            Self::InsufficientBucket => "insufficient_bucket",
            Self::PayloadTooLarge => "payload_too_large",
            Self::InternalError => "internal_error",
            Self::BadGateway => "bad_gateway",
            Self::ServiceUnavailable => "service_unavailable",
        }
    }

    /// The status every answer with this code has.
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest | Self::InvalidSignature | Self::UnknownFeature => {
                StatusCode::BAD_REQUEST
            }
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::InsufficientCredits => StatusCode::PAYMENT_REQUIRED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound | Self::HoldNotFound | Self::UserNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::IdempotencyConflict
            | Self::TooManyHolds
            | Self::HoldClosed
            | Self::InsufficientBucket => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::BadGateway => StatusCode::BAD_GATEWAY,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_code_is_sent_as_its_serde_name_and_is_unique_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert_eq!(serde_json::to_value(code).unwrap(), text);
            assert!(
                text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{text}"
            );
            assert!(seen.insert(text), "{text} twice");
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
    }
}
