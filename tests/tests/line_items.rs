//! A paid checkout without `metadata.price_id`: the webhook's Stripe API client against the
//! local stand-in (`credits_local::stripe_api`), then the whole delivery through the local
//! gateway, signed as Stripe signs it, with the stand-in answering, failing and recovering.

use std::time::Instant;

use credits::account::UserId;
use credits::stripe::PriceMap;
use credits_e2e::Stack;
use credits_e2e::stripe_api::{KEY, StandIn};
use credits_local::stripe_api::Fault;
use serde_json::{Value, json};
use webhook::line_items::{Choice, LookupError, TIMEOUT};

fn prices() -> PriceMap {
    PriceMap::default()
}

fn ungranted(items: &[(&str, u64)]) -> Vec<(String, u64)> {
    items.iter().map(|(p, q)| (p.to_string(), *q)).collect()
}

#[tokio::test]
async fn the_configured_price_is_found_among_the_line_items() {
    let stand_in = StandIn::start().await;
    stand_in
        .api
        .session("cs_one", &[("price_unsold", 1), ("price_lifetime", 1)]);
    let choice = stand_in
        .client(KEY)
        .choose("cs_one", &prices())
        .await
        .unwrap();
    assert_eq!(
        choice,
        Choice {
            price: Some("price_lifetime".into()),
            ungranted: vec![]
        }
    );
    assert_eq!(stand_in.api.calls(), 1);
}

#[tokio::test]
async fn of_several_configured_items_the_first_is_granted_and_the_rest_reported() {
    let stand_in = StandIn::start().await;
    stand_in.api.session(
        "cs_many",
        &[
            ("price_credits_500", 2),
            ("price_unsold", 1),
            ("price_lifetime", 1),
        ],
    );
    let choice = stand_in
        .client(KEY)
        .choose("cs_many", &prices())
        .await
        .unwrap();
    assert_eq!(choice.price.as_deref(), Some("price_credits_500"));
    assert_eq!(
        choice.ungranted,
        ungranted(&[("price_credits_500", 1), ("price_lifetime", 1)])
    );
}

#[tokio::test]
async fn a_session_selling_nothing_configured_chooses_no_price() {
    let stand_in = StandIn::start().await;
    stand_in
        .api
        .session("cs_none", &[("price_unsold", 1), ("price_other", 3)]);
    let choice = stand_in.client(KEY).choose("cs_none", &prices()).await;
    assert_eq!(choice.unwrap(), Choice::default());
}

#[tokio::test]
async fn stripes_refusals_are_errors_with_their_status() {
    let stand_in = StandIn::start().await;
    stand_in.api.session("cs_known", &[("price_lifetime", 1)]);
    let wrong_key = stand_in
        .client("sk_test_not_this_one")
        .choose("cs_known", &prices())
        .await;
    assert!(
        matches!(&wrong_key, Err(LookupError::Status { status: 401, message }) if message.starts_with("Invalid API Key")),
        "{wrong_key:?}"
    );
    let unknown = stand_in.client(KEY).choose("cs_unknown", &prices()).await;
    assert!(
        matches!(&unknown, Err(LookupError::Status { status: 404, .. })),
        "{unknown:?}"
    );
    stand_in.api.set_fault(Fault::Fail);
    let failing = stand_in.client(KEY).choose("cs_known", &prices()).await;
    assert!(
        matches!(&failing, Err(LookupError::Status { status: 500, .. })),
        "{failing:?}"
    );
    // Tried once: Stripe redelivers the event, which is the retry.
    assert_eq!(stand_in.api.calls(), 3);
}

#[tokio::test]
async fn a_hung_api_times_out_and_an_absent_one_fails_at_once() {
    let stand_in = StandIn::start().await;
    stand_in.api.session("cs_slow", &[("price_lifetime", 1)]);
    stand_in.api.set_fault(Fault::Hang);
    let started = Instant::now();
    let hung = stand_in.client(KEY).choose("cs_slow", &prices()).await;
    let took = started.elapsed();
    assert_eq!(hung, Err(LookupError::Timeout(TIMEOUT)));
    assert!(
        took >= TIMEOUT && took < TIMEOUT * 2,
        "answered after {took:?}"
    );

    // A port nothing listens on (the stand-in's, once stopped).
    let base = stand_in.base.clone();
    drop(stand_in);
    tokio::task::yield_now().await;
    let key = webhook::ApiKey::parse(KEY).unwrap();
    let gone = webhook::LineItems::new(&key, Some(&base)).unwrap();
    let started = Instant::now();
    let absent = gone.choose("cs_slow", &prices()).await;
    assert!(
        matches!(&absent, Err(LookupError::Transport(_))),
        "{absent:?}"
    );
    assert!(started.elapsed() < TIMEOUT);
}

/// `checkout.session.completed`, mode `payment`, paid, naming `user` and no price.
fn checkout(event_id: &str, session: &str, user: &str, price: Option<&str>) -> String {
    let mut c: Value = serde_json::from_str(include_str!(
        "../../functions/webhook/tests/fixtures/2026-07-29.dahlia/checkout.session.json"
    ))
    .unwrap();
    c["id"] = json!(session);
    c["mode"] = json!("payment");
    c["status"] = json!("complete");
    c["payment_status"] = json!("paid");
    c["metadata"] = match price {
        Some(price) => json!({"user_id": user, "price_id": price}),
        None => json!({"user_id": user}),
    };
    c["payment_intent"] = json!(format!("pi_{session}"));
    c["amount_total"] = json!(1000);
    json!({
        "id": event_id, "object": "event", "api_version": "2026-07-29.dahlia",
        "created": chrono::Utc::now().timestamp(), "livemode": false, "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": "checkout.session.completed", "data": {"object": c}
    })
    .to_string()
}

