//! The handler called in process with Function URL events, against the emulator through the
//! real SDK. Events wrap Stripe's own example objects (`tests/fixtures/`, both API shapes),
//! with only the fields a test needs changed, and are signed exactly as Stripe signs them.

use std::sync::Arc;

use chrono::Utc;
use credits::account::UserId;
use credits::app::App;
use credits::period::Period;
use credits::plan::Plan;
use credits::rules::prorated;
use credits::stripe::PriceMap;
use credits_testkit::{ApiCall, isolated_app, response_json};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::*;

const SECRET: &str = "whsec_test_secret";
const DAHLIA: &str = "2026-07-29.dahlia";
const BASIL: &str = "before-basil-2024-11";

fn hook() -> Webhook {
    Webhook {
        secret: SigningSecret::new(SECRET),
        prices: PriceMap::default(),
        line_items: None,
    }
}

fn fixture(version: &str, name: &str) -> Value {
    let text = match (version, name) {
        (DAHLIA, "checkout.session") => {
            include_str!("../tests/fixtures/2026-07-29.dahlia/checkout.session.json")
        }
        (DAHLIA, "subscription") => {
            include_str!("../tests/fixtures/2026-07-29.dahlia/subscription.json")
        }
        (DAHLIA, "invoice") => include_str!("../tests/fixtures/2026-07-29.dahlia/invoice.json"),
        (DAHLIA, "charge") => include_str!("../tests/fixtures/2026-07-29.dahlia/charge.json"),
        (BASIL, "checkout.session") => {
            include_str!("../tests/fixtures/before-basil-2024-11/checkout.session.json")
        }
        (BASIL, "subscription") => {
            include_str!("../tests/fixtures/before-basil-2024-11/subscription.json")
        }
        (BASIL, "invoice") => include_str!("../tests/fixtures/before-basil-2024-11/invoice.json"),
        (BASIL, "charge") => include_str!("../tests/fixtures/before-basil-2024-11/charge.json"),
        _ => panic!("no fixture {version}/{name}"),
    };
    serde_json::from_str(text).unwrap()
}

/// A delivery: the envelope around one object, as Stripe sends it.
fn event(version: &str, id: &str, kind: &str, created: i64, object: Value) -> String {
    json!({
        "id": id, "object": "event", "api_version": version, "created": created,
        "livemode": false, "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": kind, "data": {"object": object}
    })
    .to_string()
}

fn subscription(
    version: &str,
    id: &str,
    customer: &str,
    user: Option<&str>,
    status: &str,
    price: &str,
) -> Value {
    let mut s = fixture(version, "subscription");
    s["id"] = json!(id);
    s["customer"] = json!(customer);
    s["status"] = json!(status);
    s["cancel_at_period_end"] = json!(false);
    s["items"]["data"][0]["price"]["id"] = json!(price);
    if let Some(user) = user {
        s["metadata"] = json!({"user_id": user});
    }
    s
}

fn checkout_subscription(version: &str, user: &str, customer: &str, sub: &str) -> Value {
    let mut c = fixture(version, "checkout.session");
    c["mode"] = json!("subscription");
    c["status"] = json!("complete");
    c["payment_status"] = json!("paid");
    c["client_reference_id"] = json!(user);
    c["customer"] = json!(customer);
    c["subscription"] = json!(sub);
    c["payment_intent"] = Value::Null;
    c
}

fn checkout_payment(version: &str, user: &str, price: &str, pi: &str, amount: i64) -> Value {
    let mut c = fixture(version, "checkout.session");
    c["id"] = json!(format!("cs_{pi}"));
    c["status"] = json!("complete");
    c["payment_status"] = json!("paid");
    c["metadata"] = json!({"user_id": user, "price_id": price});
    c["payment_intent"] = json!(pi);
    c["amount_total"] = json!(amount);
    c
}

fn charge_refunded(version: &str, pi: &str, amount: i64, refunded: i64) -> Value {
    let mut c = fixture(version, "charge");
    c["payment_intent"] = json!(pi);
    c["amount"] = json!(amount);
    c["amount_captured"] = json!(amount);
    c["amount_refunded"] = json!(refunded);
    c["refunded"] = json!(refunded >= amount);
    c
}

/// A `charge.refunded` delivery: `refunded` of `amount` paid through `pi`.
fn refunded(version: &str, id: &str, created: i64, pi: &str, amount: i64, refunded: i64) -> String {
    let charge = charge_refunded(version, pi, amount, refunded);
    event(version, id, "charge.refunded", created, charge)
}

fn now() -> i64 {
    Utc::now().timestamp()
}

fn signed(body: &str, header: &str) -> ApiCall {
    ApiCall {
        route_key: "$default".into(),
        ..ApiCall::new("POST", "/")
    }
    .header("content-type", "application/json")
    .header(SIGNATURE_HEADER, header)
    .body(body)
}

/// Signed at the app's time, as Stripe signs at its own (the two clocks agree in production).
async fn deliver(app: &App, body: &str) -> (u16, Value) {
    let call = signed(body, &sign(SECRET, app.clock.now().timestamp(), body));
    response_json(handle(app, &hook(), call.request()).await)
}

async fn send(app: &App, call: ApiCall) -> (u16, Value) {
    response_json(handle(app, &hook(), call.request()).await)
}

/// Delivers and expects 200 with `outcome`.
async fn expect(app: &App, body: &str, outcome: &str) {
    let (status, answer) = deliver(app, body).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some(outcome)),
        "{answer}"
    );
    assert_eq!(answer["received"], true);
}

/// Plan, monthly, purchased and the ledger (type, amount), oldest first, from the store.
async fn state(app: &App, user: &str) -> (Plan, i64, i64, Vec<(String, i64)>) {
    let user = UserId::parse(user).unwrap();
    let stored = app
        .service
        .store()
        .read_account(&user)
        .await
        .unwrap()
        .expect("an account");
    let page = app.service.store().entries(&user, 100, None).await.unwrap();
    let mut ledger: Vec<(String, i64)> = page
        .entries
        .iter()
        .map(|e| (e.kind.as_str().to_owned(), e.amount))
        .collect();
    ledger.reverse();
    let a = stored.account;
    let sum: i64 = ledger.iter().map(|(_, n)| n).sum();
    assert_eq!(
        sum,
        a.owned(),
        "the ledger adds up to what the account owns"
    );
    (a.plan, a.monthly, a.purchased, ledger)
}

/// Neither an account for `user` nor a record of `event_id`.
async fn nothing_stored(app: &App, user: &str, event_id: &str) {
    let store = app.service.store();
    let user = UserId::parse(user).unwrap();
    assert!(store.read_account(&user).await.unwrap().is_none(), "{user}");
    assert!(
        store.stripe_event(event_id).await.unwrap().is_none(),
        "{event_id}"
    );
}

fn extra(from: Plan, to: Plan) -> i64 {
    let t = Utc::now();
    prorated(
        to.monthly_credits() - from.monthly_credits(),
        Period::containing(t),
        t,
    )
}

fn entry(kind: &str, amount: i64) -> (String, i64) {
    (kind.to_owned(), amount)
}

mod concurrency;
mod cost;
mod http;
mod purchases;
mod subscriptions;
