//! The admin function: `POST /admin/credits/reset` (an admin starts a run for the current
//! period and gets its record) and support's routes ([`crate::support`]).

use credits::account::UserId;
use credits::api::{self, ApiError, json_response};
use credits::app::App;
use credits::reset::{ResetError, ResetJob, admin_run_id};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::{Fanout, JobError, support};

/// Every admin route: support's, and the reset's ([`handle`]).
pub async fn serve(app: &App, job: &ResetJob, fanout: &Fanout, req: Request) -> Response<Body> {
    let group = &job.settings().admin_group;
    let result = match api::route(&req).as_str() {
        support::ACCOUNT_ROUTE => support::account(app, group, &req).await,
        support::ADJUST_ROUTE => support::adjust(app, group, &req).await,
        _ => return handle(job, fanout, req).await,
    };
    result.unwrap_or_else(ApiError::into_response)
}

pub async fn handle(job: &ResetJob, fanout: &Fanout, req: Request) -> Response<Body> {
    let result = match api::route(&req).as_str() {
        "POST /admin/credits/reset" => reset(job, fanout, &req).await,
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
    let admin = api::claims(req)
        .and_then(|c| c.get("cognito:groups"))
        .is_some_and(|g| in_group(g, group));
    if !admin {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", refusal));
    }
    Ok(user)
}

async fn reset(job: &ResetJob, fanout: &Fanout, req: &Request) -> Result<Response<Body>, ApiError> {
    let user = require_admin(
        req,
        &job.settings().admin_group,
        "only an administrator can start a reset run",
    )?;
    let now = job.clock().now();
    let run = job
        .start(&admin_run_id(now), &format!("admin:{user}"), now)
        .await
        .map_err(reset_error)?;
    let view = fanout.launch(job, &run).await.map_err(|e| match e {
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
