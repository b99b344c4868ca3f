//! Routes the local gateway serves beside the template's, for people and tools on the local
//! stack only (never in the SAM template or a deployment): the reference page, the committed
//! OpenAPI document, and tokens for a user id, signed with the local secret.

use bytes::Bytes;
use credits::account::UserId;
use credits::api::{ApiError, json_response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use lambda_http::Body;
use serde::Deserialize;
use serde_json::json;

use crate::http::to_hyper;

/// The reference page: plain HTML, CSS and JavaScript, no build step.
pub const PAGE: &str = include_str!("../page/index.html");
/// The committed OpenAPI document (`credits-ops openapi --write` keeps it in step with the
/// types; its test fails when it is not).
pub const OPENAPI: &str = include_str!("../../infra/openapi.json");
/// How long a token from `POST /local/token` lasts.
pub const TOKEN_TTL_SECONDS: i64 = 3600;
const MAX_TOKEN_BODY: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalRoute {
    Page,
    OpenApi,
    Token,
}

impl LocalRoute {
    pub fn of(method: &Method, path: &str) -> Option<Self> {
        match (method, path) {
            (&Method::GET, "/") => Some(Self::Page),
            (&Method::GET, "/openapi.json") => Some(Self::OpenApi),
            (&Method::POST, "/local/token") => Some(Self::Token),
            _ => None,
        }
    }
}

pub async fn answer(
    route: LocalRoute,
    secret: &str,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    match route {
        LocalRoute::Page => text(PAGE.into(), "text/html; charset=utf-8"),
        LocalRoute::OpenApi => text(OPENAPI.into(), "application/json"),
        LocalRoute::Token => token(secret, req).await,
    }
}

fn text(body: String, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    user_id: String,
}

/// `{"user_id": "..."}` → `{"token", "user_id", "expires_in"}`.
async fn token(secret: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let body = match Limited::new(req.into_body(), MAX_TOKEN_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => return lambda(ApiError::invalid("the body is too large").into_response()),
    };
    // Through an object first: serde would otherwise take `["alice"]` for the struct.
    let user = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body)
        .and_then(|o| TokenRequest::deserialize(serde_json::Value::Object(o)))
        .map_err(|e| ApiError::invalid(format!("expected {{\"user_id\": \"...\"}}: {e}")))
        .and_then(|r| UserId::parse(r.user_id).map_err(|e| ApiError::invalid(e.to_string())));
    match user {
        Ok(user) => lambda(json_response(
            StatusCode::OK,
            &json!({
                "token": credits_testkit::user_token(secret, user.as_str(), &[], TOKEN_TTL_SECONDS),
                "user_id": user.as_str(),
                "expires_in": TOKEN_TTL_SECONDS,
            }),
        )),
        Err(e) => lambda(e.into_response()),
    }
}

fn lambda(response: lambda_http::Response<Body>) -> Response<Full<Bytes>> {
    to_hyper(response)
}
