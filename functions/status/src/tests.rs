//! The handler called in process, against the emulator through the real SDK.

use credits::app::App;
use credits::config::Config;
use credits_testkit::{ApiCall, isolated_app, response_json};
use serde_json::Value;

use super::handle;

async fn call(app: &App, call: ApiCall) -> (u16, Value) {
    response_json(handle(app, call.request()).await)
}

/// An app whose configuration points, after provisioning, somewhere that was never created.
async fn elsewhere(tag: &str, change: impl FnOnce(&mut Config)) -> App {
    let mut config = isolated_app(tag).await.config;
    change(&mut config);
    App::new(&credits::config::aws().await, config)
}

#[tokio::test]
async fn public_status_shows_the_switch_the_store_and_the_build() {
    let app = isolated_app("status-public").await;
    let (status, body) = call(&app, ApiCall::new("GET", "/credits/status")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], "v1");
    assert_eq!(body["purchases_enabled"], true);
    assert_eq!(body["flag"]["source"], "parameter_store");
    assert_eq!(body["flag"]["age_seconds"], 0);
    assert!(body["flag"].get("error").is_none());
    assert_eq!(body["store"], "ok");
    assert_eq!(body["build"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(body.get("account").is_none(), "no user, no balance");
}

#[tokio::test]
async fn a_verified_user_also_sees_their_balance() {
    let app = isolated_app("status-user").await;
    for path in ["/credits/status", "/credits/status/me"] {
        let (status, body) = call(&app, ApiCall::new("GET", path).user("ana")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["account"]["user_id"], "ana");
        assert_eq!(body["account"]["balance"], 5);
        assert_eq!(body["account"]["version"], "v1");
    }
    let (status, body) = call(&app, ApiCall::new("GET", "/credits/status/me")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
}

#[tokio::test]
async fn an_unreadable_table_is_a_503_that_still_shows_the_switch() {
    let app = elsewhere("status-down", |c| c.table.push_str("-missing")).await;
    let (status, body) = call(&app, ApiCall::new("GET", "/credits/status")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "service_unavailable");
    assert_eq!(body["store"], "unavailable");
    assert_eq!(body["version"], "v1");
}

#[tokio::test]
async fn parameters_never_read_show_the_default_and_why() {
    let app = elsewhere("status-noflags", |c| {
        c.parameter_prefix.push_str("-missing")
    })
    .await;
    let (status, body) = call(&app, ApiCall::new("GET", "/credits/status")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["version"].as_str(),
            body["purchases_enabled"].as_bool()
        ),
        (Some("v2"), Some(false))
    );
    assert_eq!(body["flag"]["source"], "default");
    assert!(
        body["flag"]["error"]
            .as_str()
            .unwrap()
            .contains("not found")
    );
}
