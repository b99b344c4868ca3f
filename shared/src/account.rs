//! A user's credit account: the state the rules work on.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::period::Period;
use crate::plan::{Credits, Plan};

/// The user an account belongs to: the JWT `sub` claim, never a request field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a user id is 1 to {max} printable characters", max = UserId::MAX_LEN)]
pub struct InvalidUserId;

impl UserId {
    pub const MAX_LEN: usize = 256;

    pub fn parse(s: impl Into<String>) -> Result<Self, InvalidUserId> {
        let s = s.into();
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.chars().all(|c| !c.is_control() && !c.is_whitespace());
        if ok { Ok(Self(s)) } else { Err(InvalidUserId) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserId {
    type Error = InvalidUserId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl From<UserId> for String {
    fn from(u: UserId) -> Self {
        u.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The credits a user owns, by bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub user_id: UserId,
    pub plan: Plan,
    /// The period `monthly` belongs to; older than the current one until a reset applies.
    pub period: Period,
    /// What is left of the period's allowance. Expires when the period ends.
    pub monthly: Credits,
    /// Credits bought as v1 packages. Never expire.
    pub purchased: Credits,
    /// Credits reserved by open holds: owned, but not spendable.
    pub held: Credits,
    /// How many ledger entries the account has; the next entry's number is `seq + 1`.
    pub seq: u64,
    /// Open holds by id. They live on the account so that a hold and the buckets it draws on
    /// change in one conditional write; a hold leaves this map when it closes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub holds: BTreeMap<String, Hold>,
    /// The system version this account was last migrated to (`v2`), so a migration that is
    /// run again, or resumed, passes over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrated_to: Option<String>,
}

/// An open hold: credits reserved for work whose cost is known only when it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub amount: Credits,
    /// How much of `amount` came from the monthly bucket, and of which period: those credits
    /// expire if they come back after their period ended.
    pub monthly: Credits,
    pub period: Period,
    /// How much came from the purchased bucket.
    pub purchased: Credits,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl Account {
    /// What can be spent now.
    pub fn balance(&self) -> Credits {
        self.monthly + self.purchased
    }

    /// Every credit the account owns: what its ledger adds up to.
    pub fn owned(&self) -> Credits {
        self.balance() + self.held
    }
}
