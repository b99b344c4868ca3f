use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::ledger::{Bucket, EntryKind};
use crate::rules;

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 9, 30, 0).unwrap()
}

fn bob() -> UserId {
    UserId::parse("bob").unwrap()
}

#[test]
fn the_default_price_map_is_the_specs_local_one() {
    let m = PriceMap::default();
    assert_eq!(
        m.get("price_pro_monthly"),
        Some(Product::Plan(Plan::ProMonthly))
    );
    assert_eq!(
        m.get("price_pro_yearly"),
        Some(Product::Plan(Plan::ProYearly))
    );
    assert_eq!(m.get("price_lifetime"), Some(Product::Plan(Plan::Lifetime)));
    assert_eq!(
        m.get("price_credits_100"),
        Some(Product::Package(Package::Basic))
    );
    assert_eq!(
        m.get("price_credits_200"),
        Some(Product::Package(Package::Standard))
    );
    assert_eq!(
        m.get("price_credits_500"),
        Some(Product::Package(Package::Premium))
    );
    assert_eq!(
        m.get("price_credits_1000"),
        Some(Product::Package(Package::Enterprise))
    );
    assert_eq!(m.get("price_other"), None);
}

#[test]
fn a_price_map_is_configuration_and_refuses_nonsense() {
    let m = PriceMap::parse(" price_A = pro_yearly ,price_B=premium,").unwrap();
    assert_eq!(m.get("price_A"), Some(Product::Plan(Plan::ProYearly)));
    assert_eq!(m.get("price_B"), Some(Product::Package(Package::Premium)));
    for bad in [
        "price_A",
        "=basic",
        "price_A=gold",
        "price_A=free",
        "a=basic,a=premium",
    ] {
        assert!(PriceMap::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn subscription_status_gives_the_specs_plan() {
    let m = Some(Plan::ProMonthly);
    let y = Some(Plan::ProYearly);
    let cases = [
        ("active", y),
        ("trialing", y),
        ("past_due", m),
        ("incomplete", m),
        ("canceled", None),
        ("unpaid", None),
        ("incomplete_expired", None),
        ("paused", None),
        ("something_new", m),
    ];
    for (status, want) in cases {
        assert_eq!(
            subscription_grant(&Status::parse(status), y, m),
            want,
            "{status}"
        );
        assert_eq!(Status::parse(status).as_str(), status);
    }
    // A new subscription that is incomplete gives nothing yet; Lifetime is not a subscription.
    assert_eq!(subscription_grant(&Status::Incomplete, y, None), None);
    assert_eq!(
        subscription_grant(&Status::Active, Some(Plan::Lifetime), None),
        None
    );
}

#[test]
fn the_effective_plan_is_the_largest_paid_for() {
    assert_eq!(effective_plan(false, []), Plan::Free);
    assert_eq!(
        effective_plan(false, [None, Some(Plan::ProMonthly)]),
        Plan::ProMonthly
    );
    assert_eq!(
        effective_plan(false, [Some(Plan::ProYearly), Some(Plan::ProMonthly)]),
        Plan::ProYearly
    );
    // A Lifetime user keeps Lifetime whatever a subscription does.
    assert_eq!(
        effective_plan(true, [None, Some(Plan::ProYearly)]),
        Plan::Lifetime
    );
}

#[test]
fn refund_shares_are_floored_cumulative_and_capped() {
    assert_eq!(refund_share(100, 1000, 0), 0);
    assert_eq!(refund_share(100, 1000, 300), 30);
    assert_eq!(refund_share(100, 999, 333), 33);
    assert_eq!(refund_share(200, 1999, 1), 0);
    assert_eq!(refund_share(100, 1000, 1000), 100);
    assert_eq!(refund_share(100, 1000, 5000), 100);
    assert_eq!(refund_share(100, 0, 10), 0);
}

proptest! {
    #[test]
    fn refund_shares_grow_with_the_refund_and_never_exceed_the_package(
        credits in 0i64..10_000, amount in 1i64..10_000_000, a in 0i64..10_000_000, b in 0i64..10_000_000,
    ) {
        let (lo, hi) = (a.min(b), a.max(b));
        let (s_lo, s_hi) = (refund_share(credits, amount, lo), refund_share(credits, amount, hi));
        prop_assert!(0 <= s_lo && s_lo <= s_hi && s_hi <= credits);
        prop_assert_eq!(refund_share(credits, amount, amount), credits);
    }

    #[test]
    fn a_revoke_takes_what_it_can_and_records_the_rest(purchased in 0i64..500, spent in 0i64..500, owed in 0i64..600) {
        let now = at(2026, 11, 10);
        let bought = rules::purchase(None, &bob(), Package::Premium, "p", now).account;
        let spend = spent.min(bought.balance());
        let mut account = if spend > 0 {
            rules::deduct(Some(&bought), &bob(), spend, "d", None, now).unwrap().0.account
        } else {
            bought
        };
        account.purchased = account.purchased.min(purchased);
        let (change, shortfall) = rules::revoke(Some(&account), &bob(), owed, "r", "refund", now);
        let taken = account.purchased - change.account.purchased;
        prop_assert!(change.account.purchased >= 0);
        prop_assert_eq!(taken + shortfall, owed);
        prop_assert_eq!(taken, owed.min(account.purchased));
        prop_assert_eq!(change.account.monthly, account.monthly);
        let sum: i64 = change.entries.iter().map(|e| e.amount).sum();
        prop_assert_eq!(sum, -taken);
    }
}

#[test]
fn a_revoke_beyond_the_bucket_records_the_shortfall() {
    let now = at(2026, 11, 10);
    let bought = rules::purchase(None, &bob(), Package::Basic, "p", now).account;
    let spent = rules::deduct(Some(&bought), &bob(), 65, "d", None, now)
        .unwrap()
        .0
        .account;
    assert_eq!(spent.purchased, 40);
    let (change, shortfall) = rules::revoke(Some(&spent), &bob(), 70, "stripe:evt", "refund", now);
    assert_eq!((change.account.purchased, shortfall), (0, 30));
    let e = &change.entries[0];
    assert_eq!(
        (e.kind, e.bucket, e.amount),
        (EntryKind::Revoke, Bucket::Purchased, -40)
    );
    assert_eq!(e.reason.as_deref(), Some("refund; 30 already spent"));
    // Nothing left at all: an entry of 0 still records what was owed.
    let (change, shortfall) = rules::revoke(
        Some(&change.account),
        &bob(),
        5,
        "stripe:evt2",
        "refund",
        now,
    );
    assert_eq!((change.entries[0].amount, shortfall), (0, 5));
}

fn envelope(kind: &str, object: serde_json::Value) -> serde_json::Value {
    json!({"id": "evt_1", "object": "event", "type": kind, "created": 1_764_000_000, "data": {"object": object}})
}

#[test]
fn events_map_to_commands() {
    let e = command(&envelope(
        "checkout.session.completed",
        json!({"id": "cs_1", "mode": "subscription", "customer": "cus_1", "client_reference_id": "bob"}),
    ))
    .unwrap();
    assert_eq!(
        e.command,
        Command::Link {
            customer: "cus_1".into(),
            user: bob()
        }
    );
    assert_eq!((e.id.as_str(), e.created), ("evt_1", 1_764_000_000));
    let e = command(&envelope(
        "checkout.session.completed",
        json!({"id": "cs_1", "mode": "payment", "payment_status": "paid", "metadata": {"user_id": "bob", "price_id": "price_lifetime"},
               "payment_intent": {"id": "pi_1"}, "amount_total": 29900}),
    ))
    .unwrap();
    let Command::Buy(buy) = e.command else {
        panic!("{e:?}")
    };
    assert_eq!(
        (
            buy.user,
            buy.price.as_deref(),
            buy.payment_intent.as_deref(),
            buy.amount
        ),
        (Some(bob()), Some("price_lifetime"), Some("pi_1"), 29900)
    );
    let unpaid = json!({"id": "cs_1", "mode": "payment", "payment_status": "unpaid"});
    assert!(matches!(
        command(&envelope("checkout.session.completed", unpaid))
            .unwrap()
            .command,
        Command::Ignore(_)
    ));
    let e = command(&envelope(
        "customer.subscription.deleted",
        json!({"id": "sub_1", "customer": "cus_1", "status": "canceled", "plan": {"id": "price_x"}}),
    ))
    .unwrap();
    let Command::Subscription(sub) = e.command else {
        panic!()
    };
    assert_eq!(
        (sub.deleted, sub.prices.as_slice(), sub.status),
        (true, ["price_x".to_owned()].as_slice(), Status::Canceled)
    );
    let e = command(&envelope(
        "charge.refunded",
        json!({"payment_intent": "pi_1", "amount": 1000, "amount_refunded": 250}),
    ))
    .unwrap();
    assert_eq!(
        e.command,
        Command::Refund {
            payment_intent: "pi_1".into(),
            amount: 1000,
            amount_refunded: 250
        }
    );
    assert!(matches!(
        command(&envelope("customer.created", json!({})))
            .unwrap()
            .command,
        Command::Ignore(_)
    ));
}

/// Found by the `webhook_signed` fuzz target: a subscription (or a paid checkout) with neither
/// `metadata.user_id` nor a customer was answered 503 "retry", forever, since no customer link
/// can ever arrive for it. It is ignored; one with a customer still waits for the link.
#[test]
fn an_event_naming_neither_user_nor_customer_is_ignored() {
    for (kind, object) in [
        (
            "customer.subscription.updated",
            json!({"id": "sub_1", "status": "active", "maedtata": {"user_id": "bob"},
                   "items": {"data": [{"price": {"id": "price_pro_monthly"}}]}}),
        ),
        (
            "customer.subscription.deleted",
            json!({"id": "sub_1", "status": "canceled"}),
        ),
        (
            "checkout.session.completed",
            json!({"id": "cs_1", "mode": "payment", "payment_status": "paid", "customer": null,
                   "metadata": {"price_id": "price_credits_100"}, "payment_intent": "pi_1"}),
        ),
    ] {
        let e = command(&envelope(kind, object)).unwrap();
        assert_eq!(e.command, Command::Ignore(NEVER_ATTRIBUTABLE), "{kind}");
    }
    let e = command(&envelope(
        "customer.subscription.updated",
        json!({"id": "sub_1", "customer": {"id": "cus_1"}, "status": "active"}),
    ))
    .unwrap();
    assert!(
        matches!(&e.command, Command::Subscription(s) if s.customer.as_deref() == Some("cus_1") && s.user.is_none()),
        "{e:?}"
    );
    let e = command(&envelope(
        "checkout.session.completed",
        json!({"id": "cs_1", "mode": "payment", "payment_status": "paid", "customer": "cus_1"}),
    ))
    .unwrap();
    assert!(matches!(e.command, Command::Buy(_)), "{e:?}");
}

#[test]
fn a_malformed_envelope_is_refused() {
    for bad in [
        json!({}),
        json!({"id": "evt", "type": "x", "created": 1}),
        json!({"id": "evt", "type": "x", "data": {"object": {}}}),
        json!([1]),
    ] {
        assert!(command(&bad).is_err(), "{bad}");
    }
}

/// A checkout whose payment completes later grants with its
/// `async_payment_succeeded`, and one that needed no payment (a 100% coupon) grants at once.
#[test]
fn delayed_and_free_checkouts_are_purchases_unpaid_ones_wait() {
    let session = |status: &str| {
        json!({"id": "cs_1", "mode": "payment", "payment_status": status,
               "metadata": {"user_id": "bob", "price_id": "price_credits_100"},
               "payment_intent": null, "amount_total": 0})
    };
    let cases = [
        ("checkout.session.completed", "paid", true),
        ("checkout.session.completed", "no_payment_required", true),
        ("checkout.session.completed", "unpaid", false),
        ("checkout.session.async_payment_succeeded", "paid", true),
        ("checkout.session.async_payment_failed", "unpaid", false),
    ];
    for (kind, status, buys) in cases {
        let e = command(&envelope(kind, session(status))).unwrap();
        match e.command {
            Command::Buy(buy) => {
                assert!(buys, "{kind} {status}");
                // No payment intent: the session is the payment's key.
                assert_eq!(buy.key(), "cs_1");
            }
            other => assert!(!buys, "{kind} {status}: {other:?}"),
        }
    }
}

#[test]
fn every_item_price_of_a_subscription_is_read() {
    let e = command(&envelope(
        "customer.subscription.updated",
        json!({"id": "sub_1", "customer": "cus_1", "status": "active",
               "items": {"data": [{"price": {"id": "price_addon"}}, {"price": {"id": "price_pro_yearly"}}]}}),
    ))
    .unwrap();
    let Command::Subscription(sub) = e.command else {
        panic!("{e:?}")
    };
    assert_eq!(sub.prices, ["price_addon", "price_pro_yearly"]);
}
