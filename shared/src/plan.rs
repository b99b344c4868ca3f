//! Plans and their monthly allowances; v1 credit packages.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A whole number of credits. Signed, so that ledger amounts and balances share one type;
/// the rules keep every balance at zero or above.
pub type Credits = i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    Free,
    ProMonthly,
    ProYearly,
    Lifetime,
}

impl Plan {
    pub const ALL: [Plan; 4] = [
        Plan::Free,
        Plan::ProMonthly,
        Plan::ProYearly,
        Plan::Lifetime,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::ProMonthly => "pro_monthly",
            Plan::ProYearly => "pro_yearly",
            Plan::Lifetime => "lifetime",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Plan::Free => "Free",
            Plan::ProMonthly => "Pro Monthly",
            Plan::ProYearly => "Pro Yearly",
            Plan::Lifetime => "Lifetime",
        }
    }

    /// Credits granted at the start of every period.
    pub fn monthly_credits(self) -> Credits {
        match self {
            Plan::Free => 5,
            Plan::ProMonthly => 100,
            Plan::ProYearly => 150,
            Plan::Lifetime => 500,
        }
    }

    /// Plans with a larger allowance than this one: what an insufficient-credits answer offers.
    pub fn upgrades(self) -> impl Iterator<Item = Plan> {
        Plan::ALL
            .into_iter()
            .filter(move |p| p.monthly_credits() > self.monthly_credits())
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown plan {0:?}")]
pub struct UnknownPlan(pub String);

impl FromStr for Plan {
    type Err = UnknownPlan;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Plan::ALL
            .into_iter()
            .find(|p| p.id() == s)
            .ok_or_else(|| UnknownPlan(s.to_owned()))
    }
}

/// A one-off credit package, sold under v1 only. Its credits never expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Package {
    Basic,
    Standard,
    Premium,
    Enterprise,
}

impl Package {
    pub const ALL: [Package; 4] = [
        Package::Basic,
        Package::Standard,
        Package::Premium,
        Package::Enterprise,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Package::Basic => "basic",
            Package::Standard => "standard",
            Package::Premium => "premium",
            Package::Enterprise => "enterprise",
        }
    }

    pub fn credits(self) -> Credits {
        match self {
            Package::Basic => 100,
            Package::Standard => 200,
            Package::Premium => 500,
            Package::Enterprise => 1000,
        }
    }
}

impl FromStr for Package {
    type Err = UnknownPlan;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Package::ALL
            .into_iter()
            .find(|p| p.id() == s)
            .ok_or_else(|| UnknownPlan(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowances_are_the_specs() {
        let got: Vec<_> = Plan::ALL
            .iter()
            .map(|p| (p.id(), p.monthly_credits()))
            .collect();
        assert_eq!(
            got,
            [
                ("free", 5),
                ("pro_monthly", 100),
                ("pro_yearly", 150),
                ("lifetime", 500)
            ]
        );
    }

    #[test]
    fn ids_round_trip() {
        for p in Plan::ALL {
            assert_eq!(p.id().parse::<Plan>().unwrap(), p);
        }
        for p in Package::ALL {
            assert_eq!(p.id().parse::<Package>().unwrap(), p);
        }
        assert!("gold".parse::<Plan>().is_err());
    }

    #[test]
    fn upgrades_are_the_larger_plans() {
        let free: Vec<_> = Plan::Free.upgrades().collect();
        assert_eq!(free, [Plan::ProMonthly, Plan::ProYearly, Plan::Lifetime]);
        assert_eq!(Plan::Lifetime.upgrades().count(), 0);
    }
}
