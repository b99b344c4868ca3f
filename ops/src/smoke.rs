//! The smoke test of the original design's `test-credit-system.sh`: drives a deployed (or the
//! local) stack through status, plans, balance, deduct (and its replay), and a signed webhook
//! delivery, and reports pass or fail per step. It changes at most one credit of its own user,
//! and the webhook event it sends is of a type the service ignores. It signs that event as
//! Stripe does, on its own: a client of the deployment, not a part of the webhook.

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use sha2::Sha256;

pub struct Target {
    pub base: String,
    pub token: String,
    pub webhook_url: Option<String>,
    pub webhook_secret: String,
}

pub struct Step {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

type HttpsClient = Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

async fn send(
    client: &HttpsClient,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, Value), String> {
    let mut req = hyper::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body.to_owned())))
        .map_err(|e| e.to_string())?;
    let res = client.request(req).await.map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let bytes = res
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

fn step(
    name: &'static str,
    result: Result<(u16, Value), String>,
    ok: impl Fn(u16, &Value) -> bool,
) -> Step {
    match result {
        Ok((status, body)) => Step {
            name,
            passed: ok(status, &body),
            detail: format!(
                "{status} {}",
                body.to_string().chars().take(160).collect::<String>()
            ),
        },
        Err(e) => Step {
            name,
            passed: false,
            detail: e,
        },
    }
}

pub async fn run(target: &Target) -> Result<Vec<Step>, String> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("no TLS roots: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    let client: HttpsClient = Client::builder(TokioExecutor::new()).build(https);
    let base = target.base.trim_end_matches('/');
    let auth = format!("Bearer {}", target.token);
    let key = format!("smoke-{}", chrono::Utc::now().timestamp_millis());
    let mut steps = Vec::new();

    let r = send(&client, "GET", &format!("{base}/credits/status"), &[], "").await;
    steps.push(step("status", r, |s, b| s == 200 && b["store"] == "ok"));
    let r = send(&client, "GET", &format!("{base}/credits/plans"), &[], "").await;
    steps.push(step("plans", r, |s, b| {
        s == 200 && b["plans"].as_array().is_some_and(|p| p.len() == 4)
    }));
    let r = send(
        &client,
        "GET",
        &format!("{base}/credits/balance"),
        &[("authorization", &auth)],
        "",
    )
    .await;
    steps.push(step("balance", r, |s, b| s == 200 && b["balance"].is_i64()));
    let headers = [
        ("authorization", auth.as_str()),
        ("idempotency-key", key.as_str()),
        ("content-type", "application/json"),
    ];
    let body = r#"{"amount": 1, "reason": "smoke test"}"#;
    let deduct_url = format!("{base}/credits/deduct");
    // The same request twice: the second must be the first's answer again.
    let deduct = || send(&client, "POST", &deduct_url, &headers, body);
    let first = deduct().await;
    let first_body = first.as_ref().ok().map(|(_, b)| b.clone());
    // 402 is a pass too: the smoke user may have spent its credits; the answer's shape is checked.
    steps.push(step("deduct", first, |s, b| {
        (s == 200 && b["deducted"] == 1)
            || (s == 402 && b["error"]["code"] == "insufficient_credits")
    }));
    let again = deduct().await;
    steps.push(step("deduct replay", again, |s, b| {
        s == 402 || (s == 200 && Some(b) == first_body.as_ref())
    }));
    let r = send(&client, "GET", &format!("{base}/credits/balance"), &[], "").await;
    steps.push(step("no token refused", r, |s, _| s == 401));

    if let Some(url) = &target.webhook_url {
        let now = chrono::Utc::now().timestamp();
        let event = serde_json::json!({
            "id": format!("evt_smoke_{now}"), "object": "event", "api_version": "2026-07-29.dahlia",
            "created": now, "livemode": false, "pending_webhooks": 1, "type": "customer.created",
            "request": {"id": null, "idempotency_key": null},
            "data": {"object": {"id": "cus_smoke", "object": "customer"}}
        })
        .to_string();
        let signature = stripe_signature(&target.webhook_secret, now, &event)?;
        let headers = [
            ("stripe-signature", signature.as_str()),
            ("content-type", "application/json"),
        ];
        let r = send(&client, "POST", url, &headers, &event).await;
        steps.push(step("webhook signed", r, |s, b| {
            s == 200 && b["received"] == true
        }));
        let bad = [
            ("stripe-signature", "t=1,v1=00"),
            ("content-type", "application/json"),
        ];
        let r = send(&client, "POST", url, &bad, &event).await;
        steps.push(step("webhook bad signature", r, |s, _| s == 400));
    }
    Ok(steps)
}

/// The `Stripe-Signature` header Stripe sends for `payload` at `timestamp`: HMAC-SHA256 of
/// `{timestamp}.{payload}` under the endpoint's secret, in hex.
fn stripe_signature(secret: &str, timestamp: i64, payload: &str) -> Result<String, String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|e| format!("the webhook secret: {e}"))?;
    mac.update(format!("{timestamp}.{payload}").as_bytes());
    Ok(format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

#[cfg(test)]
mod tests {
    /// The webhook accepts the header, and only for its own secret.
    #[test]
    fn the_webhook_accepts_the_signature() {
        let (now, payload) = (1_700_000_000, r#"{"id": "evt_smoke"}"#);
        let header = super::stripe_signature("whsec_local", now, payload).unwrap();
        assert_eq!(
            webhook::signature::verify(payload, &header, "whsec_local", now),
            Ok(())
        );
        assert!(webhook::signature::verify(payload, &header, "whsec_other", now).is_err());
    }
}
