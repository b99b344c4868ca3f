//! Support for the end-to-end tests: a local gateway on a free port in front of every function,
//! on a table of its own in the emulator, and a small HTTP client.

pub mod faults;
pub mod rehearsal;
pub mod stripe_api;

use std::sync::Arc;

use bytes::Bytes;
use credits::app::App;
use credits_local::config::GatewaySettings;
use credits_local::gateway::{Gateway, serve};
use credits_testkit::ApiCall;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

pub const SECRET: &str = "e2e-secret";

/// A running local stack. The server stops when this is dropped.
pub struct Stack {
    pub base: String,
    pub gateway: Arc<Gateway>,
    client: Client<HttpConnector, Full<Bytes>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub json: Value,
    /// The body as text (for the answers that are not JSON).
    pub text: String,
}

impl Stack {
    pub async fn start(tag: &str) -> Self {
        Self::start_with(tag, |_| {}).await
    }

    /// A stack whose configuration is adjusted first (a short flag cache time, say).
    pub async fn start_with(tag: &str, adjust: impl FnOnce(&mut credits::config::Config)) -> Self {
        let app = credits_testkit::isolated_app_with(tag, adjust).await;
        let settings = GatewaySettings::local(SECRET).expect("the local defaults");
        let gateway = Gateway::new(app, settings).expect("the template's routes mount");
        Self::serve(Arc::new(gateway)).await
    }

    /// A stack whose webhook is `hook` (pointed at a test's Stripe API stand-in, say).
    pub async fn start_with_webhook(tag: &str, hook: webhook::Webhook) -> Self {
        let app = credits_testkit::isolated_app(tag).await;
        let settings = GatewaySettings {
            webhook: hook,
            ..GatewaySettings::local(SECRET).expect("the local defaults")
        };
        let gateway = Gateway::new(app, settings).expect("the template's routes mount");
        Self::serve(Arc::new(gateway)).await
    }

    async fn serve(gateway: Arc<Gateway>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, gateway.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            base,
            gateway,
            client: Client::builder(TokioExecutor::new()).build_http(),
            _stop: stop,
        }
    }

    /// A token whose `cognito:groups` holds `groups`.
    pub fn token_in(&self, user: &str, groups: &[&str]) -> String {
        credits_testkit::user_token(SECRET, user, groups, 600)
    }

    pub fn token(&self, user: &str) -> String {
        credits_testkit::user_token(SECRET, user, &[], 600)
    }

    /// Sends a request; `headers` are name/value pairs, `body` is sent as is.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::from(body.to_owned())))
            .expect("a valid request");
        let res = self.client.request(req).await.expect("the gateway answers");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("a body").to_bytes();
        Reply {
            status,
            headers,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        self.send("GET", path, &headers, "").await
    }

    pub async fn deduct(&self, token: &str, key: &str, body: &str) -> Reply {
        let auth = format!("Bearer {token}");
        self.send(
            "POST",
            "/credits/deduct",
            &[
                ("authorization", &auth),
                ("idempotency-key", key),
                ("content-type", "application/json"),
            ],
            body,
        )
        .await
    }
}

/// A call on a hold's route (`suffix` is `/commit` or empty), with its path parameter bound.
pub fn on_hold(method: &str, user: &str, id: &str, suffix: &str, body: &str) -> ApiCall {
    let mut c = ApiCall::new(method, &format!("/credits/holds/{id}{suffix}"))
        .user(user)
        .body(body);
    c.route_key = format!("{method} /credits/holds/{{id}}{suffix}");
    c.path_parameters.insert("id".into(), id.into());
    c
}

/// A call with an `Idempotency-Key` (deduct, holds).
pub fn keyed(method: &str, path: &str, user: &str, key: &str, body: &str) -> ApiCall {
    ApiCall::new(method, path)
        .user(user)
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(body)
}

/// Calls, in process, the function the template routes `call` to (as the gateway would).
pub async fn invoke(app: &App, call: &ApiCall) -> lambda_http::Response<lambda_http::Body> {
    let request = call.request();
    match call.route_key.split(' ').next() {
        Some("GET") => balance::handle(app, request).await,
        _ => deduct::handle(app, request).await,
    }
}

/// Status, `Retry-After` (if any) and JSON body of an in-process call.
pub async fn answer(app: &App, call: &ApiCall) -> (u16, Option<String>, Value) {
    let response = invoke(app, call).await;
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (status, body) = credits_testkit::response_json(response);
    (status, retry_after, body)
}

