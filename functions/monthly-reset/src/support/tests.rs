use serde_json::json;

use super::*;

fn parsed(body: Value) -> Result<AdjustmentRequest, String> {
    serde_json::from_value::<AdjustmentBody>(body)
        .map_err(|e| e.to_string())?
        .parse()
        .map_err(|e| e.message)
}

#[test]
fn a_signed_whole_amount_a_bucket_and_a_reason_make_an_adjustment() {
    let r = parsed(json!({"amount": -7, "bucket": "purchased", "reason": "double charge"}));
    assert_eq!(
        r,
        Ok(AdjustmentRequest {
            amount: -7,
            bucket: Bucket::Purchased,
            reason: "double charge".into(),
        })
    );
    for (amount, expected) in [
        (json!(2.0), 2),
        (json!(-1e6), -MAX_ADJUSTMENT),
        (json!(MAX_ADJUSTMENT), MAX_ADJUSTMENT),
    ] {
        let r = parsed(json!({"amount": amount, "bucket": "monthly", "reason": "x"}));
        assert_eq!(r.map(|r| r.amount), Ok(expected));
    }
}

#[test]
fn zero_fractions_strings_and_amounts_past_a_million_are_refused() {
    for amount in [
        json!(0),
        json!(-0.0),
        json!(1.5),
        json!("5"),
        json!(null),
        json!(MAX_ADJUSTMENT + 1),
        json!(-MAX_ADJUSTMENT - 1),
        json!(1e300),
    ] {
        let r = parsed(json!({"amount": amount, "bucket": "monthly", "reason": "x"}));
        assert!(r.is_err(), "{amount} was accepted");
    }
}

#[test]
fn the_reason_is_required_and_one_to_two_hundred_printable_characters() {
    let with = |reason: Value| parsed(json!({"amount": 1, "bucket": "monthly", "reason": reason}));
    assert!(
        with(json!("é".repeat(200))).is_ok(),
        "characters, not bytes"
    );
    for bad in [
        json!(""),
        json!("x".repeat(201)),
        json!("a\nb"),
        json!(null),
    ] {
        assert!(with(bad.clone()).is_err(), "{bad} was accepted");
    }
    assert!(parsed(json!({"amount": 1, "bucket": "monthly"})).is_err());
}

#[test]
fn only_the_two_buckets_and_no_other_field_are_accepted() {
    for body in [
        json!({"amount": 1, "bucket": "held", "reason": "x"}),
        json!({"amount": 1, "reason": "x"}),
        json!({"amount": 1, "bucket": "monthly", "reason": "x", "user_id": "bob"}),
    ] {
        assert!(parsed(body.clone()).is_err(), "{body} was accepted");
    }
}

#[test]
fn the_key_an_adjustment_is_bound_to_is_the_normalised_request() {
    let a = parsed(json!({"amount": 2.0, "bucket": "monthly", "reason": "x"})).unwrap();
    let b = parsed(json!({"reason": "x", "bucket": "monthly", "amount": 2})).unwrap();
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
}
