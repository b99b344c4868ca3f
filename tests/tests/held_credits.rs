//! Held credits through the real handlers against the emulator: a refund and a cancellation
//! reach them, and any number of holds expiring together never
//! locks the account (item 1).

use std::time::{Duration, Instant};

use chrono::Utc;
use credits::account::UserId;
use credits::app::App;
use credits::service::OpenHold;
use credits_e2e::{answer, keyed, on_hold};
use credits_testkit::{ApiCall, isolated_app, response_json};
use serde_json::{Value, json};

const SECRET: &str = "whsec_held";

fn hook() -> webhook::Webhook {
    webhook::Webhook {
        secret: webhook::SigningSecret::new(SECRET),
        prices: credits::stripe::PriceMap::default(),
        line_items: None,
    }
}

/// Delivers a Stripe event, signed, and returns its outcome (or the error code).
async fn stripe(app: &App, kind: &str, id: &str, object: Value) -> String {
    let now = Utc::now().timestamp();
    let body = json!({"id": id, "object": "event", "api_version": "2026-07-29.dahlia",
        "created": now, "type": kind, "data": {"object": object}})
    .to_string();
    let call = ApiCall {
        route_key: "$default".into(),
        ..ApiCall::new("POST", "/")
    }
    .header("stripe-signature", &webhook::sign(SECRET, now, &body))
    .body(body);
    let (status, answer) = response_json(webhook::handle(app, &hook(), call.request()).await);
    assert_eq!(status, 200, "{answer}");
    answer["outcome"].as_str().unwrap_or_default().to_owned()
}

fn package(user: &str, price: &str, pi: &str, amount: i64) -> Value {
    json!({"id": format!("cs_{pi}"), "object": "checkout.session", "mode": "payment",
           "payment_status": "paid", "status": "complete", "payment_intent": pi,
           "amount_total": amount, "metadata": {"user_id": user, "price_id": price}})
}

fn refund(pi: &str, amount: i64, refunded: i64) -> Value {
    json!({"id": format!("ch_{pi}"), "object": "charge", "payment_intent": pi,
           "amount": amount, "amount_refunded": refunded, "refunded": refunded >= amount})
}

fn subscription(user: &str, status: &str) -> Value {
    json!({"id": format!("sub_{user}"), "object": "subscription", "customer": format!("cus_{user}"),
           "status": status, "metadata": {"user_id": user},
           "items": {"data": [{"price": {"id": "price_pro_monthly"}}]}})
}

async fn hold(app: &App, user: &str, key: &str, amount: i64, ttl: i64) -> String {
    let body = json!({"amount": amount, "ttl_seconds": ttl}).to_string();
    let (status, _, answer) = answer(app, &keyed("POST", "/credits/holds", user, key, &body)).await;
    assert_eq!(status, 201, "{answer}");
    answer["hold_id"].as_str().unwrap().to_owned()
}

async fn balance(app: &App, user: &str) -> (u16, Value) {
    let (status, _, body) = answer(app, &ApiCall::new("GET", "/credits/balance").user(user)).await;
    (status, body)
}

/// The ledger adds up to what the account owns.
async fn ledger_adds_up(app: &App, user: &str) {
    let user = UserId::parse(user).unwrap();
    let account = app
        .service
        .store()
        .read_account(&user)
        .await
        .unwrap()
        .unwrap();
    let (mut sum, mut before) = (0, None);
    loop {
        let page = app
            .service
            .store()
            .entries(&user, 100, before)
            .await
            .unwrap();
        sum += page.entries.iter().map(|e| e.amount).sum::<i64>();
        before = page.next;
        if before.is_none() {
            break;
        }
    }
    assert_eq!(sum, account.account.owned(), "{user}");
}

/// Item 2: buy 1,000 credits, hold 1,005, the charge is fully refunded, release: none of the
/// 1,000 remain.
#[tokio::test]
async fn a_refund_takes_back_the_credits_a_hold_holds() {
    let app = isolated_app("held-refund").await;
    let pkg = package("rae", "price_credits_1000", "pi_rae", 10_000);
    assert_eq!(
        stripe(&app, "checkout.session.completed", "evt_buy", pkg).await,
        "applied"
    );
    let id = hold(&app, "rae", "h1", 1_005, 900).await;
    let full = refund("pi_rae", 10_000, 10_000);
    assert_eq!(
        stripe(&app, "charge.refunded", "evt_refund", full).await,
        "applied"
    );
    let (_, view) = balance(&app, "rae").await;
    assert_eq!(
        (view["purchased"].as_i64(), view["held"].as_i64()),
        (Some(0), Some(5))
    );
    let (status, _, released) = answer(&app, &on_hold("DELETE", "rae", &id, "", "")).await;
    assert_eq!(
        (status, released["released"].as_i64()),
        (200, Some(5)),
        "{released}"
    );
    let (_, view) = balance(&app, "rae").await;
    assert_eq!(
        (view["balance"].as_i64(), view["purchased"].as_i64()),
        (Some(5), Some(0))
    );
    ledger_adds_up(&app, "rae").await;
}

