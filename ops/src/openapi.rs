//! The OpenAPI 3.1 document of the HTTP API. Every body's schema is derived from the Rust type
//! the handlers serialise or parse (`utoipa::ToSchema`, feature `openapi` of the core and the
//! function crates); the routes and parameters are written here, next to the schemas, and the
//! error codes come from [`ErrorCode`]; the whole is checked against the template's routes and
//! the committed `infra/openapi.json` by this module's tests. `credits-ops openapi` prints it.

use std::collections::BTreeMap;

use credits::api::ErrorCode;
use credits::plan::Plan;
use credits::views::{
    BalanceView, Deducted, HoldEnded, HoldOpened, InsufficientView, PlansView, PreviewView,
    TransactionsPage,
};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

/// Where the committed copy lives, relative to the workspace root.
pub const COMMITTED_PATH: &str = "infra/openapi.json";
/// The committed copy: what infra and clients use, and what the local stack serves.
pub const COMMITTED: &str = include_str!("../../infra/openapi.json");

const TX_ID_PATTERN: &str = r"^tx_[0-9]{12}$";
const HOLD_ID_PATTERN: &str = r"^h_[0-9]{12}$";

/// The document, as JSON text (pretty, with a final newline) exactly as committed.
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}

pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Credits API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Subscription credits: balance, spending, holds, plans, status, the admin reset and support's adjustments. Every error is \
                `{\"error\": {\"code\", \"message\"}}` with a stable snake_case `code`; extra \
                fields may sit beside `error`. The user is always the bearer token's `sub`.",
        },
        "servers": [{"url": "http://127.0.0.1:3000", "description": "the local stack (scripts/stack)"}],
        "security": [{"bearer": []}],
        "paths": paths(),
        "webhooks": events::events(),
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A JWT whose `sub` is the user (API Gateway's JWT authorizer; \
                        HS256 with LOCAL_JWT_SECRET on the local stack).",
                },
            },
        },
    })
}

