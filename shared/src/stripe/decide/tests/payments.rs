//! Purchases and refunds: cumulative shares, parked refunds and checkouts, flags, and what
//! each event reads.

use super::*;

/// SPEC "Stripe links": a package loses `floor(credits * refunded / amount)` in total, never
/// more than the account owns (held credits included), the shortfall in the entry's reason.
#[test]
fn package_refunds_revoke_the_cumulative_share_held_credits_included() {
    let mut w = World::v1();
    assert_eq!(
        w.deliver(&ev(
            "evt_p",
            T,
            buy(Some("price_credits_100"), "pi_p", 1_000)
        )),
        Ok(EventOutcome::Applied)
    );
    assert_eq!(w.buckets(), (5, 100, 0));
    // (refunded so far, outcome, purchased after, the purchase's revoked total)
    let steps = [
        (300, EventOutcome::Applied, 70, 30),
        (300, EventOutcome::Ignored, 70, 30),
        (333, EventOutcome::Applied, 67, 33),
        (200, EventOutcome::Ignored, 67, 33),
    ];
    for (n, (refunded, outcome, purchased, revoked)) in steps.into_iter().enumerate() {
        let e = ev(&format!("evt_r{n}"), T + 1, refund("pi_p", 1_000, refunded));
        assert_eq!(w.deliver(&e), Ok(outcome), "step {n}");
        assert_eq!(w.buckets().1, purchased, "step {n}");
        assert_eq!(w.state.purchases[0].revoked, revoked, "step {n}");
    }
    // Hold 40 (5 monthly, 35 purchased), spend 20 more: the full refund takes the 12 left in
    // the bucket and 35 out of the hold; 20 were spent (the shortfall).
    let a = w.account.clone().unwrap();
    let (held, crate::rules::NewHold { id, .. }) =
        rules::hold(Some(&a), &ann(), 40, 900, "k", now()).unwrap();
    let spent = rules::deduct(Some(&held.account), &ann(), 20, "d", None, now())
        .unwrap()
        .0;
    w.account = Some(spent.account);
    assert_eq!(w.buckets(), (0, 12, 40));
    let full = ev("evt_full", T + 2, refund("pi_p", 1_000, 1_000));
    assert_eq!(w.deliver(&full), Ok(EventOutcome::Applied));
    let a = w.account.clone().unwrap();
    assert_eq!((a.monthly, a.purchased, a.held), (0, 0, 5));
    assert_eq!(a.holds[&id].purchased, 0);
    assert_eq!(w.deliver(&full), Ok(EventOutcome::Duplicate));
}

/// A refund before its purchase is parked on the payment; the purchase
/// applies it in its own write, keeping only the unrefunded share.
#[test]
fn a_refund_before_its_purchase_is_applied_with_the_purchase() {
    // (product price, charge, refunded before the purchase, purchased after, plan after)
    let cases = [
        ("price_credits_100", 1_000, &[300][..], 70, Plan::Free),
        (
            "price_credits_100",
            1_000,
            &[300, 1_000, 500][..],
            0,
            Plan::Free,
        ),
        ("price_credits_1000", 10_000, &[2_500][..], 750, Plan::Free),
        ("price_lifetime", 29_900, &[10_000][..], 0, Plan::Lifetime),
        ("price_lifetime", 29_900, &[29_900][..], 0, Plan::Free),
    ];
    for (price, amount, refunds, purchased, plan) in cases {
        let mut w = World::v1();
        for (n, r) in refunds.iter().enumerate() {
            let e = ev(&format!("evt_r{n}"), T, refund("pi_1", amount, *r));
            assert_eq!(w.deliver(&e), Ok(EventOutcome::Parked), "{price} {r}");
            assert!(w.recorded.is_empty(), "a parked refund is not done");
        }
        let largest = *refunds.iter().max().unwrap();
        let parked = w.payments["pi_1"].parked_refund.clone().unwrap();
        assert_eq!(parked.amount_refunded, largest);
        let purchase = ev("evt_buy", T + 5, buy(Some(price), "pi_1", amount));
        assert_eq!(w.deliver(&purchase), Ok(EventOutcome::Applied));
        assert_eq!(
            (w.plan(), w.buckets().1),
            (plan, purchased),
            "{price} {refunds:?}"
        );
        let p = &w.state.purchases[0];
        assert_eq!(
            (p.amount_refunded, p.refunded),
            (largest, largest >= amount)
        );
        assert_eq!(w.payments["pi_1"].parked_refund, None, "consumed");
        // A redelivery of a refund now finds the purchase: nothing more to take.
        let again = ev("evt_r0", T + 6, refund("pi_1", amount, refunds[0]));
        assert_eq!(w.deliver(&again), Ok(EventOutcome::Ignored), "{price}");
        assert_eq!(w.buckets().1, purchased);
    }
    // The ledger of the package case says what happened: a purchase, then its refund.
    let mut w = World::v1();
    w.deliver(&ev("evt_r", T, refund("pi_1", 1_000, 300)))
        .unwrap();
    let prices = PriceMap::default();
    let ctx = StripeContext {
        prices: &prices,
        flags: v1(),
    };
    let facts = Facts {
        user: Some(ann()),
        payment: w.payments.get("pi_1").cloned(),
        ..Facts::default()
    };
    let purchase = ev("evt_buy", T, buy(Some("price_credits_100"), "pi_1", 1_000));
    let d = decide(&purchase, &facts, &ctx, now()).unwrap();
    let entries: Vec<_> = d
        .write
        .change
        .unwrap()
        .entries
        .into_iter()
        .map(|e| (e.kind, e.amount, e.cause))
        .collect();
    assert_eq!(
        entries,
        [
            (EntryKind::Grant, 5, "open:2026-11".to_owned()),
            (EntryKind::Purchase, 100, "stripe:evt_buy".to_owned()),
            (EntryKind::Revoke, -30, "stripe:evt_r".to_owned()),
        ]
    );
}

