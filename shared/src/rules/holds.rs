//! Holds: reserve credits, then commit what was used or release them; expiry; and how held
//! credits meet a refund or a downgrade (they are owned credits: see [`Draft::shrink_holds`]).

use chrono::{DateTime, Utc};

use super::{Change, ClosedHold, Draft, HoldOutcome, MAX_DEDUCT, MIN_DEDUCT, monthly_first};
use crate::account::{Account, Hold, UserId};
use crate::ledger::{Bucket, EntryKind, TransactionId};
use crate::plan::Credits;

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

/// How a commit or release ended its hold: the hold's record, and the transaction of its first
/// entry (none when the hold held nothing, as after a refund took all of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldEnd {
    pub closed: ClosedHold,
    pub transaction: Option<TransactionId>,
}

/// The id of the hold a [`hold`] change opened: named after its first ledger entry, so it is
/// unique within the account and the same however often the decision is retried.
pub fn hold_id(seq: u64) -> String {
    format!("h_{seq:012}")
}

/// A hold a [`hold`] change opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHold {
    pub id: String,
    pub amount: Credits,
    pub expires_at: DateTime<Utc>,
}

/// Reserves `amount` credits (monthly first) until `now + ttl_seconds`: all or nothing.
/// Returns the change and the hold it opened.
pub fn hold(
    current: Option<&Account>,
    user: &UserId,
    amount: Credits,
    ttl_seconds: i64,
    cause: &str,
    now: DateTime<Utc>,
) -> Result<(Change, NewHold), HoldRefusal> {
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
    let expires_at = now + chrono::Duration::seconds(ttl_seconds);
    draft.account.holds.insert(
        id.clone(),
        Hold {
            amount,
            monthly: from_monthly,
            period: draft.account.period,
            purchased: from_purchased,
            expires_at,
            created_at: now,
        },
    );
    let new = NewHold {
        id,
        amount,
        expires_at,
    };
    Ok((draft.finish(), new))
}

/// Spends `amount` of an open hold (all of it when `None`) and returns the rest.
pub fn commit_hold(
    current: Option<&Account>,
    user: &UserId,
    id: &str,
    amount: Option<Credits>,
    now: DateTime<Utc>,
) -> Result<(Change, HoldEnd), HoldRefusal> {
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
    match draft.end_hold(id, commit, HoldOutcome::Committed) {
        Some(end) => Ok((draft.finish(), end)),
        None => Err(HoldRefusal::NotOpen {
            touched: Box::new(draft.finish()),
        }),
    }
}

/// Returns all of an open hold.
pub fn release_hold(
    current: Option<&Account>,
    user: &UserId,
    id: &str,
    now: DateTime<Utc>,
) -> Result<(Change, HoldEnd), HoldRefusal> {
    let mut draft = Draft::start(current, user, now);
    draft.roll();
    match draft.end_hold(id, 0, HoldOutcome::Released) {
        Some(end) => Ok((draft.finish(), end)),
        None => Err(HoldRefusal::NotOpen {
            touched: Box::new(draft.finish()),
        }),
    }
}

/// The most expired holds one change closes beside a command. Closing one writes up to three
/// items (two entries and its record) and a transaction holds at most 100; the command's own
/// items (the account, a reset, its entries, an idempotency record or a Stripe event's items)
/// take at most 25 of them.
pub const EXPIRY_BATCH: usize = 25;

/// When more holds are due than one change may close beside a command: a change that closes the
/// first [`EXPIRY_BATCH`] of them (earliest expiry first), to be written on its own before the
/// command is decided. `None` when the command's own change can close them all. It applies no
/// reset: the last change, the command's, applies it, as [`super::touch`] would.
pub fn catch_up(current: Option<&Account>, now: DateTime<Utc>) -> Option<Change> {
    let account = current?;
    let due = due_holds(account, now);
    if due.len() <= EXPIRY_BATCH {
        return None;
    }
    let mut draft = Draft::start(Some(account), &account.user_id, now);
    for id in &due[..EXPIRY_BATCH] {
        draft.close_hold(id, 0, HoldOutcome::Expired);
    }
    Some(draft.finish())
}

/// The ids of the holds whose time has passed, earliest expiry first.
fn due_holds(account: &Account, now: DateTime<Utc>) -> Vec<String> {
    let mut due: Vec<(&DateTime<Utc>, &String)> = account
        .holds
        .iter()
        .filter(|(_, h)| h.expires_at <= now)
        .map(|(id, h)| (&h.expires_at, id))
        .collect();
    due.sort();
    due.into_iter().map(|(_, id)| id.clone()).collect()
}

impl Draft {
    /// Releases every hold whose time has passed. The service has closed all but at most
    /// [`EXPIRY_BATCH`] of them first ([`catch_up`]), so this change stays within DynamoDB's
    /// limits.
    pub(super) fn expire_holds(&mut self) {
        let due = due_holds(&self.account, self.now);
        debug_assert!(
            due.len() <= EXPIRY_BATCH,
            "catch_up first: {} due",
            due.len()
        );
        for id in due {
            self.close_hold(&id, 0, HoldOutcome::Expired);
        }
    }

    /// Takes up to `want` credits of `bucket` out of open holds, newest hold first, and returns
    /// how many it took; the caller records them as leaving the held credits. Held credits are
    /// owned credits: a refund or a downgrade cap that the bucket cannot cover comes out of the
    /// holds at once, so releasing a hold can never hand back what the user would not have kept
    /// without it. Only monthly credits of the account's period count: held ones of an ended
    /// period expire when they come back. A shrunk hold stays open with what is left (maybe 0);
    /// committing more than that is refused.
    pub(super) fn shrink_holds(&mut self, bucket: Bucket, want: Credits) -> Credits {
        let period = self.account.period;
        let mut left = want.max(0);
        for hold in self.account.holds.values_mut().rev() {
            if left == 0 {
                break;
            }
            let part = match bucket {
                Bucket::Monthly if hold.period == period => &mut hold.monthly,
                Bucket::Monthly => continue,
                Bucket::Purchased => &mut hold.purchased,
            };
            let take = left.min(*part);
            *part -= take;
            hold.amount -= take;
            left -= take;
        }
        want.max(0) - left
    }

    /// Monthly credits of the account's period held by open holds.
    pub(super) fn held_monthly(&self) -> Credits {
        let period = self.account.period;
        self.account
            .holds
            .values()
            .filter(|h| h.period == period)
            .map(|h| h.monthly)
            .sum()
    }

    /// Ends `id` as a commit or release does ([`Draft::close_hold`]) and says how; `None` when
    /// no open hold has that id.
    fn end_hold(&mut self, id: &str, commit: Credits, outcome: HoldOutcome) -> Option<HoldEnd> {
        let first = self.account.seq + 1;
        let closed = self.close_hold(id, commit, outcome)?;
        Some(HoldEnd {
            closed,
            transaction: (self.account.seq >= first).then_some(TransactionId(first)),
        })
    }

    /// Ends an open hold: `commit` of it is spent (monthly part first), the rest goes back to
    /// the buckets it came from, except monthly credits of a period that has ended, which expire.
    pub(super) fn close_hold(
        &mut self,
        id: &str,
        commit: Credits,
        outcome: HoldOutcome,
    ) -> Option<ClosedHold> {
        let hold = self.account.holds.remove(id)?;
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
        let closed = ClosedHold {
            hold_id: id.to_owned(),
            outcome,
            amount: hold.amount,
            committed: commit,
            released: hold.amount - commit - expired,
            expired,
            closed_at: self.now,
        };
        self.closed_holds.push(closed.clone());
        Some(closed)
    }
}
