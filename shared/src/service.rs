//! The core service: read the account, let the rules decide, write the decision with one
//! conditional write, and on a lost race read and decide again (bounded, with jittered backoff).

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::account::{Account, UserId};
use crate::ledger::TransactionId;
use crate::plan::Credits;
use crate::rules::{self, Change, ClosedHold};
use crate::store::{IdempotencyRecord, Page, Store, StoreError, Stored, WriteError};

mod adjustments;
mod spending;
pub mod stripe_event;

pub use adjustments::{Adjust, AdjustOutcome, adjustment_key};
pub use spending::{Deduct, OpenHold};

/// How long a change is decided and written again after lost races before the caller is told
/// to retry: long enough for dozens of simultaneous writers on one account to take turns, well
/// inside the function's 10 s timeout.
pub const RETRY_BUDGET: Duration = Duration::from_secs(4);

/// The longest one call of the service may wait on the store, lost races included: past it the
/// caller is told to retry (503), well inside the function's 10 s timeout. Work cut short is a
/// lost response: idempotency keys and Stripe event records make the caller's retry safe.
pub const DEADLINE: Duration = Duration::from_secs(6);

/// Lost races retried since the process started, for the benchmarks and tests (a counter, not
/// a per-request figure: concurrent tests add to it).
static CONFLICT_RETRIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many times a write lost a race and was decided again, in this process so far.
pub fn conflict_retries() -> u64 {
    CONFLICT_RETRIES.load(std::sync::atomic::Ordering::Relaxed)
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{required} credits required, {} available", account.balance())]
    Insufficient {
        account: Box<Account>,
        required: Credits,
    },
    #[error("the idempotency key was used with another request")]
    IdempotencyConflict,
    #[error(
        "the account has {} open holds, the most it may have",
        crate::rules::MAX_OPEN_HOLDS
    )]
    TooManyHolds,
    #[error("no such hold")]
    HoldNotFound,
    #[error("the hold has ended")]
    HoldClosed(ClosedHold),
    #[error("the hold holds {held} credits")]
    HoldExceeded { held: Credits },
    /// No account: the user was never seen (support's routes do not open one).
    #[error("no such user")]
    UserNotFound,
    /// A support adjustment would take its bucket below zero.
    #[error("the {bucket:?} bucket holds {available} credits")]
    BucketTooLow {
        bucket: crate::ledger::Bucket,
        available: Credits,
    },
    /// Every attempt lost a race: safe to retry, nothing was written by this request.
    #[error("the account is too busy; retry")]
    Contention,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A decision the rules refused: the error to answer, and what must be stored all the same
/// (a reset or a hold expiry that was due).
pub struct Refused {
    pub touched: Box<Change>,
    pub error: ServiceError,
}

impl From<rules::HoldRefusal> for Refused {
    fn from(refusal: rules::HoldRefusal) -> Self {
        use rules::HoldRefusal as R;
        let error = match &refusal {
            R::Insufficient { required, touched } => ServiceError::Insufficient {
                account: Box::new(touched.account.clone()),
                required: *required,
            },
            R::TooManyHolds { .. } => ServiceError::TooManyHolds,
            R::NotOpen { .. } => ServiceError::HoldNotFound,
            R::Exceeds { held, .. } => ServiceError::HoldExceeded { held: *held },
        };
        let (R::Insufficient { touched, .. }
        | R::TooManyHolds { touched }
        | R::NotOpen { touched }
        | R::Exceeds { touched, .. }) = refusal;
        Refused { touched, error }
    }
}

impl From<rules::Insufficient> for Refused {
    fn from(refused: rules::Insufficient) -> Self {
        Refused {
            error: ServiceError::Insufficient {
                account: Box::new(refused.touched.account.clone()),
                required: refused.required,
            },
            touched: refused.touched,
        }
    }
}

