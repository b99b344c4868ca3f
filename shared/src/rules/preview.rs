//! What a plan change would do now, decided by the rule that applies it ([`change_plan`]) on the
//! account as read, and never stored: the preview and the change cannot disagree.

use chrono::{DateTime, Utc};

use super::{catch_up, change_plan, touch};
use crate::account::{Account, UserId};
use crate::plan::{Credits, Plan};

/// The cause the previewed change carries: it is never written, so no entry ever shows it.
const PREVIEW_CAUSE: &str = "preview";

/// A plan change as it would apply at a given time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanPreview {
    pub target: Plan,
    /// The account brought to that time (opened, its expired holds closed, reset if due):
    /// what the change starts from.
    pub before: Account,
    /// The account after the change.
    pub after: Account,
    /// Monthly credits added at once (an upgrade, prorated), 0 otherwise.
    pub granted: Credits,
    /// Monthly credits taken by the cap of a downgrade (out of the bucket, then out of open
    /// holds), 0 otherwise.
    pub capped: Credits,
}

/// Moving `current` (`None`: a user never seen, previewed from the Free account they would get)
/// to `target` at `now`, as a Stripe plan change would: the service's steps (expired holds
/// closed in batches, then [`touch`]) and [`change_plan`] itself, all in memory. Previewing the
/// current plan is a change of zero.
pub fn preview_change_plan(
    current: Option<&Account>,
    user: &UserId,
    target: Plan,
    now: DateTime<Utc>,
) -> PlanPreview {
    let mut account = current.cloned();
    while let Some(batch) = catch_up(account.as_ref(), now) {
        account = Some(batch.account);
    }
    let before = touch(account.as_ref(), user, now).account;
    let change = change_plan(Some(&before), user, target, PREVIEW_CAUSE, now);
    // `before` is current, so the change holds the plan change's entry and nothing else.
    let moved: Credits = change.entries.iter().map(|e| e.amount).sum();
    PlanPreview {
        target,
        before,
        after: change.account,
        granted: moved.max(0),
        capped: (-moved).max(0),
    }
}
