//! The v1/v2 switch against the emulator: the flag reader's cache, its last good value, invalid
//! values, the cold-start default; and a flip seen by deduct and status through the local
//! gateway within the cache time, with no restart.

use std::time::{Duration, Instant};

use credits::flags::{FlagReader, FlagSource, Flags, Version};
use credits_e2e::Stack;

async fn ssm() -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&credits::config::aws_for_tools().await)
}

async fn put(ssm: &aws_sdk_ssm::Client, name: &str, value: &str) {
    ssm.put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .expect("put-parameter --overwrite");
}

/// A reader over a fresh prefix holding the template's values (v1, purchases on).
async fn reader(tag: &str, ttl: Duration) -> (FlagReader, aws_sdk_ssm::Client, String) {
    let app = credits_testkit::isolated_app(tag).await;
    let prefix = app.config.parameter_prefix.clone();
    let ssm = ssm().await;
    (FlagReader::new(ssm.clone(), &prefix, ttl), ssm, prefix)
}

const V1_ON: Flags = Flags {
    version: Version::V1,
    enable_purchases: true,
};

#[tokio::test]
async fn a_value_is_cached_for_the_cache_time_then_read_again() {
    let (reader, ssm, prefix) = reader("flags-ttl", Duration::from_millis(1500)).await;
    let r = reader.read().await;
    assert_eq!((r.flags, r.source), (V1_ON, FlagSource::ParameterStore));
    put(&ssm, &format!("{prefix}/system-version"), "v2").await;
    let r = reader.read().await;
    assert_eq!(r.flags.version, Version::V1, "still cached");
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let r = reader.read().await;
    assert_eq!(
        (r.flags.version, r.source),
        (Version::V2, FlagSource::ParameterStore)
    );
    assert!(r.age < Duration::from_secs(1));
}

#[tokio::test]
async fn a_deleted_parameter_keeps_the_last_good_value_until_it_is_back() {
    let (reader, ssm, prefix) = reader("flags-deleted", Duration::ZERO).await;
    assert_eq!(reader.read().await.flags, V1_ON);
    let name = format!("{prefix}/enable-purchases");
    ssm.delete_parameter().name(&name).send().await.unwrap();
    let r = reader.read().await;
    assert_eq!((r.flags, r.source), (V1_ON, FlagSource::LastGood));
    assert!(
        r.error.as_deref().is_some_and(|e| e.contains("not found")),
        "{:?}",
        r.error
    );
    put(&ssm, &name, "false").await;
    let r = reader.read().await;
    assert_eq!(
        (r.flags.enable_purchases, r.source, r.error),
        (false, FlagSource::ParameterStore, None)
    );
}

#[tokio::test]
async fn invalid_values_are_reported_and_the_last_good_value_stays() {
    let (reader, ssm, prefix) = reader("flags-invalid", Duration::ZERO).await;
    assert_eq!(reader.read().await.flags, V1_ON);
    for (suffix, bad) in [
        ("system-version", "v3"),
        ("system-version", " v1"),
        ("enable-purchases", "TRUE "),
        ("enable-purchases", "yes"),
    ] {
        put(&ssm, &format!("{prefix}/{suffix}"), bad).await;
        let r = reader.read().await;
        assert_eq!(
            (r.flags, r.source),
            (V1_ON, FlagSource::LastGood),
            "{bad:?}"
        );
        let error = r.error.unwrap_or_default();
        assert!(error.contains(&format!("{bad:?}")), "{error}");
        let good = if suffix == "system-version" {
            "v1"
        } else {
            "true"
        };
        put(&ssm, &format!("{prefix}/{suffix}"), good).await;
        assert_eq!(reader.read().await.source, FlagSource::ParameterStore);
    }
}

