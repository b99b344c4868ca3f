//! The handler called in process, against the emulator through the real SDK.

use chrono::{Datelike, Utc};
use credits::account::UserId;
use credits::app::App;
use credits::service::Deduct;
use credits_testkit::{ApiCall, isolated_app, response_json};
use serde_json::Value;

use super::handle;

async fn call(app: &App, call: ApiCall) -> (u16, Value) {
    response_json(handle(app, call.request()).await)
}

async fn spend(app: &App, user: &str, amount: i64, key: &str) {
    let user = UserId::parse(user).unwrap();
    let cmd = Deduct {
        amount,
        priced: None,
        reason: None,
        key,
        request: key,
    };
    app.service
        .deduct(&user, &cmd, &credits::flags::Flags::DEFAULT, Utc::now())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_new_user_sees_this_periods_five_free_credits() {
    let app = isolated_app("balance-new").await;
    let (status, body) = call(&app, ApiCall::new("GET", "/credits/balance").user("ana")).await;
    assert_eq!(status, 200, "{body}");
    let now = Utc::now();
    assert_eq!(body["user_id"], "ana");
    assert_eq!(body["plan"], "free");
    assert_eq!(
        body["period"],
        format!("{:04}-{:02}", now.year(), now.month())
    );
    assert_eq!(body["balance"], 5);
    assert_eq!(body["monthly"]["allowance"], 5);
    assert_eq!(body["monthly"]["remaining"], 5);
    assert!(
        body["monthly"]["resets_at"]
            .as_str()
            .unwrap()
            .ends_with("-01T00:00:00Z")
    );
    assert_eq!(
        (body["purchased"].clone(), body["held"].clone()),
        (0.into(), 0.into())
    );
    assert_eq!(body["version"], "v1");
    // Reading again opens nothing new: one grant in the ledger.
    call(&app, ApiCall::new("GET", "/credits/balance").user("ana")).await;
    let (_, page) = call(
        &app,
        ApiCall::new("GET", "/credits/transactions").user("ana"),
    )
    .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["type"], "grant");
}

#[tokio::test]
async fn no_token_is_a_401_in_the_contracts_shape() {
    let app = isolated_app("balance-401").await;
    for target in ["/credits/balance", "/credits/transactions"] {
        let (status, body) = call(&app, ApiCall::new("GET", target)).await;
        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "unauthorized");
        assert!(body["error"]["message"].is_string());
    }
}

#[tokio::test]
async fn transactions_page_newest_first_with_a_cursor() {
    let app = isolated_app("balance-pages").await;
    for i in 0..4 {
        spend(&app, "bo", 1, &format!("k{i}")).await;
    }
    // 1 grant + 4 deducts = 5 entries; pages of 2.
    let mut seen = Vec::new();
    let mut target = "/credits/transactions?limit=2".to_owned();
    loop {
        let (status, page) = call(&app, ApiCall::new("GET", &target).user("bo")).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => target = format!("/credits/transactions?limit=2&cursor={c}"),
            None => break,
        }
    }
    let expected: Vec<String> = (1..=5).rev().map(|n| format!("tx_{n:012}")).collect();
    assert_eq!(seen, expected);
    let (_, first) = call(
        &app,
        ApiCall::new("GET", "/credits/transactions?limit=1").user("bo"),
    )
    .await;
    let newest = &first["items"][0];
    assert_eq!(
        (newest["type"].as_str(), newest["amount"].as_i64()),
        (Some("deduct"), Some(-1))
    );
    assert_eq!(newest["balance_after"], 1);
}

#[tokio::test]
async fn bad_limits_and_cursors_are_400s() {
    let app = isolated_app("balance-400").await;
    for q in [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=1.5",
        "limit=ten",
        "limit=",
        "limit=1&limit=2",
        "cursor=abc",
        "cursor=tx_1",
        "cursor=tx_00000000000x",
    ] {
        let (status, body) = call(
            &app,
            ApiCall::new("GET", &format!("/credits/transactions?{q}")).user("cy"),
        )
        .await;
        assert_eq!(status, 400, "{q}: {body}");
        assert_eq!(body["error"]["code"], "invalid_request", "{q}");
    }
}

#[tokio::test]
async fn another_users_entries_are_never_listed() {
    let app = isolated_app("balance-isolation").await;
    spend(&app, "dee", 2, "k").await;
    let (_, page) = call(
        &app,
        ApiCall::new("GET", "/credits/transactions?user_id=dee").user("eve"),
    )
    .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        1,
        "eve sees only her own opening grant: {page}"
    );
    assert_eq!(items[0]["type"], "grant");
}

#[tokio::test]
async fn plans_list_allowances_and_v1_packages() {
    let app = isolated_app("balance-plans").await;
    let (status, body) = call(&app, ApiCall::new("GET", "/credits/plans")).await;
    assert_eq!(status, 200);
    let plans: Vec<(String, i64)> = body["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["monthly_credits"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        plans,
        [
            ("free", 5),
            ("pro_monthly", 100),
            ("pro_yearly", 150),
            ("lifetime", 500)
        ]
        .map(|(i, c)| (i.to_owned(), c))
    );
    let packages: Vec<i64> = body["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["credits"].as_i64().unwrap())
        .collect();
    assert_eq!(packages, [100, 200, 500, 1000]);
    assert_eq!(body["purchases_enabled"], true);
}

#[tokio::test]
async fn plans_in_v2_offer_no_packages() {
    let app = isolated_app("balance-plans-v2").await;
    credits_testkit::set_version(&app, "v2").await;
    let (_, body) = call(&app, ApiCall::new("GET", "/credits/plans")).await;
    assert_eq!(body["packages"], serde_json::json!([]));
    assert_eq!(body["purchases_enabled"], false);
    assert_eq!(body["version"], "v2");
}

#[tokio::test]
async fn an_unknown_route_is_a_404() {
    let app = isolated_app("balance-404").await;
    let (status, body) = call(&app, ApiCall::new("GET", "/credits/nope").user("x")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}
