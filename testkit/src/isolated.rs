//! A table and parameter prefix of a test's own in the emulator, provisioned from the template:
//! the emulator's state is shared by every test, so nothing else sees them.

use credits::app::App;
use credits::config::Config;

use crate::provision::{create_table, put_parameters};

/// An [`App`] on a table and parameter prefix of its own in the emulator at `AWS_ENDPOINT_URL`.
/// Panics when no emulator is configured: the tests must never reach a real account.
pub async fn isolated_app(tag: &str) -> App {
    isolated_app_with(tag, |_| {}).await
}

/// [`isolated_app`] with its configuration adjusted first (a short flag cache time, say).
pub async fn isolated_app_with(tag: &str, adjust: impl FnOnce(&mut Config)) -> App {
    let (sdk, config) = isolated_with(tag, adjust).await;
    App::new(&sdk, config)
}

/// The SDK configuration and a [`Config`] naming a fresh table and parameter prefix, provisioned
/// from the template: for an App built with other clients.
pub async fn isolated(tag: &str) -> (aws_config::SdkConfig, Config) {
    isolated_with(tag, |_| {}).await
}

/// [`isolated`] with the configuration adjusted first.
pub async fn isolated_with(
    tag: &str,
    adjust: impl FnOnce(&mut Config),
) -> (aws_config::SdkConfig, Config) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "integration tests need the local emulator: run them with scripts/test"
    );
    let unique = format!(
        "{tag}-{}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        chrono::Utc::now().timestamp_micros() % 1_000_000_000
    );
    let mut config = Config {
        table: format!("t-{unique}"),
        parameter_prefix: format!("/t-{unique}"),
        ..Config::from_lookup(|_| None).expect("defaults are valid")
    };
    adjust(&mut config);
    let sdk = credits::config::aws_for_tools().await;
    create_table(&aws_sdk_dynamodb::Client::new(&sdk), &config.table)
        .await
        .expect("create the test table");
    put_parameters(
        &aws_sdk_ssm::Client::new(&sdk),
        &config.parameter_prefix,
        true,
    )
    .await
    .expect("put the test parameters");
    (sdk, config)
}
