//! A local stand-in for the Stripe API: the one call the webhook makes,
//! `GET /v1/checkout/sessions/{id}/line_items`, answered as Stripe answers it (a `list` of
//! `item`s whose prices are Stripe's published price object, `Authorization: Bearer` checked,
//! errors in Stripe's `{"error": {...}}` shape). Tests register sessions and tell it to fail or
//! hang; the local gateway mounts one at `/local/stripe/` (see [`StripeApi::local`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The key the local stack's stand-in accepts (scripts/stack passes it as `STRIPE_API_KEY`).
pub const LOCAL_KEY: &str = "sk_test_local";
/// Where the local gateway mounts its stand-in: `STRIPE_API_BASE` is `http://<gateway>/local/stripe/`.
pub const LOCAL_PREFIX: &str = "/local/stripe";
/// The local stack's sample without `metadata.price_id`
/// (`events/stripe/checkout.session.completed.line-items.json`) and what its session sold.
pub const LOCAL_SESSIONS: &[(&str, &[(&str, u64)])] =
    &[("cs_demo_line_items", &[("price_credits_100", 1)])];
/// How long a hung answer waits: far past any client's timeout, yet bounded.
const HANG: Duration = Duration::from_secs(120);

const PRICE: &str =
    include_str!("../../functions/webhook/tests/fixtures/2026-07-29.dahlia/price.json");
const PRODUCT: &str =
    include_str!("../../functions/webhook/tests/fixtures/2026-07-29.dahlia/product.json");

/// What the stand-in does with the next requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answers as Stripe does.
    None,
    /// 500 `api_error`, as Stripe answers its own faults.
    Fail,
    /// Never answers (for [`HANG`]).
    Hang,
}

/// One line item: a price id and a quantity.
pub type Line = (String, u64);

pub struct StripeApi {
    key: String,
    sessions: Mutex<BTreeMap<String, Vec<Line>>>,
    fault: Mutex<Fault>,
    calls: AtomicUsize,
}

impl StripeApi {
    /// A stand-in that accepts `key` and knows no session yet.
    pub fn new(key: &str) -> Self {
        Self {
            key: key.to_owned(),
            sessions: Mutex::default(),
            fault: Mutex::new(Fault::None),
            calls: AtomicUsize::new(0),
        }
    }

    /// The local stack's: accepts [`LOCAL_KEY`] and knows [`LOCAL_SESSIONS`].
    pub fn local() -> Self {
        let api = Self::new(LOCAL_KEY);
        for (id, items) in LOCAL_SESSIONS {
            api.session(id, items);
        }
        api
    }

    /// Registers (or replaces) a session's line items, in order, as (price id, quantity).
    pub fn session(&self, id: &str, items: &[(&str, u64)]) {
        let items = items.iter().map(|(p, q)| (p.to_string(), *q)).collect();
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), items);
    }

    pub fn set_fault(&self, fault: Fault) {
        *self.fault.lock().unwrap_or_else(PoisonError::into_inner) = fault;
    }

    /// Requests received, answered or not.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Answers one request: `path` from `/v1/` on, `query` as sent, the `Authorization` header.
    pub async fn answer(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        authorization: Option<&str>,
    ) -> Response<Full<Bytes>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let fault = *self.fault.lock().unwrap_or_else(PoisonError::into_inner);
        match fault {
            Fault::None => {}
            Fault::Fail => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"type": "api_error", "message": "An unknown error occurred"}),
                );
            }
            Fault::Hang => tokio::time::sleep(HANG).await,
        }
        if let Some(refusal) = self.refuse(authorization) {
            return refusal;
        }
        let session = path
            .strip_prefix("/v1/checkout/sessions/")
            .and_then(|rest| rest.strip_suffix("/line_items"))
            .filter(|id| !id.is_empty() && !id.contains('/'));
        let (Some(session), &Method::GET) = (session, method) else {
            return error(
                StatusCode::NOT_FOUND,
                json!({
                    "type": "invalid_request_error",
                    "message": format!("Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."),
                }),
            );
        };
        let items = self
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(session)
            .cloned();
        match items {
            Some(items) => ok(list(session, &items, query)),
            None => error(
                StatusCode::NOT_FOUND,
                json!({
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
                    "param": "session",
                    "message": format!("No such checkout.session: '{session}'"),
                }),
            ),
        }
    }

    /// Stripe's 401s: no key, or not this account's key (shown masked, as Stripe shows it).
    fn refuse(&self, authorization: Option<&str>) -> Option<Response<Full<Bytes>>> {
        let message = match authorization.and_then(|a| a.strip_prefix("Bearer ")) {
            Some(key) if key == self.key => return None,
            Some(key) => {
                let tail: String = key
                    .chars()
                    .rev()
                    .take(4)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                let head: String = key.chars().take(8).collect();
                format!("Invalid API Key provided: {head}****{tail}")
            }
            None => "You did not provide an API key. You need to provide your API key in the \
                     Authorization header, using Bearer auth (e.g. 'Authorization: Bearer \
                     YOUR_SECRET_KEY')."
                .to_owned(),
        };
        Some(error(
            StatusCode::UNAUTHORIZED,
            json!({"type": "invalid_request_error", "message": message}),
        ))
    }
}

