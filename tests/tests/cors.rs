//! CORS through the local gateway, as a browser on another origin meets it: the preflight of
//! every route, and the headers on real answers (errors included, or a page cannot read them).

use credits_e2e::Stack;

const PAGE: &str = "http://localhost:5173";

#[tokio::test]
async fn every_route_answers_the_preflight_of_an_allowed_origin() {
    let stack = Stack::start("cors-preflight").await;
    for route in stack.gateway.routes() {
        let path = route.path.replace("{id}", "h_000000000001");
        let r = stack
            .send(
                "OPTIONS",
                &path,
                &[
                    ("origin", PAGE),
                    ("access-control-request-method", &route.method),
                    (
                        "access-control-request-headers",
                        "authorization,content-type,idempotency-key",
                    ),
                ],
                "",
            )
            .await;
        let key = route.key();
        assert_eq!(r.status, 204, "{key}");
        let h = &r.headers;
        assert_eq!(h["access-control-allow-origin"], PAGE, "{key}");
        let allowed = h["access-control-allow-headers"].to_str().unwrap();
        for name in ["Authorization", "Content-Type", "Idempotency-Key"] {
            assert!(allowed.contains(name), "{key}: {allowed}");
        }
        let methods = h["access-control-allow-methods"].to_str().unwrap();
        assert!(methods.contains(route.method.as_str()), "{key}: {methods}");
    }
}

#[tokio::test]
async fn a_preflight_from_another_site_is_refused() {
    let stack = Stack::start("cors-refused").await;
    let r = stack
        .send(
            "OPTIONS",
            "/credits/deduct",
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "POST"),
            ],
            "",
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(r.headers.get("access-control-allow-origin").is_none());
    let r = stack
        .send(
            "GET",
            "/credits/plans",
            &[("origin", "https://evil.example")],
            "",
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn answers_and_errors_carry_the_origin_and_the_exposed_headers() {
    let stack = Stack::start("cors-answers").await;
    let token = stack.token("cors-user");
    let auth = format!("Bearer {token}");
    let deduct = |key: &'static str, amount: u32| {
        let auth = auth.clone();
        let stack = &stack;
        async move {
            stack
                .send(
                    "POST",
                    "/credits/deduct",
                    &[
                        ("origin", PAGE),
                        ("authorization", &auth),
                        ("idempotency-key", key),
                        ("content-type", "application/json"),
                    ],
                    &format!(r#"{{"amount": {amount}}}"#),
                )
                .await
        }
    };
    let first = deduct("cors-1", 2).await;
    let replay = deduct("cors-1", 2).await;
    let refused = deduct("cors-2", 50).await;
    let no_token = stack
        .send("GET", "/credits/balance", &[("origin", PAGE)], "")
        .await;
    for (what, r, status) in [
        ("deduct", &first, 200),
        ("replay", &replay, 200),
        ("402", &refused, 402),
        ("401", &no_token, 401),
    ] {
        assert_eq!(r.status, status, "{what}: {}", r.text);
        assert_eq!(r.headers["access-control-allow-origin"], PAGE, "{what}");
        let exposed = r.headers["access-control-expose-headers"].to_str().unwrap();
        assert!(exposed.contains("Idempotent-Replayed"), "{what}: {exposed}");
        assert!(exposed.contains("Retry-After"), "{what}: {exposed}");
        assert_eq!(r.headers["vary"], "Origin", "{what}");
    }
    assert_eq!(replay.headers["idempotent-replayed"], "true");
}

#[tokio::test]
async fn the_webhook_function_url_has_no_cors() {
    let stack = Stack::start("cors-webhook").await;
    let r = stack
        .send(
            "POST",
            credits_local::gateway::WEBHOOK_PATH,
            &[("origin", PAGE), ("stripe-signature", "t=1,v1=00")],
            "{}",
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.headers.get("access-control-allow-origin").is_none());
}
