//! The credit rules, as pure functions: an account (or none), a command and the time in; the
//! new account and its ledger entries out. No I/O, no clock: the store applies what these decide.

use chrono::{DateTime, Utc};

use crate::account::{Account, Hold, UserId};
use crate::ledger::{Bucket, Entry, EntryKind};
use crate::period::Period;
use crate::plan::{Credits, Package, Plan};

mod migration;
pub use migration::{migrate, migration_cause, unmigrate};

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
            touched: Box::new(draft.finish()),
        });
    }
    for (bucket, take) in monthly_first(amount, draft.account.monthly) {
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

/// The most holds an account may have open at once: they live on the account item.
pub const MAX_OPEN_HOLDS: usize = 100;
/// Hold lifetimes, in seconds.
pub const MIN_HOLD_TTL: i64 = 1;
pub const MAX_HOLD_TTL: i64 = 86_400;
pub const DEFAULT_HOLD_TTL: i64 = 900;

/// Why a hold command did not happen. `touched` is what must still be stored (a reset or an
/// expiry that was due).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldRefusal {
    Insufficient {
        required: Credits,
        touched: Box<Change>,
    },
    TooManyHolds {
        touched: Box<Change>,
    },
    /// No open hold of that id: closed (the store knows) or never existed.
    NotOpen {
        touched: Box<Change>,
    },
    /// A commit of more than the hold holds.
    Exceeds {
        held: Credits,
        touched: Box<Change>,
    },
}

impl HoldRefusal {
    pub fn touched(&self) -> &Change {
        match self {
            HoldRefusal::Insufficient { touched, .. }
            | HoldRefusal::TooManyHolds { touched }
            | HoldRefusal::NotOpen { touched }
            | HoldRefusal::Exceeds { touched, .. } => touched,
        }
    }
}

/// The id of the hold a [`hold`] change opened: named after its first ledger entry, so it is
/// unique within the account and the same however often the decision is retried.
pub fn hold_id(seq: u64) -> String {
    format!("h_{seq:012}")
}

/// Reserves `amount` credits (monthly first) until `now + ttl_seconds`: all or nothing.
/// Returns the change and the new hold's id.
pub fn hold(
    current: Option<&Account>,
    user: &UserId,
    amount: Credits,
    ttl_seconds: i64,
    cause: &str,
    now: DateTime<Utc>,
) -> Result<(Change, String), HoldRefusal> {
    debug_assert!((MIN_DEDUCT..=MAX_DEDUCT).contains(&amount));
    debug_assert!((MIN_HOLD_TTL..=MAX_HOLD_TTL).contains(&ttl_seconds));
    let mut draft = Draft::start(current, user, now);
    draft.roll();
    if draft.account.balance() < amount {
        return Err(HoldRefusal::Insufficient {
            required: amount,
            touched: Box::new(draft.finish()),
        });
    }
    if draft.account.holds.len() >= MAX_OPEN_HOLDS {
        return Err(HoldRefusal::TooManyHolds {
            touched: Box::new(draft.finish()),
        });
    }
    let id = hold_id(draft.account.seq + 1);
    let split = monthly_first(amount, draft.account.monthly);
    let [(_, from_monthly), (_, from_purchased)] = split;
    for (bucket, take) in split {
        if take > 0 {
            draft.record(EntryKind::Hold, bucket, -take, take, cause, Some(&id));
        }
    }
    draft.account.holds.insert(
        id.clone(),
        Hold {
            amount,
            monthly: from_monthly,
            period: draft.account.period,
            purchased: from_purchased,
            expires_at: now + chrono::Duration::seconds(ttl_seconds),
            created_at: now,
        },
    );
    Ok((draft.finish(), id))
}