/// A page of the session's line items: `limit` (1 to 100, default 10) from after
/// `starting_after`.
fn list(session: &str, items: &[Line], query: Option<&str>) -> Value {
    let param = |name: &str| {
        query?
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    let limit = param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let all: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, (price, quantity))| item(session, i, price, *quantity))
        .collect();
    let start = param("starting_after")
        .and_then(|after| all.iter().position(|i| i["id"] == after))
        .map_or(0, |p| p + 1);
    let page: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
    json!({
        "object": "list",
        "data": page,
        "has_more": start + limit < all.len(),
        "url": format!("/v1/checkout/sessions/{session}/line_items"),
    })
}

/// Stripe's line item, its price the published price object made a one-time price `price`.
fn item(session: &str, index: usize, price: &str, quantity: u64) -> Value {
    let mut p: Value = serde_json::from_str(PRICE).unwrap_or(Value::Null);
    let product: Value = serde_json::from_str(PRODUCT).unwrap_or(Value::Null);
    p["id"] = json!(price);
    p["type"] = json!("one_time");
    p["recurring"] = Value::Null;
    let unit = p["unit_amount"].as_i64().unwrap_or(0);
    let amount = unit * i64::try_from(quantity).unwrap_or(0);
    json!({
        "id": format!("li_{}_{index}", session.trim_start_matches("cs_")),
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "currency": p["currency"].clone(),
        "description": product["name"].clone(),
        "price": p,
        "quantity": quantity,
    })
}

fn ok(body: Value) -> Response<Full<Bytes>> {
    respond(StatusCode::OK, &body)
}

fn error(status: StatusCode, error: Value) -> Response<Full<Bytes>> {
    respond(status, &json!({ "error": error }))
}

fn respond(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert("request-id", HeaderValue::from_static("req_local_stand_in"));
    response
}

/// Serves `api` on its own listener until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    api: Arc<StripeApi>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    crate::http::serve_with(listener, shutdown, move |req: Request<Incoming>| {
        let api = api.clone();
        async move {
            let auth = req
                .headers()
                .get(hyper::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            let (path, query) = (req.uri().path(), req.uri().query());
            api.answer(req.method(), path, query, auth).await
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn get(
        api: &StripeApi,
        path: &str,
        query: Option<&str>,
        auth: Option<&str>,
    ) -> (u16, Value) {
        let response = api.answer(&Method::GET, path, query, auth).await;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap())
    }

    const KEY: Option<&str> = Some("Bearer sk_test_local");

    #[tokio::test]
    async fn pages_follow_limit_and_starting_after() {
        let api = StripeApi::new(LOCAL_KEY);
        api.session("cs_1", &[("price_a", 1), ("price_b", 2), ("price_c", 1)]);
        let path = "/v1/checkout/sessions/cs_1/line_items";
        let (status, first) = get(&api, path, Some("limit=2"), KEY).await;
        assert_eq!(status, 200);
        assert_eq!(first["object"], "list");
        assert_eq!(first["has_more"], true);
        let ids: Vec<&str> = first["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["price"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["price_a", "price_b"]);
        assert_eq!(first["data"][1]["quantity"], 2);
        assert_eq!(first["data"][1]["amount_total"], 4000);
        let after = format!(
            "limit=2&starting_after={}",
            first["data"][1]["id"].as_str().unwrap()
        );
        let (_, rest) = get(&api, path, Some(&after), KEY).await;
        assert_eq!(rest["has_more"], false);
        assert_eq!(rest["data"][0]["price"]["id"], "price_c");
    }

    #[tokio::test]
    async fn unknown_sessions_and_routes_are_404_in_stripes_shape() {
        let api = StripeApi::local();
        let (status, body) = get(&api, "/v1/checkout/sessions/cs_nope/line_items", None, KEY).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("resource_missing"))
        );
        let (status, body) = get(&api, "/v1/customers", None, KEY).await;
        assert_eq!(
            (status, body["error"]["type"].as_str()),
            (404, Some("invalid_request_error"))
        );
    }

    #[tokio::test]
    async fn a_wrong_key_is_401_and_masked() {
        let api = StripeApi::local();
        let path = "/v1/checkout/sessions/cs_demo_line_items/line_items";
        let (status, body) = get(
            &api,
            path,
            Some("limit=100"),
            Some("Bearer sk_test_wrong_key_9876"),
        )
        .await;
        assert_eq!(status, 401);
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.ends_with("sk_test_****9876"), "{message}");
        let (status, _) = get(&api, path, None, None).await;
        assert_eq!(status, 401);
        assert_eq!(api.calls(), 2);
    }
}