fn paths() -> Value {
    json!({
        "/credits/balance": {
            "get": {
                "operationId": "getBalance",
                "summary": "The caller's balance",
                "description": "Applies this period's reset first if the account has not seen it yet.",
                "tags": ["credits"],
                "responses": responses(&[
                    ("200", named("The balance view", "BalanceView")),
                    ("401", unauthorized()),
                ], true),
            },
        },
        "/credits/transactions": {
            "get": {
                "operationId": "listTransactions",
                "summary": "The caller's ledger, newest first",
                "tags": ["credits"],
                "parameters": page_parameters(),
                "responses": responses(&[
                    ("200", named("A page of ledger entries", "TransactionsPage")),
                    ("400", error("`limit` or `cursor` malformed or given twice", &[ErrorCode::InvalidRequest])),
                    ("401", unauthorized()),
                ], true),
            },
        },
        "/credits/plans": {
            "get": {
                "operationId": "listPlans",
                "summary": "Plans with their monthly credits, the packages on sale (v1 with purchases on) and the feature prices",
                "tags": ["credits"],
                "security": [],
                "responses": responses(&[("200", named("Plans and packages", "PlansView"))], false),
            },
        },
        "/credits/preview": {
            "get": {
                "operationId": "previewPlanChange",
                "summary": "What moving the caller to a plan would do now",
                "description": "Decided by the rule a Stripe plan change applies, on the account \
                    as stored, at the time of the request; nothing is written (a user never seen \
                    is previewed from the Free account they would get). An upgrade grants the \
                    difference of the allowances at once, prorated over the days left in the \
                    period; a downgrade caps this period's monthly credits at the new allowance; \
                    the current plan is a change of zero.",
                "tags": ["credits"],
                "parameters": [{
                    "name": "plan", "in": "query", "required": true,
                    "description": "The plan to preview.",
                    "schema": {"type": "string", "enum": Plan::ALL.map(Plan::id)},
                }],
                "responses": responses(&[
                    ("200", named("The change as it would apply now", "PreviewView")),
                    ("400", error("`plan` missing, unknown or given twice", &[ErrorCode::InvalidRequest])),
                    ("401", unauthorized()),
                ], true),
            },
        },
        "/credits/deduct": {
            "post": {
                "operationId": "deduct",
                "summary": "Spend credits, all or nothing, once per Idempotency-Key",
                "description": "Monthly credits first, then purchased ones. The same key with the \
                    same body replays the first answer (header `Idempotent-Replayed: true`) and \
                    deducts nothing more; with another body it is a 409. A refused request is not \
                    remembered.",
                "tags": ["credits"],
                "parameters": [idempotency_key()],
                "requestBody": {
                    "required": true,
                    "content": {"application/json": {"schema": schema_ref("DeductBody")}},
                },
                "responses": responses(&[
                    ("200", with_headers(
                        named("Deducted; the balance view after it", "Deducted"),
                        replayed_header(),
                    )),
                    ("400", error(
                        "Invalid body or Idempotency-Key, or a `feature` the price list does not hold (named in `feature` beside `error`)",
                        &[ErrorCode::InvalidRequest, ErrorCode::UnknownFeature],
                    )),
                    ("401", unauthorized()),
                    ("402", named("Not enough credits: nothing was deducted", "InsufficientCredits")),
                    ("409", named("This Idempotency-Key was used with another body", "IdempotencyConflict")),
                ], true),
            },
        },
        "/credits/holds": {
            "post": {
                "operationId": "createHold",
                "summary": "Reserve credits for work whose cost is known only when it ends",
                "description": "Takes the whole amount out of the spendable balance at once \
                    (monthly credits first) or fails with 402. The hold ends with a commit, a \
                    release, or on its own after `ttl_seconds`. Idempotent by \
                    `Idempotency-Key`, as deduct.",
                "tags": ["holds"],
                "parameters": [idempotency_key()],
                "requestBody": {
                    "required": true,
                    "content": {"application/json": {"schema": schema_ref("HoldBody")}},
                },
                "responses": responses(&[
                    ("201", with_links(
                        with_headers(
                            named("The hold, and the balance view with its credits held", "Opened"),
                            replayed_header(),
                        ),
                        json!({
                            "commitHold": {"operationId": "commitHold", "parameters": {"id": "$response.body#/hold_id"}},
                            "releaseHold": {"operationId": "releaseHold", "parameters": {"id": "$response.body#/hold_id"}},
                        }),
                    )),
                    ("400", error(
                        "Invalid body or Idempotency-Key, or a `feature` the price list does not hold (named in `feature` beside `error`)",
                        &[ErrorCode::InvalidRequest, ErrorCode::UnknownFeature],
                    )),
                    ("401", unauthorized()),
                    ("402", named("Not enough credits: nothing was held", "InsufficientCredits")),
                    ("409", one_of(
                        "This Idempotency-Key was used with another body, or too many holds are open",
                        &["IdempotencyConflict", "TooManyHolds"],
                    )),
                ], true),
            },
        },
        "/credits/holds/{id}/commit": {
            "post": {
                "operationId": "commitHold",
                "summary": "Spend all or part of a hold; the rest returns to the balance",
                "tags": ["holds"],
                "parameters": [hold_id()],
                "requestBody": {
                    "required": false,
                    "description": "No body (or no `amount`) commits the whole hold.",
                    "content": {"application/json": {"schema": schema_ref("CommitBody")}},
                },
                "responses": responses(&[
                    ("200", named("The hold's end, and the balance view after it", "Closed")),
                    ("400", error("Invalid body, or more than the hold holds", &[ErrorCode::InvalidRequest])),
                    ("401", unauthorized()),
                    ("404", error("No such hold for this user", &[ErrorCode::HoldNotFound])),
                    ("409", named("The hold has already ended (committed, released or expired)", "HoldClosed")),
                ], true),
            },
        },
        "/credits/holds/{id}": {
            "delete": {
                "operationId": "releaseHold",
                "summary": "Release a hold: all its credits return to the balance",
                "tags": ["holds"],
                "parameters": [hold_id()],
                "responses": responses(&[
                    ("200", named("The hold's end, and the balance view after it", "Closed")),
                    ("401", unauthorized()),
                    ("404", error("No such hold for this user", &[ErrorCode::HoldNotFound])),
                    ("409", named("The hold has already ended (committed, released or expired)", "HoldClosed")),
                ], true),
            },
        },
        "/credits/status": {
            "get": {
                "operationId": "getStatus",
                "summary": "The switch in force, the store's health and the build",
                "description": "Public. The local stack also shows the caller's balance \
                    (`account`) when the request carries a valid token; a deployment does that \
                    on `/credits/status/me` only.",
                "tags": ["operations"],
                "security": [],
                "responses": responses(&[("200", named("The status", "StatusView"))], true),
            },
        },
        "/credits/status/me": {
            "get": {
                "operationId": "getMyStatus",
                "summary": "The status, with the caller's balance view in `account`",
                "tags": ["operations"],
                "responses": responses(&[
                    ("200", named("The status and the caller's balance", "StatusView")),
                    ("401", unauthorized()),
                ], true),
            },
        },
        "/admin/credits/reset": {
            "post": {
                "operationId": "startReset",
                "summary": "Start the monthly reset run for the current period (admins only)",
                "description": "The token's `cognito:groups` must hold the admin group. A run \
                    applies each account's reset at most once per period, whoever applies it.",
                "tags": ["operations"],
                "responses": responses(&[
                    ("200", named("The run, finished", "RunView")),
                    ("202", named("The run, started and still running", "RunView")),
                    ("401", unauthorized()),
                    ("403", error("The caller is not an administrator", &[ErrorCode::Forbidden])),
                ], true),
            },
        },
        "/admin/credits/users/{user_id}": {
            "get": {
                "operationId": "getUserAccount",
                "summary": "A user's balance view and the first page of their ledger (admins only)",
                "description": "For support. Applies a due reset first, as the user's own reads do; \
                    never opens an account: a user the service has never seen is a 404.",
                "tags": ["support"],
                "parameters": ([vec![user_id()], page_parameters().to_vec()].concat()),
                "responses": responses(&[
                    ("200", named("The balance view and a page of the ledger, newest first", "UserAccount")),
                    ("400", error("`limit` or `cursor` malformed or given twice", &[ErrorCode::InvalidRequest])),
                    ("401", unauthorized()),
                    ("403", error("The caller is not an administrator", &[ErrorCode::Forbidden])),
                    ("404", error("The service has never seen this user", &[ErrorCode::UserNotFound])),
                ], true),
            },
        },
        "/admin/credits/users/{user_id}/adjustments": {
            "post": {
                "operationId": "adjustCredits",
                "summary": "Add credits to a user's bucket or take some out, with a reason (admins only)",
                "description": "One `adjust` entry whose cause names the admin's `sub` and the \
                    key (`admin:<sub> idem:<key>`). Never takes a bucket below zero (409). \
                    Idempotent by `Idempotency-Key` (scoped to the admin and the user), as deduct: \
                    the same key and body replay the first answer; another body is a 409.",
                "tags": ["support"],
                "parameters": [user_id(), idempotency_key()],
                "requestBody": {
                    "required": true,
                    "content": {"application/json": {"schema": schema_ref("AdjustmentBody")}},
                },
                "responses": responses(&[
                    ("201", with_headers(
                        named("Adjusted: the ledger entry and the balance view after it", "Adjusted"),
                        replayed_header(),
                    )),
                    ("400", error("Invalid body or Idempotency-Key", &[ErrorCode::InvalidRequest])),
                    ("401", unauthorized()),
                    ("403", error("The caller is not an administrator", &[ErrorCode::Forbidden])),
                    ("404", error("The service has never seen this user", &[ErrorCode::UserNotFound])),
                    ("409", one_of(
                        "The bucket holds less than the adjustment takes, or this Idempotency-Key was used with another body",
                        &["InsufficientBucket", "IdempotencyConflict"],
                    )),
                ], true),
            },
        },
    })
}