/// Spends `amount` of an open hold (all of it when `None`) and returns the rest.
pub fn commit_hold(
    current: Option<&Account>,
    user: &UserId,
    id: &str,
    amount: Option<Credits>,
    now: DateTime<Utc>,
) -> Result<Change, HoldRefusal> {
    let mut draft = Draft::start(current, user, now);
    draft.roll();
    let Some(held) = draft.account.holds.get(id).map(|h| h.amount) else {
        return Err(HoldRefusal::NotOpen {
            touched: Box::new(draft.finish()),
        });
    };
    let commit = amount.unwrap_or(held);
    if !(0..=held).contains(&commit) {
        return Err(HoldRefusal::Exceeds {
            held,
            touched: Box::new(draft.finish()),
        });
    }
    draft.close_hold(id, commit, HoldOutcome::Committed);
    Ok(draft.finish())
}

/// Returns all of an open hold.
pub fn release_hold(
    current: Option<&Account>,
    user: &UserId,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Change, HoldRefusal> {
    let mut draft = Draft::start(current, user, now);
    draft.roll();
    if !draft.account.holds.contains_key(id) {
        return Err(HoldRefusal::NotOpen {
            touched: Box::new(draft.finish()),
        });
    }
    draft.close_hold(id, 0, HoldOutcome::Released);
    Ok(draft.finish())
}

/// How `amount` splits over the buckets, spending monthly credits (`monthly` of them) first.
fn monthly_first(amount: Credits, monthly: Credits) -> [(Bucket, Credits); 2] {
    let from_monthly = amount.min(monthly);
    [
        (Bucket::Monthly, from_monthly),
        (Bucket::Purchased, amount - from_monthly),
    ]
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
    closed_holds: Vec<ClosedHold>,
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
            at: self.now,
        });
    }

    /// Releases every hold whose time has passed.
    fn expire_holds(&mut self) {
        let due: Vec<String> = self
            .account
            .holds
            .iter()
            .filter(|(_, h)| h.expires_at <= self.now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            self.close_hold(&id, 0, HoldOutcome::Expired);
        }
    }

    /// Ends an open hold: `commit` of it is spent (monthly part first), the rest goes back to
    /// the buckets it came from, except monthly credits of a period that has ended, which expire.
    fn close_hold(&mut self, id: &str, commit: Credits, outcome: HoldOutcome) {
        let Some(hold) = self.account.holds.remove(id) else {
            return;
        };
        let cause = format!("hold:{id}");
        let split = monthly_first(commit, hold.monthly);
        let [(_, spent_monthly), (_, spent_purchased)] = split;
        for (bucket, spent) in split {
            if spent > 0 {
                self.record(EntryKind::Deduct, bucket, 0, -spent, &cause, None);
            }
        }
        let back_monthly = hold.monthly - spent_monthly;
        let back_purchased = hold.purchased - spent_purchased;
        let stale = hold.period < self.account.period;
        let mut expired = 0;
        if back_monthly > 0 {
            if stale {
                expired = back_monthly;
                self.record(
                    EntryKind::Expire,
                    Bucket::Monthly,
                    0,
                    -back_monthly,
                    &cause,
                    None,
                );
            } else {
                self.record(
                    EntryKind::Release,
                    Bucket::Monthly,
                    back_monthly,
                    -back_monthly,
                    &cause,
                    None,
                );
            }
        }
        if back_purchased > 0 {
            self.record(
                EntryKind::Release,
                Bucket::Purchased,
                back_purchased,
                -back_purchased,
                &cause,
                None,
            );
        }
        self.dirty = true;
        self.closed_holds.push(ClosedHold {
            hold_id: id.to_owned(),
            outcome,
            amount: hold.amount,
            committed: commit,
            released: hold.amount - commit - expired,
            expired,
            closed_at: self.now,
        });
    }

    fn finish(self) -> Change {
        Change {
            account: self.account,
            entries: self.entries,
            opened: self.opened,
            dirty: self.dirty,
            closed_holds: self.closed_holds,
        }
    }
}

#[cfg(test)]
mod tests;
