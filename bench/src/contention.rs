//! Concurrent deducts: all on one account (every write races every other) and one per account
//! (no races: the store's own rate is the limit).

use std::sync::Arc;
use std::time::{Duration, Instant};

use credits_e2e::{answer, keyed};

use crate::Error;
use crate::stats::{Summary, ms};

pub async fn run(n: usize) -> Result<(), Error> {
    let (app, _probe, _) = crate::probed_app("bench-contention").await;
    let app = Arc::new(app);
    println!(
        "| {n} concurrent deducts of 1 | wall ms | deducts/s | 200 | 503 | other | conflict retries | p50 ms | p99 ms | max ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (label, users) in [
        ("on one account".to_owned(), vec!["hot".to_owned(); n]),
        (
            format!("on {n} accounts"),
            (0..n).map(|i| format!("cold-{i}")).collect(),
        ),
    ] {
        // Open every account first (Lifetime: 500 credits), so the run measures deducts only.
        let mut opened = users.clone();
        opened.dedup();
        for u in &opened {
            crate::lifetime(&app, u).await?;
        }
        let retries_before = credits::service::conflict_retries();
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for (i, user) in users.into_iter().enumerate() {
            let app = app.clone();
            set.spawn(async move {
                let call = keyed(
                    "POST",
                    "/credits/deduct",
                    &user,
                    &format!("k{i}"),
                    r#"{"amount": 1}"#,
                );
                let t = Instant::now();
                let (status, _, _) = answer(&app, &call).await;
                (status, t.elapsed())
            });
        }
        let results: Vec<(u16, Duration)> = set.join_all().await;
        let wall = start.elapsed();
        let retries = credits::service::conflict_retries() - retries_before;
        let count = |s: u16| results.iter().filter(|r| r.0 == s).count();
        let lat = Summary::new(results.iter().map(|r| r.1).collect());
        println!(
            "| {label} | {} | {:.0} | {} | {} | {} | {retries} | {} | {} | {} |",
            ms(wall),
            count(200) as f64 / wall.as_secs_f64(),
            count(200),
            count(503),
            results.len() - count(200) - count(503),
            ms(lat.pct(50.0)),
            ms(lat.pct(99.0)),
            ms(lat.max()),
        );
    }
    Ok(())
}
