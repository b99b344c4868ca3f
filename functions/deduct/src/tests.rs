//! The handler called in process, against the emulator through the real SDK.

use std::sync::Arc;

use credits::app::App;
use credits_testkit::{ApiCall, isolated_app, response_json};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::handle;

fn deduct_call(user: &str, key: &str, body: &str) -> ApiCall {
    ApiCall::new("POST", "/credits/deduct")
        .user(user)
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(body)
}

async fn call(app: &App, call: ApiCall) -> (u16, Value) {
    response_json(handle(app, call.request()).await)
}

/// The account's spendable balance and ledger (type, amount), newest first.
async fn state(app: &App, user: &str) -> (i64, Vec<(String, i64)>) {
    let (account, entries) = credits_testkit::account_and_ledger(app, user).await;
    let ledger = entries
        .iter()
        .map(|e| (e.kind.as_str().to_owned(), e.amount))
        .collect();
    (account.balance(), ledger)
}

#[tokio::test]
async fn a_deduct_spends_and_answers_the_balance_view() {
    let app = isolated_app("deduct-ok").await;
    let (status, body) = call(
        &app,
        deduct_call("ana", "k-1", r#"{"amount": 2, "reason": "export"}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["deducted"].as_i64(), body["balance"].as_i64()),
        (Some(2), Some(3))
    );
    assert_eq!(body["monthly"]["remaining"], 3);
    assert_eq!(body["user_id"], "ana");
    assert_eq!(body["transaction_id"], "tx_000000000002");
    let (balance, ledger) = state(&app, "ana").await;
    assert_eq!(balance, 3);
    assert_eq!(ledger, [("deduct".to_owned(), -2), ("grant".to_owned(), 5)]);
}

#[tokio::test]
async fn not_enough_credits_is_a_402_with_options_and_changes_nothing() {
    let app = isolated_app("deduct-402").await;
    let (status, body) = call(&app, deduct_call("bo", "k-1", r#"{"amount": 6}"#)).await;
    assert_eq!(status, 402, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_credits");
    assert_eq!(
        (body["balance"].as_i64(), body["required"].as_i64()),
        (Some(5), Some(6))
    );
    let upgrades: Vec<&str> = body["upgrade_options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(upgrades, ["pro_monthly", "pro_yearly", "lifetime"]);
    // v1 with purchases on (the local stack's phase 1) offers packages too.
    assert_eq!(body["purchase_options"].as_array().unwrap().len(), 4);
    assert_eq!(state(&app, "bo").await, (5, vec![("grant".to_owned(), 5)]));
}

#[tokio::test]
async fn in_v2_a_402_offers_upgrades_only() {
    let app = isolated_app("deduct-402-v2").await;
    credits_testkit::set_version(&app, "v2").await;
    let (status, body) = call(&app, deduct_call("cy", "k-1", r#"{"amount": 99}"#)).await;
    assert_eq!(status, 402);
    assert!(body.get("purchase_options").is_none(), "{body}");
    assert_eq!(body["upgrade_options"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn bad_input_is_a_400_that_changes_nothing() {
    let app = isolated_app("deduct-400").await;
    let long_key = "k".repeat(256);
    let huge_body = format!(r#"{{"amount": 1, "reason": "{}"}}"#, "x".repeat(5000));
    let cases: Vec<(&str, ApiCall)> = vec![
        ("malformed JSON", deduct_call("dee", "k", r#"{"amount": 1"#)),
        ("not an object", deduct_call("dee", "k", "[1]")),
        ("empty body", deduct_call("dee", "k", "")),
        (
            "missing amount",
            deduct_call("dee", "k", r#"{"reason": "x"}"#),
        ),
        ("zero", deduct_call("dee", "k", r#"{"amount": 0}"#)),
        ("negative", deduct_call("dee", "k", r#"{"amount": -3}"#)),
        ("fractional", deduct_call("dee", "k", r#"{"amount": 1.5}"#)),
        (
            "fraction in exponent form",
            deduct_call("dee", "k", r#"{"amount": 15e-1}"#),
        ),
        ("string", deduct_call("dee", "k", r#"{"amount": "1"}"#)),
        ("null", deduct_call("dee", "k", r#"{"amount": null}"#)),
        (
            "over the maximum",
            deduct_call("dee", "k", r#"{"amount": 1000001}"#),
        ),
        (
            "huge",
            deduct_call("dee", "k", r#"{"amount": 99999999999999999999999}"#),
        ),
        ("exponent", deduct_call("dee", "k", r#"{"amount": 1e30}"#)),
        (
            "unknown field",
            deduct_call("dee", "k", r#"{"amount": 1, "user_id": "eve"}"#),
        ),
        (
            "reason not a string",
            deduct_call("dee", "k", r#"{"amount": 1, "reason": 7}"#),
        ),
        (
            "reason too long",
            deduct_call(
                "dee",
                "k",
                &format!(r#"{{"amount": 1, "reason": "{}"}}"#, "r".repeat(201)),
            ),
        ),
        ("oversized body", deduct_call("dee", "k", &huge_body)),
        (
            "over-long key",
            deduct_call("dee", &long_key, r#"{"amount": 1}"#),
        ),
        (
            "key with a space",
            deduct_call("dee", "a b", r#"{"amount": 1}"#),
        ),
        (
            "missing key",
            ApiCall::new("POST", "/credits/deduct")
                .user("dee")
                .body(r#"{"amount": 1}"#),
        ),
    ];
    for (what, c) in cases {
        let (status, body) = call(&app, c).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(body["error"]["code"], "invalid_request", "{what}");
        assert!(
            !body["error"]["message"].as_str().unwrap().is_empty(),
            "{what}"
        );
    }
    assert_eq!(state(&app, "dee").await, (5, vec![("grant".to_owned(), 5)]));
}

#[tokio::test]
async fn no_token_is_a_401_even_with_a_user_in_the_body() {
    let app = isolated_app("deduct-401").await;
    let c = ApiCall::new("POST", "/credits/deduct")
        .header("idempotency-key", "k")
        .body(r#"{"amount": 1, "user_id": "eve"}"#);
    let (status, body) = call(&app, c).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    assert_eq!(
        state(&app, "eve").await.1.len(),
        1,
        "eve's account was not touched"
    );
}

#[tokio::test]
async fn a_repeated_key_replays_the_first_answer_and_another_body_conflicts() {
    let app = isolated_app("deduct-idem").await;
    let (s1, first) = call(&app, deduct_call("fay", "order-7", r#"{"amount": 3}"#)).await;
    let (s2, again) = call(&app, deduct_call("fay", "order-7", r#"{"amount": 3}"#)).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(first, again);
    let (s3, conflict) = call(&app, deduct_call("fay", "order-7", r#"{"amount": 4}"#)).await;
    assert_eq!(s3, 409, "{conflict}");
    assert_eq!(conflict["error"]["code"], "idempotency_conflict");
    let (s4, _) = call(
        &app,
        deduct_call("fay", "order-7", r#"{"amount": 3, "reason": "x"}"#),
    )
    .await;
    assert_eq!(s4, 409);
    assert_eq!(state(&app, "fay").await.0, 2);
    // Replayed even once the balance could no longer pay for it.
    call(&app, deduct_call("fay", "order-8", r#"{"amount": 2}"#)).await;
    let (s5, late) = call(&app, deduct_call("fay", "order-7", r#"{"amount": 3}"#)).await;
    assert_eq!((s5, &late), (200, &first));
    assert_eq!(state(&app, "fay").await.0, 0);
}

#[tokio::test]
async fn keys_belong_to_their_user() {
    let app = isolated_app("deduct-keys").await;
    call(&app, deduct_call("gus", "shared-key", r#"{"amount": 1}"#)).await;
    let (status, body) = call(&app, deduct_call("hal", "shared-key", r#"{"amount": 2}"#)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], "hal");
    assert_eq!(
        (state(&app, "gus").await.0, state(&app, "hal").await.0),
        (4, 3)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_deducts_of_one_on_five_credits_spend_exactly_five() {
    let app = Arc::new(isolated_app("deduct-race").await);
    // Open the account first so that every request races on the same balance.
    state(&app, "ivy").await;
    let mut set = JoinSet::new();
    for i in 0..50 {
        let app = app.clone();
        set.spawn(async move {
            call(
                &app,
                deduct_call("ivy", &format!("k-{i}"), r#"{"amount": 1}"#),
            )
            .await
            .0
        });
    }
    let statuses: Vec<u16> = set.join_all().await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 402).count();
    assert_eq!((ok, refused), (5, 45), "{statuses:?}");
    let (balance, ledger) = state(&app, "ivy").await;
    assert_eq!(balance, 0);
    assert_eq!(
        ledger.iter().filter(|(kind, _)| kind == "deduct").count(),
        5
    );
    assert_eq!(
        ledger.iter().map(|(_, a)| a).sum::<i64>(),
        0,
        "the ledger adds up to the balance"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_retries_of_one_key_deduct_once() {
    let app = Arc::new(isolated_app("deduct-same-key").await);
    let mut set = JoinSet::new();
    for _ in 0..10 {
        let app = app.clone();
        set.spawn(async move { call(&app, deduct_call("jo", "same", r#"{"amount": 2}"#)).await });
    }
    let answers = set.join_all().await;
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    assert!(
        answers.iter().all(|(_, b)| *b == answers[0].1),
        "every retry gets the first answer"
    );
    assert_eq!(answers[0].1["balance"], json!(3));
    let (balance, ledger) = state(&app, "jo").await;
    assert_eq!(balance, 3);
    assert_eq!(ledger.iter().filter(|(k, _)| k == "deduct").count(), 1);
}

/// JSON Schema's `integer` (the OpenAPI document's type for `amount`) is any number without a
/// fractional part; schemathesis sent `2.0` and found it refused. It is the same deduct as `2`.
#[tokio::test]
async fn a_whole_number_in_float_syntax_is_that_number() {
    let app = isolated_app("deduct-float-syntax").await;
    let (status, body) = call(&app, deduct_call("flo", "k-1", r#"{"amount": 2.0}"#)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deducted"], 2);
    let (status, body) = call(&app, deduct_call("flo", "k-2", r#"{"amount": 1e0}"#)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["balance"], 2);
    // The same key with `2` is the same request: replayed, not a conflict.
    let (status, body) = call(&app, deduct_call("flo", "k-1", r#"{"amount": 2}"#)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(state(&app, "flo").await.0, 2);
}
