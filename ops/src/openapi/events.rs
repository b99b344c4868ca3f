//! The OpenAPI document's `webhooks`: the events the service publishes on its EventBridge bus,
//! one entry per `detail-type`, each with its `detail` as the request body.

use credits::plan::Plan;
use credits::rules::notify;
use serde_json::{Map, Value, json};

/// The events the service publishes on its EventBridge bus (source `credits`), one entry per
/// `detail-type`: what an application's rule receives (docs/api.md, "Notifications").
pub(super) fn events() -> Value {
    let string = json!({"type": "string"});
    let integer = json!({"type": "integer"});
    let plan = json!({"type": "string", "enum": Plan::ALL.map(Plan::id)});
    let each: [(&str, &str, Value, &[&str]); 5] = [
        (
            notify::LOW_BALANCE,
            "A change took the spendable balance from above the threshold \
             (`CREDITS_LOW_BALANCE_PERCENT` of the plan's allowance) to at or below it.",
            json!({"threshold": integer, "percent": integer}),
            &["threshold", "percent"],
        ),
        (
            notify::DEPLETED,
            "A change took the spendable balance from above 0 to 0.",
            json!({}),
            &[],
        ),
        (
            notify::PLAN_CHANGED,
            "The plan changed (a subscription, a lifetime payment or its refund).",
            json!({"old_plan": plan, "new_plan": plan, "cause": string}),
            &["old_plan", "new_plan", "cause"],
        ),
        (
            notify::GRANTED,
            "Credits were added: the monthly reset, a v1 package, an upgrade's prorated \
             difference, or a support adjustment.",
            json!({
                "reason": {"type": "string", "enum": ["reset", "purchase", "upgrade", "adjustment"]},
                "amount": integer,
                "bucket": {"type": "string", "enum": ["monthly", "purchased"]},
                "entry_id": string,
                "cause": string,
            }),
            &["reason", "amount", "bucket", "entry_id", "cause"],
        ),
        (
            notify::PURCHASE_REJECTED,
            "A v2 package checkout recorded as rejected, to refund.",
            json!({"purchase": {"type": "object", "description": "`session`, `price`, `product`, \
                `amount`, `payment_intent`, `stripe_event_id`"}}),
            &["purchase"],
        ),
    ];
    let mut all = Map::new();
    for (kind, when, extra, required) in each {
        let mut properties = json!({
            "event_id": {"type": "string", "description": "The same on every delivery of this event: deduplicate on it."},
            "user_id": string,
            "entries": {"type": "array", "items": string, "description": "The ledger entries the change wrote."},
            "balance": {"type": ["object", "null"], "description": "The balance view after the change, \
                without `version`; null on a rejected purchase."},
            "at": {"type": "string", "format": "date-time"},
        });
        if let (Some(all), Some(more)) = (properties.as_object_mut(), extra.as_object()) {
            all.extend(more.clone());
        }
        let mut needed = vec!["event_id", "user_id", "entries", "balance", "at"];
        needed.extend_from_slice(required);
        all.insert(
            kind.to_owned(),
            json!({"post": {
                "operationId": kind.replace('.', "_"),
                "summary": kind,
                "description": format!("{when} Delivered by EventBridge to the targets of a rule \
                    on the bus (`source` `credits`, `detail-type` `{kind}`); the request body is \
                    the event's `detail`."),
                "tags": ["events"],
                "security": [],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": properties,
                    "required": needed,
                }}}},
                "responses": {"200": {"description": "Received."}},
            }}),
        );
    }
    Value::Object(all)
}
