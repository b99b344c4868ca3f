//! The samples in `events/` made ready for `cargo lambda invoke` (`credits-local event FILE`):
//! most are sent as they are, but two depend on the moment they are sent. A Function URL
//! event for the webhook carries a `Stripe-Signature` that holds for 300 s, so it is signed
//! afresh; a hold's release or commit names a hold, so one is opened now for the event's user
//! and named. Everything else is printed unchanged.

use credits::app::App;
use credits_testkit::{ApiCall, response_json};
use serde_json::Value;

/// The local stack's emulator, used when `AWS_ENDPOINT_URL` is not set.
pub const LOCAL_ENDPOINT: &str = "http://127.0.0.1:4566";

/// The SDK configuration from the environment, or the local stack's emulator (with dummy
/// credentials) when `AWS_ENDPOINT_URL` is unset: samples are for local runs.
pub async fn local_sdk() -> aws_config::SdkConfig {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if std::env::var_os("AWS_ENDPOINT_URL").is_some() {
        return loader.load().await;
    }
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    loader
        .endpoint_url(LOCAL_ENDPOINT)
        .region(aws_sdk_dynamodb::config::Region::new(region))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "local",
        ))
        .load()
        .await
}

/// What `event` needs before it is sent, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preparation {
    /// Sent as it is.
    None,
    /// A webhook delivery: its body signed now.
    Sign,
    /// A hold's release or commit: a hold opened now for the event's user, and named.
    OpenHold,
}

pub fn preparation(event: &Value) -> Preparation {
    let route = event["routeKey"].as_str().unwrap_or_default();
    if route == "$default" && event["headers"].get(webhook::SIGNATURE_HEADER).is_some() {
        Preparation::Sign
    } else if route.starts_with("DELETE /credits/holds/{id}")
        || route.starts_with("POST /credits/holds/{id}/")
    {
        Preparation::OpenHold
    } else {
        Preparation::None
    }
}

/// The event ready to send: see the module's documentation. `app` is needed only to open a
/// hold (the table the invoked function uses).
pub async fn prepare(mut event: Value, secret: &str, app: &App) -> Result<Value, String> {
    match preparation(&event) {
        Preparation::None => {}
        Preparation::Sign => {
            let body = event["body"]
                .as_str()
                .ok_or("the webhook event has no body to sign")?;
            let header = webhook::sign(secret, chrono::Utc::now().timestamp(), body);
            event["headers"][webhook::SIGNATURE_HEADER] = Value::from(header);
        }
        Preparation::OpenHold => {
            let user = event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"]
                .as_str()
                .ok_or("the event has no user (requestContext.authorizer.jwt.claims.sub)")?;
            let id = open_hold(app, user).await?;
            let old = event["pathParameters"]["id"]
                .as_str()
                .ok_or("the event has no pathParameters.id")?
                .to_owned();
            event["pathParameters"]["id"] = Value::from(id.clone());
            for pointer in ["/rawPath", "/requestContext/http/path"] {
                if let Some(path) = event.pointer_mut(pointer) {
                    let replaced = path.as_str().map(|p| p.replace(&old, &id));
                    if let Some(replaced) = replaced {
                        *path = Value::from(replaced);
                    }
                }
            }
        }
    }
    Ok(event)
}

/// Opens a hold of one credit for `user` through the deduct function, as a client would.
async fn open_hold(app: &App, user: &str) -> Result<String, String> {
    let key = format!(
        "sample-{}",
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
    );
    let call = ApiCall::new("POST", "/credits/holds")
        .user(user)
        .header("content-type", "application/json")
        .header("idempotency-key", &key)
        .body(r#"{"amount": 1, "ttl_seconds": 600}"#);
    let (status, body) = response_json(deduct::handle(app, call.request()).await);
    match body["hold_id"].as_str() {
        Some(id) if status == 201 => Ok(id.to_owned()),
        _ => Err(format!(
            "opening a hold for {user} answered {status}: {body}"
        )),
    }
}
