//! Concurrent deliveries: an event applies once whatever the races.

use super::*;

#[tokio::test]
async fn ten_concurrent_deliveries_of_one_event_apply_once() {
    let app = Arc::new(isolated_app("wh-dup").await);
    let body = event(
        DAHLIA,
        "evt_once",
        "customer.subscription.created",
        now(),
        subscription(
            DAHLIA,
            "sub_c",
            "cus_c",
            Some("cy"),
            "active",
            "price_pro_yearly",
        ),
    );
    let mut set = JoinSet::new();
    for _ in 0..10 {
        let (app, body) = (app.clone(), body.clone());
        set.spawn(async move { deliver(&app, &body).await });
    }
    let mut outcomes = Vec::new();
    while let Some(r) = set.join_next().await {
        let (status, answer) = r.unwrap();
        assert_eq!(status, 200, "{answer}");
        outcomes.push(answer["outcome"].as_str().unwrap().to_owned());
    }
    outcomes.sort();
    assert_eq!(
        outcomes.iter().filter(|o| *o == "applied").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| *o == "duplicate").count(),
        9,
        "{outcomes:?}"
    );
    let (plan, m, _, ledger) = state(&app, "cy").await;
    assert_eq!(
        (plan, m),
        (Plan::ProYearly, 5 + extra(Plan::Free, Plan::ProYearly))
    );
    assert_eq!(ledger.len(), 2);
    // And once more, later: still a duplicate.
    expect(&app, &body, "duplicate").await;
}

/// A refund and its purchase delivered at once: whichever writes first, the other's write is
/// refused on the payment (conditioned on it as read) and decided again, so the refund is
/// applied exactly once.
#[tokio::test]
async fn a_refund_racing_its_purchase_is_applied_once() {
    let app = Arc::new(isolated_app("wh-race").await);
    let t = now() - 100;
    let mut set = JoinSet::new();
    for n in 0..8 {
        let pi = format!("pi_race_{n}");
        let buy = checkout_payment(DAHLIA, "rex", "price_credits_100", &pi, 1_000);
        let purchase = event(
            DAHLIA,
            &format!("evt_b{n}"),
            "checkout.session.completed",
            t,
            buy,
        );
        let refund = refunded(DAHLIA, &format!("evt_r{n}"), t, &pi, 1_000, 400);
        for body in [purchase, refund] {
            let app = app.clone();
            set.spawn(async move {
                // Stripe redelivers until it gets a 200.
                for _ in 0..20 {
                    let (status, answer) = deliver(&app, &body).await;
                    if status == 200 {
                        return answer["outcome"].as_str().unwrap().to_owned();
                    }
                }
                panic!("never applied: {body}");
            });
        }
    }
    while let Some(r) = set.join_next().await {
        let outcome = r.unwrap();
        assert!(
            ["applied", "parked", "ignored"].contains(&outcome.as_str()),
            "{outcome}"
        );
    }
    let (_, _, purchased, ledger) = state(&app, "rex").await;
    assert_eq!(purchased, 8 * 60, "{ledger:?}");
    let revoked: Vec<i64> = ledger
        .iter()
        .filter(|(k, _)| k == "revoke")
        .map(|(_, n)| *n)
        .collect();
    assert_eq!(revoked, [-40; 8]);
}
