//! Faults between the functions and the store, injected by a proxy in front of the emulator:
//! a lost response, an outage, throttling, a slow store. Whatever happens, a change is applied
//! once or not at all, the caller is told to retry (503 with `Retry-After`), and the service
//! recovers by itself.

use std::time::Duration;

use chrono::Utc;
use credits::account::UserId;
use credits::app::App;
use credits::config::STORE_ATTEMPTS;
use credits_e2e::faults::{Fault, FaultProxy, app_through};
use credits_e2e::{answer, keyed, on_hold};
use credits_testkit::ApiCall;
use serde_json::Value;

async fn proxy() -> FaultProxy {
    let upstream = std::env::var("AWS_ENDPOINT_URL").expect("run with scripts/test");
    FaultProxy::start(&upstream).await
}

fn balance(user: &str) -> ApiCall {
    ApiCall::new("GET", "/credits/balance").user(user)
}

fn deduct(user: &str, key: &str, amount: i64) -> ApiCall {
    keyed(
        "POST",
        "/credits/deduct",
        user,
        key,
        &format!(r#"{{"amount": {amount}}}"#),
    )
}

fn hold(user: &str, key: &str, amount: i64) -> ApiCall {
    keyed(
        "POST",
        "/credits/holds",
        user,
        key,
        &format!(r#"{{"amount": {amount}}}"#),
    )
}

/// (balance, held, kinds of the ledger entries newest first), read past the proxy.
async fn ledger(app: &App, user: &str) -> (i64, i64, Vec<String>) {
    let (account, entries) = credits_testkit::account_and_ledger(app, user).await;
    let kinds = entries.iter().map(|e| e.kind.as_str().to_owned()).collect();
    (account.balance(), account.held, kinds)
}

/// Every attempt the SDK makes at the next transaction loses its response (the store applies
/// the first and refuses the others): the caller itself sees the fault.
fn lose_every_attempt(proxy: &FaultProxy) {
    for _ in 0..STORE_ATTEMPTS {
        proxy.plan("TransactWriteItems", Fault::DropResponse);
    }
}

fn is_503(reply: &(u16, Option<String>, Value)) -> bool {
    reply.0 == 503
        && reply.1.as_deref() == Some("1")
        && reply.2["error"]["code"] == "service_unavailable"
}

#[tokio::test]
async fn a_lost_deduct_response_then_the_callers_retry_deducts_once() {
    let proxy = proxy().await;
    let app = app_through(&proxy, "fault-lost-deduct").await;
    assert_eq!(answer(&app, &balance("amy")).await.0, 200);

    lose_every_attempt(&proxy);
    let lost = answer(&app, &deduct("amy", "k1", 2)).await;
    assert!(is_503(&lost), "{lost:?}");
    // The store applied it; the retry with the same key gets the answer it missed.
    let retry = answer(&app, &deduct("amy", "k1", 2)).await;
    assert_eq!((retry.0, &retry.2["balance"]), (200, &Value::from(3)));
    assert_eq!(
        ledger(&app, "amy").await,
        (3, 0, vec!["deduct".into(), "grant".into()])
    );
}

#[tokio::test]
async fn a_lost_deduct_response_retried_by_the_sdk_deducts_once() {
    let proxy = proxy().await;
    let app = app_through(&proxy, "fault-lost-sdk").await;
    assert_eq!(answer(&app, &balance("bo")).await.0, 200);
    proxy.plan("TransactWriteItems", Fault::DropResponse);
    proxy.take_seen();
    let r = answer(&app, &deduct("bo", "k1", 2)).await;
    assert_eq!((r.0, &r.2["balance"]), (200, &Value::from(3)), "{r:?}");
    // The SDK sent the transaction again; the store refused it on the taken key, and the
    // service answered from the record the first one wrote.
    assert_eq!(proxy.seen("TransactWriteItems"), 2);
    assert_eq!(
        ledger(&app, "bo").await,
        (3, 0, vec!["deduct".into(), "grant".into()])
    );
}

#[tokio::test]
async fn a_lost_hold_response_then_the_retry_opens_one_hold() {
    let proxy = proxy().await;
    let app = app_through(&proxy, "fault-lost-hold").await;
    assert_eq!(answer(&app, &balance("cy")).await.0, 200);
    lose_every_attempt(&proxy);
    assert!(is_503(&answer(&app, &hold("cy", "h1", 3)).await));
    let retry = answer(&app, &hold("cy", "h1", 3)).await;
    assert_eq!(retry.0, 201, "{retry:?}");
    assert_eq!(
        ledger(&app, "cy").await,
        (2, 3, vec!["hold".into(), "grant".into()])
    );

    // A lost commit: the retry finds the hold closed by the first, with its record.
    let id = retry.2["hold_id"].as_str().unwrap().to_owned();
    lose_every_attempt(&proxy);
    let commit = on_hold("POST", "cy", &id, "/commit", r#"{"amount": 1}"#);
    assert!(is_503(&answer(&app, &commit).await));
    let again = answer(&app, &commit).await;
    assert_eq!(
        (
            again.0,
            &again.2["error"]["code"],
            &again.2["hold"]["committed"]
        ),
        (409, &Value::from("hold_closed"), &Value::from(1))
    );
    assert_eq!(
        ledger(&app, "cy").await,
        (
            4,
            0,
            vec![
                "release".into(),
                "deduct".into(),
                "hold".into(),
                "grant".into()
            ]
        )
    );
}

#[tokio::test]
async fn a_store_outage_is_a_503_that_writes_nothing_and_passes_by_itself() {
    let proxy = proxy().await;
    let app = app_through(&proxy, "fault-outage").await;
    assert_eq!(answer(&app, &balance("di")).await.0, 200);

    proxy.standing(Fault::Reset);
    for call in [
        balance("di"),
        deduct("di", "k1", 1),
        hold("di", "h1", 1),
        on_hold("DELETE", "di", "h_000000000009", "", ""),
    ] {
        let r = answer(&app, &call).await;
        assert!(is_503(&r), "{}: {r:?}", call.route_key);
    }
    proxy.standing(Fault::Pass);
    // Nothing partial was written, and the same App serves again.
    assert_eq!(ledger(&app, "di").await, (5, 0, vec!["grant".into()]));
    let r = answer(&app, &deduct("di", "k1", 1)).await;
    assert_eq!((r.0, &r.2["balance"]), (200, &Value::from(4)));
}

#[tokio::test]
async fn a_store_that_never_answers_is_a_503_well_inside_the_function_timeout() {
    let proxy = proxy().await;
    let app = app_through(&proxy, "fault-hung").await;
    assert_eq!(answer(&app, &balance("hu")).await.0, 200);

    // Connections are accepted and requests read, but no answer comes (a paused emulator, a
    // network black hole): the product's own timeouts must turn that into the contract's 503.
    proxy.standing(Fault::Delay(Duration::from_secs(60)));
    for call in [balance("hu"), deduct("hu", "k1", 1), hold("hu", "h1", 1)] {
        let started = std::time::Instant::now();
        let r = answer(&app, &call).await;
        let took = started.elapsed();
        assert!(is_503(&r), "{}: {r:?}", call.route_key);
        // The flags' read and one store call each give up on their own timeouts; 10 s is the
        // function's timeout in infra/template.yaml.
        let bound = credits::config::FLAGS_CALL_TIMEOUT + credits::config::STORE_CALL_TIMEOUT;
        assert!(
            took < bound + Duration::from_millis(500) && took < Duration::from_secs(10),
            "{}: answered after {took:?}",
            call.route_key
        );
    }
}

/// The next GetItem is throttled and the next transaction meets throughput exceeded, both
/// answered by the proxy without reaching the store; forgets what it saw so far.
fn throttle_the_next_read_and_write(proxy: &FaultProxy) {
    proxy.take_seen();
    proxy.plan("GetItem", Fault::Throttle);
    proxy.plan("TransactWriteItems", Fault::ThroughputExceeded);
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk_and_a_503_only_when_retries_are_spent() {
    let proxy = proxy().await;
    let app = app_through(&proxy, "fault-throttle").await;
    assert_eq!(answer(&app, &balance("ed")).await.0, 200);

    throttle_the_next_read_and_write(&proxy);
    let r = answer(&app, &deduct("ed", "k1", 1)).await;
    assert_eq!(r.0, 200, "{r:?}");
    assert_eq!(
        (proxy.seen("GetItem"), proxy.seen("TransactWriteItems")),
        (2, 2)
    );

    proxy.take_seen();
    proxy.standing(Fault::Throttle);
    let r = answer(&app, &deduct("ed", "k2", 1)).await;
    assert!(is_503(&r), "{r:?}");
    assert_eq!(
        proxy.seen("GetItem"),
        STORE_ATTEMPTS as usize,
        "every attempt was made"
    );
    proxy.standing(Fault::Pass);
    assert_eq!(
        ledger(&app, "ed").await,
        (4, 0, vec!["deduct".into(), "grant".into()])
    );
}

#[tokio::test]
async fn a_write_slower_than_the_timeout_is_a_503_and_the_retry_applies_it_once() {
    let proxy = proxy().await;
    let app = app_through(&proxy, "fault-slow").await;
    assert_eq!(answer(&app, &balance("flo")).await.0, 200);
    // Every attempt slower than the product's timeouts: the caller is told to retry within
    // them, while the store still applies the first attempt when it arrives.
    let slow = Duration::from_secs(5);
    for _ in 0..STORE_ATTEMPTS {
        proxy.plan("TransactWriteItems", Fault::Delay(slow));
    }
    let started = std::time::Instant::now();
    let answered = answer(&app, &deduct("flo", "k1", 2)).await;
    assert!(is_503(&answered), "{answered:?}");
    assert!(
        started.elapsed() < credits::config::STORE_CALL_TIMEOUT + Duration::from_secs(1),
        "answered after {:?}",
        started.elapsed()
    );
    tokio::time::sleep(slow).await;
    // The caller retries with the same key until it gets an answer (on a busy machine the
    // emulator itself may exceed the short timeout once more).
    let mut retry = answer(&app, &deduct("flo", "k1", 2)).await;
    for _ in 0..5 {
        if !is_503(&retry) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        retry = answer(&app, &deduct("flo", "k1", 2)).await;
    }
    assert_eq!(
        (retry.0, &retry.2["balance"]),
        (200, &Value::from(3)),
        "{retry:?}"
    );
    assert_eq!(
        ledger(&app, "flo").await,
        (3, 0, vec!["deduct".into(), "grant".into()])
    );

    // A slow store within the timeout is only slow.
    proxy.plan("GetItem", Fault::Delay(Duration::from_millis(50)));
    let r = answer(&app, &deduct("flo", "k2", 1)).await;
    assert_eq!((r.0, &r.2["balance"]), (200, &Value::from(2)));
}

/// The monthly reset with lost responses and a store outage in the middle: every account is
/// reset exactly once (one expire and one grant), and a run the outage stopped completes when
/// resumed.
#[tokio::test]
async fn the_reset_applies_each_account_once_through_lost_responses_and_an_outage() {
    use credits::period::Period;
    use credits::reset::{ResetJob, ResetSettings};

    let proxy = proxy().await;
    let app = app_through(&proxy, "fault-reset").await;
    let now = Utc::now();
    let users: Vec<UserId> = (0..30)
        .map(|i| UserId::parse(format!("r-{i:02}")).unwrap())
        .collect();
    credits_e2e::seed_last_month(&app, users.clone())
        .await
        .unwrap();

    let job = ResetJob::new(
        app.service.clone(),
        ResetSettings {
            segments: 2,
            page_size: 10,
            margin: Duration::ZERO,
        },
    );
    let run = job.start("faulty", "test", now).await.unwrap();
    lose_every_attempt(&proxy);
    // Throttled requests are retried by the SDK, not counted as failures.
    proxy.plan("Scan", Fault::Throttle);
    proxy.plan("TransactWriteItems", Fault::ThroughputExceeded);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let run_segments =
        |run| monthly_reset::in_process::run_segments(&job, &app.clock, run, deadline);
    let first = run_segments(&run).await.unwrap();
    assert_eq!(
        (first.status, first.counts.failed),
        ("done", 0),
        "{first:?}"
    );
    assert_eq!(first.counts.reset + first.counts.already_current, 30);

    // Then the store goes away in the middle of a second run, and comes back.
    let second = job.start("outage", "test", now).await.unwrap();
    proxy.standing(Fault::Reset);
    let stopped = run_segments(&second).await;
    assert!(
        stopped.is_err() || stopped.as_ref().is_ok_and(|v| v.status != "done"),
        "{stopped:?}"
    );
    proxy.standing(Fault::Pass);
    let resumed = run_segments(&second).await.unwrap();
    assert_eq!(
        (resumed.status, resumed.counts.already_current),
        ("done", 30),
        "{resumed:?}"
    );

    for user in &users {
        let stored = app
            .service
            .store()
            .read_account(user)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.account.period, Period::containing(now), "{user}");
        let kinds: Vec<String> = app
            .service
            .store()
            .entries(user, 10, None)
            .await
            .unwrap()
            .entries
            .iter()
            .map(|e| e.kind.as_str().to_owned())
            .collect();
        assert_eq!(kinds, ["grant", "expire", "grant"], "{user}");
    }
}

/// The webhook's answer to `call` (signed with `whsec_faults`), as status and JSON.
async fn deliver(app: &App, call: &ApiCall) -> (u16, Value) {
    let hook = webhook::Webhook {
        secret: webhook::SigningSecret::new("whsec_faults"),
        prices: credits::stripe::PriceMap::default(),
        line_items: None,
    };
    credits_testkit::response_json(webhook::handle(app, &hook, call.request()).await)
}

#[tokio::test]
async fn a_lost_webhook_response_then_stripes_retry_grants_the_package_once() {
    let proxy = proxy().await;
    let app = app_through(&proxy, "fault-webhook").await;
    assert_eq!(answer(&app, &balance("gus")).await.0, 200);
    let delivery = credits_e2e::stripe_purchase("whsec_faults", "gus", "evt_lost_1");

    lose_every_attempt(&proxy);
    let (status, body) = deliver(&app, &delivery).await;
    assert!(status >= 500, "Stripe must retry: {status} {body}");
    // Stripe delivers the same event again: applied already, so nothing more is granted.
    let (status, body) = deliver(&app, &delivery).await;
    assert_eq!(status, 200, "{body}");
    let (balance, _, kinds) = ledger(&app, "gus").await;
    assert_eq!(balance, 105, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "purchase").count(), 1);

    // An outage: 5xx so that Stripe retries, nothing written; then the retry applies it.
    proxy.standing(Fault::Reset);
    let second = credits_e2e::stripe_purchase("whsec_faults", "gus", "evt_outage_2");
    let (status, _) = deliver(&app, &second).await;
    assert!(status >= 500);
    proxy.standing(Fault::Pass);
    assert_eq!(ledger(&app, "gus").await.0, 105);
    let (status, body) = deliver(&app, &second).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")));
    assert_eq!(ledger(&app, "gus").await.0, 205);
}

#[tokio::test]
async fn a_throttled_webhook_write_is_retried_by_the_sdk_and_a_5xx_only_when_retries_are_spent() {
    let proxy = proxy().await;
    let app = app_through(&proxy, "fault-webhook-throttle").await;
    assert_eq!(answer(&app, &balance("hal")).await.0, 200);

    throttle_the_next_read_and_write(&proxy);
    let (status, body) = deliver(
        &app,
        &credits_e2e::stripe_purchase("whsec_faults", "hal", "evt_t1"),
    )
    .await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")));
    // The payment's read (throttled once, retried), the account's; the write, retried once.
    assert_eq!(
        (proxy.seen("GetItem"), proxy.seen("TransactWriteItems")),
        (3, 2),
        "one retry each"
    );
    assert_eq!(ledger(&app, "hal").await.0, 105);

    // Throttled throughout: 5xx after every attempt, so Stripe redelivers; nothing written.
    proxy.take_seen();
    proxy.standing(Fault::Throttle);
    let second = credits_e2e::stripe_purchase("whsec_faults", "hal", "evt_t2");
    let (status, _) = deliver(&app, &second).await;
    assert!(status >= 500);
    assert_eq!(
        proxy.seen("GetItem"),
        STORE_ATTEMPTS as usize,
        "every attempt was made"
    );
    proxy.standing(Fault::Pass);
    assert_eq!(ledger(&app, "hal").await.0, 105);
    let (status, body) = deliver(&app, &second).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")));
    assert_eq!(ledger(&app, "hal").await.0, 205);
}
