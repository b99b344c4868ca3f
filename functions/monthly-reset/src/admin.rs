//! The admin function: `POST /admin/credits/reset` (an admin starts a run for the current
//! period and gets its record) and support's routes ([`crate::support`]).

use credits::account::UserId;
use credits::api::{self, ApiError, ErrorCode, json_response};
use credits::app::App;
use credits::reset::{ResetError, admin_run_id};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::config::{AdminResetConfig, AdminSettings};
use crate::{Fanout, JobError, Reset, support};

/// What the admin-reset function works with, built once per cold start.
pub struct Admin {
    pub reset: Reset,
    /// The `cognito:groups` entry of an admin.
    pub group: String,
}

impl Admin {
    pub fn new(app: &App, settings: AdminSettings, fanout: Fanout) -> Self {
        Self {
            reset: Reset::new(app, settings.job, fanout),
            group: settings.group,
        }
    }

    /// Logging, the configuration ([`AdminResetConfig`]), the App (support's routes use it)
    /// and the fan-out.
    pub async fn cold_start() -> Result<(App, Self), credits::config::ConfigError> {
        credits::app::init_logging();
        let config = AdminResetConfig::from_env()?;
        let (app, fanout) = crate::connect(config.app, config.fanout).await;
        let admin = Self::new(&app, config.admin, fanout);
        Ok((app, admin))
    }
}

/// Every admin route: support's, and the reset's ([`handle`]).
pub async fn serve(app: &App, admin: &Admin, req: Request) -> Response<Body> {
    let result = match api::route(&req).as_str() {
        support::ACCOUNT_ROUTE => support::account(app, &admin.group, &req).await,
        support::ADJUST_ROUTE => support::adjust(app, &admin.group, &req).await,
        _ => return handle(admin, req).await,
    };
    result.unwrap_or_else(ApiError::into_response)
}

pub async fn handle(admin: &Admin, req: Request) -> Response<Body> {
    let result = match api::route(&req).as_str() {
        "POST /admin/credits/reset" => reset(admin, &req).await,
        _ => Err(ApiError::not_found()),
    };
    result.unwrap_or_else(ApiError::into_response)
}

/// Whether `cognito:groups` holds `group`. API Gateway passes the claim's array as a string,
/// `[admin users]`; a JSON array or a comma list is read the same way.
pub fn in_group(claim: &str, group: &str) -> bool {
    claim
        .trim_matches(|c| c == '[' || c == ']')
        .split(|c: char| c.is_whitespace() || c == ',')
        .map(|g| g.trim_matches('"'))
        .any(|g| g == group)
}

/// The caller, if their `cognito:groups` holds `group`: else 401 (no caller) or 403 `forbidden`
/// saying `refusal`.
pub fn require_admin(req: &Request, group: &str, refusal: &str) -> Result<UserId, ApiError> {
    let user = api::user(req)?;
    let is_admin = api::claims(req)
        .and_then(|c| c.get("cognito:groups"))
        .is_some_and(|g| in_group(g, group));
    if !is_admin {
        return Err(ApiError::new(ErrorCode::Forbidden, refusal));
    }
    Ok(user)
}

async fn reset(admin: &Admin, req: &Request) -> Result<Response<Body>, ApiError> {
    let user = require_admin(
        req,
        &admin.group,
        "only an administrator can start a reset run",
    )?;
    let reset = &admin.reset;
    let now = reset.clock.now();
    let run = reset
        .job
        .start(&admin_run_id(now), &format!("admin:{user}"), now)
        .await
        .map_err(reset_error)?;
    let view = reset.launch(&run).await.map_err(|e| match e {
        JobError::Reset(e) => reset_error(e),
        other => api::internal(&other),
    })?;
    // Queued on Lambda: 202 with the run as it stands; in process it has run: 200.
    let status = if view.status == "done" {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok(json_response(status, &view))
}

fn reset_error(e: ResetError) -> ApiError {
    match e {
        ResetError::Store(e) => e.into(),
        other => api::internal(&other),
    }
}
