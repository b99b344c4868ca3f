//! Support adjustments: an administrator adds credits to a bucket, or takes some out, with an
//! audit trail (one `adjust` entry naming the admin, the key and the reason). Never takes a
//! bucket below zero; held credits are not a bucket's and stay with their holds.

use chrono::{DateTime, Utc};

use super::{Change, Draft};
use crate::account::Account;
use crate::ledger::{Bucket, EntryKind};
use crate::plan::Credits;

/// The largest adjustment either way.
pub const MAX_ADJUSTMENT: Credits = 1_000_000;

/// An adjustment as the handler validated it: `amount` is signed, not 0, at most
/// [`MAX_ADJUSTMENT`] either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adjustment<'a> {
    pub amount: Credits,
    pub bucket: Bucket,
    /// Who and what asked for it: [`adjustment_cause`].
    pub cause: &'a str,
    pub reason: &'a str,
}

/// The entry's cause: the admin's `sub` and the idempotency key. Neither holds whitespace (a
/// `sub` is printable without spaces, a key visible ASCII), so the two read back unambiguously.
pub fn adjustment_cause(admin: &str, key: &str) -> String {
    format!("admin:{admin} idem:{key}")
}

/// An adjustment that would take its bucket below zero: nothing adjusted. `touched` is what
/// must be stored all the same (a reset or a hold expiry that was due).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketTooLow {
    pub bucket: Bucket,
    /// What the bucket holds now, the account brought current.
    pub available: Credits,
    pub touched: Box<Change>,
}

/// Applies `adjustment` to an existing account, brought current first (expired holds closed,
/// a due reset applied) like every command: the bucket it finds is this period's.
pub fn adjust(
    current: &Account,
    adjustment: &Adjustment<'_>,
    now: DateTime<Utc>,
) -> Result<Change, BucketTooLow> {
    debug_assert!(adjustment.amount != 0 && adjustment.amount.abs() <= MAX_ADJUSTMENT);
    let mut draft = Draft::start(Some(current), &current.user_id, now);
    draft.roll();
    let available = match adjustment.bucket {
        Bucket::Monthly => draft.account.monthly,
        Bucket::Purchased => draft.account.purchased,
    };
    if available + adjustment.amount < 0 {
        return Err(BucketTooLow {
            bucket: adjustment.bucket,
            available,
            touched: Box::new(draft.finish()),
        });
    }
    draft.push(
        EntryKind::Adjust,
        adjustment.bucket,
        adjustment.amount,
        adjustment.cause,
        Some(adjustment.reason),
    );
    Ok(draft.finish())
}

#[cfg(test)]
mod tests;
