//! The model-based test of whole histories : random histories of users, Stripe,
//! operators, the clock and store faults run through the real handlers against the emulator,
//! and after every step the product must agree with a reference model written from SPEC.md.
//! A failing history prints its seed and shrinks to a short reproduction.
//!
//! `MODEL_CASES` (default 40) histories, stopping early after `MODEL_SECONDS` (default 100);
//! `MODEL_SEED` replays a seed; `MODEL_STEPS` (default 40) bounds a history's length;
//! `MODEL_SHRINK_SECONDS` (default 300) bounds the shrinking; `MODEL_LOG=1` shows the product's
//! log (`RUST_LOG`). `scripts/model` runs it longer.

mod check;
mod generator;
mod ops;
mod runner;
mod spec;
mod spec_tests;
mod stripe;

use std::time::{Duration, Instant};

use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

fn var(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| parse(&v))
        .unwrap_or(default)
}

fn parse(v: &str) -> Option<u64> {
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

fn rng(seed: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(
            &(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_le_bytes(),
        );
    }
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

fn render(h: &generator::History) -> String {
    let mut out = format!(
        "start {} ({}), purchases {:?}\n",
        h.start,
        spec::rfc3339(h.start),
        h.purchases
    );
    for (i, step) in h.steps.iter().enumerate() {
        let fault = step.fault.map_or(String::new(), |f| format!("[{f:?}] "));
        out.push_str(&format!("  {i:>2}: {fault}{:?}\n", step.cmd));
    }
    out
}

#[test]
fn histories_agree_with_the_model() {
    let cases = var("MODEL_CASES", 40);
    let budget = Duration::from_secs(var("MODEL_SECONDS", 100));
    let steps = var("MODEL_STEPS", 40) as usize;
    let random = {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    };
    let seed = var("MODEL_SEED", random);
    if var("MODEL_LOG", 0) == 1 {
        credits::app::init_logging();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let env = rt.block_on(runner::Env::start());
    // MODEL_KEEP_GOING=1 reports each failing history and goes on (to list distinct defects).
    let keep_going = var("MODEL_KEEP_GOING", 0) == 1;
    let started = Instant::now();
    let (mut tried, mut failed) = (0, 0);
    while tried < cases && started.elapsed() < budget {
        let case = seed.wrapping_add(tried);
        let config = Config {
            cases: 1,
            failure_persistence: None,
            max_shrink_iters: 10_000,
            max_shrink_time: 1000 * var("MODEL_SHRINK_SECONDS", 300) as u32,
            ..Config::default()
        };
        let mut runner = TestRunner::new_with_rng(config, rng(case));
        let result = runner.run(&generator::history(steps), |h| {
            let run = async { runner::Run::new(&env, &h).await.all().await };
            rt.block_on(run).map_err(TestCaseError::fail)
        });
        tried += 1;
        match result {
            Ok(()) => {}
            Err(TestError::Fail(why, h)) => {
                let report = format!(
                    "history {} disagrees with the model (reproduce: MODEL_SEED={case:#x} MODEL_CASES=1); \
                     shrunk to:\n{}{why}",
                    tried - 1,
                    render(&h)
                );
                assert!(keep_going, "{report}");
                println!("{report}\n");
                failed += 1;
            }
            Err(TestError::Abort(why)) => panic!("aborted: {why}"),
        }
    }
    println!(
        "model: {tried} histories tried, {failed} disagreed with the model, in {:.0?} (seeds {seed:#x}..)",
        started.elapsed()
    );
    assert!(tried > 0, "no history ran within the budget");
    assert_eq!(failed, 0, "histories disagreed with the model");
}
