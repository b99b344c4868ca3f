//! The spending commands: deduct, and a hold's open, commit and release. Each lets its rule
//! decide on the account as it is now and answers with the view the rule's result makes; deduct
//! and open are made at most once per idempotency key, and a retry gets the first answer.

use chrono::{DateTime, Utc};

use super::{Answer, CreditService, Once, Refused, ServiceError};
use crate::account::{Account, UserId};
use crate::flags::Flags;
use crate::plan::Credits;
use crate::rules::prices::{Priced, deduct_priced, hold_priced};
use crate::rules::{self, Change, HoldEnd, HoldRefusal};
use crate::views::{BalanceView, Deducted, HoldEnded, HoldOpened};

/// Spend `amount` credits, once per `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deduct<'a> {
    pub amount: Credits,
    /// The feature the amount prices, recorded on the ledger entries; `amount` is its cost.
    pub priced: Option<&'a Priced>,
    pub reason: Option<&'a str>,
    pub key: &'a str,
    /// The request as normalised by the caller: the same key with another request is refused.
    pub request: &'a str,
}

/// Hold `amount` credits for `ttl_seconds`, once per `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenHold<'a> {
    pub amount: Credits,
    /// The feature the amount prices, recorded on the hold's entries; `amount` is its cost.
    pub priced: Option<&'a Priced>,
    pub ttl_seconds: i64,
    pub key: &'a str,
    /// The request as normalised by the caller: the same key with another request is refused.
    pub request: &'a str,
}

/// The ledger cause of a request made once per key: a retry's entries would carry the same.
fn cause(key: &str) -> String {
    format!("idem:{key}")
}

impl CreditService {
    /// Spends credits (monthly first), all or nothing, once per key. `flags` name the version
    /// the answer shows.
    pub async fn deduct(
        &self,
        user: &UserId,
        cmd: &Deduct<'_>,
        flags: &Flags,
        now: DateTime<Utc>,
    ) -> Result<Answer<Deducted>, ServiceError> {
        let cause = cause(cmd.key);
        let once = Once {
            key: cmd.key,
            request: cmd.request,
        };
        debug_assert!(cmd.priced.is_none_or(|p| p.amount() == cmd.amount));
        self.once(user, &once, now, |current| {
            let (change, transaction) = match cmd.priced {
                None => rules::deduct(current, user, cmd.amount, &cause, cmd.reason, now),
                Some(priced) => deduct_priced(current, user, priced, &cause, cmd.reason, now),
            }
            .map_err(Refused::from)?;
            let answer = Deducted {
                balance: BalanceView::new(&change.account, flags),
                deducted: cmd.amount,
                transaction_id: transaction,
            };
            Ok((change, answer))
        })
        .await
    }

    /// Reserves credits until the hold is committed, released or expires, once per key.
    pub async fn open_hold(
        &self,
        user: &UserId,
        cmd: &OpenHold<'_>,
        flags: &Flags,
        now: DateTime<Utc>,
    ) -> Result<Answer<HoldOpened>, ServiceError> {
        let cause = cause(cmd.key);
        let once = Once {
            key: cmd.key,
            request: cmd.request,
        };
        debug_assert!(cmd.priced.is_none_or(|p| p.amount() == cmd.amount));
        self.once(user, &once, now, |current| {
            let (change, hold) = match cmd.priced {
                None => rules::hold(current, user, cmd.amount, cmd.ttl_seconds, &cause, now),
                Some(priced) => hold_priced(current, user, priced, cmd.ttl_seconds, &cause, now),
            }?;
            let answer = HoldOpened::new(&hold, &change.account, flags);
            Ok((change, answer))
        })
        .await
    }

    /// Spends `amount` of hold `id` (all of it when `None`); the rest returns to the balance.
    /// A hold that is not open is `HoldClosed` (with its record) or `HoldNotFound`.
    pub async fn commit_hold(
        &self,
        user: &UserId,
        id: &str,
        amount: Option<Credits>,
        flags: &Flags,
        now: DateTime<Utc>,
    ) -> Result<HoldEnded, ServiceError> {
        self.end_hold(user, id, flags, now, |current| {
            rules::commit_hold(current, user, id, amount, now)
        })
        .await
    }

    /// Returns all of hold `id` to the balance. A hold that is not open is `HoldClosed` (with its
    /// record) or `HoldNotFound`.
    pub async fn release_hold(
        &self,
        user: &UserId,
        id: &str,
        flags: &Flags,
        now: DateTime<Utc>,
    ) -> Result<HoldEnded, ServiceError> {
        self.end_hold(user, id, flags, now, |current| {
            rules::release_hold(current, user, id, now)
        })
        .await
    }

    async fn end_hold(
        &self,
        user: &UserId,
        id: &str,
        flags: &Flags,
        now: DateTime<Utc>,
        end: impl Fn(Option<&Account>) -> Result<(Change, HoldEnd), HoldRefusal>,
    ) -> Result<HoldEnded, ServiceError> {
        let result = self
            .apply_command(user, now, |current| end(current).map_err(Refused::from))
            .await;
        match result {
            Ok((change, end)) => Ok(HoldEnded::new(&end, &change.account, flags)),
            // Ended holds are kept apart from the account: only a refused id costs the read.
            Err(ServiceError::HoldNotFound) => Err(self.hold_not_open(user, id).await),
            Err(e) => Err(e),
        }
    }
}
