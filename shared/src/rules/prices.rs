//! Priced features: a spend named by a feature and a quantity, priced from the operator's price
//! list. The list's format, the pricing, and the deduct and hold that record what was priced.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Change, HoldRefusal, Insufficient, MAX_DEDUCT, MIN_DEDUCT, NewHold};
use crate::account::{Account, UserId};
use crate::ledger::{EntryKind, TransactionId};
use crate::plan::Credits;

/// The most features a price list may name: it is listed whole by `GET /credits/plans`.
pub const MAX_FEATURES: usize = 100;
/// A feature name's longest length.
pub const MAX_FEATURE_LEN: usize = 64;
/// Units one request may ask for; the total is bounded by [`MAX_DEDUCT`] as well.
pub const MIN_QUANTITY: i64 = 1;
pub const MAX_QUANTITY: i64 = MAX_DEDUCT;
/// A feature's price per unit, in credits.
pub const MIN_UNIT_PRICE: Credits = MIN_DEDUCT;
pub const MAX_UNIT_PRICE: Credits = MAX_DEDUCT;

/// Feature name to unit price, sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceList(BTreeMap<String, Credits>);

impl PriceList {
    pub fn unit_price(&self, feature: &str) -> Option<Credits> {
        self.0.get(feature).copied()
    }

    /// `(feature, unit price)`, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Credits)> {
        self.0.iter().map(|(name, price)| (name.as_str(), *price))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A feature name: a lowercase letter, then lowercase letters, digits or `_`; at most
/// [`MAX_FEATURE_LEN`] characters (`pdf_export`).
pub fn is_feature_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= MAX_FEATURE_LEN
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Parses the `feature-prices` parameter: one JSON object of feature names to whole prices
/// from 1 to 1,000,000, such as `{"pdf_export": 3, "ai_generation": 10}`. The whole list is
/// refused for one bad entry, so a half-valid list never replaces a good one.
pub fn parse_price_list(text: &str) -> Result<PriceList, String> {
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| format!("feature-prices must be a JSON object of feature to price: {e}"))?;
    if object.len() > MAX_FEATURES {
        return Err(format!(
            "feature-prices names {} features, at most {MAX_FEATURES}",
            object.len()
        ));
    }
    let mut list = BTreeMap::new();
    for (name, price) in object {
        if !is_feature_name(&name) {
            return Err(format!(
                "feature-prices: {name:?} is not a feature name (a-z first, then a-z, 0-9 or _, \
                 at most {MAX_FEATURE_LEN})"
            ));
        }
        let price = price
            .as_i64()
            .filter(|p| (MIN_UNIT_PRICE..=MAX_UNIT_PRICE).contains(p))
            .ok_or_else(|| {
                format!(
                    "feature-prices: {name:?} must cost a whole number of credits from \
                     {MIN_UNIT_PRICE} to {MAX_UNIT_PRICE}, got {price}"
                )
            })?;
        list.insert(name, price);
    }
    Ok(PriceList(list))
}

/// What a priced spend recorded: the feature, how many units, and the price of one then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Priced {
    pub feature: String,
    pub quantity: i64,
    pub unit_price: Credits,
}

impl Priced {
    /// The credits it costs: within 1 to [`MAX_DEDUCT`] by construction ([`price`]).
    pub fn amount(&self) -> Credits {
        self.unit_price * self.quantity
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("no price for feature {0:?}")]
    UnknownFeature(String),
    #[error(
        "{quantity} x {feature:?} at {unit_price} credits costs more than the {MAX_DEDUCT} one request may spend"
    )]
    TooExpensive {
        feature: String,
        quantity: i64,
        unit_price: Credits,
    },
}

/// Prices `quantity` units of `feature` from `list`.
pub fn price(list: &PriceList, feature: &str, quantity: i64) -> Result<Priced, PriceError> {
    debug_assert!((MIN_QUANTITY..=MAX_QUANTITY).contains(&quantity));
    let unit_price = list
        .unit_price(feature)
        .ok_or_else(|| PriceError::UnknownFeature(feature.to_owned()))?;
    match unit_price.checked_mul(quantity) {
        Some(amount) if (MIN_DEDUCT..=MAX_DEDUCT).contains(&amount) => Ok(Priced {
            feature: feature.to_owned(),
            quantity,
            unit_price,
        }),
        _ => Err(PriceError::TooExpensive {
            feature: feature.to_owned(),
            quantity,
            unit_price,
        }),
    }
}

