//! Subscription events: order within a second, the plan item, caps that reach held credits.

use super::*;

/// Two events of one subscription in the same second end in the same state
/// in either order, and that state is the one later in the subscription's life (then the larger
/// plan); an older second never changes anything.
#[test]
fn same_second_subscription_events_order_by_lifecycle_then_plan() {
    use EventOutcome::{Applied, Stale};
    let m = "price_pro_monthly";
    let y = "price_pro_yearly";
    // (first, second, created offset of the second, plan after both, outcome of the second)
    let cases = [
        (
            ("incomplete", m, false),
            ("active", m, false),
            0,
            Plan::ProMonthly,
            Applied,
        ),
        (
            ("active", m, false),
            ("incomplete", m, false),
            0,
            Plan::ProMonthly,
            Stale,
        ),
        (
            ("trialing", y, false),
            ("active", y, false),
            0,
            Plan::ProYearly,
            Applied,
        ),
        (
            ("active", m, false),
            ("canceled", m, true),
            0,
            Plan::Free,
            Applied,
        ),
        (
            ("canceled", m, true),
            ("active", m, false),
            0,
            Plan::Free,
            Stale,
        ),
        (
            ("active", m, false),
            ("active", y, false),
            0,
            Plan::ProYearly,
            Applied,
        ),
        (
            ("active", y, false),
            ("active", m, false),
            0,
            Plan::ProYearly,
            Stale,
        ),
        (
            ("active", m, false),
            ("past_due", m, false),
            0,
            Plan::ProMonthly,
            Applied,
        ),
        (
            ("active", m, false),
            ("unpaid", m, false),
            0,
            Plan::Free,
            Applied,
        ),
        // A later second always wins, an earlier one never does.
        (
            ("active", m, false),
            ("incomplete", m, false),
            1,
            Plan::ProMonthly,
            Applied,
        ),
        (
            ("canceled", m, true),
            ("active", m, false),
            1,
            Plan::ProMonthly,
            Applied,
        ),
        (
            ("active", y, false),
            ("active", m, false),
            -1,
            Plan::ProYearly,
            Stale,
        ),
    ];
    for (n, (a, b, dt, plan, second)) in cases.into_iter().enumerate() {
        let mut w = World::v1();
        let first = ev("evt_a", T, sub("sub_1", a.0, &[a.1], a.2));
        assert_eq!(w.deliver(&first), Ok(Applied), "case {n}");
        let next = ev("evt_b", T + dt, sub("sub_1", b.0, &[b.1], b.2));
        assert_eq!(w.deliver(&next), Ok(second), "case {n}");
        assert_eq!(w.plan(), plan, "case {n}: {a:?} then {b:?}");
    }
}

/// Within one second the event later in the subscription's life is the one whose state
/// stands, in either order of arrival.
#[test]
fn within_one_second_the_later_status_stands_in_either_order() {
    let statuses = [
        ("incomplete", false),
        ("trialing", false),
        ("active", false),
        ("past_due", false),
        ("unpaid", false),
        ("paused", false),
        ("canceled", false),
        ("incomplete_expired", false),
        ("canceled", true),
        ("something_new", false),
    ];
    for (a, a_deleted) in statuses {
        for (b, b_deleted) in statuses {
            let (ra, rb) = (
                lifecycle(&Status::parse(a), a_deleted),
                lifecycle(&Status::parse(b), b_deleted),
            );
            if ra == rb {
                continue;
            }
            let ea = ev(
                "evt_a",
                T,
                sub("sub_1", a, &["price_pro_monthly"], a_deleted),
            );
            let eb = ev(
                "evt_b",
                T,
                sub("sub_1", b, &["price_pro_yearly"], b_deleted),
            );
            let later = if ra > rb { "evt_a" } else { "evt_b" };
            for order in [[&ea, &eb], [&eb, &ea]] {
                let mut w = World::v1();
                for e in order {
                    w.deliver(e).unwrap();
                }
                assert_eq!(w.state.subscriptions[0].event_id, later, "{a} and {b}");
            }
        }
    }
}

/// An add-on item before the plan's must not make a paying user
/// Free; of two plan items the larger counts.
#[test]
fn the_plan_comes_from_the_item_whose_price_is_a_configured_plan() {
    let prices = PriceMap::default();
    let cases: [(&[&str], Option<&str>, Option<Plan>); 5] = [
        (
            &["price_addon", "price_pro_monthly"],
            Some("price_pro_monthly"),
            Some(Plan::ProMonthly),
        ),
        (
            &["price_pro_monthly", "price_pro_yearly"],
            Some("price_pro_yearly"),
            Some(Plan::ProYearly),
        ),
        (&["price_addon"], Some("price_addon"), None),
        (&["price_lifetime"], Some("price_lifetime"), None),
        (&[], None, None),
    ];
    for (items, price, plan) in cases {
        let items: Vec<String> = items.iter().map(|p| (*p).to_owned()).collect();
        assert_eq!(
            plan_price(&items, &prices),
            (price.map(str::to_owned), plan),
            "{items:?}"
        );
    }
    let mut w = World::v1();
    let event = ev(
        "evt_1",
        T,
        sub(
            "sub_1",
            "active",
            &["price_addon", "price_pro_monthly"],
            false,
        ),
    );
    assert_eq!(w.deliver(&event), Ok(EventOutcome::Applied));
    assert_eq!(w.plan(), Plan::ProMonthly);
}

/// A downgrade's cap reaches the held monthly credits.
#[test]
fn a_subscription_ending_or_a_lifetime_refunded_caps_held_credits() {
    let mut w = World::v1();
    w.deliver(&ev(
        "evt_1",
        T,
        sub("sub_1", "active", &["price_pro_monthly"], false),
    ))
    .unwrap();
    let a = w.account.clone().unwrap();
    let all = a.monthly;
    let (held, crate::rules::NewHold { id, .. }) =
        rules::hold(Some(&a), &ann(), all, 900, "k", now()).unwrap();
    w.account = Some(held.account);
    w.deliver(&ev(
        "evt_2",
        T + 1,
        sub("sub_1", "canceled", &["price_pro_monthly"], true),
    ))
    .unwrap();
    let a = w.account.clone().unwrap();
    assert_eq!((a.plan, a.monthly, a.held), (Plan::Free, 0, 5));
    let back = rules::release_hold(Some(&a), &ann(), &id, now()).unwrap().0;
    assert_eq!(back.account.monthly, 5);

    let mut w = World::v1();
    w.deliver(&ev("evt_l", T, buy(Some("price_lifetime"), "pi_l", 29_900)))
        .unwrap();
    let a = w.account.clone().unwrap();
    let (held, _) = rules::hold(Some(&a), &ann(), a.monthly, 900, "k", now()).unwrap();
    w.account = Some(held.account);
    assert_eq!(
        w.deliver(&ev("evt_r", T + 1, refund("pi_l", 29_900, 29_900))),
        Ok(EventOutcome::Applied)
    );
    assert_eq!((w.plan(), w.buckets()), (Plan::Free, (0, 0, 5)));
}