/// `limit` and `cursor`: a page of the ledger.
fn page_parameters() -> [Value; 2] {
    [
        json!({
            "name": "limit", "in": "query", "required": false,
            "description": "Entries per page (default 20).",
            "schema": {"type": "integer", "minimum": balance::MIN_LIMIT, "maximum": balance::MAX_LIMIT, "default": balance::DEFAULT_LIMIT},
        }),
        json!({
            "name": "cursor", "in": "query", "required": false,
            "description": "The `next_cursor` of the previous page.",
            "schema": {"type": "string", "pattern": TX_ID_PATTERN},
        }),
    ]
}

/// The `{user_id}` of support's routes: a user's `sub`.
fn user_id() -> Value {
    json!({
        "name": "user_id", "in": "path", "required": true,
        "description": "The user's `sub`.",
        "schema": {"type": "string", "minLength": 1, "maxLength": credits::account::UserId::MAX_LEN},
    })
}

fn hold_id() -> Value {
    json!({
        "name": "id", "in": "path", "required": true,
        "description": "The `hold_id` a create answered.",
        "schema": {"type": "string", "pattern": HOLD_ID_PATTERN},
    })
}

fn replayed_header() -> Value {
    json!({"Idempotent-Replayed": {
        "description": "`true` when this is the replay of an earlier answer.",
        "schema": {"type": "string", "enum": ["true"]},
    }})
}

/// The `Idempotency-Key` header, as the handlers check it.
fn idempotency_key() -> Value {
    json!({
        "name": "Idempotency-Key", "in": "header", "required": true,
        "description": "1 to 255 visible ASCII characters, such as a UUID; scoped to the user, kept 24 h.",
        "schema": {"type": "string", "minLength": 1, "maxLength": deduct::MAX_KEY_LEN, "pattern": "^[!-~]+$"},
    })
}