#[tokio::test]
async fn a_cold_start_with_parameter_store_down_uses_the_default() {
    let sdk = credits::config::aws_for_tools().await;
    // Nothing listens on port 9: every call fails at once.
    let dead = aws_sdk_ssm::config::Builder::from(&sdk)
        .endpoint_url("http://127.0.0.1:9")
        .build();
    let cold = FlagReader::new(
        aws_sdk_ssm::Client::from_conf(dead),
        "/credits",
        Duration::from_secs(30),
    );
    let r = cold.read().await;
    assert_eq!((r.flags, r.source), (Flags::DEFAULT, FlagSource::Default));
    assert!(!r.flags.purchases_enabled());
    assert!(r.error.is_some());
    // A prefix that was never created reads the same way: nothing to trust yet.
    let (_, _, prefix) = reader("flags-cold", Duration::ZERO).await;
    let missing = FlagReader::new(ssm().await, &format!("{prefix}-missing"), Duration::ZERO);
    assert_eq!(missing.read().await.source, FlagSource::Default);
}

/// Spends the user's 5 credits, then asks for one more: the 402 that follows.
async fn refused(stack: &Stack, token: &str, key: &str) -> serde_json::Value {
    let r = stack.deduct(token, key, r#"{"amount": 1}"#).await;
    assert_eq!(r.status, 402, "{:?}", r.json);
    r.json
}

#[tokio::test]
async fn flipping_the_parameter_changes_deduct_and_status_within_the_cache_time() {
    let ttl = Duration::from_secs(2);
    let stack = Stack::start_with("e2e-switch", |c| c.flag_ttl = ttl).await;
    let prefix = stack.gateway.app().config.parameter_prefix.clone();
    let ssm = ssm().await;
    let token = stack.token("flo");
    let r = stack.deduct(&token, "spend-all", r#"{"amount": 5}"#).await;
    assert_eq!(r.status, 200);
    let before = refused(&stack, &token, "more-0").await;
    assert_eq!(before["purchase_options"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        stack.get("/credits/status", None).await.json["version"],
        "v1"
    );

    // As `aws ssm put-parameter --overwrite` would, while the stack runs.
    put(&ssm, &format!("{prefix}/system-version"), "v2").await;
    let flipped = Instant::now();
    let mut n = 0;
    loop {
        n += 1;
        let body = refused(&stack, &token, &format!("more-{n}")).await;
        if body.get("purchase_options").is_none() {
            assert!(!body["upgrade_options"].as_array().unwrap().is_empty());
            break;
        }
        assert!(
            flipped.elapsed() < ttl + Duration::from_secs(2),
            "still v1 {:?} after the flip",
            flipped.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = stack.get("/credits/status", None).await.json;
    assert_eq!(
        (
            status["version"].as_str(),
            status["purchases_enabled"].as_bool()
        ),
        (Some("v2"), Some(false))
    );

    // And back to phase 1, again without a restart.
    put(&ssm, &format!("{prefix}/system-version"), "v1").await;
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    let body = refused(&stack, &token, "more-back").await;
    assert_eq!(body["purchase_options"].as_array().map(Vec::len), Some(4));
}

#[tokio::test]
async fn status_and_the_admin_route_through_the_gateway() {
    let stack = Stack::start("e2e-status").await;
    let r = stack.get("/credits/status", None).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(r.json["store"], "ok");
    assert_eq!(r.json["flag"]["source"], "parameter_store");
    assert!(r.json.get("account").is_none());
    let token = stack.token("sam");
    let r = stack.get("/credits/status", Some(&token)).await;
    assert_eq!(r.json["account"]["user_id"], "sam");
    assert_eq!(r.json["account"]["balance"], 5);
    let r = stack.get("/credits/status/me", None).await;
    assert_eq!(r.status, 401);

    let reset = |token: Option<String>| {
        let stack = &stack;
        async move {
            let auth = token.map(|t| format!("Bearer {t}"));
            let headers: Vec<(&str, &str)> =
                auth.iter().map(|a| ("authorization", a.as_str())).collect();
            stack
                .send("POST", "/admin/credits/reset", &headers, "")
                .await
        }
    };
    assert_eq!(reset(None).await.status, 401);
    let r = reset(Some(stack.token("sam"))).await;
    assert_eq!(
        (r.status, r.json["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let r = reset(Some(stack.token_in("root", &["users", "admin"]))).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(r.json["status"], "done");
    assert_eq!(r.json["counts"]["scanned"], 1, "sam's account");
    assert_eq!(r.json["counts"]["already_current"], 1);
}
