//! What the targets share: one [`App`] on a fresh table in the emulator (`AWS_ENDPOINT_URL`,
//! started by `scripts/fuzz`), the input's layout, and the property every target checks.
//!
//! **Input layout.** A target's input is a few `\n`-terminated lines and then the body, so a
//! seed is readable and easy to write: `user\nkey\n{"amount": 1}` for a deduct. A missing line
//! is empty; an empty user means no JWT claims (the authorizer would have refused: the function
//! must still answer 401, not fail) and an empty key means no `Idempotency-Key` header.
//!
//! **Property.** No panic (libFuzzer reports one as a crash), no 5xx, and every 4xx a JSON body
//! in the contract's error shape `{"error": {"code": "...", "message": "..."}}`. The one
//! exception is the webhook's documented 503 for a verified event whose customer is not linked
//! yet ([`awaits_link`]).

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use credits::app::App;
use credits_testkit::ApiCall;
use lambda_http::{Body, Request, Response};
use serde_json::Value;

/// The webhook's signing secret in every target.
pub const WEBHOOK_SECRET: &str = "whsec_fuzz";

/// A hold id line of `@` stands for a hold opened for the input's user just before the call,
/// so commit and release reach a live hold, not only "not found".
pub const FRESH_HOLD: &[u8] = b"@";

struct Rig {
    rt: tokio::runtime::Runtime,
    app: App,
    hook: webhook::Webhook,
}

/// Built on the first input: provisioning a table costs a few emulator calls, once per process.
static RIG: LazyLock<Rig> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let app = rt.block_on(credits_testkit::isolated_app("fuzz"));
    let hook = webhook::Webhook {
        secret: webhook::SigningSecret::new(WEBHOOK_SECRET),
        prices: credits::stripe::PriceMap::default(),
        line_items: None,
    };
    Rig { rt, app, hook }
});

/// The first `n` lines of `data` (without their `\n`; empty when missing) and the rest.
pub fn split<const N: usize>(data: &[u8]) -> ([&[u8]; N], &[u8]) {
    let mut lines = [&data[..0]; N];
    let mut rest = data;
    for line in &mut lines {
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                *line = &rest[..i];
                rest = &rest[i + 1..];
            }
            None => {
                *line = rest;
                rest = &rest[rest.len()..];
            }
        }
    }
    (lines, rest)
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Percent-encodes every byte but RFC 3986's unreserved ones: a path segment as a client sends
/// it (API Gateway hands the function the decoded segment as the path parameter).
pub fn encode_segment(bytes: &[u8]) -> String {
    percent_encode(bytes, b"-._~")
}

/// A query string as it can reach API Gateway: the characters a URI's query may hold kept as
/// they are (`%` too, so broken escapes stay possible), every other byte percent-encoded.
pub fn encode_query(bytes: &[u8]) -> String {
    percent_encode(bytes, b"-._~!$&'()*+,;=:@/?%")
}

