//! What the API shows: the balance view and the options an insufficient-credits answer offers.

use serde::Serialize;

use crate::account::Account;
use crate::flags::{Flags, Version};
use crate::ledger::{Bucket, Entry, EntryKind, TransactionId};
use crate::plan::{Credits, Package, Plan};
use crate::rules::prices::PriceList;

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