/// The given responses, plus the two every store-backed route may give.
fn responses(list: &[(&str, Value)], store: bool) -> Value {
    let mut out: Map<String, Value> = list
        .iter()
        .map(|(status, r)| ((*status).to_owned(), r.clone()))
        .collect();
    if store {
        out.insert(
            "500".into(),
            error(
                "Internal error (opaque; complete in the log)",
                &[ErrorCode::InternalError],
            ),
        );
        out.insert(
            "503".into(),
            with_headers(
                error(
                    "The store is unreachable or the account stayed busy; nothing was written, \
                     retrying (with the same Idempotency-Key) is safe",
                    &[ErrorCode::ServiceUnavailable],
                ),
                json!({"Retry-After": {
                    "description": "Seconds to wait.",
                    "schema": {"type": "string", "pattern": "^[0-9]+$"},
                }}),
            ),
        );
    }
    Value::Object(out)
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// An answer whose body is the named schema.
fn named(description: &str, schema: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema_ref(schema)}}})
}

/// What a client (and schemathesis' stateful phase) can call next with this answer.
fn with_links(mut response: Value, links: Value) -> Value {
    response["links"] = links;
    response
}

fn with_headers(mut response: Value, headers: Value) -> Value {
    response["headers"] = headers;
    response
}

/// An error answer of the shared `Error` schema, its possible `code`s named in the description
/// (one `$ref` for all of them: generated clients make one error type, not one per answer).
fn error(description: &str, codes: &[ErrorCode]) -> Value {
    let codes: Vec<String> = codes.iter().map(|c| format!("`{c}`")).collect();
    json!({
        "description": format!("{description}: {}", codes.join(" or ")),
        "content": {"application/json": {"schema": schema_ref("Error")}},
    })
}

/// An answer whose body is one of the named schemas (told apart by `error.code`).
fn one_of(description: &str, schemas: &[&str]) -> Value {
    let refs: Vec<Value> = schemas.iter().map(|s| schema_ref(s)).collect();
    json!({"description": description, "content": {"application/json": {"schema": {"oneOf": refs}}}})
}

/// The contract's 401. A deployed HTTP API's JWT authorizer answers a missing or invalid token
/// itself, before any function runs, with `{"message": "Unauthorized"}` (`GatewayError`): kept
/// out of this answer's schema, so that `error.code` stays readable on every error type.
fn unauthorized() -> Value {
    json!({
        "description": format!(
            "No valid bearer token: `{}`. (A deployed HTTP API's JWT authorizer answers this \
             itself, before any function runs, with a `GatewayError` body, \
             `{{\"message\": \"Unauthorized\"}}`; HTTP APIs cannot reshape it.)",
            ErrorCode::Unauthorized
        ),
        "content": {"application/json": {"schema": schema_ref("Error")}},
    })
}

/// A flat error schema: `error` with `code` fixed to `code`, and `fields`' properties beside it,
/// so that checking `error.code` tells a client which fields are there.
fn flat_error(code: ErrorCode, description: &str, fields: Option<Value>) -> Value {
    let mut properties = Map::new();
    properties.insert(
        "error".into(),
        json!({
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "enum": [code]},
                "message": {"type": "string", "description": "For people; may change."},
            },
        }),
    );
    let mut required = vec![json!("error")];
    if let Some(fields) = fields {
        if let Some(p) = fields.get("properties").and_then(Value::as_object) {
            properties.extend(p.clone());
        }
        if let Some(r) = fields.get("required").and_then(Value::as_array) {
            required.extend(r.iter().cloned());
        }
    }
    json!({
        "description": description,
        "type": "object",
        "required": required,
        "properties": properties,
    })
}