impl Stack {
    /// POSTs a Stripe event to the webhook's Function URL route, signed as Stripe signs it
    /// with the gateway's webhook secret.
    pub async fn stripe(&self, body: &str) -> Reply {
        let secret = self.gateway.webhook().secret.expose().to_owned();
        let now = self.gateway.app().clock.now().timestamp();
        let header = webhook::sign(&secret, now, body);
        self.send(
            "POST",
            credits_local::gateway::WEBHOOK_PATH,
            &[
                ("stripe-signature", &header),
                ("content-type", "application/json"),
            ],
            body,
        )
        .await
    }
}

/// The monthly reset job in one segment, stopping at its deadline with no margin.
pub fn one_segment_reset(app: &App) -> credits::reset::ResetJob {
    credits::reset::ResetJob::new(
        app.service.clone(),
        credits::reset::ResetSettings {
            segments: 1,
            margin: std::time::Duration::ZERO,
            ..credits::reset::ResetSettings::default()
        },
    )
}

/// The start of the month before the one holding `now` (UTC): when accounts due for the
/// monthly reset were opened.
pub fn last_month(now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use credits::period::Period;
    let this = Period::containing(now).start();
    Period::containing(this - chrono::Duration::days(1)).start()
}

/// Opens `users` as new accounts of last month (each with its grant), due for the reset.
pub async fn seed_last_month(
    app: &App,
    users: impl IntoIterator<Item = credits::account::UserId>,
) -> Result<(), credits::store::StoreError> {
    let at = last_month(app.clock.now());
    let changes: Vec<_> = users
        .into_iter()
        .map(|u| credits::rules::touch(None, &u, at))
        .collect();
    credits_testkit::seed(app.service.store(), &changes, at).await
}

/// A Stripe event (API version `2026-07-29.dahlia`) carrying `object`, as Stripe sends it.
pub fn stripe_event(id: &str, kind: &str, created: i64, object: Value) -> String {
    serde_json::json!({
        "id": id, "object": "event", "api_version": "2026-07-29.dahlia",
        "created": created, "livemode": false, "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": kind, "data": {"object": object}
    })
    .to_string()
}

/// Stripe's example subscription `id` of `user` (its metadata names them; the customer is
/// theirs alone), in `status` on `price`.
pub fn stripe_subscription(id: &str, user: &str, status: &str, price: &str) -> Value {
    let mut s: Value = serde_json::from_str(include_str!(
        "../../functions/webhook/tests/fixtures/2026-07-29.dahlia/subscription.json"
    ))
    .expect("Stripe's example subscription parses");
    s["id"] = serde_json::json!(id);
    s["customer"] = serde_json::json!(format!("cus_{user}"));
    s["metadata"] = serde_json::json!({ "user_id": user });
    s["status"] = serde_json::json!(status);
    s["cancel_at_period_end"] = serde_json::json!(false);
    s["items"]["data"][0]["price"]["id"] = serde_json::json!(price);
    s
}

/// A package purchase (v1, purchases on) delivered by Stripe: `checkout.session.completed` in
/// mode `payment`, signed with `secret`.
pub fn stripe_purchase(secret: &str, user: &str, event_id: &str) -> ApiCall {
    let mut session: Value = serde_json::from_str(include_str!(
        "../../functions/webhook/tests/fixtures/2026-07-29.dahlia/checkout.session.json"
    ))
    .expect("Stripe's example checkout session parses");
    session["id"] = serde_json::json!(format!("cs_{event_id}"));
    session["mode"] = serde_json::json!("payment");
    session["status"] = serde_json::json!("complete");
    session["payment_status"] = serde_json::json!("paid");
    session["metadata"] = serde_json::json!({"user_id": user, "price_id": "price_credits_100"});
    session["payment_intent"] = serde_json::json!(format!("pi_{event_id}"));
    session["amount_total"] = serde_json::json!(1000);
    let now = chrono::Utc::now().timestamp();
    let body = stripe_event(event_id, "checkout.session.completed", now, session);
    let signature = webhook::sign(secret, now, &body);
    ApiCall {
        route_key: "$default".into(),
        ..ApiCall::new("POST", "/")
    }
    .header("content-type", "application/json")
    .header("stripe-signature", &signature)
    .body(body)
}
