use serde_json::json;

use super::*;

fn record(event: &str, pk: &str) -> Value {
    json!({"eventName": event, "dynamodb": {"Keys": {"pk": {"S": pk}, "sk": {"S": "2026-11-02T00:00:00.000Z#ab"}}}})
}

#[test]
fn a_stream_batch_yields_the_keys_of_new_outbox_items_only() {
    let batch = json!({"Records": [
        record("INSERT", "OUTBOX#3"),
        record("REMOVE", "OUTBOX#3"),
        record("INSERT", "USER#alice"),
        {"eventName": "INSERT", "dynamodb": {}},
    ]});
    assert_eq!(
        outbox_keys(&batch),
        [(
            "OUTBOX#3".to_owned(),
            "2026-11-02T00:00:00.000Z#ab".to_owned()
        )]
    );
    assert!(outbox_keys(&json!({})).is_empty());
}

#[test]
fn settings_default_and_name_a_bad_variable() {
    let defaults = Settings::from_lookup(|_| None).unwrap();
    assert_eq!(defaults.bus, "credits");
    assert_eq!(defaults.sweep_age, Duration::from_secs(120));
    let e =
        Settings::from_lookup(|n| (n == "CREDITS_OUTBOX_SWEEP_AGE_SECONDS").then(|| "soon".into()))
            .unwrap_err();
    assert_eq!(e.name, "CREDITS_OUTBOX_SWEEP_AGE_SECONDS");
    let e = Settings::from_lookup(|n| (n == "CREDITS_EVENT_BUS").then(|| " ".into())).unwrap_err();
    assert_eq!(e.name, "CREDITS_EVENT_BUS");
    let c = PublisherConfig::from_lookup(|n| (n == "CREDITS_TABLE").then(|| "t1".into())).unwrap();
    assert_eq!((c.app.table.as_str(), c.publish), ("t1", defaults));
}
