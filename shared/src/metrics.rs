//! CloudWatch Embedded Metric Format: one JSON line on stdout per observation, which Lambda's
//! log pipeline turns into metrics with no API call. Namespace `Credits`, dimension `Function`.
//! The figures of the design note: errors, latency, allocation success, reset completion.

use serde_json::{Map, Value, json};

use crate::reset::records::Counts;

pub const NAMESPACE: &str = "Credits";

/// One metric value with its CloudWatch unit (`Count`, `Milliseconds`, ...).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub value: f64,
    pub unit: &'static str,
}

impl Metric {
    pub fn count(name: &'static str, value: u64) -> Self {
        Self {
            name,
            value: value as f64,
            unit: "Count",
        }
    }

    pub fn millis(name: &'static str, value: f64) -> Self {
        Self {
            name,
            value,
            unit: "Milliseconds",
        }
    }
}

/// The EMF document for `metrics` of `function` at `timestamp_ms`.
pub fn document(function: &str, metrics: &[Metric], timestamp_ms: i64) -> Value {
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|m| json!({"Name": m.name, "Unit": m.unit}))
        .collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": definitions,
            }],
        }),
    );
    doc.insert("Function".into(), json!(function));
    for m in metrics {
        doc.insert(m.name.into(), json!(m.value));
    }
    Value::Object(doc)
}

/// Writes the metrics as one EMF line.
pub fn emit(function: &str, metrics: &[Metric]) {
    let line = document(function, metrics, chrono::Utc::now().timestamp_millis());
    println!("{line}");
}

/// What every API function reports per request: `Requests`, `Errors` (5xx), `ClientErrors`
/// (4xx) and `Latency`.
pub fn http(function: &str, status: u16, latency_ms: f64) {
    emit(
        function,
        &[
            Metric::count("Requests", 1),
            Metric::count("Errors", u64::from(status >= 500)),
            Metric::count("ClientErrors", u64::from((400..500).contains(&status))),
            Metric::millis("Latency", latency_ms),
        ],
    );
}

/// What the monthly reset reports when a run finishes: the accounts scanned, those that failed,
/// and the reset completion (the share of scanned accounts that ended current).
pub fn reset_finished(counts: &Counts) {
    emit(
        "monthly-reset",
        &[
            Metric::count("ResetAccounts", counts.scanned),
            Metric::count("ResetFailed", counts.failed),
            Metric {
                name: "ResetCompletion",
                value: counts.completion_percent(),
                unit: "Percent",
            },
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_the_embedded_metric_format() {
        let doc = document(
            "deduct",
            &[Metric::count("Errors", 1), Metric::millis("Latency", 12.5)],
            1_700_000_000_000,
        );
        let cw = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "Credits");
        assert_eq!(cw["Dimensions"], json!([["Function"]]));
        assert_eq!(
            cw["Metrics"][1],
            json!({"Name": "Latency", "Unit": "Milliseconds"})
        );
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000i64);
        // Every declared metric and dimension has its value at the top level.
        assert_eq!(
            (doc["Function"].as_str(), doc["Errors"].as_f64()),
            (Some("deduct"), Some(1.0))
        );
        assert_eq!(doc["Latency"], 12.5);
    }
}
