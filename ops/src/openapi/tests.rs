use std::collections::BTreeSet;

use super::*;

#[test]
fn the_committed_document_is_what_the_code_generates() {
    assert!(
        COMMITTED == document_text(),
        "{COMMITTED_PATH} is out of date: run `cargo run --bin credits-ops -- openapi --write`"
    );
}

#[test]
fn every_template_route_is_documented_and_nothing_else() {
    let doc = document();
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(path, item)| {
            let methods: Vec<String> = item
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            methods
                .into_iter()
                .map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    let routes = credits::local::http_routes().unwrap();
    let served: BTreeSet<String> = routes.iter().map(|r| r.key()).collect();
    assert_eq!(documented, served);

    for r in &routes {
        let op = &doc["paths"][&r.path][r.method.to_lowercase()];
        let public = op.get("security") == Some(&json!([]));
        assert_eq!(public, !r.authorized, "{}: security", r.key());
        assert_eq!(
            op["responses"].get("401").is_some(),
            r.authorized,
            "{}: a 401 exactly when a token is required",
            r.key()
        );
    }
}

#[test]
fn every_reference_resolves() {
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let doc = document();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 5);
    for r in found {
        let pointer = r.trim_start_matches('#');
        assert!(doc.pointer(pointer).is_some(), "unresolved {r}");
    }
}

#[test]
fn body_schemas_follow_the_types() {
    let doc = document();
    let s = &doc["components"]["schemas"];
    // A deduct body refuses unknown fields, as serde does.
    assert_eq!(s["DeductBody"]["additionalProperties"], json!(false));
    assert_eq!(s["DeductBody"]["required"], json!(["amount"]));
    // utoipa takes literals only: the limits the handler checks are compared here.
    let body = &s["DeductBody"]["properties"];
    assert_eq!(body["amount"]["minimum"], json!(credits::rules::MIN_DEDUCT));
    assert_eq!(body["amount"]["maximum"], json!(credits::rules::MAX_DEDUCT));
    assert_eq!(body["reason"]["maxLength"], json!(deduct::MAX_REASON_CHARS));
    let hold = &s["HoldBody"]["properties"];
    assert_eq!(hold["amount"]["minimum"], json!(credits::rules::MIN_DEDUCT));
    assert_eq!(hold["amount"]["maximum"], json!(credits::rules::MAX_DEDUCT));
    assert_eq!(
        hold["ttl_seconds"]["minimum"],
        json!(credits::rules::MIN_HOLD_TTL)
    );
    assert_eq!(
        hold["ttl_seconds"]["maximum"],
        json!(credits::rules::MAX_HOLD_TTL)
    );
    assert_eq!(
        hold["ttl_seconds"]["default"],
        json!(credits::rules::DEFAULT_HOLD_TTL)
    );
    assert_eq!(
        s["CommitBody"]["properties"]["amount"]["maximum"],
        json!(credits::rules::MAX_DEDUCT)
    );
    assert_eq!(
        s["Plan"]["enum"],
        json!(["free", "pro_monthly", "pro_yearly", "lifetime"])
    );
    for field in [
        "user_id",
        "plan",
        "period",
        "balance",
        "monthly",
        "purchased",
        "held",
        "version",
    ] {
        assert!(
            s["BalanceView"]["required"]
                .as_array()
                .unwrap()
                .contains(&json!(field)),
            "BalanceView.{field}"
        );
    }
}
