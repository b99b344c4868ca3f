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
    let routes = credits_testkit::http_routes().unwrap();
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
    // A deduct or hold body is one of two shapes, each refusing unknown fields, as serde does.
    for (body, shapes) in [
        ("DeductBody", ["DeductAmount", "DeductFeature"]),
        ("HoldBody", ["HoldAmount", "HoldFeature"]),
    ] {
        let refs: Vec<String> = shapes
            .iter()
            .map(|n| format!("#/components/schemas/{n}"))
            .collect();
        assert_eq!(
            s[body]["oneOf"],
            json!([{"$ref": refs[0]}, {"$ref": refs[1]}])
        );
        for shape in shapes {
            assert_eq!(s[shape]["additionalProperties"], json!(false), "{shape}");
        }
        assert_eq!(s[shapes[0]]["required"], json!(["amount"]));
        assert_eq!(s[shapes[1]]["required"], json!(["feature"]));
        let feature = &s[shapes[1]]["properties"];
        assert_eq!(
            feature["quantity"]["minimum"],
            json!(credits::rules::prices::MIN_QUANTITY)
        );
        assert_eq!(
            feature["quantity"]["maximum"],
            json!(credits::rules::prices::MAX_QUANTITY)
        );
        assert!(feature["quantity"].get("default").is_none());
        let pattern = feature["feature"]["pattern"].as_str().unwrap_or("");
        assert_eq!(
            pattern,
            format!(
                "^[a-z][a-z0-9_]{{0,{}}}$",
                credits::rules::prices::MAX_FEATURE_LEN - 1
            )
        );
    }
    // utoipa takes literals only: the limits the handler checks are compared here.
    let body = &s["DeductAmount"]["properties"];
    assert_eq!(body["amount"]["minimum"], json!(credits::rules::MIN_DEDUCT));
    assert_eq!(body["amount"]["maximum"], json!(credits::rules::MAX_DEDUCT));
    assert_eq!(body["reason"]["maxLength"], json!(deduct::MAX_REASON_CHARS));
    let hold = &s["HoldAmount"]["properties"];
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
    // Described, not a schema `default` (which would make generated clients require it).
    assert!(hold["ttl_seconds"].get("default").is_none());
    let described = hold["ttl_seconds"]["description"].as_str().unwrap_or("");
    assert!(
        described.contains(&format!("{} when absent", credits::rules::DEFAULT_HOLD_TTL)),
        "{described}"
    );
    assert!(
        !s["HoldAmount"]["required"]
            .as_array()
            .unwrap()
            .contains(&json!("ttl_seconds"))
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

/// Generated clients (openapi-typescript) make a property with a `default` required.
#[test]
fn no_body_schema_has_a_default() {
    fn defaults(path: &str, v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if m.contains_key("default") {
                    out.push(path.to_owned());
                }
                for (k, v) in m {
                    defaults(&format!("{path}/{k}"), v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| defaults(path, v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    defaults("", &document()["components"]["schemas"], &mut found);
    assert!(found.is_empty(), "{found:?}");
}

/// Every error answer is the shared `Error` or a flat named schema whose `error.code` is one
/// fixed value (so a client's `code` check tells it which fields are there); none nests an
/// `allOf` (openapi-python-client loses such members).
#[test]
fn every_error_answer_is_the_shared_error_or_a_flat_named_one() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let mut flat_seen = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                if !status.starts_with('4') && !status.starts_with('5') {
                    continue;
                }
                let schema = &response["content"]["application/json"]["schema"];
                let refs: Vec<&Value> = match schema.get("oneOf") {
                    Some(Value::Array(all)) => all.iter().collect(),
                    _ => vec![schema],
                };
                for r in refs {
                    let name = r["$ref"]
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                        .unwrap_or_else(|| panic!("{method} {path} {status}: not a $ref: {r}"));
                    let target = &schemas[name];
                    assert!(target.get("allOf").is_none(), "{name} nests allOf");
                    if name == "Error" {
                        continue;
                    }
                    let code = &target["properties"]["error"]["properties"]["code"]["enum"];
                    assert_eq!(
                        code.as_array().map(Vec::len),
                        Some(1),
                        "{method} {path} {status}: {name}.error.code is not one value"
                    );
                    flat_seen.insert(name.to_owned());
                }
            }
        }
    }
    assert_eq!(
        flat_seen,
        BTreeSet::from(
            [
                "HoldClosed",
                "IdempotencyConflict",
                "InsufficientBucket",
                "InsufficientCredits",
                "TooManyHolds"
            ]
            .map(str::to_owned)
        )
    );
    // The 402 carries what the handler adds beside the error, from its Rust type.
    let required = schemas["InsufficientCredits"]["required"]
        .as_array()
        .unwrap();
    for field in ["error", "balance", "required", "plan", "upgrade_options"] {
        assert!(
            required.contains(&json!(field)),
            "InsufficientCredits.{field}"
        );
    }
    assert!(schemas["InsufficientCredits"]["properties"]["purchase_options"].is_object());
    assert_eq!(schemas["HoldClosed"]["required"], json!(["error", "hold"]));
    // The gateway's own shape is documented beside, not mixed into, the contract's 401.
    assert_eq!(schemas["GatewayError"]["required"], json!(["message"]));
}

#[test]
fn the_adjustment_body_follows_the_rule_and_the_handler() {
    let doc = document();
    let body = &doc["components"]["schemas"]["AdjustmentBody"];
    assert_eq!(body["additionalProperties"], json!(false));
    assert_eq!(body["required"], json!(["amount", "bucket", "reason"]));
    let amount = &body["properties"]["amount"];
    let max = credits::rules::MAX_ADJUSTMENT;
    assert_eq!(
        (&amount["minimum"], &amount["maximum"], &amount["not"]),
        (&json!(-max), &json!(max), &json!({"const": 0}))
    );
    let reason = &body["properties"]["reason"];
    assert_eq!(
        (&reason["minLength"], &reason["maxLength"]),
        (&json!(1), &json!(monthly_reset::support::MAX_REASON_CHARS))
    );
}

/// The code the document names under each error status is an [`ErrorCode`] answered with that
/// status: the document and the handlers cannot disagree on a code's status.
#[test]
fn every_documented_code_is_an_error_code_with_that_status() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let code = |text: &str| {
        ErrorCode::ALL
            .into_iter()
            .find(|c| c.as_str() == text)
            .unwrap_or_else(|| panic!("{text} is not an ErrorCode"))
    };
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                let schema = &response["content"]["application/json"]["schema"];
                let refs: Vec<&Value> = match schema.get("oneOf") {
                    Some(Value::Array(all)) => all.iter().collect(),
                    _ => vec![schema],
                };
                let mut codes = Vec::new();
                for r in refs {
                    let name = r["$ref"].as_str().unwrap_or_default();
                    if name == "#/components/schemas/Error" {
                        let description = response["description"].as_str().unwrap();
                        // The codes: the snake_case words in backquotes after the first colon.
                        let (_, named) = description.split_once(": ").unwrap();
                        codes.extend(
                            named
                                .split('`')
                                .skip(1)
                                .step_by(2)
                                .filter(|w| w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
                                .map(code),
                        );
                    } else if let Some(name) = name.strip_prefix("#/components/schemas/")
                        && let Some(fixed) =
                            schemas[name]["properties"]["error"]["properties"]["code"]["enum"][0]
                                .as_str()
                    {
                        codes.push(code(fixed));
                    }
                }
                for c in codes {
                    assert_eq!(c.status().as_str(), status, "{method} {path} {status}: {c}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 20, "{checked} codes checked");
}

/// Every event the service publishes is documented, and a real one carries what its entry
/// requires: a grant and a low balance from the rule that decides them.
#[test]
fn every_published_event_is_documented_with_the_fields_it_carries() {
    use credits::account::UserId;
    use credits::rules::{self, notify};
    let doc = document();
    let documented: BTreeSet<&str> = doc["webhooks"]
        .as_object()
        .map(|w| w.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let published = BTreeSet::from([
        notify::LOW_BALANCE,
        notify::DEPLETED,
        notify::PLAN_CHANGED,
        notify::GRANTED,
        notify::PURCHASE_REJECTED,
    ]);
    assert_eq!(documented, published);

    let user = UserId::parse("alice").unwrap();
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-02T10:00:00Z")
        .unwrap()
        .to_utc();
    let opened = rules::touch(None, &user, now).account;
    let (spent, _) = rules::deduct(Some(&opened), &user, 5, "k", None, now).unwrap();
    let events = notify::events(
        notify::Committed {
            change: Some(&spent),
            cause: Some("idem:k"),
            rejected: None,
            at: now,
        },
        20,
        "w1",
    );
    assert!(!events.is_empty());
    for event in &events {
        let schema = &doc["webhooks"][event.detail_type.as_str()]["post"]["requestBody"]["content"]
            ["application/json"]["schema"];
        for field in schema["required"].as_array().unwrap() {
            let field = field.as_str().unwrap();
            assert!(
                event.detail.get(field).is_some(),
                "{}: no {field} in {}",
                event.detail_type,
                event.detail
            );
        }
    }
}
