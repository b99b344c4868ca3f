//! The monthly reset over N accounts of last month at 1, 4 and 8 segments, each on a fresh
//! table, against the emulator's raw rate for the very writes the reset made: its transactions
//! (captured by the probe) replayed one after another on a twin table seeded the same way.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use chrono::Utc;
use credits::account::UserId;
use credits::reset::{ResetJob, ResetSettings};

use crate::Error;

/// How many of the reset's transactions are replayed for the raw rate.
const REPLAYED: usize = 2_000;

/// The emulator's rate for `txs` sent one at a time by one client to `table`: the store's own
/// speed for these writes, with nothing of the job around them.
async fn raw_rate(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    txs: Vec<TransactWriteItemsInput>,
) -> Result<f64, Error> {
    let count = txs.len();
    let started = Instant::now();
    for tx in txs {
        let mut items = tx.transact_items.unwrap_or_default();
        for item in &mut items {
            if let Some(p) = item.put.as_mut() {
                p.table_name = table.to_owned();
            }
            if let Some(u) = item.update.as_mut() {
                u.table_name = table.to_owned();
            }
        }
        client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await?;
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

pub async fn run(n: usize, segment_counts: &[u32]) -> Result<(), Error> {
    println!(
        "| {n} accounts | reset s | accounts/s | emulator raw rate of the same writes /s | ratio | DynamoDB requests per account |"
    );
    println!("|---|---|---|---|---|---|");
    for &segments in segment_counts {
        let (app, probe, _) = crate::probed_app(&format!("bench-reset-{segments}")).await;
        let twin = credits_testkit::isolated_app(&format!("bench-reset-twin-{segments}")).await;
        let users = (0..n)
            .map(|i| UserId::parse(format!("r{segments}-{i:06}")))
            .collect::<Result<Vec<_>, _>>()?;
        credits_e2e::seed_last_month(&app, users.clone()).await?;
        credits_e2e::seed_last_month(&twin, users).await?;
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
        let view = monthly_reset::in_process::run_segments(
            &job,
            &app.clock,
            &run,
            Instant::now() + Duration::from_secs(3600),
        )
        .await?;
        let seconds = started.elapsed().as_secs_f64();
        // The accounts' resets (three items each), not the run's own record.
        let resets: Vec<_> = probe
            .take_transactions()
            .into_iter()
            .filter(|tx| {
                let items = tx.transact_items.as_deref().unwrap_or_default();
                items.len() == 3 && items[0].update.is_some()
            })
            .take(REPLAYED)
            .collect();
        let requests = probe.reset().len();
        let done = serde_json::to_value(&view)?;
        let reset = done["counts"]["reset"].as_u64().unwrap_or(0);
        if reset != n as u64 {
            return Err(format!("{segments} segments reset {reset} of {n}: {done}").into());
        }
        let raw = raw_rate(twin.service.store().client(), &twin.config.table, resets).await?;
        let rate = n as f64 / seconds;
        println!(
            "| {segments} segment(s) | {seconds:.1} | {rate:.0} | {raw:.0} | {:.2} | {:.2} |",
            rate / raw,
            requests as f64 / n as f64
        );
    }
    Ok(())
}
