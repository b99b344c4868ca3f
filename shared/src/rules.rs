//! The credit rules, as pure functions: an account (or none), a command and the time in; the
//! new account and its ledger entries out. No I/O, no clock: the store applies what these decide.

use chrono::{DateTime, Utc};

use crate::account::{Account, UserId};
use crate::ledger::{Bucket, Entry, EntryKind};
use crate::period::Period;
use crate::plan::{Credits, Package, Plan};

/// The smallest and largest amount one deduct may take.
pub const MIN_DEDUCT: Credits = 1;
pub const MAX_DEDUCT: Credits = 1_000_000;

/// What a command decided: the account as it must be stored, and the entries that explain the
/// difference. No entries and no new account means nothing to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub account: Account,
    pub entries: Vec<Entry>,
    /// The account did not exist before this change.
    pub opened: bool,
    /// The account's state changed (even without an entry).
    pub dirty: bool,
}

impl Change {
    /// Whether there is anything to write.
    pub fn is_empty(&self) -> bool {
        !self.opened && !self.dirty && self.entries.is_empty()
    }
}

/// Why a deduct did not happen. The account may still have had to change (a reset was due).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insufficient {
    pub required: Credits,
    pub touched: Change,
}

/// The account as it is at `now`: opened as a Free account if it does not exist, and reset if
/// its period has ended. Every command starts here, so no request ever sees last month's credits.
pub fn touch(current: Option<&Account>, user: &UserId, now: DateTime<Utc>) -> Change {
    let mut draft = Draft::start(current, user, now);
    draft.roll();
    draft.finish()
}

