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
