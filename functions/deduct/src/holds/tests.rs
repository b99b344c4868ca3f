//! The holds routes called in process, against the emulator through the real SDK.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use credits::account::UserId;
use credits::app::App;
use credits::rules;
use credits_testkit::{ApiCall, isolated_app, response_json};
use serde_json::Value;
use tokio::task::JoinSet;

use crate::handle;

async fn call(app: &App, call: ApiCall) -> (u16, Value) {
    response_json(handle(app, call.request()).await)
}

fn create(user: &str, key: &str, body: &str) -> ApiCall {
    ApiCall::new("POST", "/credits/holds")
        .user(user)
        .header("idempotency-key", key)
        .body(body)
}

fn on_hold(method: &str, user: &str, id: &str, suffix: &str, body: &str) -> ApiCall {
    let mut c = ApiCall::new(method, &format!("/credits/holds/{id}{suffix}"))
        .user(user)
        .body(body);
    c.route_key = format!("{method} /credits/holds/{{id}}{suffix}");
    c.path_parameters.insert("id".into(), id.into());
    c
}

fn commit(user: &str, id: &str, body: &str) -> ApiCall {
    on_hold("POST", user, id, "/commit", body)
}

fn release(user: &str, id: &str) -> ApiCall {
    on_hold("DELETE", user, id, "", "")
}

async fn account(app: &App, user: &str) -> credits::account::Account {
    app.service
        .touch_account(&UserId::parse(user).unwrap(), Utc::now())
        .await
        .unwrap()
}

