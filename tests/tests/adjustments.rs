//! Support's routes through the local gateway over HTTP: an administrator looks a user up and
//! adjusts their credits; every refusal changes nothing.

use credits::account::UserId;
use credits_e2e::{Reply, Stack};
use serde_json::{Value, json};

async fn adjust(stack: &Stack, token: &str, user: &str, key: Option<&str>, body: &str) -> Reply {
    let auth = format!("Bearer {token}");
    let mut headers = vec![
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    if let Some(key) = key {
        headers.push(("idempotency-key", key));
    }
    let path = format!("/admin/credits/users/{user}/adjustments");
    stack.send("POST", &path, &headers, body).await
}

async fn look_up(stack: &Stack, token: &str, user: &str, query: &str) -> Reply {
    let path = format!("/admin/credits/users/{user}{query}");
    stack.get(&path, Some(token)).await
}

/// A stack with `user`'s account opened by their own first request, and an admin's token.
async fn with_user(tag: &str, user: &str) -> (Stack, String) {
    let stack = Stack::start(tag).await;
    let r = stack
        .get("/credits/balance", Some(&stack.token(user)))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    let admin = stack.token_in("root", &["admin"]);
    (stack, admin)
}

fn kinds(view: &Value) -> Vec<(&str, i64)> {
    view["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["amount"].as_i64().unwrap()))
        .collect()
}

#[tokio::test]
async fn an_admin_grants_credits_and_the_retry_replays_the_first_answer() {
    let (stack, admin) = with_user("e2e-adjust-ok", "ana").await;
    let body = r#"{"amount": 40, "bucket": "purchased", "reason": "outage credit"}"#;
    let r = adjust(&stack, &admin, "ana", Some("ticket-1"), body).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let entry = &r.json["entry"];
    assert_eq!(
        (&entry["type"], &entry["amount"], &entry["bucket"]),
        (&json!("adjust"), &json!(40), &json!("purchased"))
    );
    assert_eq!(entry["cause"], "admin:root idem:ticket-1");
    assert_eq!(entry["reason"], "outage credit");
    assert_eq!(entry["balance_after"], 45);
    assert_eq!(
        (
            &r.json["account"]["user_id"],
            &r.json["account"]["purchased"]
        ),
        (&json!("ana"), &json!(40))
    );
    assert!(r.headers.get("idempotent-replayed").is_none());

    let again = adjust(&stack, &admin, "ana", Some("ticket-1"), body).await;
    assert_eq!((again.status, &again.text), (201, &r.text));
    assert_eq!(again.headers["idempotent-replayed"], "true");

    // Once in the ledger, as support and as the user see it.
    let view = look_up(&stack, &admin, "ana", "").await;
    assert_eq!(view.status, 200, "{:?}", view.json);
    assert_eq!(kinds(&view.json), [("adjust", 40), ("grant", 5)]);
    assert_eq!(view.json["account"]["balance"], 45);
    let own = stack
        .get("/credits/balance", Some(&stack.token("ana")))
        .await;
    assert_eq!(own.json["purchased"], 40);

    // And the credits spend like any other.
    let r = stack
        .deduct(&stack.token("ana"), "spend-1", r#"{"amount": 45}"#)
        .await;
    assert_eq!((r.status, &r.json["balance"]), (200, &json!(0)));
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_conflict_and_changes_nothing() {
    let (stack, admin) = with_user("e2e-adjust-conflict", "bo").await;
    let first = r#"{"amount": 3, "bucket": "monthly", "reason": "goodwill"}"#;
    assert_eq!(
        adjust(&stack, &admin, "bo", Some("k"), first).await.status,
        201
    );
    let before = look_up(&stack, &admin, "bo", "").await.json;
    for other in [
        r#"{"amount": 4, "bucket": "monthly", "reason": "goodwill"}"#,
        r#"{"amount": 3, "bucket": "purchased", "reason": "goodwill"}"#,
        r#"{"amount": 3, "bucket": "monthly", "reason": "another"}"#,
    ] {
        let r = adjust(&stack, &admin, "bo", Some("k"), other).await;
        assert_eq!(
            (r.status, r.json["error"]["code"].as_str()),
            (409, Some("idempotency_conflict")),
            "{other}"
        );
    }
    assert_eq!(look_up(&stack, &admin, "bo", "").await.json, before);
}

#[tokio::test]
async fn a_bucket_is_never_taken_below_zero() {
    let (stack, admin) = with_user("e2e-adjust-low", "cy").await;
    let before = look_up(&stack, &admin, "cy", "").await.json;
    for (body, bucket, available) in [
        (
            r#"{"amount": -6, "bucket": "monthly", "reason": "fix"}"#,
            "monthly",
            5,
        ),
        (
            r#"{"amount": -1, "bucket": "purchased", "reason": "fix"}"#,
            "purchased",
            0,
        ),
    ] {
        let r = adjust(&stack, &admin, "cy", Some("low-1"), body).await;
        assert_eq!(
            (r.status, r.json["error"]["code"].as_str()),
            (409, Some("insufficient_bucket")),
            "{body}"
        );
        assert_eq!(
            (&r.json["bucket"], &r.json["available"]),
            (&json!(bucket), &json!(available))
        );
    }
    assert_eq!(look_up(&stack, &admin, "cy", "").await.json, before);
    // A refusal is not remembered: the key still serves a correction that fits.
    let fits = r#"{"amount": -5, "bucket": "monthly", "reason": "fix"}"#;
    let r = adjust(&stack, &admin, "cy", Some("low-1"), fits).await;
    assert_eq!((r.status, &r.json["account"]["balance"]), (201, &json!(0)));
}

#[tokio::test]
async fn a_users_own_token_is_forbidden_and_no_token_unauthorized() {
    let (stack, _) = with_user("e2e-adjust-403", "dee").await;
    let user = stack.token("dee");
    let ops = stack.token_in("op", &["operators"]);
    let body = r#"{"amount": 100, "bucket": "purchased", "reason": "me"}"#;
    for token in [&user, &ops] {
        let r = adjust(&stack, token, "dee", Some("k"), body).await;
        assert_eq!(
            (r.status, r.json["error"]["code"].as_str()),
            (403, Some("forbidden"))
        );
        let r = look_up(&stack, token, "dee", "").await;
        assert_eq!(
            (r.status, r.json["error"]["code"].as_str()),
            (403, Some("forbidden"))
        );
    }
    let r = stack.get("/admin/credits/users/dee", None).await;
    assert_eq!(r.status, 401);
    let own = stack.get("/credits/balance", Some(&user)).await;
    assert_eq!(own.json["purchased"], 0);
}

#[tokio::test]
async fn bad_input_is_a_400_and_changes_nothing() {
    let (stack, admin) = with_user("e2e-adjust-400", "eli").await;
    let before = look_up(&stack, &admin, "eli", "").await.json;
    let valid = r#"{"amount": 1, "bucket": "monthly", "reason": "r"}"#;
    let mut cases: Vec<(Option<&str>, String)> =
        vec![(None, valid.into()), (Some("k 1"), valid.into())];
    for body in [
        json!({"amount": 0, "bucket": "monthly", "reason": "r"}),
        json!({"amount": 1.5, "bucket": "monthly", "reason": "r"}),
        json!({"amount": "1", "bucket": "monthly", "reason": "r"}),
        json!({"amount": 1_000_001, "bucket": "monthly", "reason": "r"}),
        json!({"amount": -1_000_001, "bucket": "purchased", "reason": "r"}),
        json!({"amount": 1, "bucket": "held", "reason": "r"}),
        json!({"amount": 1, "reason": "r"}),
        json!({"amount": 1, "bucket": "monthly"}),
        json!({"amount": 1, "bucket": "monthly", "reason": ""}),
        json!({"amount": 1, "bucket": "monthly", "reason": "x".repeat(201)}),
        json!({"amount": 1, "bucket": "monthly", "reason": "r", "user_id": "x"}),
        json!([1]),
    ] {
        cases.push((Some("k"), body.to_string()));
    }
    cases.push((Some("k"), String::new()));
    for (key, body) in &cases {
        let r = adjust(&stack, &admin, "eli", *key, body).await;
        assert_eq!(
            (r.status, r.json["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{key:?} {body}"
        );
    }
    for query in ["?limit=0", "?limit=101", "?cursor=tx_1", "?limit=1&limit=2"] {
        let r = look_up(&stack, &admin, "eli", query).await;
        assert_eq!(r.status, 400, "{query}");
    }
    assert_eq!(look_up(&stack, &admin, "eli", "").await.json, before);
}

#[tokio::test]
async fn a_user_never_seen_is_not_found_and_no_account_is_opened() {
    let stack = Stack::start("e2e-adjust-404").await;
    let admin = stack.token_in("root", &["admin"]);
    let body = r#"{"amount": 10, "bucket": "purchased", "reason": "welcome"}"#;
    for r in [
        look_up(&stack, &admin, "ghost", "").await,
        adjust(&stack, &admin, "ghost", Some("k"), body).await,
    ] {
        assert_eq!(
            (r.status, r.json["error"]["code"].as_str()),
            (404, Some("user_not_found"))
        );
    }
    let ghost = UserId::parse("ghost").unwrap();
    let store = stack.gateway.app().service.store();
    assert_eq!(store.read_account(&ghost).await.unwrap(), None);
    assert_eq!(store.entries(&ghost, 10, None).await.unwrap().entries, []);
}

#[tokio::test]
async fn the_ledger_pages_with_the_cursor_and_keys_never_meet_the_users_own() {
    let (stack, admin) = with_user("e2e-adjust-page", "fay").await;
    // The user's own deduct key "k1" and the admin's "k1" are different requests.
    let r = stack
        .deduct(&stack.token("fay"), "k1", r#"{"amount": 1}"#)
        .await;
    assert_eq!(r.status, 200);
    let body = r#"{"amount": 2, "bucket": "monthly", "reason": "sorry"}"#;
    let r = adjust(&stack, &admin, "fay", Some("k1"), body).await;
    assert_eq!(r.status, 201, "{:?}", r.json);

    let first = look_up(&stack, &admin, "fay", "?limit=2").await;
    assert_eq!(kinds(&first.json), [("adjust", 2), ("deduct", -1)]);
    let cursor = first.json["next_cursor"].as_str().expect("a next page");
    let rest = look_up(&stack, &admin, "fay", &format!("?cursor={cursor}")).await;
    assert_eq!(kinds(&rest.json), [("grant", 5)]);
    assert_eq!(rest.json["next_cursor"], Value::Null);
    assert_eq!(first.json["account"]["balance"], 6);
}

#[tokio::test]
async fn the_service_says_what_it_committed_and_a_replay_commits_nothing() {
    use credits::ledger::{Bucket, EntryKind};
    use credits::service::{Adjust, Answer};
    let (stack, _) = with_user("e2e-adjust-committed", "gus").await;
    let app = stack.gateway.app();
    let (gus, root) = (
        UserId::parse("gus").unwrap(),
        UserId::parse("root").unwrap(),
    );
    let cmd = Adjust {
        admin: &root,
        amount: 7,
        bucket: Bucket::Purchased,
        reason: "r",
        key: "c1",
        request: "c1-request",
    };
    let flags = app.flags.read().await.flags;
    let adjust = || app.service.adjust(&gus, &cmd, &flags, app.clock.now());
    let first = adjust().await.unwrap();
    assert!(matches!(first.answer, Answer::Applied(_)));
    let committed = first.committed.expect("written by this call");
    let entries: Vec<_> = committed
        .entries
        .iter()
        .map(|e| (e.kind, e.amount))
        .collect();
    assert_eq!(entries, [(EntryKind::Adjust, 7)]);
    assert_eq!(committed.account.purchased, 7);
    let again = adjust().await.unwrap();
    assert!(matches!(again.answer, Answer::Replayed(_)));
    assert_eq!(again.committed, None);
}
