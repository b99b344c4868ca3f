//! The core service: read the account, let the rules decide, write the decision with one
//! conditional write, and on a lost race read and decide again (bounded, with jittered backoff).

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::account::{Account, UserId};
use crate::ledger::TransactionId;
use crate::plan::Credits;
use crate::rules::{self, Change};
use crate::store::{IdempotencyRecord, Page, Store, StoreError, Stored, WriteError};

pub mod stripe;

/// How many times a change is decided and written before the caller is told to retry.
pub const MAX_ATTEMPTS: u32 = 12;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{required} credits required, {} available", account.balance())]
    Insufficient { account: Account, required: Credits },
    #[error("the idempotency key was used with another request")]
    IdempotencyConflict,
    /// Every attempt lost a race: safe to retry, nothing was written by this request.
    #[error("the account is too busy; retry")]
    Contention,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A spend to make once per idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deduct<'a> {
    pub amount: Credits,
    pub reason: Option<&'a str>,
    pub key: &'a str,
    /// The request as normalised by the caller: the same key with another request is refused.
    pub request: &'a str,
}

/// The answer to an idempotent request: made now, or the first one, replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Applied { status: u16, body: String },
    Replayed { status: u16, body: String },
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

    /// The account as of `now`, opening it or applying a due reset first.
    pub async fn account(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<Account, ServiceError> {
        retry(|| async {
            let current = self.store.account(user).await?;
            let change = rules::touch(current.as_ref().map(|s| &s.account), user, now);
            self.persist(current.as_ref(), &change, None, now).await?;
            Ok(change.account)
        })
        .await
    }

    /// Spends credits once per key. `respond` renders the 200 body from the change, so that the
    /// very same body is stored with the change and replayed to a retry.
    pub async fn deduct(
        &self,
        user: &UserId,
        cmd: &Deduct<'_>,
        now: DateTime<Utc>,
        respond: impl Fn(&Change) -> String,
    ) -> Result<Answer, ServiceError> {
        retry(|| async {
            let current = self.store.account(user).await?;
            let account = current.as_ref().map(|s| &s.account);
            let cause = format!("idem:{}", cmd.key);
            match rules::deduct(account, user, cmd.amount, &cause, cmd.reason, now) {
                Ok(change) => {
                    let record = IdempotencyRecord {
                        request: cmd.request.to_owned(),
                        status: 200,
                        response: respond(&change),
                        expires_at: expiry(now, self.idempotency_ttl),
                    };
                    match self
                        .persist(current.as_ref(), &change, Some((cmd.key, &record)), now)
                        .await
                    {
                        Ok(()) => Ok(Answer::Applied {
                            status: record.status,
                            body: record.response,
                        }),
                        Err(Attempt::Final(ServiceError::IdempotencyConflict)) => {
                            match self.replay(user, cmd, now).await? {
                                Some(answer) => Ok(answer),
                                // The record expired between the write and the read.
                                None => Err(Attempt::Again),
                            }
                        }
                        Err(e) => Err(e),
                    }
                }
                Err(refused) => {
                    // A refused spend is not remembered, but a retry of an applied one is
                    // replayed even when the balance has since run out.
                    self.persist(current.as_ref(), &refused.touched, None, now)
                        .await?;
                    if let Some(answer) = self.replay(user, cmd, now).await? {
                        return Ok(answer);
                    }
                    Err(Attempt::Final(ServiceError::Insufficient {
                        account: refused.touched.account,
                        required: refused.required,
                    }))
                }
            }
        })
        .await
    }

    /// The recorded answer for this key: the first one if the request is the same, a conflict
    /// if not, `None` when nothing live is recorded.
    async fn replay(
        &self,
        user: &UserId,
        cmd: &Deduct<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<Answer>, Attempt> {
        match self.store.idempotency(user, cmd.key).await? {
            Some(r) if r.is_live(now) && r.request == cmd.request => Ok(Some(Answer::Replayed {
                status: r.status,
                body: r.response,
            })),
            Some(r) if r.is_live(now) => Err(Attempt::Final(ServiceError::IdempotencyConflict)),
            _ => Ok(None),
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
        self.account(user, now).await?;
        Ok(self.store.entries(user, limit, before).await?)
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

/// Runs `attempt` until it succeeds or fails for good, at most [`MAX_ATTEMPTS`] times, with
/// full-jitter exponential backoff between lost races.
async fn retry<T, F, Fut>(mut attempt: F) -> Result<T, ServiceError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt>>,
{
    for n in 0..MAX_ATTEMPTS {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(Attempt::Final(e)) => return Err(e),
            Err(Attempt::Again) => {
                let cap_ms = (4u64 << n.min(5)).min(128);
                tokio::time::sleep(Duration::from_millis(fastrand::u64(0..=cap_ms))).await;
            }
        }
    }
    tracing::warn!(attempts = MAX_ATTEMPTS, "gave up after lost races");
    Err(ServiceError::Contention)
}