/// Every byte percent-encoded but ASCII letters, digits and `keep`.
fn percent_encode(bytes: &[u8], keep: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `POST path` with the input's `user\nkey\nbody` (an empty key sends no `Idempotency-Key`).
pub fn keyed_post(path: &str, data: &[u8]) {
    let ([user, key], body) = split(data);
    let mut call = call("POST", path, user).body(body);
    if !key.is_empty() {
        call = call.header("idempotency-key", &text(key));
    }
    api(&call);
}

/// A call by `user` (no claims when empty).
pub fn call(method: &str, target: &str, user: &[u8]) -> ApiCall {
    let call = ApiCall::new(method, target);
    if user.is_empty() {
        call
    } else {
        call.user(&text(user))
    }
}

/// The request the Lambda runtime would hand the function, or `None` when the runtime itself
/// would refuse the event (a header value no HTTP parser lets through, say): that input never
/// reaches the function.
fn request(call: &ApiCall) -> Option<Request> {
    lambda_http::request::from_str(&call.event().to_string()).ok()
}

/// Checks the property on a function's answer; `retry_allowed` says whether a 503 is the
/// documented answer for this input.
pub fn check(
    what: &str,
    response: Response<Body>,
    retry_allowed: impl FnOnce() -> bool,
) -> (u16, Value) {
    let status = response.status().as_u16();
    let raw = response.body().as_ref();
    let shown = String::from_utf8_lossy(raw);
    assert!(
        status < 500 || (status == 503 && retry_allowed()),
        "{what} answered {status}: {shown}"
    );
    let body: Value = serde_json::from_slice(raw).unwrap_or(Value::Null);
    if status >= 400 {
        assert!(
            body["error"]["code"].is_string() && body["error"]["message"].is_string(),
            "{what} answered {status} without the contract's error shape: {shown}"
        );
    }
    (status, body)
}

/// Sends `call` to the API function its route belongs to and checks the answer.
pub fn api(call: &ApiCall) -> Option<(u16, Value)> {
    let rig = &*RIG;
    let request = request(call)?;
    let response = rig.rt.block_on(async {
        if call.method == "GET" {
            balance::handle(&rig.app, request).await
        } else {
            deduct::handle(&rig.app, request).await
        }
    });
    Some(check(&call.route_key, response, || false))
}

/// A call on `/credits/holds/{id}{suffix}`; the id line `@` opens a hold for `user` first.
pub fn on_hold(method: &str, user: &[u8], id: &[u8], suffix: &str) -> Option<ApiCall> {
    let id = if id == FRESH_HOLD {
        fresh_hold(user)?
    } else {
        text(id)
    };
    let target = format!("/credits/holds/{}{suffix}", encode_segment(id.as_bytes()));
    let mut call = call(method, &target, user);
    call.route_key = format!("{method} /credits/holds/{{id}}{suffix}");
    call.path_parameters.insert("id".into(), id);
    Some(call)
}

/// Opens a hold of 1 credit for `user`; `None` when it cannot (no user, no credits left).
fn fresh_hold(user: &[u8]) -> Option<String> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let key = format!("fuzz-hold-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let open = call("POST", "/credits/holds", user)
        .header("idempotency-key", &key)
        .body(r#"{"amount": 1}"#);
    let (status, body) = api(&open)?;
    (status == 201)
        .then(|| body["hold_id"].as_str().map(str::to_owned))
        .flatten()
}

/// POSTs `body` to the webhook with `signature` as the `Stripe-Signature` header (none when
/// `None`) and checks the answer.
pub fn deliver(signature: Option<&str>, body: &[u8]) {
    let rig = &*RIG;
    let mut call = ApiCall {
        route_key: "$default".into(),
        ..ApiCall::new("POST", "/")
    }
    .header("content-type", "application/json")
    .body(body);
    if let Some(signature) = signature {
        call = call.header("stripe-signature", signature);
    }
    let Some(request) = request(&call) else {
        return;
    };
    let response = rig
        .rt
        .block_on(webhook::handle(&rig.app, &rig.hook, request));
    check("the webhook", response, || awaits_link(rig, body));
}

/// The one 5xx the webhook's contract has for a verified event (README, "Unattributable
/// events"): a subscription or paid checkout that names no user but a customer not linked yet
/// is answered 503 so that Stripe retries until the checkout that links it arrives.
fn awaits_link(rig: &Rig, body: &[u8]) -> bool {
    use credits::stripe::Command;
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let Ok(event) = credits::stripe::command(&value) else {
        return false;
    };
    let customer = match &event.command {
        Command::Subscription(s) if s.user.is_none() => s.customer.clone(),
        Command::Buy(b) if b.user.is_none() => b.customer.clone(),
        _ => None,
    };
    customer.is_some_and(|c| {
        let linked = rig.rt.block_on(rig.app.service.store().customer_user(&c));
        matches!(linked, Ok(None))
    })
}
