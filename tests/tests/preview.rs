//! The preview of a plan change through the local gateway, against the change Stripe then
//! applies: the preview's numbers are what the change does, and previewing writes nothing.

use credits::account::UserId;
use credits_e2e::{Stack, stripe_event, stripe_subscription};

async fn subscription_event(stack: &Stack, id: &str, kind: &str, created: i64, status: &str) {
    let sub = stripe_subscription("sub_pia", "pia", status, "price_pro_yearly");
    let r = stack.stripe(&stripe_event(id, kind, created, sub)).await;
    assert_eq!(r.json["outcome"], "applied", "{}", r.text);
}

#[tokio::test]
async fn a_preview_through_the_gateway_is_what_the_stripe_change_then_does() {
    let stack = Stack::start("e2e-preview").await;
    let token = stack.token("pia");
    let r = stack
        .get("/credits/preview?plan=pro_yearly", Some(&token))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.json["plan"].as_str(), r.json["target_plan"].as_str()),
        (Some("free"), Some("pro_yearly"))
    );
    assert_eq!(r.json["change"], "upgrade");
    assert_eq!(r.json["next_allowance"], 150);
    let granted = r.json["granted"].as_i64().unwrap();
    assert_eq!(r.json["balance_after"].as_i64(), Some(5 + granted));
    let store = stack.gateway.app().service.store();
    let pia = UserId::parse("pia").unwrap();
    assert!(
        store.read_account(&pia).await.unwrap().is_none(),
        "nothing opened"
    );

    let now = chrono::Utc::now().timestamp();
    subscription_event(
        &stack,
        "evt_pia_1",
        "customer.subscription.created",
        now,
        "active",
    )
    .await;
    let balance = stack.get("/credits/balance", Some(&token)).await;
    assert_eq!(balance.json["plan"], "pro_yearly");
    assert_eq!(balance.json["balance"], r.json["balance_after"]);

    let down = stack.get("/credits/preview?plan=free", Some(&token)).await;
    assert_eq!(down.status, 200, "{}", down.text);
    assert_eq!(
        (down.json["change"].as_str(), down.json["granted"].as_i64()),
        (Some("downgrade"), Some(0))
    );
    assert_eq!(down.json["capped"].as_i64(), Some(5 + granted - 5));
    let read = store.read_account(&pia).await.unwrap();
    subscription_event(
        &stack,
        "evt_pia_2",
        "customer.subscription.updated",
        now + 1,
        "canceled",
    )
    .await;
    assert_ne!(store.read_account(&pia).await.unwrap(), read);
    let balance = stack.get("/credits/balance", Some(&token)).await;
    assert_eq!(balance.json["plan"], "free");
    assert_eq!(balance.json["balance"], down.json["balance_after"]);
}

#[tokio::test]
async fn the_preview_needs_a_token_and_a_known_plan() {
    let stack = Stack::start("e2e-preview-400").await;
    let r = stack.get("/credits/preview?plan=pro_yearly", None).await;
    assert_eq!(
        (r.status, r.json["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let token = stack.token("quin");
    for query in ["", "?plan=gold", "?plan=free&plan=lifetime"] {
        let r = stack
            .get(&format!("/credits/preview{query}"), Some(&token))
            .await;
        assert_eq!(
            (r.status, r.json["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{query}: {}",
            r.text
        );
    }
}
