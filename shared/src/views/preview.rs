//! The answer of `GET /credits/preview`: what a plan change would do now.

use serde::Serialize;

use crate::plan::{Credits, Plan};
use crate::rules::PlanPreview;

/// Which way a plan change goes, by monthly allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PlanChangeKind {
    /// A larger allowance: monthly credits granted at once, prorated.
    Upgrade,
    /// A smaller one: this period's monthly credits capped at it.
    Downgrade,
    /// The same allowance (the current plan): nothing changes.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PreviewView {
    /// The plan now.
    pub plan: Plan,
    /// The plan previewed.
    pub target_plan: Plan,
    pub change: PlanChangeKind,
    /// Monthly credits the change would add now (an upgrade, prorated over the days left in
    /// the period, today included).
    pub granted: Credits,
    /// Monthly credits the change would take now (a downgrade caps this period's monthly
    /// credits, held ones included, at the new allowance).
    pub capped: Credits,
    /// What can be spent now.
    pub balance: Credits,
    /// What could be spent right after the change.
    pub balance_after: Credits,
    /// Credits held by open holds now.
    pub held: Credits,
    /// Credits held right after the change (a downgrade's cap may shrink open holds).
    pub held_after: Credits,
    /// The monthly allowance from the next reset on: the target plan's.
    pub next_allowance: Credits,
    /// When the next reset grants it (RFC 3339, UTC).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub resets_at: String,
}

impl From<&PlanPreview> for PreviewView {
    fn from(p: &PlanPreview) -> Self {
        let (from, to) = (p.before.plan, p.target);
        let change = match to.monthly_credits().cmp(&from.monthly_credits()) {
            std::cmp::Ordering::Greater => PlanChangeKind::Upgrade,
            std::cmp::Ordering::Less => PlanChangeKind::Downgrade,
            std::cmp::Ordering::Equal => PlanChangeKind::None,
        };
        Self {
            plan: from,
            target_plan: to,
            change,
            granted: p.granted,
            capped: p.capped,
            balance: p.before.balance(),
            balance_after: p.after.balance(),
            held: p.before.held,
            held_after: p.after.held,
            next_allowance: p.after.plan.monthly_credits(),
            resets_at: p
                .after
                .period
                .end()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}