/// A request made at most once per key: the key and the request as normalised by the caller
/// (the same key with another request is refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Once<'a> {
    pub key: &'a str,
    pub request: &'a str,
}

/// The answer to an idempotent request: made now, or the first one, replayed as it was recorded
/// (the JSON of the `T` first answered), so that a retry gets the very same answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    Applied(T),
    Replayed(String),
}

#[derive(Clone)]
pub struct CreditService {
    store: Store,
    idempotency_ttl: Duration,
}

impl CreditService {
    pub fn new(store: Store, idempotency_ttl: Duration) -> Self {
        Self {
            store,
            idempotency_ttl,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The account as of `now`, written first when it must change: opened, or a due reset or
    /// hold expiry applied.
    pub async fn touch_account(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<Account, ServiceError> {
        let change = self
            .apply(user, now, |current| Ok(rules::touch(current, user, now)))
            .await?;
        Ok(change.account)
    }

    /// Reads, lets `decide` choose, and writes the choice with one conditional write; again
    /// from a fresh read when another writer got there first.
    pub async fn apply(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
        decide: impl Fn(Option<&Account>) -> Result<Change, Refused>,
    ) -> Result<Change, ServiceError> {
        let (change, ()) = self
            .apply_command(user, now, |current| decide(current).map(|c| (c, ())))
            .await?;
        Ok(change)
    }

    /// [`CreditService::apply`] for a rule that returns, beside its change, what it did.
    async fn apply_command<T>(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
        decide: impl Fn(Option<&Account>) -> Result<(Change, T), Refused>,
    ) -> Result<(Change, T), ServiceError> {
        retry(|| async {
            let current = self.current(user, now).await?;
            match decide(current.as_ref().map(|s| &s.account)) {
                Ok((change, done)) => {
                    self.persist(current.as_ref(), &change, None, now).await?;
                    Ok((change, done))
                }
                Err(refused) => {
                    self.persist(current.as_ref(), &refused.touched, None, now)
                        .await?;
                    Err(Attempt::Final(refused.error))
                }
            }
        })
        .await
    }

    /// Applies the period's reset to an account a scan has already read, reading it again only
    /// after a lost race. The same rule ([`rules::touch`]) and the same conditional write as
    /// reset-on-touch, so a job and a request never both reset one account in one period.
    /// Returns whether this call applied the reset (false: already current, or gone).
    pub async fn reset_seen(&self, seen: Stored, now: DateTime<Utc>) -> Result<bool, ServiceError> {
        let user = seen.account.user_id.clone();
        let mut seen = Some(seen);
        retry(|| {
            let first = seen.take();
            let user = &user;
            async move {
                let current = match first {
                    Some(s) => self.caught_up(Some(s), now).await?,
                    None => self.current(user, now).await?,
                };
                // Never open an account from a scan: only existing ones are reset.
                let Some(current) = current else {
                    return Ok(false);
                };
                let change = rules::touch(Some(&current.account), user, now);
                if change.is_empty() {
                    return Ok(false);
                }
                self.persist(Some(&current), &change, None, now).await?;
                Ok(true)
            }
        })
        .await
    }

    /// Applies `decide` at most once per key: the change and its answer (as JSON) are written
    /// together, and a retry gets that answer again, even when the account could no longer
    /// afford it. A refused request is not remembered.
    async fn once<T: serde::Serialize>(
        &self,
        user: &UserId,
        once: &Once<'_>,
        now: DateTime<Utc>,
        decide: impl Fn(Option<&Account>) -> Result<(Change, T), Refused>,
    ) -> Result<Answer<T>, ServiceError> {
        retry(|| async {
            let current = self.current(user, now).await?;
            match decide(current.as_ref().map(|s| &s.account)) {
                Ok((change, answer)) => {
                    let record = IdempotencyRecord {
                        request: once.request.to_owned(),
                        response: serde_json::to_string(&answer)
                            .map_err(|e| Attempt::Final(StoreError::Build(e.to_string()).into()))?,
                        expires_at: expiry(now, self.idempotency_ttl),
                    };
                    match self
                        .persist(current.as_ref(), &change, Some((once.key, &record)), now)
                        .await
                    {
                        Ok(()) => Ok(Answer::Applied(answer)),
                        Err(Attempt::Final(ServiceError::IdempotencyConflict)) => {
                            match self.replay(user, once, now).await? {
                                Some(answer) => Ok(answer),
                                // The record expired between the write and the read.
                                None => Err(Attempt::Again),
                            }
                        }
                        Err(e) => Err(e),
                    }
                }
                Err(refused) => {
                    self.persist(current.as_ref(), &refused.touched, None, now)
                        .await?;
                    if let Some(answer) = self.replay(user, once, now).await? {
                        return Ok(answer);
                    }
                    Err(Attempt::Final(refused.error))
                }
            }
        })
        .await
    }

    /// The recorded answer for this key: the first one if the request is the same, a conflict
    /// if not, `None` when nothing live is recorded.
    async fn replay<T>(
        &self,
        user: &UserId,
        once: &Once<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<Answer<T>>, Attempt> {
        match self.store.idempotency(user, once.key).await? {
            Some(r) if r.is_live(now) && r.request == once.request => {
                Ok(Some(Answer::Replayed(r.response)))
            }
            Some(r) if r.is_live(now) => Err(Attempt::Final(ServiceError::IdempotencyConflict)),
            _ => Ok(None),
        }
    }

    /// Why `id` is not an open hold of `user`: ended, or unknown.
    async fn hold_not_open(&self, user: &UserId, id: &str) -> ServiceError {
        match self.store.closed_hold(user, id).await {
            Ok(Some(closed)) => ServiceError::HoldClosed(closed),
            Ok(None) => ServiceError::HoldNotFound,
            Err(e) => e.into(),
        }
    }

    /// Ledger entries, newest first. Applies a due reset first, so the page agrees with the
    /// balance the user sees.
    pub async fn entries(
        &self,
        user: &UserId,
        limit: usize,
        before: Option<TransactionId>,
        now: DateTime<Utc>,
    ) -> Result<Page, ServiceError> {
        self.touch_account(user, now).await?;
        Ok(self.store.entries(user, limit, before).await?)
    }

    /// The account as stored, brought to the point where one change can close the rest of its
    /// expired holds: what every decision starts from.
    async fn current(&self, user: &UserId, now: DateTime<Utc>) -> Result<Option<Stored>, Attempt> {
        let stored = self.store.read_account(user).await?;
        self.caught_up(stored, now).await
    }

    /// Closes expired holds in batches ([`rules::catch_up`]), each its own conditional write,
    /// until the command's change can close the rest: however many holds expired together, no
    /// transaction exceeds DynamoDB's 100 items. A lost race is decided again from a fresh read.
    async fn caught_up(
        &self,
        mut stored: Option<Stored>,
        now: DateTime<Utc>,
    ) -> Result<Option<Stored>, Attempt> {
        while let Some(batch) = rules::catch_up(stored.as_ref().map(|s| &s.account), now) {
            self.persist(stored.as_ref(), &batch, None, now).await?;
            stored = stored.map(|s| s.after(batch));
        }
        Ok(stored)
    }

    async fn persist(
        &self,
        current: Option<&Stored>,
        change: &Change,
        idempotency: Option<(&str, &IdempotencyRecord)>,
        now: DateTime<Utc>,
    ) -> Result<(), Attempt> {
        if change.is_empty() && idempotency.is_none() {
            return Ok(());
        }
        match self
            .store
            .write(current.map(|s| s.rev), change, idempotency, now)
            .await
        {
            Ok(()) => Ok(()),
            Err(WriteError::Conflict) => Err(Attempt::Again),
            Err(WriteError::KeyTaken) => Err(Attempt::Final(ServiceError::IdempotencyConflict)),
            Err(WriteError::Store(e)) => Err(Attempt::Final(e.into())),
        }
    }
}

fn expiry(now: DateTime<Utc>, ttl: Duration) -> i64 {
    now.timestamp() + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2)
}

/// One attempt's outcome when it did not succeed.
enum Attempt {
    /// Lost a race: decide again from a fresh read.
    Again,
    Final(ServiceError),
}

impl From<StoreError> for Attempt {
    fn from(e: StoreError) -> Self {
        Attempt::Final(e.into())
    }
}

/// Runs `attempt` until it succeeds or fails for good, for at most [`RETRY_BUDGET`], with
/// full-jitter exponential backoff between lost races.
async fn retry<T, F, Fut>(mut attempt: F) -> Result<T, ServiceError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt>>,
{
    let started = tokio::time::Instant::now();
    let mut n = 0u32;
    loop {
        let Ok(result) = tokio::time::timeout_at(started + DEADLINE, attempt()).await else {
            tracing::warn!(
                attempts = n + 1,
                "no answer from the store within the deadline"
            );
            return Err(ServiceError::Store(StoreError::Unavailable {
                operation: "request",
                message: format!("no answer within {DEADLINE:?}"),
            }));
        };
        match result {
            Ok(v) => return Ok(v),
            Err(Attempt::Final(e)) => return Err(e),
            Err(Attempt::Again) => {
                CONFLICT_RETRIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // Doubling from 4 ms up to 1 s: two writers settle at once, and 64 on one
                // account spread out to about one attempt in flight at a time.
                let cap_ms = 4u64 << n.min(8);
                let pause = Duration::from_millis(fastrand::u64(0..=cap_ms));
                if started.elapsed() + pause >= RETRY_BUDGET {
                    break;
                }
                tokio::time::sleep(pause).await;
                n += 1;
            }
        }
    }
    tracing::warn!(attempts = n + 1, "gave up after lost races");
    Err(ServiceError::Contention)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn lost_races_are_decided_again_until_the_budget_is_spent() {
        let attempts = Cell::new(0u32);
        let started = tokio::time::Instant::now();
        let result: Result<(), _> = retry(|| async {
            attempts.set(attempts.get() + 1);
            Err(Attempt::Again)
        })
        .await;
        assert!(matches!(result, Err(ServiceError::Contention)));
        // It used the budget (the next pause would not have fitted), not a fixed count.
        let spent = started.elapsed();
        assert!(spent < RETRY_BUDGET, "{spent:?}");
        assert!(
            spent > RETRY_BUDGET - Duration::from_millis(1024),
            "{spent:?}"
        );
        assert!(attempts.get() > 8, "{} attempts", attempts.get());
    }

    #[tokio::test(start_paused = true)]
    async fn a_won_race_or_a_final_error_ends_the_retries_at_once() {
        let attempts = Cell::new(0u32);
        let won = retry(|| async {
            attempts.set(attempts.get() + 1);
            if attempts.get() < 5 {
                Err(Attempt::Again)
            } else {
                Ok(attempts.get())
            }
        })
        .await;
        assert_eq!(won.ok(), Some(5));
        let failed: Result<(), _> = retry(|| async {
            Err(Attempt::Final(ServiceError::Store(
                StoreError::Unavailable {
                    operation: "GetItem",
                    message: "down".into(),
                },
            )))
        })
        .await;
        assert!(matches!(failed, Err(ServiceError::Store(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_that_never_answers_is_given_up_at_the_deadline() {
        let started = tokio::time::Instant::now();
        let hung: Result<(), _> = retry(|| async {
            std::future::pending::<()>().await;
            Ok(())
        })
        .await;
        assert!(
            matches!(
                hung,
                Err(ServiceError::Store(StoreError::Unavailable { .. }))
            ),
            "{hung:?}"
        );
        assert_eq!(started.elapsed(), DEADLINE);
    }
}