#[tokio::test]
async fn hold_then_commit_part_spends_it_and_returns_the_rest() {
    let app = isolated_app("holds-flow").await;
    let (status, opened) = call(
        &app,
        create("ana", "job-1", r#"{"amount": 4, "ttl_seconds": 600}"#),
    )
    .await;
    assert_eq!(status, 201, "{opened}");
    assert_eq!(
        (
            opened["amount"].as_i64(),
            opened["balance"].as_i64(),
            opened["held"].as_i64()
        ),
        (Some(4), Some(1), Some(4))
    );
    assert!(opened["expires_at"].as_str().unwrap().ends_with('Z'));
    let id = opened["hold_id"].as_str().unwrap().to_owned();

    let (status, done) = call(&app, commit("ana", &id, r#"{"amount": 3}"#)).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (done["deducted"].as_i64(), done["released"].as_i64()),
        (Some(3), Some(1))
    );
    assert_eq!(
        (done["balance"].as_i64(), done["held"].as_i64()),
        (Some(2), Some(0))
    );
    assert!(done["transaction_id"].as_str().unwrap().starts_with("tx_"));

    let (status, again) = call(&app, commit("ana", &id, "")).await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (409, Some("hold_closed"))
    );
    assert_eq!(again["hold"]["outcome"], "committed");
    let (status, _) = call(&app, release("ana", &id)).await;
    assert_eq!(status, 409);

    let page = app
        .service
        .store()
        .entries(&UserId::parse("ana").unwrap(), 10, None)
        .await
        .unwrap();
    let sum: i64 = page.entries.iter().map(|e| e.amount).sum();
    let a = account(&app, "ana").await;
    assert_eq!(
        sum,
        a.balance() + a.held,
        "the ledger adds up to balance + held"
    );
}

#[tokio::test]
async fn release_returns_everything_and_a_body_less_commit_takes_all() {
    let app = isolated_app("holds-release").await;
    let (_, h1) = call(&app, create("bo", "a", r#"{"amount": 2}"#)).await;
    let (_, h2) = call(&app, create("bo", "b", r#"{"amount": 3}"#)).await;
    let (status, released) = call(&app, release("bo", h1["hold_id"].as_str().unwrap())).await;
    assert_eq!(status, 200, "{released}");
    assert_eq!(
        (released["released"].as_i64(), released["balance"].as_i64()),
        (Some(2), Some(2))
    );
    let (status, all) = call(&app, commit("bo", h2["hold_id"].as_str().unwrap(), "")).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(
        (all["deducted"].as_i64(), all["balance"].as_i64()),
        (Some(3), Some(2))
    );
}

#[tokio::test]
async fn another_users_or_an_unknown_hold_is_404() {
    let app = isolated_app("holds-404").await;
    let (_, h) = call(&app, create("cy", "k", r#"{"amount": 1}"#)).await;
    let id = h["hold_id"].as_str().unwrap();
    for (what, c) in [
        ("another user's commit", commit("eve", id, "")),
        ("another user's release", release("eve", id)),
        ("unknown id", release("cy", "h_000000000999")),
        ("malformed id", release("cy", "nope")),
    ] {
        let (status, body) = call(&app, c).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("hold_not_found")),
            "{what}"
        );
    }
    assert_eq!(account(&app, "cy").await.held, 1, "cy's hold is untouched");
}

#[tokio::test]
async fn bad_hold_requests_are_400s_that_change_nothing() {
    let app = isolated_app("holds-400").await;
    let (_, h) = call(&app, create("dee", "ok", r#"{"amount": 2}"#)).await;
    let id = h["hold_id"].as_str().unwrap();
    let cases = [
        ("zero", create("dee", "k", r#"{"amount": 0}"#)),
        ("fractional", create("dee", "k", r#"{"amount": 1.5}"#)),
        (
            "ttl zero",
            create("dee", "k", r#"{"amount": 1, "ttl_seconds": 0}"#),
        ),
        (
            "ttl over a day",
            create("dee", "k", r#"{"amount": 1, "ttl_seconds": 86401}"#),
        ),
        (
            "unknown field",
            create("dee", "k", r#"{"amount": 1, "user": "x"}"#),
        ),
        (
            "no key",
            ApiCall::new("POST", "/credits/holds")
                .user("dee")
                .body(r#"{"amount": 1}"#),
        ),
        (
            "commit more than held",
            commit("dee", id, r#"{"amount": 3}"#),
        ),
        ("commit a string", commit("dee", id, r#"{"amount": "1"}"#)),
        (
            "commit unknown field",
            commit("dee", id, r#"{"amount": 1, "x": 1}"#),
        ),
    ];
    for (what, c) in cases {
        let (status, body) = call(&app, c).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{what}: {body}"
        );
    }
    let a = account(&app, "dee").await;
    assert_eq!((a.balance(), a.held, a.holds.len()), (3, 2, 1));
}

#[tokio::test]
async fn creating_a_hold_is_idempotent_by_key() {
    let app = isolated_app("holds-idem").await;
    let (s1, first) = call(
        &app,
        create("fay", "gen-9", r#"{"amount": 2, "ttl_seconds": 60}"#),
    )
    .await;
    let (s2, again) = call(
        &app,
        create("fay", "gen-9", r#"{"amount": 2, "ttl_seconds": 60}"#),
    )
    .await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(first, again);
    let (s3, conflict) = call(
        &app,
        create("fay", "gen-9", r#"{"amount": 3, "ttl_seconds": 60}"#),
    )
    .await;
    assert_eq!(
        (s3, conflict["error"]["code"].as_str()),
        (409, Some("idempotency_conflict"))
    );
    assert_eq!(account(&app, "fay").await.holds.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_holds_of_one_on_five_credits_open_exactly_five() {
    let app = Arc::new(isolated_app("holds-race").await);
    account(&app, "gus").await;
    let mut set = JoinSet::new();
    for i in 0..20 {
        let app = app.clone();
        set.spawn(async move {
            call(&app, create("gus", &format!("k{i}"), r#"{"amount": 1}"#))
                .await
                .0
        });
    }
    let statuses = set.join_all().await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 402).count(),
        15,
        "{statuses:?}"
    );
    let a = account(&app, "gus").await;
    assert_eq!((a.balance(), a.held, a.holds.len()), (0, 5, 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commit_racing_a_release_has_exactly_one_winner() {
    let app = Arc::new(isolated_app("holds-commit-race").await);
    for round in 0..5 {
        let (_, h) = call(
            &app,
            create("hal", &format!("r{round}"), r#"{"amount": 1}"#),
        )
        .await;
        let id = h["hold_id"].as_str().unwrap().to_owned();
        let (a, b) = (app.clone(), app.clone());
        let (i1, i2) = (id.clone(), id.clone());
        let committed = tokio::spawn(async move { call(&a, commit("hal", &i1, "")).await.0 });
        let released = tokio::spawn(async move { call(&b, release("hal", &i2)).await.0 });
        let mut outcome = [committed.await.unwrap(), released.await.unwrap()];
        outcome.sort_unstable();
        assert_eq!(outcome, [200, 409], "round {round}");
    }
    let a = account(&app, "hal").await;
    assert_eq!(a.held, 0);
    let page = app
        .service
        .store()
        .entries(&UserId::parse("hal").unwrap(), 100, None)
        .await
        .unwrap();
    assert_eq!(
        page.entries.iter().map(|e| e.amount).sum::<i64>(),
        a.balance()
    );
}

#[tokio::test]
async fn an_expired_hold_is_released_on_the_next_touch_and_cannot_be_committed() {
    let app = isolated_app("holds-expiry").await;
    let (_, h) = call(
        &app,
        create("ivy", "k", r#"{"amount": 3, "ttl_seconds": 1}"#),
    )
    .await;
    let id = h["hold_id"].as_str().unwrap();
    let later = Utc::now() + chrono::Duration::seconds(5);
    let user = UserId::parse("ivy").unwrap();
    let a = app.service.touch_account(&user, later).await.unwrap();
    assert_eq!((a.balance(), a.held), (5, 0));
    let (status, body) = call(&app, commit("ivy", id, "")).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["hold"]["outcome"], "expired");
}

#[tokio::test]
async fn a_hold_across_a_month_boundary_is_kept_and_the_reset_grants_once() {
    let app = isolated_app("holds-month").await;
    let user = UserId::parse("jo").unwrap();
    let nov = Utc.with_ymd_and_hms(2026, 11, 30, 23, 55, 0).unwrap();
    let dec = Utc.with_ymd_and_hms(2026, 12, 1, 0, 1, 0).unwrap();
    let opened = app
        .service
        .apply(&user, nov, |cur| {
            rules::hold(cur, &user, 4, 3600, "k", nov)
                .map(|(c, _)| c)
                .map_err(credits::service::Refused::from)
        })
        .await
        .unwrap();
    let id = opened.account.holds.keys().next().unwrap().clone();
    // Two touches in December: one reset, hold intact.
    app.service.touch_account(&user, dec).await.unwrap();
    let a = app.service.touch_account(&user, dec).await.unwrap();
    assert_eq!(
        (a.monthly, a.held, a.period.to_string().as_str()),
        (5, 4, "2026-12")
    );
    let done = app
        .service
        .apply(&user, dec, |cur| {
            rules::release_hold(cur, &user, &id, dec)
                .map(|(c, _)| c)
                .map_err(credits::service::Refused::from)
        })
        .await
        .unwrap();
    // November's credits came back after November ended: they expire.
    assert_eq!((done.account.monthly, done.account.held), (5, 0));
    assert_eq!(done.closed_holds[0].expired, 4);
    let page = app.service.store().entries(&user, 100, None).await.unwrap();
    let grants = page
        .entries
        .iter()
        .filter(|e| e.cause == "reset:2026-12")
        .filter(|e| e.amount > 0)
        .count();
    assert_eq!(grants, 1);
    assert_eq!(page.entries.iter().map(|e| e.amount).sum::<i64>(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commit_racing_the_expiry_either_commits_or_finds_the_hold_expired() {
    let app = Arc::new(isolated_app("holds-expiry-race").await);
    let user = UserId::parse("kim").unwrap();
    for round in 0..5 {
        let (_, h) = call(
            &app,
            create(
                "kim",
                &format!("r{round}"),
                r#"{"amount": 1, "ttl_seconds": 30}"#,
            ),
        )
        .await;
        let id = h["hold_id"].as_str().unwrap().to_owned();
        let (a, b, u) = (app.clone(), app.clone(), user.clone());
        // A touch from a minute later sees the hold expired, racing a commit made now.
        let expiry = tokio::spawn(async move {
            a.service
                .touch_account(&u, Utc::now() + chrono::Duration::seconds(60))
                .await
                .unwrap()
        });
        let committed = tokio::spawn(async move { call(&b, commit("kim", &id, "")).await });
        expiry.await.unwrap();
        let (status, body) = committed.await.unwrap();
        match status {
            200 => assert_eq!(body["deducted"], 1, "round {round}"),
            409 => assert_eq!(body["hold"]["outcome"], "expired", "round {round}"),
            other => panic!("round {round}: {other} {body}"),
        }
    }
    let a = app
        .service
        .touch_account(&user, Utc::now() + chrono::Duration::seconds(60))
        .await
        .unwrap();
    assert_eq!(a.held, 0);
    let page = app.service.store().entries(&user, 100, None).await.unwrap();
    assert_eq!(
        page.entries.iter().map(|e| e.amount).sum::<i64>(),
        a.balance()
    );
}