/// Item 3: Pro Monthly, hold every monthly credit, the subscription is deleted, release: the
/// Free account keeps 5 monthly credits.
#[tokio::test]
async fn a_cancellation_caps_the_monthly_credits_a_hold_holds() {
    let app = isolated_app("held-cap").await;
    let created = subscription("cid", "active");
    assert_eq!(
        stripe(&app, "customer.subscription.created", "evt_c", created).await,
        "applied"
    );
    let (_, view) = balance(&app, "cid").await;
    let all = view["balance"].as_i64().unwrap();
    let id = hold(&app, "cid", "h1", all, 900).await;
    // One second later, so that the deletion is the newer event.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let deleted = subscription("cid", "canceled");
    assert_eq!(
        stripe(&app, "customer.subscription.deleted", "evt_d", deleted).await,
        "applied"
    );
    let (status, _, released) = answer(&app, &on_hold("DELETE", "cid", &id, "", "")).await;
    assert_eq!(status, 200, "{released}");
    let (_, view) = balance(&app, "cid").await;
    assert_eq!(
        (view["plan"].as_str(), view["balance"].as_i64()),
        (Some("free"), Some(5))
    );
    ledger_adds_up(&app, "cid").await;
}

/// Item 1: 50 holds of 1 expiring together would be closed by one transaction of 101 items
/// (each a release entry and a closed-hold record, and the account), which DynamoDB refuses,
/// for every request, for good. Closed in batches, every path goes through.
#[tokio::test]
async fn fifty_holds_expiring_together_never_lock_the_account() {
    let app = isolated_app("held-lock").await;
    let users = ["lb", "ld", "ls", "lr"];
    // Opened ten seconds ago for one second each, so that they have all expired now, however
    // long the emulator takes to open them.
    let opened = Utc::now() - chrono::Duration::seconds(10);
    let flags = app.flags.read().await.flags;
    for user in users {
        let pkg = package(user, "price_credits_100", &format!("pi_{user}"), 1_000);
        let outcome = stripe(
            &app,
            "checkout.session.completed",
            &format!("evt_{user}"),
            pkg,
        )
        .await;
        assert_eq!(outcome, "applied");
        let id = UserId::parse(user).unwrap();
        for i in 0..50 {
            let key = format!("k{i}");
            let cmd = OpenHold {
                amount: 1,
                priced: None,
                ttl_seconds: 1,
                key: &key,
                request: "{}",
            };
            app.service
                .open_hold(&id, &cmd, &flags, opened)
                .await
                .unwrap();
        }
        let account = app
            .service
            .store()
            .read_account(&id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(account.account.holds.len(), 50);
    }

    let (status, view) = balance(&app, "lb").await;
    assert_eq!((status, view["held"].as_i64()), (200, Some(0)), "{view}");
    assert_eq!(view["balance"].as_i64(), Some(105));

    let call = keyed("POST", "/credits/deduct", "ld", "d1", r#"{"amount": 1}"#);
    let (status, _, body) = answer(&app, &call).await;
    assert_eq!(
        (status, body["balance"].as_i64()),
        (200, Some(104)),
        "{body}"
    );

    let pkg = package("ls", "price_credits_100", "pi_ls_2", 1_000);
    assert_eq!(
        stripe(&app, "checkout.session.completed", "evt_ls_2", pkg).await,
        "applied"
    );

    let job = credits_e2e::one_segment_reset(&app);
    let run = job.start("held", "test", Utc::now()).await.unwrap();
    let view = monthly_reset::in_process::run_segments(
        &job,
        &app.clock,
        &run,
        Instant::now() + Duration::from_secs(120),
    )
    .await
    .unwrap();
    assert_eq!((view.status, view.counts.failed), ("done", 0), "{view:?}");
    let reset = UserId::parse("lr").unwrap();
    let account = app
        .service
        .store()
        .read_account(&reset)
        .await
        .unwrap()
        .unwrap();
    assert!(account.account.holds.is_empty());
    assert_eq!(account.account.balance(), 105);
    for user in users {
        ledger_adds_up(&app, user).await;
    }
}
