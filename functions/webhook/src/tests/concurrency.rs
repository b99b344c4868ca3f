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
