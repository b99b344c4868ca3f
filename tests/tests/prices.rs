//! Priced features through the local gateway: a deduct and a hold named by feature and quantity,
//! the refusals, the price list in `GET /credits/plans` and the status route, a price change in
//! Parameter Store taking effect after the cache time, an invalid list keeping the last good
//! one, and replays.

use std::time::Duration;

use credits_e2e::{Reply, Stack};
use serde_json::{Value, json};

async fn put_prices(stack: &Stack, value: &str) {
    let prefix = &stack.gateway.app().config.parameter_prefix;
    aws_sdk_ssm::Client::new(&credits::config::aws_for_tools().await)
        .put_parameter()
        .name(credits::prices::parameter_name(prefix))
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .expect("put-parameter --overwrite");
}

async fn hold(stack: &Stack, token: &str, key: &str, body: &str) -> Reply {
    let auth = format!("Bearer {token}");
    let headers = [
        ("authorization", auth.as_str()),
        ("idempotency-key", key),
        ("content-type", "application/json"),
    ];
    stack.send("POST", "/credits/holds", &headers, body).await
}

/// The newest ledger entry of a `kind`.
async fn newest(stack: &Stack, token: &str, kind: &str) -> Value {
    let page = stack.get("/credits/transactions", Some(token)).await.json;
    page["items"]
        .as_array()
        .and_then(|items| items.iter().find(|e| e["type"] == kind).cloned())
        .unwrap_or(Value::Null)
}

fn features(plans: &Value) -> Value {
    plans["features"].clone()
}

#[tokio::test]
async fn a_priced_deduct_and_hold_spend_the_price_and_record_it() {
    let stack = Stack::start("e2e-priced").await;
    let plans = stack.get("/credits/plans", None).await;
    assert_eq!(plans.status, 200);
    assert_eq!(
        features(&plans.json),
        json!([{"id": "ai_generation", "unit_price": 10}, {"id": "pdf_export", "unit_price": 3}])
    );

    let ana = stack.token("ana");
    let body = r#"{"feature": "pdf_export", "reason": "invoice"}"#;
    let r = stack.deduct(&ana, "pdf-1", body).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(
        (r.json["deducted"].as_i64(), r.json["balance"].as_i64()),
        (Some(3), Some(2))
    );
    let entry = newest(&stack, &ana, "deduct").await;
    assert_eq!(
        (
            &entry["feature"],
            &entry["quantity"],
            &entry["unit_price"],
            &entry["amount"]
        ),
        (&json!("pdf_export"), &json!(1), &json!(3), &json!(-3))
    );
    assert_eq!(entry["reason"], "invoice");

    // The same key and request: the first answer again, nothing more spent.
    let again = stack.deduct(&ana, "pdf-1", body).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.json, r.json);
    // The key binds the feature and the quantity, not only the amount.
    let other = r#"{"feature": "pdf_export", "quantity": 2, "reason": "invoice"}"#;
    let r = stack.deduct(&ana, "pdf-1", other).await;
    assert_eq!(
        (r.status, r.json["error"]["code"].as_str()),
        (409, Some("idempotency_conflict"))
    );
    let r = stack
        .deduct(&ana, "pdf-1", r#"{"amount": 3, "reason": "invoice"}"#)
        .await;
    assert_eq!(
        (r.status, r.json["error"]["code"].as_str()),
        (409, Some("idempotency_conflict"))
    );

    // A hold of 1 x pdf_export reserves 3 credits and records the feature.
    let bo = stack.token("bo");
    let r = hold(
        &stack,
        &bo,
        "h-1",
        r#"{"feature": "pdf_export", "quantity": 1, "ttl_seconds": 60}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(
        (r.json["amount"].as_i64(), r.json["held"].as_i64()),
        (Some(3), Some(3))
    );
    let entry = newest(&stack, &bo, "hold").await;
    assert_eq!(
        (&entry["feature"], &entry["unit_price"]),
        (&json!("pdf_export"), &json!(3))
    );
    let replay = hold(
        &stack,
        &bo,
        "h-1",
        r#"{"feature": "pdf_export", "ttl_seconds": 60}"#,
    )
    .await;
    assert_eq!(
        (replay.status, &replay.json),
        (201, &r.json),
        "quantity 1 is the default"
    );
    // Two units cost more than the 2 credits left: a 402 naming the price.
    let r = hold(
        &stack,
        &bo,
        "h-2",
        r#"{"feature": "pdf_export", "quantity": 2}"#,
    )
    .await;
    assert_eq!((r.status, r.json["required"].as_i64()), (402, Some(6)));
}

