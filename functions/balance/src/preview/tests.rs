//! The preview route called in process, against the emulator: its answer is what the plan
//! change does when it applies at the same time, and it writes nothing.

use chrono::{DateTime, Utc};
use credits::account::UserId;
use credits::app::App;
use credits::clock::Clock;
use credits::plan::Plan;
use credits::rules;
use credits::service::Deduct;
use credits_testkit::{ApiCall, isolated_app, response_json};
use serde_json::Value;

use crate::handle;

/// 24 November 2026: 7 of November's 30 days are left, today included.
fn at() -> DateTime<Utc> {
    "2026-11-24T09:30:00Z".parse().unwrap()
}

async fn app(tag: &str) -> App {
    isolated_app(tag).await.with_clock(Clock::fixed(at()))
}

async fn preview(app: &App, user: &str, query: &str) -> (u16, Value) {
    let call = ApiCall::new("GET", &format!("/credits/preview{query}")).user(user);
    response_json(handle(app, call.request()).await)
}

/// Moves `user` to `plan` as a Stripe plan change does.
async fn change_plan(app: &App, user: &str, plan: Plan) -> credits::account::Account {
    let u = UserId::parse(user).unwrap();
    let now = app.clock.now();
    app.service
        .apply(&u, now, |current| {
            Ok(rules::change_plan(current, &u, plan, "evt_test", now))
        })
        .await
        .unwrap()
        .account
}

async fn spend(app: &App, user: &str, amount: i64) {
    let cmd = Deduct {
        amount,
        priced: None,
        reason: None,
        key: "spend",
        request: "spend",
    };
    let u = UserId::parse(user).unwrap();
    app.service
        .deduct(&u, &cmd, &credits::flags::Flags::DEFAULT, app.clock.now())
        .await
        .unwrap();
}

async fn stored(app: &App, user: &str) -> Option<credits::store::Stored> {
    let u = UserId::parse(user).unwrap();
    app.service.store().read_account(&u).await.unwrap()
}

#[tokio::test]
async fn a_never_seen_user_previews_an_upgrade_from_free_and_nothing_is_opened() {
    let app = app("preview-new").await;
    let (status, body) = preview(&app, "nia", "?plan=pro_yearly").await;
    assert_eq!(status, 200, "{body}");
    // (150 - 5) * 7 / 30 = 33.8: 33 monthly credits at once.
    assert_eq!(
        body,
        serde_json::json!({
            "plan": "free", "target_plan": "pro_yearly", "change": "upgrade",
            "granted": 33, "capped": 0, "balance": 5, "balance_after": 38,
            "held": 0, "held_after": 0, "next_allowance": 150,
            "resets_at": "2026-12-01T00:00:00Z",
        })
    );
    assert_eq!(stored(&app, "nia").await, None, "a preview opens nothing");
    // Applying the change now gives what the preview said.
    let after = change_plan(&app, "nia", Plan::ProYearly).await;
    assert_eq!(after.balance(), 38);
}

#[tokio::test]
async fn a_downgrade_previews_the_cap_the_change_applies_and_writes_nothing() {
    let app = app("preview-down").await;
    change_plan(&app, "lu", Plan::Lifetime).await;
    spend(&app, "lu", 5).await;
    let read = stored(&app, "lu").await.unwrap();
    let (status, body) = preview(&app, "lu", "?plan=pro_monthly").await;
    assert_eq!(status, 200, "{body}");
    let monthly = read.account.monthly;
    assert_eq!(
        (body["plan"].as_str(), body["change"].as_str()),
        (Some("lifetime"), Some("downgrade"))
    );
    assert_eq!(body["granted"], 0);
    assert_eq!(body["capped"], monthly - 100);
    assert_eq!(body["balance"], read.account.balance());
    assert_eq!(body["balance_after"], 100);
    assert_eq!(body["next_allowance"], 100);
    assert_eq!(
        stored(&app, "lu").await.unwrap(),
        read,
        "a preview writes nothing"
    );
    let after = change_plan(&app, "lu", Plan::ProMonthly).await;
    assert_eq!(body["balance_after"], after.balance());
}

#[tokio::test]
async fn previewing_the_current_plan_is_a_change_of_zero() {
    let app = app("preview-same").await;
    change_plan(&app, "sam", Plan::ProMonthly).await;
    let (status, body) = preview(&app, "sam", "?plan=pro_monthly").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["change"], "none");
    assert_eq!((&body["granted"], &body["capped"]), (&0.into(), &0.into()));
    assert_eq!(body["balance_after"], body["balance"]);
    assert_eq!(body["next_allowance"], 100);
}

#[tokio::test]
async fn a_missing_unknown_or_repeated_plan_is_a_400_and_no_token_a_401() {
    let app = app("preview-400").await;
    for query in [
        "",
        "?plan=",
        "?plan=gold",
        "?plan=Pro_Yearly",
        "?plan=pro_yearly&plan=free",
        "?plans=pro_yearly",
    ] {
        let (status, body) = preview(&app, "bad", query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], "invalid_request", "{query}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("plan"),
            "{query}: {body}"
        );
    }
    let call = ApiCall::new("GET", "/credits/preview?plan=pro_yearly");
    let (status, body) = response_json(handle(&app, call.request()).await);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    assert_eq!(stored(&app, "bad").await, None);
}
