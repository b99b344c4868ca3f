//! What a committed change tells the application: the notifications (EventBridge events) it
//! publishes, decided from the change alone (the account before and after, its entries, the
//! plan change, what caused it). Pure: the store writes what this returns in the change's own
//! transaction (the outbox), so an event exists exactly when its change committed.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::account::{Account, UserId};
use crate::ledger::{Entry, EntryKind};
use crate::plan::{Credits, Plan};

use super::Change;

/// The EventBridge `source` of every event.
pub const SOURCE: &str = "credits";
/// `CREDITS_LOW_BALANCE_PERCENT`'s default: the share of the plan's allowance at or below which
/// the balance is low.
pub const DEFAULT_LOW_BALANCE_PERCENT: u8 = 20;
/// The most events one change can produce: what one `PutEvents` call takes.
pub const MAX_EVENTS: usize = 10;

/// The event types (EventBridge `detail-type`).
pub const LOW_BALANCE: &str = "credits.low_balance";
pub const DEPLETED: &str = "credits.depleted";
pub const PLAN_CHANGED: &str = "credits.plan_changed";
pub const GRANTED: &str = "credits.granted";
pub const PURCHASE_REJECTED: &str = "credits.purchase_rejected";

/// Where a change started: enough to tell what it crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Before {
    pub plan: Plan,
    pub balance: Credits,
}

impl Before {
    pub fn of(account: &Account) -> Self {
        Self {
            plan: account.plan,
            balance: account.balance(),
        }
    }
}

/// A v2 package purchase recorded as rejected (to refund), as its event shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub user_id: UserId,
    pub session: String,
    pub price: String,
    pub product: String,
    pub amount: i64,
    pub payment_intent: Option<String>,
    pub stripe_event_id: String,
}

/// What one committed write did.
#[derive(Debug, Clone, Copy)]
pub struct Committed<'a> {
    /// The account's change, when the write changed it.
    pub change: Option<&'a Change>,
    /// What caused the write (a Stripe event id, an idempotency key): a plan change's cause.
    pub cause: Option<&'a str>,
    pub rejected: Option<&'a Rejected>,
    pub at: DateTime<Utc>,
}

/// One event to publish: its `detail-type` and its `detail` (which holds its `event_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub detail_type: String,
    pub detail: Value,
}

impl Event {
    pub fn id(&self) -> Option<&str> {
        self.detail.get("event_id").and_then(Value::as_str)
    }
}

/// Why credits were granted, as a `credits.granted` event names it; `None`: not a grant the
/// application is told about (the opening allowance, a move between buckets and holds).
fn grant_reason(entry: &Entry, plan_changed: bool) -> Option<&'static str> {
    if entry.amount <= 0 {
        return None;
    }
    match entry.kind {
        EntryKind::Grant if entry.cause.starts_with("reset:") => Some("reset"),
        EntryKind::Purchase => Some("purchase"),
        // An upgrade's prorated credits are an `adjust` entry of the change of plan.
        EntryKind::Adjust if plan_changed => Some("upgrade"),
        EntryKind::Adjust => Some("adjustment"),
        _ => None,
    }
}

/// Whether the spendable balance, starting at `start` and stepping through `entries`, goes
/// from above `threshold` to at or below it on some entry and ends at or below it.
fn crosses(start: Credits, entries: &[Entry], threshold: Credits) -> bool {
    let Some(last) = entries.last() else {
        return false;
    };
    let mut previous = start;
    let mut crossed = false;
    for e in entries {
        crossed |= previous > threshold && e.balance_after <= threshold;
        previous = e.balance_after;
    }
    crossed && last.balance_after <= threshold
}

/// The low-balance threshold of `plan`: `percent` of its allowance, rounded down.
pub fn threshold(plan: Plan, percent: u8) -> Credits {
    plan.monthly_credits() * Credits::from(percent) / 100
}

/// The balance view after the change, as the events show it (the API's balance view without
/// `version`, which is the deployment's, not the account's).
fn balance_view(a: &Account) -> Value {
    json!({
        "user_id": a.user_id.as_str(),
        "plan": a.plan,
        "period": a.period.to_string(),
        "balance": a.balance(),
        "monthly": {
            "allowance": a.plan.monthly_credits(),
            "remaining": a.monthly,
            "resets_at": a.period.end().to_rfc3339_opts(SecondsFormat::Secs, true),
        },
        "purchased": a.purchased,
        "held": a.held,
    })
}

/// The events a committed write publishes, in order; `id` names the write (unique per commit)
/// and each event's id is `<id>.<n>`. At most [`MAX_EVENTS`].
pub fn events(what: Committed<'_>, low_balance_percent: u8, id: &str) -> Vec<Event> {
    let mut out: Vec<(&'static str, Value)> = Vec::new();
    let user = what
        .change
        .map(|c| c.account.user_id.as_str())
        .or(what.rejected.map(|r| r.user_id.as_str()));
    let Some(user) = user else {
        return Vec::new();
    };
    let (entries, balance) = match what.change {
        Some(c) => (
            c.entries.iter().map(|e| e.id().to_string()).collect(),
            balance_view(&c.account),
        ),
        None => (Vec::new(), Value::Null),
    };
    if let Some(change) = what.change {
        let (before, after) = (change.before, &change.account);
        let plan_changed = before.plan != after.plan;
        if plan_changed {
            out.push((
                PLAN_CHANGED,
                json!({"old_plan": before.plan, "new_plan": after.plan, "cause": what.cause}),
            ));
        }
        for e in &change.entries {
            if let Some(reason) = grant_reason(e, plan_changed) {
                out.push((
                    GRANTED,
                    json!({"reason": reason, "amount": e.amount, "bucket": e.bucket,
                           "entry_id": e.id().to_string(), "cause": e.cause}),
                ));
            }
        }
        let low = threshold(after.plan, low_balance_percent);
        if crosses(before.balance, &change.entries, low) {
            out.push((
                LOW_BALANCE,
                json!({"threshold": low, "percent": low_balance_percent}),
            ));
        }
        if crosses(before.balance, &change.entries, 0) {
            out.push((DEPLETED, json!({})));
        }
    }
    if let Some(r) = what.rejected {
        out.push((PURCHASE_REJECTED, json!({ "purchase": r })));
    }
    // Bounded by construction (a change grants at most a reset, an opening and its command's
    // entry); the cut keeps the outbox item to one PutEvents call whatever comes later.
    out.truncate(MAX_EVENTS);
    let at = what.at.to_rfc3339_opts(SecondsFormat::Millis, true);
    out.into_iter()
        .enumerate()
        .map(|(n, (detail_type, specific))| {
            let mut detail = json!({
                "event_id": format!("{id}.{n}"),
                "user_id": user,
                "entries": entries,
                "balance": balance,
                "at": at,
            });
            if let (Value::Object(d), Value::Object(s)) = (&mut detail, specific) {
                d.extend(s);
            }
            Event {
                detail_type: detail_type.to_owned(),
                detail,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