#[tokio::test]
async fn unknown_features_and_malformed_bodies_are_refused_and_change_nothing() {
    let stack = Stack::start("e2e-priced-bad").await;
    let cy = stack.token("cy");
    for (what, body, code) in [
        (
            "unknown feature",
            r#"{"feature": "video"}"#,
            "unknown_feature",
        ),
        (
            "both",
            r#"{"amount": 1, "feature": "pdf_export"}"#,
            "invalid_request",
        ),
        ("neither", r#"{"reason": "x"}"#, "invalid_request"),
        ("quantity alone", r#"{"quantity": 2}"#, "invalid_request"),
        (
            "quantity with an amount",
            r#"{"amount": 1, "quantity": 2}"#,
            "invalid_request",
        ),
        (
            "quantity zero",
            r#"{"feature": "pdf_export", "quantity": 0}"#,
            "invalid_request",
        ),
        (
            "quantity fractional",
            r#"{"feature": "pdf_export", "quantity": 1.5}"#,
            "invalid_request",
        ),
        (
            "feature not a name",
            r#"{"feature": "PDF export"}"#,
            "invalid_request",
        ),
        (
            "over a million credits",
            r#"{"feature": "ai_generation", "quantity": 100001}"#,
            "invalid_request",
        ),
    ] {
        let r = stack.deduct(&cy, "k", body).await;
        assert_eq!(
            (r.status, r.json["error"]["code"].as_str()),
            (400, Some(code)),
            "deduct {what}: {:?}",
            r.json
        );
        let r = hold(&stack, &cy, "k", body).await;
        assert_eq!(
            (r.status, r.json["error"]["code"].as_str()),
            (400, Some(code)),
            "hold {what}: {:?}",
            r.json
        );
    }
    let r = stack.deduct(&cy, "k", r#"{"feature": "video"}"#).await;
    assert_eq!(r.json["feature"], "video");
    let balance = stack.get("/credits/balance", Some(&cy)).await.json;
    assert_eq!(
        (balance["balance"].as_i64(), balance["held"].as_i64()),
        (Some(5), Some(0))
    );
    // The key was never used: it spends now.
    let r = stack.deduct(&cy, "k", r#"{"feature": "pdf_export"}"#).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
}

#[tokio::test]
async fn a_new_price_applies_after_the_cache_time_and_an_invalid_list_keeps_the_last_good() {
    let ttl = Duration::from_secs(1);
    let stack = Stack::start_with("e2e-prices-change", |c| c.flag_ttl = ttl).await;
    let di = stack.token("di");
    let first = stack
        .deduct(&di, "p-1", r#"{"feature": "pdf_export"}"#)
        .await;
    assert_eq!(first.json["deducted"], 3);

    put_prices(&stack, r#"{"pdf_export": 1, "ai_generation": 10}"#).await;
    let plans = stack.get("/credits/plans", None).await.json;
    assert_eq!(features(&plans)[1]["unit_price"], 3, "still cached");
    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    let plans = stack.get("/credits/plans", None).await.json;
    assert_eq!(
        features(&plans)[1],
        json!({"id": "pdf_export", "unit_price": 1})
    );
    let r = stack
        .deduct(&di, "p-2", r#"{"feature": "pdf_export"}"#)
        .await;
    assert_eq!(
        (r.json["deducted"].as_i64(), r.json["balance"].as_i64()),
        (Some(1), Some(1))
    );
    // A retry of the first spend answers what it cost then, and spends nothing.
    let replay = stack
        .deduct(&di, "p-1", r#"{"feature": "pdf_export"}"#)
        .await;
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(replay.json, first.json);

    let status = stack.get("/credits/status", None).await.json;
    assert_eq!(status["prices"]["source"], "parameter_store");
    put_prices(&stack, r#"{"pdf_export": 0}"#).await;
    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    let status = stack.get("/credits/status", None).await.json;
    assert_eq!(status["prices"]["source"], "last_good", "{status}");
    let error = status["prices"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("\"pdf_export\" must cost"), "{error}");
    assert_eq!(
        status["flag"]["source"], "parameter_store",
        "the flags are unaffected"
    );
    let r = stack
        .deduct(&di, "p-3", r#"{"feature": "pdf_export"}"#)
        .await;
    assert_eq!(
        (r.status, r.json["deducted"].as_i64()),
        (200, Some(1)),
        "{:?}",
        r.json
    );
    let plans = stack.get("/credits/plans", None).await.json;
    assert_eq!(features(&plans)[1]["unit_price"], 1);

    put_prices(&stack, r#"{"pdf_export": 2}"#).await;
    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    let status = stack.get("/credits/status", None).await.json;
    assert_eq!(status["prices"]["source"], "parameter_store");
    assert!(status["prices"].get("error").is_none());
    let plans = stack.get("/credits/plans", None).await.json;
    assert_eq!(
        features(&plans),
        json!([{"id": "pdf_export", "unit_price": 2}])
    );
}

#[tokio::test]
async fn with_no_price_list_read_a_priced_spend_is_a_503_and_an_amount_still_spends() {
    let stack = Stack::start("e2e-prices-none").await;
    let prefix = stack.gateway.app().config.parameter_prefix.clone();
    aws_sdk_ssm::Client::new(&credits::config::aws_for_tools().await)
        .delete_parameter()
        .name(credits::prices::parameter_name(&prefix))
        .send()
        .await
        .expect("delete-parameter");
    let ed = stack.token("ed");
    let r = stack
        .deduct(&ed, "k-1", r#"{"feature": "pdf_export"}"#)
        .await;
    assert_eq!(
        (r.status, r.json["error"]["code"].as_str()),
        (503, Some("service_unavailable"))
    );
    assert_eq!(r.headers["retry-after"], "1");
    let r = stack.deduct(&ed, "k-2", r#"{"amount": 1}"#).await;
    assert_eq!((r.status, r.json["balance"].as_i64()), (200, Some(4)));
    let status = stack.get("/credits/status", None).await.json;
    assert_eq!(status["prices"]["source"], "default");
    assert!(
        status["prices"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("not found")),
        "{status}"
    );
    let plans = stack.get("/credits/plans", None).await.json;
    assert_eq!(features(&plans), json!([]));
}
