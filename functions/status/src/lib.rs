//! `GET /credits/status`: the switch in force and where it came from, the store's health, the
//! build, and the caller's balance when the request carries a verified user.
//!
//! `GET /credits/status` is public. On API Gateway a route is either behind the JWT authorizer
//! or not, so a deployed `/credits/status` never sees claims; `GET /credits/status/me` is the
//! same answer behind the authorizer, with the balance. The local gateway passes the claims of
//! a valid token on public routes too, so there `/credits/status` shows the balance as well.

use credits::api::{self, ApiError, ErrorCode, json_response};
use credits::app::App;
use credits::flags::{FlagReading, FlagSource};
use credits::prices::PriceReading;
use credits::views::BalanceView;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let result = match api::route(&req).as_str() {
        "GET /credits/status" => status(app, &req, false).await,
        "GET /credits/status/me" => status(app, &req, true).await,
        _ => Err(ApiError::not_found()),
    };
    result.unwrap_or_else(ApiError::into_response)
}

/// The switch in force, the store's health, the build, and the caller's balance when known.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusView {
    #[cfg_attr(feature = "openapi", schema(value_type = credits::flags::Version))]
    pub version: &'static str,
    pub purchases_enabled: bool,
    pub flag: FlagView,
    /// The feature price list's health, as `flag`'s: `default` means no list read yet (priced
    /// spends are refused with 503 until one is).
    pub prices: FlagView,
    /// `ok`, or `unavailable` (then the answer is a 503).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub store: &'static str,
    pub build: BuildView,
    /// The caller's balance view, when the request carries a verified user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<BalanceView>,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlagView {
    /// `parameter_store`, `last_good` (SSM failing; the last value read stays in force) or
    /// `default` (never read since the cold start).
    pub source: FlagSource,
    /// Seconds since the value in force was read from Parameter Store.
    pub age_seconds: u64,
    /// The last failure, while one is in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BuildView {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub git_sha: Option<&'static str>,
}

pub const BUILD: BuildView = BuildView {
    version: env!("CARGO_PKG_VERSION"),
    git_sha: option_env!("CREDITS_GIT_SHA"),
};

fn view(reading: &FlagReading, prices: &PriceReading, store_ok: bool) -> StatusView {
    StatusView {
        version: reading.flags.version.as_str(),
        purchases_enabled: reading.flags.purchases_enabled(),
        flag: FlagView {
            source: reading.source,
            age_seconds: reading.age.as_secs(),
            error: reading.error.clone(),
        },
        prices: FlagView {
            source: prices.source,
            age_seconds: prices.age.as_secs(),
            error: prices.error.clone(),
        },
        store: if store_ok { "ok" } else { "unavailable" },
        build: BUILD,
        account: None,
    }
}

async fn status(app: &App, req: &Request, user_required: bool) -> Result<Response<Body>, ApiError> {
    let user = match api::user(req) {
        Ok(user) => Some(user),
        Err(e) if user_required => return Err(e),
        Err(_) => None,
    };
    let reading = app.flags.read().await;
    let prices = app.prices.read().await;
    if let Err(e) = app.service.store().health().await {
        tracing::error!(error = %e, "status: the store cannot be read");
        return Err(
            ApiError::new(ErrorCode::ServiceUnavailable, "the store cannot be read")
                .with(view(&reading, &prices, false)),
        );
    }
    let mut body = view(&reading, &prices, true);
    if let Some(user) = user {
        let account = app.service.touch_account(&user, app.clock.now()).await?;
        body.account = Some(BalanceView::new(&account, &reading.flags));
    }
    Ok(json_response(StatusCode::OK, &body))
}

#[cfg(test)]
mod tests;