/// A paid checkout this deployment cannot apply is parked, not recorded, and
/// a delivery after the price map knows its price applies it.
#[test]
fn a_checkout_for_a_price_not_configured_is_parked_and_applies_once_it_is() {
    for price in [None, Some("price_other_product"), Some("price_pro_monthly")] {
        let mut w = World::v1();
        let e = ev("evt_1", T, buy(price, "pi_1", 1_000));
        assert_eq!(w.deliver(&e), Ok(EventOutcome::Parked), "{price:?}");
        assert_eq!(w.deliver(&e), Ok(EventOutcome::Parked), "again: {price:?}");
        assert!(w.recorded.is_empty() && w.account.is_none());
        assert_eq!(w.parked, ["evt_1", "evt_1"]);
    }
    let mut w = World::v1();
    let e = ev("evt_1", T, buy(Some("price_new"), "pi_1", 1_000));
    assert_eq!(w.deliver(&e), Ok(EventOutcome::Parked));
    // The operator maps the price, and resends the event.
    let prices = PriceMap::parse("price_new=basic").unwrap();
    let ctx = StripeContext {
        prices: &prices,
        flags: v1(),
    };
    let facts = Facts {
        user: Some(ann()),
        ..Facts::default()
    };
    let d = decide(&e, &facts, &ctx, now()).unwrap();
    assert_eq!(d.outcome, EventOutcome::Applied);
    assert_eq!(d.write.change.unwrap().account.purchased, 100);
    assert!(d.write.event.is_some());
}

#[test]
fn purchases_by_flags_payment_and_attribution() {
    let prices = PriceMap::default();
    let package = ev("evt_p", T, buy(Some("price_credits_500"), "pi_1", 4_900));
    let lifetime = ev("evt_l", T, buy(Some("price_lifetime"), "pi_1", 29_900));
    let applied = Payment {
        user_id: Some(ann()),
        parked_refund: None,
    };
    let named = Facts {
        user: Some(ann()),
        ..Facts::default()
    };
    let paid_already = Facts {
        payment: Some(applied),
        ..named.clone()
    };
    // (event, flags, facts, outcome or refusal)
    type Case<'a> = (
        &'a StripeEvent,
        Option<Flags>,
        &'a Facts,
        Result<EventOutcome, Refusal>,
    );
    let cases: [Case; 7] = [
        (&package, v1(), &named, Ok(EventOutcome::Applied)),
        (&package, v2(), &named, Ok(EventOutcome::Rejected)),
        (&package, None, &named, Err(Refusal::FlagsUnknown)),
        (&lifetime, None, &named, Ok(EventOutcome::Applied)),
        (
            &package,
            v1(),
            &Facts::default(),
            Err(Refusal::Unattributable),
        ),
        // The session's completed and async-succeeded events (or any two) grant once.
        (&package, v1(), &paid_already, Ok(EventOutcome::Ignored)),
        (&lifetime, v1(), &paid_already, Ok(EventOutcome::Ignored)),
    ];
    for (n, (event, flags, facts, want)) in cases.into_iter().enumerate() {
        let ctx = StripeContext {
            prices: &prices,
            flags,
        };
        let got = decide(event, facts, &ctx, now()).map(|d| d.outcome);
        assert_eq!(got, want, "case {n}");
    }
    // A rejected purchase records its user on the payment: its refund is then ignored, not
    // parked for a purchase that will never come.
    let mut w = World {
        flags: v2(),
        ..World::default()
    };
    assert_eq!(w.deliver(&package), Ok(EventOutcome::Rejected));
    assert_eq!(w.payments["pi_1"].user_id, Some(ann()));
    let r = ev("evt_r", T + 1, refund("pi_1", 4_900, 4_900));
    assert_eq!(w.deliver(&r), Ok(EventOutcome::Ignored));
}

#[test]
fn each_event_reads_only_what_its_decision_needs() {
    let prices = PriceMap::default();
    let ctx = |flags| StripeContext {
        prices: &prices,
        flags,
    };
    let link = Command::Link {
        customer: "cus".into(),
        user: ann(),
    };
    // (command, flags, payment read, account read, Stripe items read)
    let cases = [
        (link, v1(), None, false, false),
        (
            sub("s", "active", &["price_pro_monthly"], false),
            v1(),
            None,
            true,
            true,
        ),
        (
            buy(Some("price_lifetime"), "pi", 1),
            None,
            Some("pi"),
            true,
            true,
        ),
        (
            buy(Some("price_credits_100"), "pi", 1),
            v1(),
            Some("pi"),
            true,
            false,
        ),
        (
            buy(Some("price_credits_100"), "pi", 1),
            v2(),
            Some("pi"),
            false,
            false,
        ),
        (
            buy(Some("price_credits_100"), "pi", 1),
            None,
            None,
            false,
            false,
        ),
        (
            buy(Some("price_unknown"), "pi", 1),
            v1(),
            None,
            false,
            false,
        ),
        (refund("pi", 1, 1), v1(), Some("pi"), true, true),
    ];
    for (n, (command, flags, payment, account, state)) in cases.into_iter().enumerate() {
        let got = needs(&ev("evt", T, command), &ctx(flags));
        assert_eq!(
            (got.payment.as_deref(), got.account, got.stripe_state),
            (payment, account, state),
            "case {n}"
        );
    }
}
