//! Support's view of an account and its adjustments: on users who exist only. An administrator
//! looking up or adjusting a mistyped id must not open an account for it.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::{Answer, CreditService, Once, Refused, ServiceError, retry};
use crate::account::{Account, UserId};
use crate::flags::Flags;
use crate::ledger::{Bucket, EntryKind};
use crate::plan::Credits;
use crate::rules::{self, Change};
use crate::views::{Adjusted, BalanceView, EntryView};

/// An adjustment to make once per key. The key is the admin's: [`adjustment_key`] makes it
/// the record's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjust<'a> {
    /// The admin's `sub`.
    pub admin: &'a UserId,
    pub amount: Credits,
    pub bucket: Bucket,
    pub reason: &'a str,
    pub key: &'a str,
    /// The request as normalised by the caller: the same key with another request is refused.
    pub request: &'a str,
}

/// What an adjustment answered, and what it committed: the change (its entries and the account
/// after them) when this call wrote it, `None` on a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdjustOutcome {
    pub answer: Answer<Adjusted>,
    pub committed: Option<Change>,
}

/// Where an adjustment's idempotency record is kept, beside the user's own keys: scoped to the
/// admin, and with spaces, which no key a client sends holds (visible ASCII), so that a user's
/// deduct key never meets an admin's.
pub fn adjustment_key(admin: &UserId, key: &str) -> String {
    format!("adjust {admin} {key}")
}

impl CreditService {
    /// The account of a user the service has seen, brought current (a due reset applied,
    /// expired holds closed) like every read; `None`, and nothing written, for a user never
    /// seen.
    pub async fn existing_account(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<Option<Account>, ServiceError> {
        retry(|| async {
            let Some(current) = self.current(user, now).await? else {
                return Ok(None);
            };
            let change = rules::touch(Some(&current.account), user, now);
            self.persist(Some(&current), &change, None, now).await?;
            Ok(Some(change.account))
        })
        .await
    }

    /// Adjusts a bucket of an existing account once per key, with the same conditional write
    /// and idempotency record as a deduct. `flags` name the version the answer shows.
    pub async fn adjust(
        &self,
        user: &UserId,
        cmd: &Adjust<'_>,
        flags: &Flags,
        now: DateTime<Utc>,
    ) -> Result<AdjustOutcome, ServiceError> {
        let cause = rules::adjustment_cause(cmd.admin.as_str(), cmd.key);
        let key = adjustment_key(cmd.admin, cmd.key);
        let once = Once {
            key: &key,
            request: cmd.request,
        };
        let adjustment = rules::Adjustment {
            amount: cmd.amount,
            bucket: cmd.bucket,
            cause: &cause,
            reason: cmd.reason,
        };
        // The change of the last attempt decided: the one written when the answer is applied.
        let last = Mutex::new(None);
        let answer = self
            .once(user, &once, now, |current| {
                let Some(current) = current else {
                    return Err(Refused {
                        touched: Box::new(nothing(user, now)),
                        error: ServiceError::UserNotFound,
                    });
                };
                let change =
                    rules::adjust(current, &adjustment, now).map_err(|refused| Refused {
                        error: ServiceError::BucketTooLow {
                            bucket: refused.bucket,
                            available: refused.available,
                        },
                        touched: refused.touched,
                    })?;
                let entry = change
                    .entries
                    .iter()
                    .rfind(|e| e.kind == EntryKind::Adjust)
                    .cloned()
                    .ok_or_else(|| Refused {
                        touched: Box::new(nothing(user, now)),
                        error: ServiceError::Store(crate::store::StoreError::Build(
                            "an adjustment without its entry".into(),
                        )),
                    })?;
                let view = Adjusted {
                    entry: EntryView::from(entry),
                    account: BalanceView::new(&change.account, flags),
                };
                if let Ok(mut last) = last.lock() {
                    *last = Some(change.clone());
                }
                Ok((change, view))
            })
            .await?;
        let committed = match answer {
            Answer::Applied(_) => last.into_inner().ok().flatten(),
            Answer::Replayed(_) => None,
        };
        Ok(AdjustOutcome { answer, committed })
    }
}

/// A change that writes nothing: what a refusal of a user never seen stores.
fn nothing(user: &UserId, now: DateTime<Utc>) -> Change {
    let account = rules::touch(None, user, now).account;
    Change {
        before: rules::Before::of(&account),
        account,
        entries: Vec::new(),
        opened: false,
        dirty: false,
        closed_holds: Vec::new(),
    }
}
