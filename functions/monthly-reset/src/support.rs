//! Support's routes, for the admin group: `GET /admin/credits/users/{user_id}` (a user's balance
//! view and the first page of their ledger) and `POST /admin/credits/users/{user_id}/adjustments`
//! (credits added to a bucket or taken out, once per `Idempotency-Key`). Neither opens an
//! account: a user the service has never seen is 404 `user_not_found`.

use credits::account::UserId;
use credits::api::{self, ApiError, json_response};
use credits::app::App;
use credits::ledger::Bucket;
use credits::plan::Credits;
use credits::rules::MAX_ADJUSTMENT;
use credits::service::{Adjust, ServiceError};
use credits::views::{BalanceView, EntryView, TransactionsPage};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::admin::require_admin;

pub const ACCOUNT_ROUTE: &str = "GET /admin/credits/users/{user_id}";
pub const ADJUST_ROUTE: &str = "POST /admin/credits/users/{user_id}/adjustments";

/// Far above any valid body; a larger one is refused unread.
pub const MAX_BODY_BYTES: usize = 4096;
pub const MAX_REASON_CHARS: usize = 200;

/// `GET /admin/credits/users/{user_id}`: what support sees of a user.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserAccount {
    /// The user's balance view, brought current (a due reset applied).
    account: BalanceView,
    /// The first page of their ledger, newest first (`cursor` for more).
    #[serde(flatten)]
    transactions: TransactionsPage,
}

/// The body as sent; `amount` is checked by hand so that every wrong shape gets one clear message.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AdjustmentBody {
    /// Credits to add (positive) or take out (negative) of the bucket: a whole number, not 0
    /// (the OpenAPI document adds the `not`, which utoipa cannot derive).
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = i64, minimum = -1_000_000, maximum = 1_000_000)
    )]
    amount: Value,
    bucket: Bucket,
    /// Why, kept in the ledger: 1 to 200 characters, no control characters.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 200,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]+$"
        )
    )]
    reason: String,
}

/// A valid adjustment; its JSON is what an Idempotency-Key is bound to.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct AdjustmentRequest {
    amount: Credits,
    bucket: Bucket,
    reason: String,
}

impl AdjustmentBody {
    fn parse(self) -> Result<AdjustmentRequest, ApiError> {
        let amount = signed_amount(&self.amount)?;
        let chars = self.reason.chars().count();
        if !(1..=MAX_REASON_CHARS).contains(&chars) || self.reason.chars().any(char::is_control) {
            return Err(ApiError::invalid(format!(
                "reason must be 1 to {MAX_REASON_CHARS} characters, without control characters"
            )));
        }
        Ok(AdjustmentRequest {
            amount,
            bucket: self.bucket,
            reason: self.reason,
        })
    }
}

/// A whole number (as deduct reads one: `2`, `2.0`, `-2e0`) at most [`MAX_ADJUSTMENT`] either
/// way, and not 0.
fn signed_amount(value: &Value) -> Result<Credits, ApiError> {
    let amount = deduct::whole_number("amount", value, -MAX_ADJUSTMENT, MAX_ADJUSTMENT)?;
    if amount == 0 {
        return Err(ApiError::invalid("amount must not be 0"));
    }
    Ok(amount)
}

/// The `{user_id}` of the route. One that cannot name a user names no account: 404.
fn target(req: &Request) -> Result<UserId, ApiError> {
    req.path_parameters_ref()
        .and_then(|p| p.first("user_id"))
        .and_then(|id| UserId::parse(id).ok())
        .ok_or_else(|| ServiceError::UserNotFound.into())
}

pub async fn account(
    app: &App,
    admin_group: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    require_admin(
        req,
        admin_group,
        "only an administrator can see another user's account",
    )?;
    let user = target(req)?;
    let (limit, cursor) = balance::page_query(req)?;
    let now = app.clock.now();
    let account = app
        .service
        .existing_account(&user, now)
        .await?
        .ok_or(ServiceError::UserNotFound)?;
    let page = app.service.store().entries(&user, limit, cursor).await?;
    let flags = app.flags.read().await.flags;
    Ok(json_response(
        StatusCode::OK,
        &UserAccount {
            account: BalanceView::new(&account, &flags),
            transactions: TransactionsPage {
                items: page.entries.into_iter().map(EntryView::from).collect(),
                next_cursor: page.next,
            },
        },
    ))
}

pub async fn adjust(
    app: &App,
    admin_group: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let admin = require_admin(req, admin_group, "only an administrator can adjust credits")?;
    let user = target(req)?;
    let key = deduct::idempotency_key(req)?;
    let request = api::json_body::<AdjustmentBody>(req, MAX_BODY_BYTES)?.parse()?;
    let fingerprint = serde_json::to_string(&request).unwrap_or_default();
    let flags = app.flags.read().await.flags;
    let cmd = Adjust {
        admin: &admin,
        amount: request.amount,
        bucket: request.bucket,
        reason: &request.reason,
        key,
        request: &fingerprint,
    };
    let adjusted = app
        .service
        .adjust(&user, &cmd, &flags, app.clock.now())
        .await?;
    Ok(deduct::respond(adjusted.answer, StatusCode::CREATED))
}

#[cfg(test)]
mod tests;
