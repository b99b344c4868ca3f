//! What each event costs in DynamoDB requests.

use super::*;

/// The DynamoDB requests each event costs, as (operation, items) pairs, counted by the SDK
/// interceptor (`credits_testkit::probe`); the API's are pinned in tests/tests/cost.rs. A change here is
/// a regression, or a trade to write down in BENCHMARKS.md.
#[tokio::test]
async fn each_event_costs_the_fewest_round_trips() {
    let (sdk, config) = credits_testkit::isolated("wh-cost").await;
    let probe = credits_testkit::probe::Probe::new();
    // The 2nd of a month: a Lifetime upgrade grants enough that its full refund must cap the
    // monthly bucket, so the refund's write holds its cap entry whatever day the test runs.
    let clock = credits::clock::Clock::fixed("2026-11-02T12:00:00Z".parse().unwrap());
    let app = App::with_clients(probe.client(&sdk), aws_sdk_ssm::Client::new(&sdk), config)
        .with_clock(clock);
    let t = app.clock.now().timestamp() - 100;
    let sub = |status| {
        subscription(
            DAHLIA,
            "sub_eve",
            "cus_eve",
            None,
            status,
            "price_pro_monthly",
        )
    };
    let checkout = |id, price, pi, amount| {
        let object = checkout_payment(DAHLIA, "eve", price, pi, amount);
        event(DAHLIA, id, "checkout.session.completed", t + 3, object)
    };
    let mut invoice = fixture(DAHLIA, "invoice");
    invoice["customer"] = json!("cus_eve");
    let created = event(
        DAHLIA,
        "evt_c",
        "customer.subscription.created",
        t + 1,
        sub("active"),
    );
    let link = checkout_subscription(DAHLIA, "eve", "cus_eve", "sub_eve");
    // Reads: G = GetItem of one item, Q = the user's Stripe items; W(n) = one transaction of n.
    let (g, q) = (("GetItem", 1), ("Query", 0));
    let w = |n| ("TransactWriteItems", n);
    let rows = [
        // The event's record and the customer's link: nothing to read.
        (
            event(DAHLIA, "evt_l", "checkout.session.completed", t, link),
            "applied",
            vec![w(2)],
        ),
        // The customer's link, the account, its Stripe items; then account, grant entry,
        // adjust entry, subscription, link, record.
        (created.clone(), "applied", vec![g, g, q, w(6)]),
        // A second delivery decides again and is refused on the record.
        (created, "duplicate", vec![g, g, q, w(1)]),
        (
            event(
                DAHLIA,
                "evt_o",
                "customer.subscription.updated",
                t,
                sub("past_due"),
            ),
            "stale",
            vec![g, g, q, w(1)],
        ),
        (
            event(DAHLIA, "evt_i", "invoice.paid", t + 2, invoice),
            "ignored",
            vec![w(1)],
        ),
        // The payment (a refund parked before it?), the account, its Stripe items; then
        // record, account, adjust entry, payment (conditioned on as read), purchase.
        (
            checkout("evt_lt", "price_lifetime", "pi_life", 9_900),
            "applied",
            vec![g, g, q, w(5)],
        ),
        // A package changes no plan: the payment and the account are read.
        (
            checkout("evt_p", "price_credits_100", "pi_pkg", 1_000),
            "applied",
            vec![g, g, w(5)],
        ),
        // A price this deployment does not know: parked (listed), nothing read, no record.
        (
            checkout("evt_odd", "price_other_product", "pi_odd", 500),
            "parked",
            vec![w(1)],
        ),
        // A refund before its purchase: the payment read, then parked on it and listed.
        (
            refunded(DAHLIA, "evt_early", t + 4, "pi_later", 1_000, 1_000),
            "parked",
            vec![g, w(2)],
        ),
        // The payment's link, the account, its Stripe items.
        (
            refunded(DAHLIA, "evt_r", t + 5, "pi_pkg", 1_000, 300),
            "applied",
            vec![g, g, q, w(4)],
        ),
        (
            refunded(DAHLIA, "evt_rl", t + 5, "pi_life", 9_900, 9_900),
            "applied",
            vec![g, g, q, w(4)],
        ),
        (
            event(
                DAHLIA,
                "evt_d",
                "customer.subscription.deleted",
                t + 7,
                sub("canceled"),
            ),
            "applied",
            vec![g, g, q, w(5)],
        ),
        (
            event(
                DAHLIA,
                "evt_x",
                "customer.created",
                t + 8,
                json!({"id": "cus_x"}),
            ),
            "ignored",
            vec![],
        ),
    ];
    // `cargo test -p webhook each_event_costs -- --nocapture` prints BENCHMARKS.md's table.
    println!(
        "| event | outcome | DynamoDB requests | items | request bytes | capacity (DynamoDB rule) |"
    );
    println!("|---|---|---|---|---|---|");
    for (body, outcome, expected) in rows {
        probe.reset();
        expect(&app, &body, outcome).await;
        let calls = probe.reset();
        let sent: Value = serde_json::from_str(&body).unwrap();
        let object = &sent["data"]["object"];
        let detail = object["metadata"]["price_id"]
            .as_str()
            .or(object["mode"].as_str())
            .or(object["payment_intent"].as_str())
            .map_or(String::new(), |d| format!(" ({d})"));
        println!(
            "| {}{detail} | {outcome} | {} | {} | {} | {} |",
            sent["type"].as_str().unwrap(),
            calls.len(),
            calls.iter().map(|c| c.items).sum::<usize>(),
            calls.iter().map(|c| c.bytes).sum::<usize>(),
            calls
                .iter()
                .map(credits_testkit::probe::Call::estimated_capacity)
                .sum::<f64>(),
        );
        let calls: Vec<(String, usize)> =
            calls.into_iter().map(|c| (c.operation, c.items)).collect();
        let expected: Vec<(String, usize)> = expected
            .into_iter()
            .map(|(o, n)| (o.to_owned(), n))
            .collect();
        assert_eq!(calls, expected, "{outcome}: {body}");
    }
}