/// Every body schema, derived from the Rust types, and the error shape.
fn schemas() -> Value {
    let mut all = BTreeMap::new();
    add::<BalanceView>(&mut all);
    add::<TransactionsPage>(&mut all);
    add::<PlansView>(&mut all);
    add::<PreviewView>(&mut all);
    add::<InsufficientView>(&mut all);
    add::<deduct::DeductAmount>(&mut all);
    add::<deduct::DeductFeature>(&mut all);
    add::<Deducted>(&mut all);
    add::<deduct::HoldAmount>(&mut all);
    add::<deduct::HoldFeature>(&mut all);
    add::<HoldOpened>(&mut all);
    add::<deduct::CommitBody>(&mut all);
    add::<HoldEnded>(&mut all);
    add::<credits::rules::ClosedHold>(&mut all);
    add::<status::StatusView>(&mut all);
    add::<credits::views::RunView>(&mut all);
    // The handlers take exactly one of `amount` and `feature`: one schema each, so generated
    // clients get a union of the two shapes.
    for (body, amount, feature, what) in [
        (
            "DeductBody",
            "DeductAmount",
            "DeductFeature",
            "What to spend",
        ),
        ("HoldBody", "HoldAmount", "HoldFeature", "What to hold"),
    ] {
        all.insert(
            body.to_owned(),
            json!({
                "description": format!("{what}: `amount` credits, or `feature` and `quantity` \
                    priced from the price list (`GET /credits/plans`); exactly one of the two."),
                "oneOf": [schema_ref(amount), schema_ref(feature)],
            }),
        );
    }
    add::<monthly_reset::support::UserAccount>(&mut all);
    add::<monthly_reset::support::AdjustmentBody>(&mut all);
    add::<credits::views::Adjusted>(&mut all);
    // Not 0: a rule utoipa cannot derive.
    all.entry("AdjustmentBody".to_owned()).and_modify(|body| {
        body["properties"]["amount"]["not"] = json!({"const": 0});
    });
    let insufficient = all.remove("InsufficientView");
    all.insert(
        "InsufficientCredits".to_owned(),
        flat_error(
            ErrorCode::InsufficientCredits,
            "402: not enough credits, nothing changed; what the user has, needs, and can do about it.",
            insufficient,
        ),
    );
    all.insert(
        "IdempotencyConflict".to_owned(),
        flat_error(
            ErrorCode::IdempotencyConflict,
            "409: this Idempotency-Key was used with another request; nothing changed.",
            None,
        ),
    );
    all.insert(
        "TooManyHolds".to_owned(),
        flat_error(
            ErrorCode::TooManyHolds,
            "409: the account has as many open holds as it may; commit or release one.",
            None,
        ),
    );
    all.insert(
        "InsufficientBucket".to_owned(),
        flat_error(
            ErrorCode::InsufficientBucket,
            "409: the adjustment would take the bucket below zero; nothing changed. What the \
             bucket holds now is `available`.",
            Some(json!({
                "required": ["bucket", "available"],
                "properties": {
                    "bucket": schema_ref("Bucket"),
                    "available": {"type": "integer", "format": "int64", "minimum": 0},
                },
            })),
        ),
    );
    all.insert(
        "HoldClosed".to_owned(),
        flat_error(
            ErrorCode::HoldClosed,
            "409: the hold has already ended; its final record is in `hold`.",
            Some(json!({"required": ["hold"], "properties": {"hold": schema_ref("ClosedHold")}})),
        ),
    );
    all.insert(
        "Error".to_owned(),
        json!({
            "description": "Every error answer: `code` is stable snake_case; some answers add \
                fields beside `error` (`InsufficientCredits`, `InsufficientBucket`, `HoldClosed`).",
            "type": "object",
            "required": ["error"],
            "properties": {"error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "description": "Stable, snake_case."},
                    "message": {"type": "string", "description": "For people; may change."},
                },
            }},
        }),
    );
    all.insert(
        "GatewayError".to_owned(),
        json!({
            "description": "What a deployed API Gateway answers itself, before any function \
                runs: `{\"message\": \"Unauthorized\"}` for a missing or invalid token (401), \
                `{\"message\": \"Not Found\"}` for an unknown route. The local gateway answers \
                those in the `Error` shape.",
            "type": "object",
            "required": ["message"],
            "properties": {"message": {"type": "string"}},
        }),
    );
    json!(all)
}

/// `T`'s schema and those it refers to.
fn add<T: ToSchema>(all: &mut BTreeMap<String, Value>) {
    let mut found = vec![(T::name().into_owned(), T::schema())];
    T::schemas(&mut found);
    for (name, schema) in found.into_iter().filter(|(name, _)| name != "i64") {
        let mut schema = serde_json::to_value(schema).unwrap_or_default();
        inline_primitives(&mut schema);
        all.insert(name, schema);
    }
}

/// utoipa refers to a field of an alias of a primitive (`Credits = i64`) by the primitive's
/// name, as if it were a component: such references become the primitive's schema.
fn inline_primitives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.get("$ref").and_then(Value::as_str) == Some("#/components/schemas/i64") {
                m.remove("$ref");
                m.insert("type".into(), json!("integer"));
                m.insert("format".into(), json!("int64"));
            }
            m.values_mut().for_each(inline_primitives);
        }
        Value::Array(a) => a.iter_mut().for_each(inline_primitives),
        _ => {}
    }
}

mod events;
#[cfg(test)]
mod tests;
