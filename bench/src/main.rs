//! The benchmark harness (`scripts/bench` runs it against a private emulator): prints each
//! figure as a Markdown table for BENCHMARKS.md. Not a test: figures depend on the machine.
//!
//! ```text
//! credits-bench cost                      DynamoDB requests and capacity of each operation
//! credits-bench overhead [N]              handler vs the bare SDK calls it makes, p50/p99
//! credits-bench contention [N]            N concurrent deducts on one account and on N accounts
//! credits-bench coldstart BIN... [--runs R]  process start to first event, peak RSS
//! credits-bench reset [N [SEGMENTS...]]  the monthly reset at 1, 4, 8 segments vs the raw rate
//! ```

mod coldstart;
mod contention;
mod cost;
mod overhead;
mod reset;
mod stats;

use credits::app::App;
use credits_testkit::probe::Probe;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: usize| -> usize {
        args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default)
    };
    match args.first().map(String::as_str) {
        Some("cost") => cost::run().await,
        Some("overhead") => overhead::run(number(1, 300)).await,
        Some("contention") => contention::run(number(1, 64)).await,
        Some("coldstart") => coldstart::run(&args[1..]).await,
        Some("reset") => {
            let segments: Vec<u32> = args.iter().skip(2).filter_map(|a| a.parse().ok()).collect();
            let segments = if segments.is_empty() { vec![1, 4, 8] } else { segments };
            reset::run(number(1, 10_000), &segments).await
        }
        _ => Err("usage: credits-bench cost | overhead [N] | contention [N] | coldstart BIN... [--runs R]".into()),
    }
}

/// An App on a fresh table in the emulator, its DynamoDB client carrying a probe.
/// Also the SDK configuration, for clients of the harness's own.
pub async fn probed_app(tag: &str) -> (App, Probe, aws_config::SdkConfig) {
    let (sdk, config) = credits_testkit::isolated(tag).await;
    let probe = Probe::new();
    let app = App::with_clients(probe.client(&sdk), aws_sdk_ssm::Client::new(&sdk), config);
    (app, probe, sdk)
}

/// Gives `user` the Lifetime plan and an Enterprise package (1,000 purchased credits), for runs
/// of many deducts.
pub async fn lifetime(app: &App, user: &str) -> Result<(), Error> {
    let user = credits::account::UserId::parse(user)?;
    let now = chrono::Utc::now();
    app.service
        .apply(&user, now, |current| {
            let upgraded = credits::rules::change_plan(
                current,
                &user,
                credits::plan::Plan::Lifetime,
                "bench",
                now,
            );
            let mut bought = credits::rules::purchase(
                Some(&upgraded.account),
                &user,
                credits::plan::Package::Enterprise,
                "bench",
                now,
            );
            let mut entries = upgraded.entries;
            entries.append(&mut bought.entries);
            bought.entries = entries;
            bought.opened |= upgraded.opened;
            Ok(bought)
        })
        .await?;
    Ok(())
}
