//! The credit rules, as pure functions: an account (or none), a command and the time in; the
//! new account and its ledger entries out. No I/O, no clock: the store applies what these decide.

use chrono::{DateTime, Utc};

use crate::account::{Account, UserId};
use crate::ledger::{Bucket, Entry, EntryKind, TransactionId};
use crate::period::Period;
use crate::plan::{Credits, Package, Plan};

mod adjustments;
pub use adjustments::{Adjustment, BucketTooLow, MAX_ADJUSTMENT, adjust, adjustment_cause};
mod holds;
pub use holds::{
    DEFAULT_HOLD_TTL, EXPIRY_BATCH, HoldEnd, HoldRefusal, MAX_HOLD_TTL, MAX_OPEN_HOLDS,
    MIN_HOLD_TTL, NewHold, catch_up, commit_hold, hold, hold_id, release_hold,
};
mod migration;
pub use migration::{migrate, migration_cause, unmigrate};
pub mod notify;
pub use notify::Before;
mod preview;
pub use preview::{PlanPreview, preview_change_plan};
pub mod prices;

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
    /// Holds this change closed, to be recorded so that a later commit or release of one is
    /// told apart from an unknown id.
    pub closed_holds: Vec<ClosedHold>,
    /// The plan and spendable balance the change started from (a new account: as opened), so
    /// that the notifications can tell what it crossed.
    pub before: Before,
}

/// How a hold ended.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldOutcome {
    Committed,
    Released,
    Expired,
}

/// A hold that has ended, as it is kept for the record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClosedHold {
    pub hold_id: String,
    pub outcome: HoldOutcome,
    pub amount: Credits,
    pub committed: Credits,
    pub released: Credits,
    /// Monthly credits that came back after their period ended.
    pub expired: Credits,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub closed_at: DateTime<Utc>,
}

impl Change {
    /// Whether there is anything to write.
    pub fn is_empty(&self) -> bool {
        !self.opened && !self.dirty && self.entries.is_empty() && self.closed_holds.is_empty()
    }

    /// This change followed by `next`, a change decided on this one's account: one write.
    pub fn then(mut self, next: Change) -> Change {
        debug_assert_eq!(
            self.account.seq + next.entries.len() as u64,
            next.account.seq
        );
        self.entries.extend(next.entries);
        self.closed_holds.extend(next.closed_holds);
        Change {
            account: next.account,
            dirty: self.dirty || next.dirty,
            ..self
        }
    }
}

/// Why a deduct did not happen. The account may still have had to change (a reset was due).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insufficient {
    pub required: Credits,
    pub touched: Box<Change>,
}

/// The account as it is at `now`: opened as a Free account if it does not exist, its expired
/// holds released, and reset if its period has ended. Every command starts here, so no request
/// ever sees last month's credits or a hold past its time.
pub fn touch(current: Option<&Account>, user: &UserId, now: DateTime<Utc>) -> Change {
    let mut draft = Draft::start(current, user, now);
    draft.roll();
    draft.finish()
}

