//! `GET /credits/preview?plan=...`: what moving the caller to that plan would do now. A read:
//! the account as stored, the plan-change rule run in memory, nothing written or opened.

use credits::api::{self, ApiError, json_response};
use credits::app::App;
use credits::plan::Plan;
use credits::rules;
use credits::views::PreviewView;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::query_once;

pub(crate) async fn preview(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let user = api::user(req)?;
    let target = target_plan(req)?;
    let stored = app.service.store().read_account(&user).await?;
    let preview = rules::preview_change_plan(
        stored.as_ref().map(|s| &s.account),
        &user,
        target,
        app.clock.now(),
    );
    Ok(json_response(StatusCode::OK, &PreviewView::from(&preview)))
}

/// `plan`: required, once, one of the plans' ids.
fn target_plan(req: &Request) -> Result<Plan, ApiError> {
    let ids = || {
        Plan::ALL
            .iter()
            .map(|p| p.id())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let raw = query_once(req, "plan")?
        .ok_or_else(|| ApiError::invalid(format!("plan is required: one of {}", ids())))?;
    raw.parse::<Plan>()
        .map_err(|_| ApiError::invalid(format!("plan must be one of {}, got {raw:?}", ids())))
}

#[cfg(test)]
mod tests;
