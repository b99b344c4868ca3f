//! DynamoDB requests, items and capacity of each operation, through the probe.

use credits_e2e::{answer, keyed, on_hold};
use credits_testkit::ApiCall;
use credits_testkit::probe::Call;

use crate::Error;

pub async fn run() -> Result<(), Error> {
    let (app, probe, _) = crate::probed_app("bench-cost").await;
    let user = "cost-user";
    let balance = || ApiCall::new("GET", "/credits/balance").user(user);
    let mut rows: Vec<(String, u16, Vec<Call>)> = Vec::new();
    let mut measure = async |name: &str, call: ApiCall| -> Result<serde_json::Value, Error> {
        probe.reset();
        let (status, _, body) = answer(&app, &call).await;
        rows.push((name.to_owned(), status, probe.reset()));
        Ok(body)
    };
    measure("balance, new account (opens it)", balance()).await?;
    measure("balance, existing account", balance()).await?;
    measure(
        "deduct",
        keyed("POST", "/credits/deduct", user, "d1", r#"{"amount": 1}"#),
    )
    .await?;
    measure(
        "deduct, replayed (same key)",
        keyed("POST", "/credits/deduct", user, "d1", r#"{"amount": 1}"#),
    )
    .await?;
    measure(
        "deduct refused (402)",
        keyed("POST", "/credits/deduct", user, "d2", r#"{"amount": 99}"#),
    )
    .await?;
    let opened = measure(
        "hold (create)",
        keyed("POST", "/credits/holds", user, "h1", r#"{"amount": 2}"#),
    )
    .await?;
    let id = opened["hold_id"].as_str().unwrap_or_default().to_owned();
    measure(
        "hold commit (part)",
        on_hold("POST", user, &id, "/commit", r#"{"amount": 1}"#),
    )
    .await?;
    let opened = measure(
        "hold (create, 2nd)",
        keyed("POST", "/credits/holds", user, "h2", r#"{"amount": 1}"#),
    )
    .await?;
    let id = opened["hold_id"].as_str().unwrap_or_default().to_owned();
    measure("hold release", on_hold("DELETE", user, &id, "", "")).await?;
    measure(
        "transactions (limit 20)",
        ApiCall::new("GET", "/credits/transactions").user(user),
    )
    .await?;
    measure("plans", ApiCall::new("GET", "/credits/plans")).await?;

    println!(
        "| operation | status | DynamoDB requests | items | request bytes | capacity (emulator) | capacity (DynamoDB rule) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, status, calls) in rows {
        let ops: Vec<String> = calls
            .iter()
            .map(|c| format!("{}({})", c.operation, c.items))
            .collect();
        let items: usize = calls.iter().map(|c| c.items).sum();
        let bytes: usize = calls.iter().map(|c| c.bytes).sum();
        let reported: Vec<String> = calls
            .iter()
            .map(|c| c.capacity.map_or("-".to_owned(), |v| format!("{v}")))
            .collect();
        let estimated: f64 = calls.iter().map(Call::estimated_capacity).sum::<f64>() + 0.0;
        println!(
            "| {name} | {status} | {} = {} | {items} | {bytes} | {} | {estimated} |",
            calls.len(),
            if ops.is_empty() {
                "none".to_owned()
            } else {
                ops.join(" + ")
            },
            reported.join(" + "),
        );
    }
    Ok(())
}
