//! The two ways a deduct or a hold names what it spends: `amount` credits, or `feature` and
//! `quantity` (default 1), priced from the price list in force.

use credits::api::{ApiError, ErrorCode};
use credits::app::App;
use credits::plan::Credits;
use credits::rules::MAX_DEDUCT;
use credits::rules::prices::{
    MAX_QUANTITY, MIN_QUANTITY, PriceError, Priced, is_feature_name, price,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::whole_number;

/// Which of the two a body is: it holds exactly one of `amount` and `feature`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Amount,
    Feature,
}

pub(crate) fn form(body: &Map<String, Value>) -> Result<Form, ApiError> {
    match (body.contains_key("amount"), body.contains_key("feature")) {
        (true, false) => Ok(Form::Amount),
        (false, true) => Ok(Form::Feature),
        _ => Err(ApiError::invalid(
            "exactly one of amount or feature is required",
        )),
    }
}

/// The body's fields as `T`, which refuses unknown ones (so `quantity` beside `amount` is one).
pub(crate) fn fields<T: DeserializeOwned>(body: Map<String, Value>) -> Result<T, ApiError> {
    T::deserialize(Value::Object(body))
        .map_err(|e| ApiError::invalid(format!("invalid request body: {e}")))
}

/// What a valid request spends, as the Idempotency-Key binds it: the amount, or the feature and
/// quantity (not their price: a replay answers the first price, whatever the list says now).
/// Flattened into the request, an amount serialises as `"amount": n`, as it always has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub(crate) enum Cost {
    Amount { amount: Credits },
    Feature { feature: String, quantity: i64 },
}

impl Cost {
    /// `feature` and `quantity` (default 1) as sent, checked.
    pub(crate) fn feature(feature: &Value, quantity: Option<&Value>) -> Result<Self, ApiError> {
        let feature = feature
            .as_str()
            .filter(|f| is_feature_name(f))
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "feature must be a feature name (a-z first, then a-z, 0-9 or _), got {feature}"
                ))
            })?;
        let quantity = match quantity {
            None | Some(Value::Null) => MIN_QUANTITY,
            Some(v) => whole_number("quantity", v, MIN_QUANTITY, MAX_QUANTITY)?,
        };
        Ok(Cost::Feature {
            feature: feature.to_owned(),
            quantity,
        })
    }

    /// The credits it takes, and what was priced: from the price list in force for a feature.
    pub(crate) async fn priced(&self, app: &App) -> Result<(Credits, Option<Priced>), ApiError> {
        let (feature, quantity) = match self {
            Cost::Amount { amount } => return Ok((*amount, None)),
            Cost::Feature { feature, quantity } => (feature, *quantity),
        };
        let Some(list) = app.prices.read().await.value else {
            // Never read since the cold start: refusing the feature as unknown would be wrong.
            return Err(ApiError::new(
                ErrorCode::ServiceUnavailable,
                "the price list cannot be read yet; retry",
            ));
        };
        match price(&list, feature, quantity) {
            Ok(priced) => Ok((priced.amount(), Some(priced))),
            Err(e @ PriceError::UnknownFeature(_)) => {
                Err(ApiError::new(ErrorCode::UnknownFeature, e.to_string())
                    .with(serde_json::json!({"feature": feature})))
            }
            Err(e @ PriceError::TooExpensive { .. }) => Err(ApiError::invalid(format!(
                "{e}; at most {MAX_DEDUCT} credits per request"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::http::StatusCode;
    use serde_json::json;

    use super::*;

    fn object(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn a_body_names_exactly_one_of_amount_and_feature() {
        assert_eq!(form(&object(json!({"amount": 1}))), Ok(Form::Amount));
        assert_eq!(form(&object(json!({"feature": "x"}))), Ok(Form::Feature));
        for bad in [
            json!({}),
            json!({"amount": 1, "feature": "x"}),
            json!({"quantity": 2}),
        ] {
            let e = form(&object(bad.clone())).unwrap_err();
            assert_eq!(
                (e.code.status(), e.code),
                (StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest),
                "{bad}"
            );
        }
    }

    #[test]
    fn quantity_defaults_to_one_and_is_a_whole_number() {
        let f = json!("pdf_export");
        assert_eq!(
            Cost::feature(&f, None).unwrap(),
            Cost::Feature {
                feature: "pdf_export".into(),
                quantity: 1
            }
        );
        assert_eq!(
            Cost::feature(&f, Some(&json!(2.0))).unwrap(),
            Cost::feature(&f, Some(&json!(2))).unwrap()
        );
        for bad in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!("2"),
            json!(1_000_001),
        ] {
            assert!(Cost::feature(&f, Some(&bad)).is_err(), "{bad}");
        }
        for bad in [json!(""), json!("PDF"), json!(3), json!(null)] {
            assert!(Cost::feature(&bad, None).is_err(), "{bad}");
        }
    }

    /// An amount's fingerprint is the one keys were always bound to, so a retry of a request
    /// made before priced features still replays.
    #[test]
    fn the_fingerprint_binds_the_feature_and_quantity_and_keeps_the_amount_form() {
        let text =
            |cost| serde_json::to_string(&crate::DeductRequest { cost, reason: None }).unwrap();
        assert_eq!(
            text(Cost::Amount { amount: 2 }),
            r#"{"amount":2,"reason":null}"#
        );
        assert_eq!(
            text(Cost::Feature {
                feature: "pdf_export".into(),
                quantity: 2
            }),
            r#"{"feature":"pdf_export","quantity":2,"reason":null}"#
        );
    }
}