/// Spend `amount` credits, monthly ones first; all or nothing. Returns the change and the
/// deduct's transaction: its first entry (a second one takes what monthly credits could not).
pub fn deduct(
    current: Option<&Account>,
    user: &UserId,
    amount: Credits,
    cause: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(Change, TransactionId), Insufficient> {
    debug_assert!((MIN_DEDUCT..=MAX_DEDUCT).contains(&amount));
    let mut draft = Draft::start(current, user, now);
    draft.roll();
    if draft.account.balance() < amount {
        return Err(Insufficient {
            required: amount,
            touched: Box::new(draft.finish()),
        });
    }
    let transaction = TransactionId(draft.account.seq + 1);
    for (bucket, take) in monthly_first(amount, draft.account.monthly) {
        if take > 0 {
            draft.push(EntryKind::Deduct, bucket, -take, cause, reason);
        }
    }
    Ok((draft.finish(), transaction))
}

/// Move the account to `plan`. A larger allowance grows the monthly bucket at once by the
/// difference, prorated over the days left in the period (the day of the change included); a
/// smaller one caps the period's monthly credits at the new allowance, held ones included: the
/// cut comes out of the monthly bucket first, then out of open holds (newest first, see
/// [`Draft::shrink_holds`]). Purchased credits are untouched.
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
    } else {
        let cut = draft.account.monthly + draft.held_monthly() - to;
        if cut > 0 {
            let from_bucket = cut.min(draft.account.monthly);
            let from_holds = draft.shrink_holds(Bucket::Monthly, cut - from_bucket);
            draft.record(
                EntryKind::Adjust,
                Bucket::Monthly,
                -from_bucket,
                -from_holds,
                cause,
                Some(&reason),
            );
        }
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

/// How `amount` splits over the buckets, spending monthly credits (`monthly` of them) first.
fn monthly_first(amount: Credits, monthly: Credits) -> [(Bucket, Credits); 2] {
    let from_monthly = amount.min(monthly);
    [
        (Bucket::Monthly, from_monthly),
        (Bucket::Purchased, amount - from_monthly),
    ]
}

/// Take back up to `owed` purchased credits (a refunded package): from the purchased bucket
/// first, then from the purchased parts of open holds (newest first, see
/// [`Draft::shrink_holds`]), in one `revoke` entry. Never more than the account owns: what
/// cannot be taken (spent already) is the shortfall, recorded in the entry's reason (an entry of
/// 0 when nothing can be taken). Returns the change and the shortfall.
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
    let from_bucket = owed.min(draft.account.purchased);
    let from_holds = draft.shrink_holds(Bucket::Purchased, owed - from_bucket);
    let shortfall = owed - from_bucket - from_holds;
    if owed > 0 {
        let reason = if shortfall > 0 {
            format!("{reason}; {shortfall} already spent")
        } else {
            reason.to_owned()
        };
        draft.record(
            EntryKind::Revoke,
            Bucket::Purchased,
            -from_bucket,
            -from_holds,
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
    closed_holds: Vec<ClosedHold>,
    before: Before,
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
                closed_holds: Vec::new(),
                before: Before::of(account),
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
                        holds: Default::default(),
                        migrated_to: None,
                    },
                    entries: Vec::new(),
                    opened: true,
                    dirty: true,
                    closed_holds: Vec::new(),
                    before: Before {
                        plan,
                        balance: plan.monthly_credits(),
                    },
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

    /// Expired holds end, then the reset, applied at most once per period: the period is part
    /// of the state it changes.
    fn roll(&mut self) {
        self.expire_holds();
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
        self.record(kind, bucket, amount, 0, cause, reason);
    }

    /// Applies one entry: `to_bucket` changes the bucket, `to_held` the held credits; the
    /// entry's amount is their sum (the change of what the account owns).
    fn record(
        &mut self,
        kind: EntryKind,
        bucket: Bucket,
        to_bucket: Credits,
        to_held: Credits,
        cause: &str,
        reason: Option<&str>,
    ) {
        let target = match bucket {
            Bucket::Monthly => &mut self.account.monthly,
            Bucket::Purchased => &mut self.account.purchased,
        };
        *target += to_bucket;
        debug_assert!(*target >= 0, "{bucket:?} bucket below zero");
        self.account.held += to_held;
        debug_assert!(self.account.held >= 0, "held below zero");
        self.account.seq += 1;
        let moved = if matches!(kind, EntryKind::Hold | EntryKind::Release) {
            to_held.abs()
        } else {
            0
        };
        self.entries.push(Entry {
            seq: self.account.seq,
            kind,
            amount: to_bucket + to_held,
            bucket,
            balance_after: self.account.balance(),
            held_after: self.account.held,
            moved,
            cause: cause.to_owned(),
            reason: reason.map(str::to_owned),
            priced: None,
            at: self.now,
        });
    }

    fn finish(self) -> Change {
        Change {
            account: self.account,
            entries: self.entries,
            opened: self.opened,
            dirty: self.dirty,
            closed_holds: self.closed_holds,
            before: self.before,
        }
    }
}

#[cfg(test)]
mod tests;
