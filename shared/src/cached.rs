//! A value read from Parameter Store and trusted for a cache time; the last good value stays in
//! force while reads fail or hold something invalid.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Mutex;
// The runtime's clock: a paused test clock moves it.
use tokio::time::Instant;

use crate::flags::FlagSource;

/// The value in force and where it came from, as [`crate::flags::FlagReading`] tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading<T> {
    /// `None` when nothing was ever read successfully since the cold start.
    pub value: Option<T>,
    pub source: FlagSource,
    /// Time since the value in force was read (zero when there is none).
    pub age: Duration,
    /// The last failure, while one is in force.
    pub error: Option<String>,
}

pub struct Cached<T> {
    ttl: Duration,
    state: Mutex<State<T>>,
}

struct State<T> {
    good: Option<(T, Instant)>,
    tried: Option<Instant>,
    error: Option<String>,
}

impl<T: Clone> Cached<T> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            state: Mutex::new(State {
                good: None,
                tried: None,
                error: None,
            }),
        }
    }

    /// The value in force now. Calls `fetch` at most once per cache time, whether it succeeds or
    /// not, so a failing Parameter Store is not hammered.
    pub async fn read<F, Fut>(&self, fetch: F) -> Reading<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        if state
            .tried
            .is_none_or(|t| now.duration_since(t) >= self.ttl)
        {
            state.tried = Some(now);
            match fetch().await {
                Ok(value) => {
                    state.good = Some((value, now));
                    state.error = None;
                }
                Err(e) => {
                    tracing::error!(error = %e, "parameter unreadable; keeping the last good value");
                    state.error = Some(e);
                }
            }
        }
        let error = state.error.clone();
        match &state.good {
            Some((value, at)) => Reading {
                value: Some(value.clone()),
                source: if error.is_some() {
                    FlagSource::LastGood
                } else {
                    FlagSource::ParameterStore
                },
                age: now.duration_since(*at),
                error,
            },
            None => Reading {
                value: None,
                source: FlagSource::Default,
                age: Duration::ZERO,
                error,
            },
        }
    }
}

/// One `GetParameters` call, its failure as the text a reading reports.
pub(crate) async fn get_parameters(
    ssm: &aws_sdk_ssm::Client,
    names: Vec<String>,
) -> Result<aws_sdk_ssm::operation::get_parameters::GetParametersOutput, String> {
    ssm.get_parameters()
        .set_names(Some(names))
        .send()
        .await
        .map_err(|e| {
            format!(
                "GetParameters: {}",
                aws_sdk_ssm::error::DisplayErrorContext(e)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_failure_keeps_the_last_good_value_and_reads_wait_for_the_cache_time() {
        let cache = Cached::new(Duration::from_secs(30));
        let r = cache
            .read(|| async { Err::<u8, _>("down".to_owned()) })
            .await;
        assert_eq!((r.value, r.source), (None, FlagSource::Default));
        assert_eq!(r.error.as_deref(), Some("down"));
        // Within the cache time nothing is fetched, even after a failure.
        let r = cache.read(|| async { Ok(1) }).await;
        assert_eq!(r.value, None);
        tokio::time::advance(Duration::from_secs(30)).await;
        let r = cache.read(|| async { Ok(1) }).await;
        assert_eq!(
            (r.value, r.source, r.error),
            (Some(1), FlagSource::ParameterStore, None)
        );
        tokio::time::advance(Duration::from_secs(31)).await;
        let r = cache.read(|| async { Err("bad".to_owned()) }).await;
        assert_eq!((r.value, r.source), (Some(1), FlagSource::LastGood));
        assert_eq!(r.error.as_deref(), Some("bad"));
    }
}
