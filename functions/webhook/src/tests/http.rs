//! The HTTP side: signatures, bad bodies, methods, events the product does not handle.

use super::*;

#[tokio::test]
async fn bad_deliveries_are_refused_and_change_nothing() {
    let app = isolated_app("wh-bad").await;
    let object = subscription(
        DAHLIA,
        "sub_z",
        "cus_z",
        Some("zed"),
        "active",
        "price_pro_yearly",
    );
    let body = event(
        DAHLIA,
        "evt_z",
        "customer.subscription.created",
        now(),
        object,
    );
    let t0 = now();
    let good = sign(SECRET, t0, &body);
    let cases: Vec<(&str, ApiCall, &str)> = vec![
        (
            "tampered body",
            signed(&body.replace("pro_yearly", "pro_monthly"), &good),
            "invalid_signature",
        ),
        (
            "wrong secret",
            signed(&body, &sign("whsec_other", now(), &body)),
            "invalid_signature",
        ),
        (
            "missing header",
            ApiCall::new("POST", "/").body(body.clone()),
            "invalid_signature",
        ),
        (
            "garbage header",
            signed(&body, "t=abc,v1=00"),
            "invalid_signature",
        ),
        (
            "too old",
            signed(&body, &sign(SECRET, now() - 301, &body)),
            "invalid_signature",
        ),
        (
            "from the future",
            signed(&body, &sign(SECRET, now() + 400, &body)),
            "invalid_signature",
        ),
        (
            "malformed JSON",
            signed(
                "{\"id\": \"evt_z\",",
                &sign(SECRET, now(), "{\"id\": \"evt_z\","),
            ),
            "invalid_request",
        ),
        (
            "not an event",
            signed("[1,2]", &sign(SECRET, now(), "[1,2]")),
            "invalid_request",
        ),
        (
            "not UTF-8",
            signed("", "t=1,v1=00").body(vec![0xff, 0xfe, b'{']),
            "invalid_request",
        ),
        (
            "huge",
            {
                let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(MAX_BODY_BYTES));
                signed(&huge, &sign(SECRET, now(), &huge))
            },
            "invalid_request",
        ),
    ];
    for (name, call, code) in cases {
        let (status, answer) = send(&app, call).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some(code)),
            "{name}: {answer}"
        );
    }
    let (status, _) = send(&app, ApiCall::new("GET", "/")).await;
    assert_eq!(status, 405);
    nothing_stored(&app, "zed", "evt_z").await;
    // During a secret rotation the header carries several v1 signatures: one match is enough.
    // Both signatures over the same timestamp, as Stripe sends them.
    let old = sign("whsec_old", t0, &body);
    let rotated = format!("{old},v1={}", good.split("v1=").nth(1).unwrap());
    let (status, answer) = send(&app, signed(&body, &rotated)).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("applied")),
        "{answer}"
    );
}

#[tokio::test]
async fn unknown_event_types_and_unpaid_checkouts_are_ignored() {
    let app = isolated_app("wh-ign").await;
    let mut customer = fixture(DAHLIA, "invoice");
    customer["object"] = json!("customer");
    expect(
        &app,
        &event(DAHLIA, "evt_u1", "customer.created", now(), customer),
        "ignored",
    )
    .await;
    let unpaid = fixture(BASIL, "checkout.session");
    expect(
        &app,
        &event(BASIL, "evt_u2", "checkout.session.completed", now(), unpaid),
        "ignored",
    )
    .await;
    expect(
        &app,
        &event(
            BASIL,
            "evt_u3",
            "payment_intent.created",
            now(),
            json!({"id": "pi_x"}),
        ),
        "ignored",
    )
    .await;
    // A paid checkout for a price the map does not know: acknowledged, parked, nothing granted.
    let odd = checkout_payment(DAHLIA, "ode", "price_unknown", "pi_odd", 100);
    expect(
        &app,
        &event(DAHLIA, "evt_u4", "checkout.session.completed", now(), odd),
        "parked",
    )
    .await;
    assert!(
        app.service
            .store()
            .read_account(&UserId::parse("ode").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

#[test]
fn the_secret_is_never_printed() {
    let text = format!("{:?}", hook());
    assert!(!text.contains(SECRET), "{text}");
}
