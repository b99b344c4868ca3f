//! The monthly reset over N accounts of last month at 1, 4 and 8 segments, each on a fresh
//! table, against the emulator's raw rate for the write a reset makes, measured on that table
//! just before.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use chrono::Utc;
use credits::account::UserId;
use credits::reset::{ResetJob, ResetSettings};

use crate::Error;

/// The emulator's rate for a TransactWriteItems of three new items (a reset writes the account
/// and two entries: expire and grant).
async fn raw_rate(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<f64, Error> {
    let rounds = 50;
    let started = Instant::now();
    for i in 0..rounds {
        let put = |sk: &str| -> Result<TransactWriteItem, Error> {
            Ok(TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(table)
                        .item("pk", AttributeValue::S(format!("RAW#{i}")))
                        .item("sk", AttributeValue::S(sk.into()))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()?,
                )
                .build())
        };
        client
            .transact_write_items()
            .transact_items(put("A")?)
            .transact_items(put("B")?)
            .transact_items(put("C")?)
            .send()
            .await?;
    }
    Ok(f64::from(rounds) / started.elapsed().as_secs_f64())
}

pub async fn run(n: usize, segment_counts: &[u32]) -> Result<(), Error> {
    println!(
        "| {n} accounts | reset s | accounts/s | emulator raw 3-item writes/s | ratio | DynamoDB requests per account |"
    );
    println!("|---|---|---|---|---|---|");
    for &segments in segment_counts {
        let (app, probe, sdk) = crate::probed_app(&format!("bench-reset-{segments}")).await;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        let users = (0..n)
            .map(|i| UserId::parse(format!("r{segments}-{i:06}")))
            .collect::<Result<Vec<_>, _>>()?;
        credits_e2e::seed_last_month(&app, users).await?;
        let raw = raw_rate(&client, &app.config.table).await?;
        let job = ResetJob::new(
            app.service.clone(),
            ResetSettings {
                segments,
                margin: Duration::ZERO,
                ..ResetSettings::default()
            },
        );
        probe.reset();
        let started = Instant::now();
        let run = job
            .start(&format!("bench-{segments}"), "bench", Utc::now())
            .await?;
        let view = job
            .run_in_process(&run, Instant::now() + Duration::from_secs(3600))
            .await?;
        let seconds = started.elapsed().as_secs_f64();
        let requests = probe.reset().len();
        let done = serde_json::to_value(&view)?;
        let reset = done["counts"]["reset"].as_u64().unwrap_or(0);
        if reset != n as u64 {
            return Err(format!("{segments} segments reset {reset} of {n}: {done}").into());
        }
        let rate = n as f64 / seconds;
        println!(
            "| {segments} segment(s) | {seconds:.1} | {rate:.0} | {raw:.0} | {:.2} | {:.2} |",
            rate / raw,
            requests as f64 / n as f64
        );
    }
    Ok(())
}
