//! What the API shows: the balance view, the spending commands' answers, the options an
//! insufficient-credits answer offers, and a reset run's progress.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::account::Account;
use crate::flags::{Flags, Version};
use crate::ledger::{Bucket, Entry, EntryKind, TransactionId};
use crate::period::Period;
use crate::plan::{Credits, Package, Plan};
#[cfg(doc)]
use crate::reset::records::MAX_FAILED_IDS;
use crate::reset::records::{Counts, Progress};
use crate::rules::prices::PriceList;
use crate::rules::{ClosedHold, HoldEnd, NewHold};

mod adjustments;
pub use adjustments::Adjusted;
mod preview;
pub use preview::{PlanChangeKind, PreviewView};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BalanceView {
    pub user_id: String,
    pub plan: Plan,
    pub period: String,
    /// What can be spent now.
    pub balance: Credits,
    pub monthly: MonthlyView,
    pub purchased: Credits,
    pub held: Credits,
    #[cfg_attr(feature = "openapi", schema(value_type = Version))]
    pub version: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MonthlyView {
    pub allowance: Credits,
    pub remaining: Credits,
    /// When the monthly credits expire and the next allowance arrives (RFC 3339, UTC).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub resets_at: String,
}

impl BalanceView {
    pub fn new(account: &Account, flags: &Flags) -> Self {
        Self {
            user_id: account.user_id.to_string(),
            plan: account.plan,
            period: account.period.to_string(),
            balance: account.balance(),
            monthly: MonthlyView {
                allowance: account.plan.monthly_credits(),
                remaining: account.monthly,
                resets_at: account
                    .period
                    .end()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            },
            purchased: account.purchased,
            held: account.held,
            version: flags.version.as_str(),
        }
    }
}

/// A deduct's answer: the balance view after it, what it took and its ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deducted {
    #[serde(flatten)]
    pub balance: BalanceView,
    pub deducted: Credits,
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = r"^tx_[0-9]{12}$"))]
    pub transaction_id: TransactionId,
}

/// A hold just opened, and the balance view with its credits held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Opened))]
pub struct HoldOpened {
    #[cfg_attr(feature = "openapi", schema(pattern = r"^h_[0-9]{12}$"))]
    pub hold_id: String,
    pub amount: Credits,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub expires_at: String,
    #[serde(flatten)]
    pub balance: BalanceView,
}

impl HoldOpened {
    pub fn new(hold: &NewHold, account: &Account, flags: &Flags) -> Self {
        Self {
            hold_id: hold.id.clone(),
            amount: hold.amount,
            expires_at: hold
                .expires_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            balance: BalanceView::new(account, flags),
        }
    }
}

/// A hold committed or released, and the balance view after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Closed))]
pub struct HoldEnded {
    #[serde(flatten)]
    pub balance: BalanceView,
    #[cfg_attr(feature = "openapi", schema(pattern = r"^h_[0-9]{12}$"))]
    pub hold_id: String,
    pub deducted: Credits,
    pub released: Credits,
    pub expired: Credits,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, pattern = r"^tx_[0-9]{12}$"))]
    pub transaction_id: Option<TransactionId>,
}