/// (plan, purchased) of `user`, from the store.
async fn account(stack: &Stack, user: &str) -> Option<(String, i64)> {
    let user = UserId::parse(user).unwrap();
    let stored = stack
        .gateway
        .app()
        .service
        .store()
        .read_account(&user)
        .await;
    stored
        .unwrap()
        .map(|s| (s.account.plan.id().to_owned(), s.account.purchased))
}

async fn recorded(stack: &Stack, event_id: &str) -> bool {
    let store = stack.gateway.app().service.store();
    store.stripe_event(event_id).await.unwrap().is_some()
}

const SECRET: &str = "whsec_line_items";

fn applied(r: &credits_e2e::Reply) {
    let outcome = r.json["outcome"].as_str();
    assert_eq!((r.status, outcome), (200, Some("applied")), "{}", r.text);
}

#[tokio::test]
async fn a_checkout_without_price_id_grants_what_its_line_items_sold() {
    let stand_in = StandIn::start().await;
    let stack = Stack::start_with_webhook("line-items-grant", stand_in.webhook(SECRET)).await;
    stand_in
        .api
        .session("cs_li_pack", &[("price_credits_100", 1)]);
    stand_in
        .api
        .session("cs_li_life", &[("price_unsold", 1), ("price_lifetime", 1)]);

    let r = stack
        .stripe(&checkout("evt_li_pack", "cs_li_pack", "li-pack", None))
        .await;
    applied(&r);
    assert_eq!(account(&stack, "li-pack").await, Some(("free".into(), 100)));

    let r = stack
        .stripe(&checkout("evt_li_life", "cs_li_life", "li-life", None))
        .await;
    applied(&r);
    assert_eq!(
        account(&stack, "li-life").await,
        Some(("lifetime".into(), 0))
    );
    assert_eq!(stand_in.api.calls(), 2);

    // A checkout that names its price never calls the API.
    let r = stack
        .stripe(&checkout(
            "evt_li_named",
            "cs_li_named",
            "li-named",
            Some("price_credits_200"),
        ))
        .await;
    applied(&r);
    assert_eq!(
        account(&stack, "li-named").await,
        Some(("free".into(), 200))
    );
    assert_eq!(stand_in.api.calls(), 2);
}

#[tokio::test]
async fn a_failed_lookup_is_retried_and_nothing_is_recorded_until_it_succeeds() {
    let stand_in = StandIn::start().await;
    let stack = Stack::start_with_webhook("line-items-retry", stand_in.webhook(SECRET)).await;
    stand_in
        .api
        .session("cs_li_retry", &[("price_credits_100", 1)]);
    let body = checkout("evt_li_retry", "cs_li_retry", "li-retry", None);

    stand_in.api.set_fault(Fault::Fail);
    let r = stack.stripe(&body).await;
    assert_eq!(
        (r.status, r.json["error"]["code"].as_str()),
        (503, Some("service_unavailable")),
        "{}",
        r.text
    );
    assert_eq!(account(&stack, "li-retry").await, None);
    assert!(!recorded(&stack, "evt_li_retry").await);

    // Stripe's redelivery, once the API answers again, applies it once.
    stand_in.api.set_fault(Fault::None);
    let r = stack.stripe(&body).await;
    applied(&r);
    assert_eq!(
        account(&stack, "li-retry").await,
        Some(("free".into(), 100))
    );
    let r = stack.stripe(&body).await;
    assert_eq!(r.json["outcome"], "duplicate", "{}", r.text);
    assert_eq!(
        account(&stack, "li-retry").await,
        Some(("free".into(), 100))
    );
}

#[tokio::test]
async fn without_a_key_a_checkout_without_price_id_is_retried_not_lost() {
    let mut hook = StandIn::start().await.webhook(SECRET);
    hook.line_items = None;
    let stack = Stack::start_with_webhook("line-items-nokey", hook).await;
    let r = stack
        .stripe(&checkout("evt_li_nokey", "cs_li_nokey", "li-nokey", None))
        .await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(account(&stack, "li-nokey").await, None);
    assert!(!recorded(&stack, "evt_li_nokey").await);
}

#[tokio::test]
async fn line_items_selling_nothing_configured_are_answered_as_an_unknown_price() {
    let stand_in = StandIn::start().await;
    let stack = Stack::start_with_webhook("line-items-unsold", stand_in.webhook(SECRET)).await;
    stand_in.api.session("cs_li_unsold", &[("price_unsold", 1)]);
    let looked_up = stack
        .stripe(&checkout(
            "evt_li_unsold",
            "cs_li_unsold",
            "li-unsold",
            None,
        ))
        .await;
    let named = stack
        .stripe(&checkout(
            "evt_li_unknown",
            "cs_li_unknown",
            "li-unknown",
            Some("price_unsold"),
        ))
        .await;
    assert_eq!(stand_in.api.calls(), 1);
    assert_eq!(
        (looked_up.status, &looked_up.json),
        (named.status, &named.json)
    );
    assert_eq!(
        account(&stack, "li-unsold").await.map(|(_, p)| p),
        account(&stack, "li-unknown").await.map(|(_, p)| p)
    );
}
