//! Arbitrary input on every API request body, header and parameter a user controls: never a
//! panic, never a 5xx. `scripts/fuzz` runs these with many more cases
//! (`CREDITS_FUZZ_CASES`); the test command runs a few.

use std::sync::OnceLock;

use credits::app::App;
use credits_e2e::{answer, keyed, on_hold};
use credits_testkit::ApiCall;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("CREDITS_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(24)
}

/// One runtime and one App for every case (the emulator is shared and slow to set up).
fn rig() -> &'static (tokio::runtime::Runtime, App) {
    static RIG: OnceLock<(tokio::runtime::Runtime, App)> = OnceLock::new();
    RIG.get_or_init(|| {
        let rt = tokio::runtime::Runtime::new().expect("a runtime");
        let app = rt.block_on(credits_testkit::isolated_app("fuzz"));
        (rt, app)
    })
}

fn check(call: ApiCall) -> Result<(), TestCaseError> {
    let (rt, app) = rig();
    let (status, _, body) = rt.block_on(answer(app, &call));
    prop_assert!(status < 500, "{} answered {status}: {body}", call.route_key);
    prop_assert!(
        body["error"]["code"].is_string() || status < 300,
        "{status} {body}"
    );
    Ok(())
}

/// Bytes, or text close to a valid body (the interesting cases for a JSON parser).
fn body() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        "[ -~]{0,12}".prop_map(|s| format!("{s:?}")),
        Just("null".to_owned()),
        Just("1e3".to_owned()),
        Just("[1]".to_owned()),
        Just("{}".to_owned()),
        "[ -~]{0,8}",
    ];
    let key = prop_oneof![
        Just("amount"),
        Just("reason"),
        Just("ttl_seconds"),
        Just("user_id"),
        Just("AMOUNT"),
        Just(""),
    ];
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..600),
        "\\PC{0,200}".prop_map(String::into_bytes),
        proptest::collection::vec((key, value), 0..4).prop_map(|fields| {
            let inner: Vec<String> = fields.iter().map(|(k, v)| format!("{k:?}: {v}")).collect();
            format!("{{{}}}", inner.join(", ")).into_bytes()
        }),
    ]
}

/// Header values a client can send (visible ASCII and beyond).
fn header_value() -> impl Strategy<Value = String> {
    prop_oneof!["[!-~]{0,300}", "[ -~]{0,20}"]
}

fn user() -> impl Strategy<Value = String> {
    "[a-z]{1,3}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn deduct_takes_any_body_and_key(user in user(), key in header_value(), body in body()) {
        let call = ApiCall::new("POST", "/credits/deduct").user(&user).body(body);
        let call = if key.is_empty() { call } else { call.header("idempotency-key", &key) };
        check(call)?;
    }

    #[test]
    fn holds_take_any_body(user in user(), body in body()) {
        check(keyed("POST", "/credits/holds", &user, "fuzz-key", "").body(body))?;
    }

    #[test]
    fn commit_and_release_take_any_id_and_body(user in user(), id in "[A-Za-z0-9_.~%-]{1,20}|h_[0-9]{12}|h_[0-9]{1,14}", body in body()) {
        check(on_hold("POST", &user, &id, "/commit", "").body(body))?;
        check(on_hold("DELETE", &user, &id, "", ""))?;
    }

    #[test]
    fn transactions_take_any_query(user in user(), query in "[A-Za-z0-9=&_%.+-]{0,60}") {
        let target = format!("/credits/transactions?{}", query);
        let mut call = ApiCall::new("GET", &target).user(&user);
        call.route_key = "GET /credits/transactions".into();
        check(call)?;
    }
}

/// The webhook's body and signature: arbitrary bytes, signed correctly or not, never a panic or
/// a 5xx (a 5xx tells Stripe to retry: for garbage that would never end).
fn deliver(body: Vec<u8>, signature: String) -> Result<(), TestCaseError> {
    let (rt, app) = rig();
    let hook = webhook::Webhook {
        secret: webhook::SigningSecret::new("whsec_fuzz"),
        prices: credits::stripe::PriceMap::default(),
        line_items: None,
    };
    let call = ApiCall {
        route_key: "$default".into(),
        ..ApiCall::new("POST", "/")
    }
    .header("stripe-signature", &signature)
    .body(body);
    let response = rt.block_on(webhook::handle(app, &hook, call.request()));
    let (status, body) = credits_testkit::response_json(response);
    prop_assert!(status < 500, "webhook answered {status}: {body}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_webhook_takes_any_signed_body(body in body()) {
        let text = String::from_utf8_lossy(&body).into_owned();
        let signature = webhook::sign("whsec_fuzz", chrono::Utc::now().timestamp(), &text);
        deliver(text.into_bytes(), signature)?;
    }

    #[test]
    fn the_webhook_takes_any_signature_header(body in body(), signature in "[ -~]{0,200}") {
        deliver(body, signature)?;
    }
}