/// [`super::deduct`] of the priced amount; its `deduct` entries (one per bucket it takes from)
/// record what was priced.
pub fn deduct_priced(
    current: Option<&Account>,
    user: &UserId,
    priced: &Priced,
    cause: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(Change, TransactionId), Insufficient> {
    super::deduct(current, user, priced.amount(), cause, reason, now)
        .map(|(change, id)| (stamp(change, EntryKind::Deduct, cause, priced), id))
}

/// [`super::hold`] of the priced amount; its `hold` entries record what was priced.
pub fn hold_priced(
    current: Option<&Account>,
    user: &UserId,
    priced: &Priced,
    ttl_seconds: i64,
    cause: &str,
    now: DateTime<Utc>,
) -> Result<(Change, NewHold), HoldRefusal> {
    super::hold(current, user, priced.amount(), ttl_seconds, cause, now)
        .map(|(change, hold)| (stamp(change, EntryKind::Hold, cause, priced), hold))
}

/// Marks the entries of `kind` that `cause` made (not a reset or expiry decided on the way).
fn stamp(mut change: Change, kind: EntryKind, cause: &str, priced: &Priced) -> Change {
    for entry in &mut change.entries {
        if entry.kind == kind && entry.cause == cause {
            entry.priced = Some(priced.clone());
        }
    }
    change
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::ledger::Bucket;

    fn list() -> PriceList {
        parse_price_list(r#"{"pdf_export": 3, "ai_generation": 10}"#).unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-11-15T12:00:00Z".parse().unwrap()
    }

    fn user() -> UserId {
        UserId::parse("ana").unwrap()
    }

    #[test]
    fn a_price_list_parses_to_features_by_name() {
        let list = list();
        let all: Vec<_> = list.iter().collect();
        assert_eq!(all, [("ai_generation", 10), ("pdf_export", 3)]);
        assert!(parse_price_list("{}").unwrap().is_empty());
        // Whole numbers as JSON writes them.
        assert_eq!(
            parse_price_list(r#"{"a": 1000000}"#)
                .unwrap()
                .unit_price("a"),
            Some(1_000_000)
        );
    }

    #[test]
    fn a_bad_entry_refuses_the_whole_list_and_says_why() {
        for (bad, says) in [
            ("", "JSON object"),
            ("[]", "JSON object"),
            (r#"{"pdf_export": 3"#, "JSON object"),
            (r#"{"pdf_export": 0}"#, "\"pdf_export\" must cost"),
            (r#"{"pdf_export": -3}"#, "must cost"),
            (r#"{"pdf_export": 1.5}"#, "must cost"),
            (r#"{"pdf_export": "3"}"#, "must cost"),
            (r#"{"pdf_export": 1000001}"#, "must cost"),
            (r#"{"ok": 1, "PDF": 3}"#, "\"PDF\" is not a feature name"),
            (r#"{"": 3}"#, "not a feature name"),
            (r#"{"9lives": 3}"#, "not a feature name"),
            (r#"{"pdf-export": 3}"#, "not a feature name"),
        ] {
            let e = parse_price_list(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
        let long = "a".repeat(MAX_FEATURE_LEN + 1);
        assert!(parse_price_list(&format!(r#"{{"{long}": 1}}"#)).is_err());
        let many: Vec<String> = (0..=MAX_FEATURES).map(|i| format!("\"f{i}\": 1")).collect();
        let e = parse_price_list(&format!("{{{}}}", many.join(","))).unwrap_err();
        assert!(e.contains("at most 100"), "{e}");
    }

    #[test]
    fn pricing_multiplies_within_the_deduct_bound() {
        let p = price(&list(), "pdf_export", 2).unwrap();
        assert_eq!((p.unit_price, p.quantity, p.amount()), (3, 2, 6));
        assert_eq!(
            price(&list(), "video", 1),
            Err(PriceError::UnknownFeature("video".into()))
        );
        assert_eq!(
            price(&list(), "ai_generation", 100_000).unwrap().amount(),
            1_000_000
        );
        assert!(matches!(
            price(&list(), "ai_generation", 100_001),
            Err(PriceError::TooExpensive { .. })
        ));
        let dear = parse_price_list(r#"{"x": 1000000}"#).unwrap();
        assert!(matches!(
            price(&dear, "x", MAX_QUANTITY),
            Err(PriceError::TooExpensive { .. })
        ));
    }

    #[test]
    fn a_priced_deduct_records_the_feature_on_each_bucket_it_takes_from() {
        let mut account = super::super::touch(None, &user(), now()).account;
        account.purchased = 10;
        let p = price(&list(), "pdf_export", 3).unwrap();
        let (change, _) =
            deduct_priced(Some(&account), &user(), &p, "idem:k", None, now()).unwrap();
        let taken: Vec<_> = change
            .entries
            .iter()
            .map(|e| (e.bucket, e.amount, e.priced.clone()))
            .collect();
        assert_eq!(
            taken,
            [
                (Bucket::Monthly, -5, Some(p.clone())),
                (Bucket::Purchased, -4, Some(p.clone()))
            ]
        );
        assert_eq!(change.account.balance(), 6);
    }

    #[test]
    fn only_the_spend_is_stamped_not_the_account_opening() {
        let p = price(&list(), "pdf_export", 1).unwrap();
        let (change, _) = deduct_priced(None, &user(), &p, "idem:k", None, now()).unwrap();
        let kinds: Vec<_> = change
            .entries
            .iter()
            .map(|e| (e.kind, e.priced.is_some()))
            .collect();
        assert_eq!(
            kinds,
            [(EntryKind::Grant, false), (EntryKind::Deduct, true)]
        );
        let (change, opened) = hold_priced(None, &user(), &p, 60, "idem:h", now()).unwrap();
        let hold = change.entries.last().unwrap();
        assert_eq!(
            (hold.kind, hold.priced.as_ref()),
            (EntryKind::Hold, Some(&p))
        );
        assert_eq!(
            (opened.amount, change.account.holds[&opened.id].amount),
            (3, 3)
        );
    }

    #[test]
    fn a_priced_spend_beyond_the_balance_is_refused_whole() {
        let p = price(&list(), "ai_generation", 1).unwrap();
        let refused = deduct_priced(None, &user(), &p, "idem:k", None, now()).unwrap_err();
        assert_eq!(refused.required, 10);
        assert!(refused.touched.entries.iter().all(|e| e.priced.is_none()));
        assert!(matches!(
            hold_priced(None, &user(), &p, 60, "idem:h", now()),
            Err(HoldRefusal::Insufficient { required: 10, .. })
        ));
    }

    proptest! {
        /// Any list that parses prices every feature it names within the bound, or refuses it
        /// as too expensive; and a priced deduct takes exactly the priced amount.
        #[test]
        fn a_priced_amount_is_unit_price_times_quantity(
            prices in proptest::collection::btree_map("[a-z][a-z0-9_]{0,10}", 1i64..=1_000_000, 1..5),
            quantity in 1i64..=1_000_000,
        ) {
            let text = serde_json::to_string(&prices).unwrap();
            let list = parse_price_list(&text).unwrap();
            for (name, unit) in &prices {
                match price(&list, name, quantity) {
                    Ok(p) => {
                        prop_assert_eq!(p.amount(), unit * quantity);
                        prop_assert!(p.amount() <= MAX_DEDUCT);
                        let mut account = super::super::touch(None, &user(), now()).account;
                        account.purchased = p.amount();
                        let (change, _) = deduct_priced(Some(&account), &user(), &p, "c", None, now()).unwrap();
                        let spent: Credits = change.entries.iter().map(|e| e.amount).sum();
                        prop_assert_eq!(spent, -p.amount());
                    }
                    Err(e) => prop_assert!(unit * quantity > MAX_DEDUCT, "{}", e),
                }
            }
        }
    }
}
