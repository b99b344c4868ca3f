//! The check against async-stripe-webhook's own (`construct_event_with_timestamp`): the same
//! answer for every header, signed or not, fresh or stale.

use proptest::prelude::*;
use stripe_webhook::{Webhook, WebhookError};

use super::*;

const NOW: i64 = 1_790_000_000;

#[derive(Debug, PartialEq)]
enum Answer {
    Verified,
    Stale,
    Refused,
}

fn ours(payload: &str, header: &str, secret: &str) -> Answer {
    match verify(payload, header, secret, NOW) {
        Ok(()) => Answer::Verified,
        Err(SignatureError::Stale(_)) => Answer::Stale,
        Err(_) => Answer::Refused,
    }
}

fn theirs(payload: &str, header: &str, secret: &str) -> Answer {
    match Webhook::construct_event_with_timestamp(payload, header, secret, NOW) {
        // The typed parse runs after both checks passed.
        Ok(_) | Err(WebhookError::BadParse(_)) => Answer::Verified,
        Err(WebhookError::BadTimestamp(_)) => Answer::Stale,
        Err(_) => Answer::Refused,
    }
}

/// Headers of every kind: Stripe's own, rotated secrets (several v1), other schemes, reordered,
/// truncated, and arbitrary text.
fn header() -> impl Strategy<Value = (String, String, String)> {
    let secret = prop_oneof![Just("whsec_local".to_owned()), "[a-z_]{0,12}"];
    let payload = prop_oneof![
        Just(r#"{"id":"evt_1","object":"event"}"#.to_owned()),
        ".{0,40}"
    ];
    let age = prop_oneof![-400i64..400, Just(300), Just(-300), Just(301), Just(-301)];
    (secret, payload, age, 0usize..7, ".{0,60}").prop_map(|(secret, payload, age, shape, junk)| {
        let t = NOW - age;
        let signed = sign(&secret, t, &payload);
        let other = sign("whsec_other", t, &payload);
        let v1 = signed.split_once(",v1=").map_or("", |(_, v)| v).to_owned();
        let header = match shape {
            0 => signed,
            1 => format!("{other},v1={v1},v0=abc"),
            2 => format!("v1={v1},t={t}"),
            3 => other,
            4 => format!("t={t},v1={}", &v1[..v1.len().saturating_sub(2)]),
            5 => format!("t={t}"),
            _ => junk,
        };
        (payload, header, secret)
    })
}

proptest! {
    #[test]
    fn answers_as_async_stripe_webhook_does((payload, header, secret) in header()) {
        prop_assert_eq!(ours(&payload, &header, &secret), theirs(&payload, &header, &secret));
    }
}

#[test]
fn a_fresh_signature_verifies_and_a_stale_or_tampered_one_does_not() {
    let payload = r#"{"id":"evt_1"}"#;
    let header = sign("whsec_local", NOW - 10, payload);
    assert_eq!(verify(payload, &header, "whsec_local", NOW), Ok(()));
    assert_eq!(
        verify(payload, &header, "whsec_local", NOW + 300),
        Err(SignatureError::Stale(NOW - 10))
    );
    assert_eq!(
        verify(r#"{"id":"evt_2"}"#, &header, "whsec_local", NOW),
        Err(SignatureError::NoMatch)
    );
    assert_eq!(
        verify(payload, &header, "whsec_other", NOW),
        Err(SignatureError::NoMatch)
    );
    assert_eq!(
        verify(payload, "", "whsec_local", NOW),
        Err(SignatureError::Malformed)
    );
    // A huge or negative time cannot overflow the tolerance check.
    let far = sign("whsec_local", i64::MIN, payload);
    assert_eq!(
        verify(payload, &far, "whsec_local", i64::MAX),
        Err(SignatureError::Stale(i64::MIN))
    );
}