/// Spend `amount` credits, monthly ones first; all or nothing.
pub fn deduct(
    current: Option<&Account>,
    user: &UserId,
    amount: Credits,
    cause: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Change, Insufficient> {
    debug_assert!((MIN_DEDUCT..=MAX_DEDUCT).contains(&amount));
    let mut draft = Draft::start(current, user, now);
    draft.roll();
    if draft.account.balance() < amount {
        return Err(Insufficient {
            required: amount,
            touched: draft.finish(),
        });
    }
    let from_monthly = amount.min(draft.account.monthly);
    let from_purchased = amount - from_monthly;
    for (bucket, take) in [
        (Bucket::Monthly, from_monthly),
        (Bucket::Purchased, from_purchased),
    ] {
        if take > 0 {
            draft.push(EntryKind::Deduct, bucket, -take, cause, reason);
        }
    }
    Ok(draft.finish())
}

/// Move the account to `plan`. A larger allowance grows the monthly bucket at once by the
/// difference, prorated over the days left in the period (the day of the change included); a
/// smaller one caps the monthly bucket at the new allowance. Purchased credits are untouched.
pub fn change_plan(
    current: Option<&Account>,
    user: &UserId,
    plan: Plan,
    cause: &str,
    now: DateTime<Utc>,
) -> Change {
    let mut draft = Draft::start(current, user, now);
    draft.roll();
    let old = draft.account.plan;
    if old == plan {
        return draft.finish();
    }
    let (from, to) = (old.monthly_credits(), plan.monthly_credits());
    let reason = format!("plan {old} -> {plan}");
    if to > from {
        let extra = prorated(to - from, draft.account.period, now);
        if extra > 0 {
            draft.push(
                EntryKind::Adjust,
                Bucket::Monthly,
                extra,
                cause,
                Some(&reason),
            );
        }
    } else if draft.account.monthly > to {
        let cut = draft.account.monthly - to;
        draft.push(
            EntryKind::Adjust,
            Bucket::Monthly,
            -cut,
            cause,
            Some(&reason),
        );
    }
    draft.account.plan = plan;
    draft.dirty = true;
    draft.finish()
}

/// Add a v1 credit package to the purchased bucket.
pub fn purchase(
    current: Option<&Account>,
    user: &UserId,
    package: Package,
    cause: &str,
    now: DateTime<Utc>,
) -> Change {
    let mut draft = Draft::start(current, user, now);
    draft.roll();
    let reason = format!("package {}", package.id());
    draft.push(
        EntryKind::Purchase,
        Bucket::Purchased,
        package.credits(),
        cause,
        Some(&reason),
    );
    draft.finish()
}

/// Take back up to `owed` purchased credits (a refunded package). Never more than the
/// purchased bucket holds: what cannot be taken is the shortfall, recorded in the entry's
/// reason (an entry of 0 when nothing can be taken). Returns the change and the shortfall.
pub fn revoke(
    current: Option<&Account>,
    user: &UserId,
    owed: Credits,
    cause: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> (Change, Credits) {
    let mut draft = Draft::start(current, user, now);
    draft.roll();
    let owed = owed.max(0);
    let taken = owed.min(draft.account.purchased);
    let shortfall = owed - taken;
    if owed > 0 {
        let reason = if shortfall > 0 {
            format!("{reason}; {shortfall} already spent")
        } else {
            reason.to_owned()
        };
        draft.push(
            EntryKind::Revoke,
            Bucket::Purchased,
            -taken,
            cause,
            Some(&reason),
        );
    }
    (draft.finish(), shortfall)
}

/// `floor(difference * days_left / days_in_month)` for the period that holds `now`.
pub fn prorated(difference: Credits, period: Period, now: DateTime<Utc>) -> Credits {
    let days_left = Credits::from(period.days_left(now));
    difference * days_left / Credits::from(period.days())
}

/// An account being changed: each pushed entry applies to its bucket at once, so every entry
/// records the balance that results from it.
struct Draft {
    account: Account,
    entries: Vec<Entry>,
    opened: bool,
    dirty: bool,
    now: DateTime<Utc>,
}

impl Draft {
    fn start(current: Option<&Account>, user: &UserId, now: DateTime<Utc>) -> Self {
        match current {
            Some(account) => Self {
                account: account.clone(),
                entries: Vec::new(),
                opened: false,
                dirty: false,
                now,
            },
            None => {
                let plan = Plan::Free;
                let period = Period::containing(now);
                let mut draft = Self {
                    account: Account {
                        user_id: user.clone(),
                        plan,
                        period,
                        monthly: 0,
                        purchased: 0,
                        held: 0,
                        seq: 0,
                    },
                    entries: Vec::new(),
                    opened: true,
                    dirty: true,
                    now,
                };
                draft.push(
                    EntryKind::Grant,
                    Bucket::Monthly,
                    plan.monthly_credits(),
                    &format!("open:{period}"),
                    None,
                );
                draft
            }
        }
    }

    /// The reset, applied at most once per period: the period is part of the state it changes.
    fn roll(&mut self) {
        let current = Period::containing(self.now);
        if self.account.period >= current {
            return;
        }
        let cause = format!("reset:{current}");
        let left = self.account.monthly;
        if left > 0 {
            self.push(EntryKind::Expire, Bucket::Monthly, -left, &cause, None);
        }
        self.account.period = current;
        self.dirty = true;
        let allowance = self.account.plan.monthly_credits();
        self.push(EntryKind::Grant, Bucket::Monthly, allowance, &cause, None);
    }

    fn push(
        &mut self,
        kind: EntryKind,
        bucket: Bucket,
        amount: Credits,
        cause: &str,
        reason: Option<&str>,
    ) {
        let target = match bucket {
            Bucket::Monthly => &mut self.account.monthly,
            Bucket::Purchased => &mut self.account.purchased,
        };
        *target += amount;
        debug_assert!(*target >= 0, "{bucket:?} bucket below zero");
        self.account.seq += 1;
        self.entries.push(Entry {
            seq: self.account.seq,
            kind,
            amount,
            bucket,
            balance_after: self.account.balance(),
            held_after: self.account.held,
            cause: cause.to_owned(),
            reason: reason.map(str::to_owned),
            at: self.now,
        });
    }

    fn finish(self) -> Change {
        Change {
            account: self.account,
            entries: self.entries,
            opened: self.opened,
            dirty: self.dirty,
        }
    }
}

#[cfg(test)]
mod tests;
