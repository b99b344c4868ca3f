//! Latency summaries.

use std::time::Duration;

/// Percentiles of a sample, by the nearest-rank method.
pub struct Summary {
    sorted: Vec<Duration>,
}

impl Summary {
    pub fn new(mut sample: Vec<Duration>) -> Self {
        sample.sort();
        Self { sorted: sample }
    }

    pub fn pct(&self, p: f64) -> Duration {
        if self.sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.sorted.len() as f64).ceil() as usize;
        self.sorted[rank.clamp(1, self.sorted.len()) - 1]
    }

    pub fn max(&self) -> Duration {
        self.sorted.last().copied().unwrap_or_default()
    }
}

pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// A Markdown row: p50 and p99 of the handler's times and the bare calls', with their ratios.
pub fn ratio_row(name: &str, handler: Vec<Duration>, bare: Vec<Duration>) -> String {
    let (h, b) = (Summary::new(handler), Summary::new(bare));
    let ratio = |p: f64| h.pct(p).as_secs_f64() / b.pct(p).as_secs_f64();
    format!(
        "| {name} | {} | {} | {:.3} | {} | {} | {:.3} |",
        ms(h.pct(50.0)),
        ms(b.pct(50.0)),
        ratio(50.0),
        ms(h.pct(99.0)),
        ms(b.pct(99.0)),
        ratio(99.0)
    )
}
