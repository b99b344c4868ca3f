//! The time the product acts on. A deployment reads the system clock; tests set it, so every
//! rule that depends on the date (prorating, resets, hold expiry, the signature tolerance) is
//! exercised on the dates that matter, not on whatever day the test happens to run.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

/// The system clock, or a settable one shared by every clone (a test moves it for the whole
/// stack at once).
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock that stands at `at` until it is set or advanced.
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Self(Some(Arc::new(AtomicI64::new(micros(at)))))
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.0 {
            None => Utc::now(),
            Some(t) => DateTime::from_timestamp_micros(t.load(Ordering::SeqCst))
                .unwrap_or(DateTime::UNIX_EPOCH),
        }
    }

    /// Moves a fixed clock to `at`.
    ///
    /// # Panics
    /// On the system clock: only a test sets the time, and a test that believes it did must not
    /// silently run on today's date.
    pub fn set(&self, at: DateTime<Utc>) {
        self.fixed_cell().store(micros(at), Ordering::SeqCst);
    }

    /// Moves a fixed clock forward by `by` (see [`Clock::set`]).
    pub fn advance(&self, by: Duration) {
        let by = by.num_microseconds().unwrap_or(i64::MAX);
        self.fixed_cell().fetch_add(by, Ordering::SeqCst);
    }

    pub fn is_fixed(&self) -> bool {
        self.0.is_some()
    }

    fn fixed_cell(&self) -> &AtomicI64 {
        self.0
            .as_deref()
            .expect("the system clock cannot be set; use Clock::fixed")
    }
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_stands_still_until_moved_and_clones_share_it() {
        let at = DateTime::parse_from_rfc3339("2026-11-30T23:59:59.5Z")
            .unwrap()
            .to_utc();
        let clock = Clock::fixed(at);
        let other = clock.clone();
        assert_eq!(clock.now(), at);
        other.advance(Duration::milliseconds(500));
        assert_eq!(clock.now().to_rfc3339(), "2026-12-01T00:00:00+00:00");
        clock.set(at);
        assert_eq!(other.now(), at);
    }

    #[test]
    fn the_system_clock_follows_the_time() {
        let before = Utc::now();
        let read = Clock::system().now();
        assert!(read >= before && read <= Utc::now());
        assert!(!Clock::default().is_fixed());
    }
}
