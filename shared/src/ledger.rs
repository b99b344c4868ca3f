//! Ledger entries: one per change of a balance.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::plan::Credits;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Grant,
    Expire,
    Deduct,
    Purchase,
    Adjust,
    Revoke,
    Hold,
    Release,
    Migrate,
}

impl EntryKind {
    /// The name the API and the store use (`grant`, `deduct`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Grant => "grant",
            EntryKind::Expire => "expire",
            EntryKind::Deduct => "deduct",
            EntryKind::Purchase => "purchase",
            EntryKind::Adjust => "adjust",
            EntryKind::Revoke => "revoke",
            EntryKind::Hold => "hold",
            EntryKind::Release => "release",
            EntryKind::Migrate => "migrate",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Monthly,
    Purchased,
}

/// One change of one bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the account's ledger, from 1.
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: EntryKind,
    /// Signed change of the credits the account owns.
    pub amount: Credits,
    pub bucket: Bucket,
    /// Spendable balance after this entry.
    pub balance_after: Credits,
    /// Held credits after this entry.
    pub held_after: Credits,
    /// Credits a `hold` or `release` moved between the bucket and the held credits (its
    /// `amount` is 0: the account owns them either way).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub moved: Credits,
    /// What caused it: an idempotency key, a Stripe event id, a reset's period, ...
    pub cause: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The feature a priced spend named, its quantity and unit price (see
    /// [`crate::rules::prices`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priced: Option<crate::rules::prices::Priced>,
    pub at: DateTime<Utc>,
}

fn is_zero(n: &Credits) -> bool {
    *n == 0
}

impl Entry {
    pub fn id(&self) -> TransactionId {
        TransactionId(self.seq)
    }
}

/// The public name of an entry: `tx_` and its zero-padded position, so ids sort like entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransactionId(pub u64);

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tx_{:012}", self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a transaction id: {0:?}")]
pub struct InvalidTransactionId(pub String);

impl FromStr for TransactionId {
    type Err = InvalidTransactionId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix("tx_")
            .filter(|d| d.len() == 12 && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse().ok())
            .map(TransactionId)
            .ok_or_else(|| InvalidTransactionId(s.to_owned()))
    }
}

impl Serialize for TransactionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_are_the_serialised_ones() {
        use EntryKind::*;
        for k in [
            Grant, Expire, Deduct, Purchase, Adjust, Revoke, Hold, Release, Migrate,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }

    #[test]
    fn transaction_ids_round_trip_and_reject_garbage() {
        let id = TransactionId(42);
        assert_eq!(id.to_string(), "tx_000000000042");
        assert_eq!("tx_000000000042".parse::<TransactionId>().unwrap(), id);
        for bad in [
            "",
            "tx_",
            "tx_42",
            "42",
            "tx_00000000004x",
            "tx_-00000000042",
        ] {
            assert!(bad.parse::<TransactionId>().is_err(), "{bad}");
        }
    }
}
