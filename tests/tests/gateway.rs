//! Through the local gateway over HTTP, as a client calls the API.

use std::sync::Arc;

use credits_e2e::{SECRET, Stack};
use serde_json::json;

#[tokio::test]
async fn balance_and_deduct_end_to_end() {
    let stack = Stack::start("e2e-flow").await;
    let token = stack.token("ana");
    let r = stack.get("/credits/balance", Some(&token)).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(
        (r.json["user_id"].as_str(), r.json["balance"].as_i64()),
        (Some("ana"), Some(5))
    );
    assert_eq!(r.headers["content-type"], "application/json");

    let r = stack
        .deduct(&token, "e2e-1", r#"{"amount": 4, "reason": "report"}"#)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(r.json["balance"], 1);
    let again = stack
        .deduct(&token, "e2e-1", r#"{"amount": 4, "reason": "report"}"#)
        .await;
    assert_eq!((again.status, &again.json), (200, &r.json));
    assert_eq!(again.headers["idempotent-replayed"], "true");

    let r = stack.deduct(&token, "e2e-2", r#"{"amount": 2}"#).await;
    assert_eq!(
        (r.status, r.json["error"]["code"].as_str()),
        (402, Some("insufficient_credits"))
    );

    let r = stack
        .get("/credits/transactions?limit=10", Some(&token))
        .await;
    let kinds: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["deduct", "grant"]);
    assert_eq!(r.json["items"][0]["reason"], "report");
}

#[tokio::test]
async fn the_authorizer_refuses_missing_bad_expired_and_unsigned_tokens() {
    let stack = Stack::start("e2e-auth").await;
    let expired = credits_testkit::user_token(SECRET, "ana", &[], -10);
    let foreign = credits_testkit::user_token("another-secret", "ana", &[], 600);
    let unsigned = {
        let token = stack.token("ana");
        let mut parts: Vec<&str> = token.split('.').collect();
        // {"alg":"none","typ":"JWT"} and no signature.
        parts[0] = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
        format!("{}.{}.", parts[0], parts[1])
    };
    for (what, auth) in [
        ("no header", None),
        ("not a bearer", Some("Basic YW5hOnB3".to_owned())),
        ("garbage", Some("Bearer abc.def.ghi".to_owned())),
        ("expired", Some(format!("Bearer {expired}"))),
        ("wrong secret", Some(format!("Bearer {foreign}"))),
        ("alg none", Some(format!("Bearer {unsigned}"))),
    ] {
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let r = stack.send("GET", "/credits/balance", &headers, "").await;
        assert_eq!(r.status, 401, "{what}");
        assert_eq!(r.json["error"]["code"], "unauthorized", "{what}");
        let r = stack
            .send("POST", "/credits/deduct", &headers, r#"{"amount": 1}"#)
            .await;
        assert_eq!(r.status, 401, "{what}");
    }
}

#[tokio::test]
async fn plans_are_public_and_unknown_routes_are_404() {
    let stack = Stack::start("e2e-public").await;
    let r = stack.get("/credits/plans", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["plans"].as_array().unwrap().len(), 4);
    let r = stack.get("/credits/nowhere", None).await;
    assert_eq!(
        (r.status, r.json["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let r = stack.send("DELETE", "/credits/balance", &[], "").await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn a_token_names_the_user_whatever_the_request_says() {
    let stack = Stack::start("e2e-identity").await;
    let eve = stack.token("eve");
    let r = stack
        .deduct(&eve, "k", r#"{"amount": 1, "user_id": "ana"}"#)
        .await;
    assert_eq!(r.status, 400, "unknown fields are refused");
    let r = stack.get("/credits/balance?user_id=ana", Some(&eve)).await;
    assert_eq!(r.json["user_id"], "eve");
    let ana = stack
        .get("/credits/transactions", Some(&stack.token("ana")))
        .await;
    assert_eq!(
        ana.json["items"].as_array().unwrap().len(),
        1,
        "ana only has her opening grant"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deducts_over_http_never_overspend() {
    let stack = Arc::new(Stack::start("e2e-race").await);
    let token = Arc::new(stack.token("ivy"));
    stack.get("/credits/balance", Some(&token)).await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..50 {
        let (stack, token) = (stack.clone(), token.clone());
        set.spawn(async move {
            stack
                .deduct(&token, &format!("k{i}"), r#"{"amount": 1}"#)
                .await
                .status
        });
    }
    let statuses = set.join_all().await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 402).count(),
        45,
        "{statuses:?}"
    );
    let r = stack.get("/credits/balance", Some(&token)).await;
    assert_eq!(r.json["balance"], json!(0));
}

#[tokio::test]
async fn holds_through_the_gateway_bind_the_path_parameter() {
    let stack = Stack::start("e2e-holds").await;
    let token = stack.token("lee");
    let auth = format!("Bearer {token}");
    let r = stack
        .send(
            "POST",
            "/credits/holds",
            &[("authorization", &auth), ("idempotency-key", "h1")],
            r#"{"amount": 3}"#,
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let id = r.json["hold_id"].as_str().unwrap().to_owned();
    let r = stack
        .send(
            "POST",
            &format!("/credits/holds/{id}/commit"),
            &[("authorization", &auth)],
            r#"{"amount": 1}"#,
        )
        .await;
    assert_eq!(
        (
            r.status,
            r.json["deducted"].as_i64(),
            r.json["balance"].as_i64()
        ),
        (200, Some(1), Some(4))
    );
    let r = stack
        .send(
            "DELETE",
            &format!("/credits/holds/{id}"),
            &[("authorization", &auth)],
            "",
        )
        .await;
    assert_eq!(
        (r.status, r.json["error"]["code"].as_str()),
        (409, Some("hold_closed"))
    );
    let other = format!("Bearer {}", stack.token("max"));
    let r = stack
        .send(
            "DELETE",
            &format!("/credits/holds/{id}"),
            &[("authorization", &other)],
            "",
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn every_authorized_route_refuses_expired_foreign_and_unsigned_tokens() {
    let stack = Stack::start("e2e-auth-all").await;
    let expired = credits_testkit::user_token(SECRET, "ana", &[], -10);
    let foreign = credits_testkit::user_token("another-secret", "ana", &[], 600);
    let unsigned = {
        let token = stack.token("ana");
        let claims = token.split('.').nth(1).unwrap().to_owned();
        format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{claims}.")
    };
    let routes: Vec<_> = stack
        .gateway
        .routes()
        .iter()
        .filter(|r| r.authorized)
        .cloned()
        .collect();
    assert!(routes.len() >= 6, "{routes:?}");
    for route in routes {
        let path = route.path.replace("{id}", "h_000000000002");
        for (what, token) in [
            ("expired", &expired),
            ("wrong secret", &foreign),
            ("alg none", &unsigned),
        ] {
            let auth = format!("Bearer {token}");
            let r = stack
                .send(
                    &route.method,
                    &path,
                    &[("authorization", &auth), ("idempotency-key", "k")],
                    r#"{"amount": 1}"#,
                )
                .await;
            assert_eq!(r.status, 401, "{} with {what}", route.key());
        }
    }
    // Nothing was opened for the user those tokens named.
    let r = stack
        .get("/credits/transactions", Some(&stack.token("ana")))
        .await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_user_can_neither_see_nor_touch_another_users_holds() {
    let stack = Stack::start("e2e-holds-owner").await;
    let (ana, eve) = (
        format!("Bearer {}", stack.token("ana")),
        format!("Bearer {}", stack.token("eve")),
    );
    let r = stack
        .send(
            "POST",
            "/credits/holds",
            &[("authorization", &ana), ("idempotency-key", "same-key")],
            r#"{"amount": 4}"#,
        )
        .await;
    assert_eq!(r.status, 201);
    let id = r.json["hold_id"].as_str().unwrap().to_owned();
    // Eve names Ana's hold in the path, in the body, in the query, and reuses Ana's key.
    for (method, path, body) in [
        ("POST", format!("/credits/holds/{id}/commit"), ""),
        (
            "POST",
            format!("/credits/holds/{id}/commit"),
            r#"{"amount": 4}"#,
        ),
        ("DELETE", format!("/credits/holds/{id}"), ""),
        ("DELETE", format!("/credits/holds/{id}?user_id=ana"), ""),
    ] {
        let r = stack
            .send(method, &path, &[("authorization", &eve)], body)
            .await;
        assert_eq!(r.status, 404, "{method} {path}");
    }
    let r = stack
        .send(
            "POST",
            "/credits/holds",
            &[("authorization", &eve), ("idempotency-key", "same-key")],
            r#"{"amount": 4, "user_id": "ana"}"#,
        )
        .await;
    assert_eq!(r.status, 400, "a user field is refused");
    let r = stack
        .send(
            "POST",
            "/credits/holds",
            &[("authorization", &eve), ("idempotency-key", "same-key")],
            r#"{"amount": 4}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.json["user_id"].as_str()),
        (201, Some("eve")),
        "the key is Eve's own, not a replay of Ana's answer"
    );
    let r = stack
        .get(
            "/credits/transactions?user_id=ana",
            Some(&stack.token("eve")),
        )
        .await;
    let kinds: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["hold", "grant"],
        "Eve's own ledger, whatever the query says"
    );
    // Ana's hold is still hers, open, with her 4 credits held.
    let r = stack
        .get("/credits/balance", Some(&stack.token("ana")))
        .await;
    assert_eq!(
        (r.json["balance"].as_i64(), r.json["held"].as_i64()),
        (Some(1), Some(4))
    );
    let r = stack
        .send(
            "DELETE",
            &format!("/credits/holds/{id}"),
            &[("authorization", &ana)],
            "",
        )
        .await;
    assert_eq!((r.status, r.json["released"].as_i64()), (200, Some(4)));
}
