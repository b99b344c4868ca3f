//! The v1 -> v2 migration of one account, and its undoing by a rollback.

use chrono::{DateTime, Utc};

use super::{Change, Draft};
use crate::account::Account;
use crate::ledger::{Bucket, Entry, EntryKind};
use crate::period::Period;
use crate::plan::Credits;

/// The cause of every entry a migration to `to` writes: what a rollback reads back to know what
/// the migration changed.
pub fn migration_cause(to: &str) -> String {
    format!("migrate:{to}")
}

/// The v1 -> v2 migration of one account: brought current (reset, expired holds), then stamped,
/// with a `migrate` entry (amount 0) that records the purchased credits it carries into v2,
/// where they stay spendable until used. Nothing is taken away. `None` when already migrated.
/// What it changes is the stamp and its entries of cause [`migration_cause`], so that
/// [`unmigrate`] can undo exactly that.
pub fn migrate(current: &Account, to: &str, now: DateTime<Utc>) -> Option<Change> {
    if current.migrated_to.as_deref() == Some(to) {
        return None;
    }
    let mut draft = Draft::start(Some(current), &current.user_id, now);
    draft.roll();
    let carried = draft.account.purchased;
    let reason = format!("{carried} purchased credits carried into {to}");
    draft.record(
        EntryKind::Migrate,
        Bucket::Purchased,
        0,
        0,
        &migration_cause(to),
        Some(&reason),
    );
    draft.account.migrated_to = Some(to.to_owned());
    draft.dirty = true;
    Some(draft.finish())
}

/// Undoes an account's last migration and nothing else. The stamp goes, and the credits that
/// migration moved (its entries of cause [`migration_cause`]) move back, one `adjust` entry per
/// bucket, so the ledger still adds up. Whatever happened since stays: plan changes and
/// purchases from Stripe, spending, holds. The plan and the buckets are never set to earlier
/// values. Credits the migration gave that have been spent since cannot be taken back: the
/// entry's reason names the shortfall. Monthly credits it moved in a period that has ended are
/// left alone: the reset has replaced them. A `migrate` entry of amount 0 (of `cause`) records
/// the undoing and marks that migration undone, so it is never undone twice.
///
/// `ledger` holds the account's entries, oldest first, back to that migration's write at least
/// (with fewer, only the stamp goes). A migration moves credits between a bucket and the
/// outside, never into holds. `None` when the account is not migrated.
pub fn unmigrate(
    current: &Account,
    ledger: &[Entry],
    cause: &str,
    now: DateTime<Utc>,
) -> Option<Change> {
    let to = current.migrated_to.clone()?;
    let mut draft = Draft::start(Some(current), &current.user_id, now);
    draft.roll();
    let period = draft.account.period;
    for (bucket, moved) in moved_by_last_migration(ledger, &to, period) {
        let have = match bucket {
            Bucket::Monthly => draft.account.monthly,
            Bucket::Purchased => draft.account.purchased,
        };
        let back = (-moved).max(-have);
        if back == 0 {
            continue;
        }
        let short = back + moved;
        let reason = if short > 0 {
            format!("undo {}; {short} already spent", migration_cause(&to))
        } else {
            format!("undo {}", migration_cause(&to))
        };
        draft.push(EntryKind::Adjust, bucket, back, cause, Some(&reason));
    }
    draft.record(
        EntryKind::Migrate,
        Bucket::Purchased,
        0,
        0,
        cause,
        Some(&format!("migration to {to} undone")),
    );
    draft.account.migrated_to = None;
    draft.dirty = true;
    Some(draft.finish())
}

/// What the last migration to `to` moved, by bucket (monthly credits only of `period`). The last
/// `migrate` entry is that migration's stamp, or the record of its undoing (nothing left to
/// undo). Its write is the unbroken run of entries of its cause that ends with the stamp.
fn moved_by_last_migration(ledger: &[Entry], to: &str, period: Period) -> [(Bucket, Credits); 2] {
    let mut moved = [(Bucket::Monthly, 0), (Bucket::Purchased, 0)];
    let cause = migration_cause(to);
    let Some(stamp) = ledger.iter().rposition(|e| e.kind == EntryKind::Migrate) else {
        return moved;
    };
    let mut next = ledger[stamp].seq + 1;
    for e in ledger[..=stamp].iter().rev() {
        if e.cause != cause || e.seq + 1 != next {
            break;
        }
        next = e.seq;
        match e.bucket {
            Bucket::Monthly if Period::containing(e.at) == period => moved[0].1 += e.amount,
            Bucket::Monthly => {}
            Bucket::Purchased => moved[1].1 += e.amount,
        }
    }
    moved
}

#[cfg(test)]
mod tests;
