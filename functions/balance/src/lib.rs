//! The read side of the API: `GET /credits/balance`, `GET /credits/transactions`,
//! `GET /credits/plans` and `GET /credits/preview`. One function, because all four are cheap
//! reads of one account with the same permissions.

use credits::api::{self, ApiError, json_response};
use credits::app::App;
use credits::ledger::TransactionId;
use credits::views::{BalanceView, EntryView, PlansView, TransactionsPage};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};

mod preview;

pub const MIN_LIMIT: usize = 1;
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let result = match api::route(&req).as_str() {
        "GET /credits/balance" => balance(app, &req).await,
        "GET /credits/transactions" => transactions(app, &req).await,
        "GET /credits/plans" => plans(app).await,
        "GET /credits/preview" => preview::preview(app, &req).await,
        _ => Err(ApiError::not_found()),
    };
    result.unwrap_or_else(ApiError::into_response)
}

async fn balance(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let user = api::user(req)?;
    let account = app.service.touch_account(&user, app.clock.now()).await?;
    let flags = app.flags.read().await.flags;
    Ok(json_response(
        StatusCode::OK,
        &BalanceView::new(&account, &flags),
    ))
}

async fn transactions(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let user = api::user(req)?;
    let (limit, cursor) = page_query(req)?;
    let page = app
        .service
        .entries(&user, limit, cursor, app.clock.now())
        .await?;
    let page = TransactionsPage {
        items: page.entries.into_iter().map(EntryView::from).collect(),
        next_cursor: page.next,
    };
    Ok(json_response(StatusCode::OK, &page))
}

/// `limit` (1 to 100, default 20) and `cursor` (a `next_cursor` this API gave), each at most once.
pub fn page_query(req: &Request) -> Result<(usize, Option<TransactionId>), ApiError> {
    let single = |name: &str| query_once(req, name);
    let limit = match single("limit")? {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (MIN_LIMIT..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "limit must be a whole number from 1 to {MAX_LIMIT}, got {raw:?}"
                ))
            })?,
    };
    let cursor = single("cursor")?
        .map(|raw| {
            raw.parse::<TransactionId>().map_err(|_| {
                ApiError::invalid("cursor must be a next_cursor value returned by this route")
            })
        })
        .transpose()?;
    Ok((limit, cursor))
}

/// The query parameter `name`, refused when given more than once.
fn query_once<'r>(req: &'r Request, name: &str) -> Result<Option<&'r str>, ApiError> {
    match req.query_string_parameters_ref().and_then(|q| q.all(name)) {
        None => Ok(None),
        Some(v) if v.len() == 1 => Ok(Some(v[0])),
        Some(_) => Err(ApiError::invalid(format!("{name} is given more than once"))),
    }
}

/// Public (no authorizer), so it reads only the flags and the prices: a caller's own plan is in
/// its balance. No price list read yet lists no features.
async fn plans(app: &App) -> Result<Response<Body>, ApiError> {
    let flags = app.flags.read().await.flags;
    let mut view = PlansView::new(&flags);
    if let Some(prices) = app.prices.read().await.value {
        view = view.with_prices(&prices);
    }
    Ok(json_response(StatusCode::OK, &view))
}

#[cfg(test)]
mod tests;