impl HoldEnded {
    pub fn new(end: &HoldEnd, account: &Account, flags: &Flags) -> Self {
        let ClosedHold {
            hold_id,
            committed,
            released,
            expired,
            ..
        } = &end.closed;
        Self {
            balance: BalanceView::new(account, flags),
            hold_id: hold_id.clone(),
            deducted: *committed,
            released: *released,
            expired: *expired,
            transaction_id: end.transaction,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanView {
    pub id: Plan,
    pub name: &'static str,
    pub monthly_credits: Credits,
}

impl From<Plan> for PlanView {
    fn from(p: Plan) -> Self {
        Self {
            id: p,
            name: p.name(),
            monthly_credits: p.monthly_credits(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PackageView {
    pub id: Package,
    pub credits: Credits,
}

impl From<Package> for PackageView {
    fn from(p: Package) -> Self {
        Self {
            id: p,
            credits: p.credits(),
        }
    }
}

/// Packages on sale: none unless purchases are enabled (v1 with the switch on).
pub fn packages_on_sale(flags: &Flags) -> Vec<PackageView> {
    if flags.purchases_enabled() {
        Package::ALL.into_iter().map(PackageView::from).collect()
    } else {
        Vec::new()
    }
}

/// The body beside the error of a 402: what the user has, needs, and can do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InsufficientView {
    pub balance: Credits,
    pub required: Credits,
    pub plan: Plan,
    pub upgrade_options: Vec<PlanView>,
    /// Present in v1 with purchases on only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purchase_options: Option<Vec<PackageView>>,
}

impl InsufficientView {
    pub fn new(account: &Account, required: Credits, flags: &Flags) -> Self {
        Self {
            balance: account.balance(),
            required,
            plan: account.plan,
            upgrade_options: account.plan.upgrades().map(PlanView::from).collect(),
            purchase_options: flags.purchases_enabled().then(|| packages_on_sale(flags)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntryView {
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = r"^tx_[0-9]{12}$"))]
    pub id: TransactionId,
    #[serde(rename = "type")]
    pub kind: EntryKind,
    pub amount: Credits,
    pub bucket: Bucket,
    pub balance_after: Credits,
    pub held_after: Credits,
    pub cause: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The feature a priced spend named (`deduct` and `hold` entries only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature: Option<String>,
    /// Units of `feature` the spend was for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
    /// The feature's price per unit when it was spent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Credits>,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
}

impl From<Entry> for EntryView {
    fn from(e: Entry) -> Self {
        Self {
            id: e.id(),
            kind: e.kind,
            amount: e.amount,
            bucket: e.bucket,
            balance_after: e.balance_after,
            held_after: e.held_after,
            cause: e.cause,
            reason: e.reason,
            feature: e.priced.as_ref().map(|p| p.feature.clone()),
            quantity: e.priced.as_ref().map(|p| p.quantity),
            unit_price: e.priced.as_ref().map(|p| p.unit_price),
            created_at: e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }
    }
}

/// A page of the ledger, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransactionsPage {
    pub items: Vec<EntryView>,
    /// The `cursor` for the next page; `null` on the last one.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, required = true, pattern = r"^tx_[0-9]{12}$"))]
    pub next_cursor: Option<TransactionId>,
}

/// The plans and, when purchases are on, the packages on sale: what pricing cards show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlansView {
    pub plans: Vec<PlanView>,
    /// Empty unless purchases are on.
    pub packages: Vec<PackageView>,
    pub purchases_enabled: bool,
    pub version: Version,
    /// What each priced feature costs, by name (`feature` and `quantity` on deduct and holds).
    pub features: Vec<FeaturePriceView>,
}

/// A priced feature and its price per unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeaturePriceView {
    pub id: String,
    pub unit_price: Credits,
}

impl PlansView {
    pub fn new(flags: &Flags) -> Self {
        Self {
            plans: Plan::ALL.into_iter().map(PlanView::from).collect(),
            packages: packages_on_sale(flags),
            purchases_enabled: flags.purchases_enabled(),
            version: flags.version,
            features: Vec::new(),
        }
    }

    /// With the features of `prices` listed.
    pub fn with_prices(mut self, prices: &PriceList) -> Self {
        self.features = prices
            .iter()
            .map(|(id, unit_price)| FeaturePriceView {
                id: id.to_owned(),
                unit_price,
            })
            .collect();
        self
    }
}

/// A run as the admin route and the logs show it: the record and its live progress.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunView {
    pub run_id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = r"^[0-9]{4}-[0-9]{2}$"))]
    pub period: Period,
    pub trigger: String,
    /// `running` or `done`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: &'static str,
    pub segments: u32,
    pub segments_done: u32,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub started_at: DateTime<Utc>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub finished_at: Option<DateTime<Utc>>,
    pub counts: Counts,
    /// Up to [`MAX_FAILED_IDS`] per segment, for a repeated run or a look by hand.
    pub failed_users: Vec<String>,
}

impl RunView {
    pub fn new(progress: &Progress) -> Self {
        let run = &progress.run;
        Self {
            run_id: run.run_id.clone(),
            period: run.period,
            trigger: run.trigger.clone(),
            status: if run.finished_at.is_some() {
                "done"
            } else {
                "running"
            },
            segments: run.segments,
            segments_done: progress.segments_done(),
            started_at: run.started_at,
            finished_at: run.finished_at,
            counts: progress.counts(),
            failed_users: progress.failed_users(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reset::records::{Checkpoint, RunRecord};

    #[test]
    fn a_run_view_sums_the_segments_until_the_totals_are_recorded() {
        let now = Utc::now();
        let period = Period::containing(now);
        let run = RunRecord {
            run_id: "r".into(),
            period,
            trigger: "schedule".into(),
            segments: 2,
            started_at: now,
            finished_at: None,
            totals: None,
        };
        let cp = |segment, reset, done| Checkpoint {
            run_id: "r".into(),
            period,
            segment,
            segments: 2,
            cursor: None,
            counts: Counts {
                scanned: reset + 1,
                reset,
                already_current: 1,
                failed: 0,
            },
            done,
            invocations: 1,
            failed_users: vec![],
            rev: 1,
            updated_at: now,
        };
        let view = |run: &RunRecord, checkpoints: Vec<Checkpoint>| {
            RunView::new(&Progress {
                run: run.clone(),
                checkpoints,
            })
        };
        let v = view(&run, vec![cp(0, 3, true), cp(1, 4, false)]);
        assert_eq!(
            (v.status, v.segments_done, v.counts.reset, v.counts.scanned),
            ("running", 1, 7, 9)
        );
        let done = RunRecord {
            finished_at: Some(now),
            totals: Some(Counts::default()),
            ..run
        };
        assert_eq!(view(&done, vec![cp(0, 3, true)]).status, "done");
    }
}
