//! The DynamoDB requests each operation costs, counted by an SDK interceptor: one round trip
//! where one suffices. A change here is a regression (or a deliberate trade to write down in
//! BENCHMARKS.md).

use credits::app::App;
use credits_e2e::on_hold;
use credits_testkit::probe::Probe;
use credits_testkit::{ApiCall, isolated, response_json};

async fn probed(tag: &str) -> (App, Probe) {
    let (sdk, config) = isolated(tag).await;
    let probe = Probe::new();
    let app = App::with_clients(probe.client(&sdk), aws_sdk_ssm::Client::new(&sdk), config);
    (app, probe)
}

/// Calls the function that serves `call`'s route and returns its status with the DynamoDB
/// requests it made, as (operation, items) pairs.
async fn cost(app: &App, probe: &Probe, call: ApiCall) -> (u16, Vec<(String, usize)>) {
    probe.reset();
    let request = call.request();
    let response = if call.route_key.starts_with("GET") {
        balance::handle(app, request).await
    } else {
        deduct::handle(app, request).await
    };
    let (status, body) = response_json(response);
    assert!(status < 500, "{body}");
    let calls = probe
        .reset()
        .into_iter()
        .map(|c| (c.operation, c.items))
        .collect();
    (status, calls)
}

fn ops(list: &[(&str, usize)]) -> Vec<(String, usize)> {
    list.iter().map(|(o, n)| ((*o).to_owned(), *n)).collect()
}

fn deduct(user: &str, key: &str, body: &str) -> ApiCall {
    ApiCall::new("POST", "/credits/deduct")
        .user(user)
        .header("idempotency-key", key)
        .body(body)
}

#[tokio::test]
async fn each_operation_costs_the_fewest_round_trips() {
    let (app, probe) = probed("cost").await;
    let balance = || ApiCall::new("GET", "/credits/balance").user("cat");

    // A new account: read, then open it (account + its grant entry) in one transaction.
    let (s, calls) = cost(&app, &probe, balance()).await;
    assert_eq!(
        (s, calls),
        (200, ops(&[("GetItem", 1), ("TransactWriteItems", 2)]))
    );
    // An existing account in its current period: one read.
    let (s, calls) = cost(&app, &probe, balance()).await;
    assert_eq!((s, calls), (200, ops(&[("GetItem", 1)])));

    // Deduct: read, then account + entry + idempotency record in one transaction.
    let (s, calls) = cost(&app, &probe, deduct("cat", "d1", r#"{"amount": 1}"#)).await;
    assert_eq!(
        (s, calls),
        (200, ops(&[("GetItem", 1), ("TransactWriteItems", 3)]))
    );
    // Its replay: the transaction is refused on the taken key, then the record is read.
    let (s, calls) = cost(&app, &probe, deduct("cat", "d1", r#"{"amount": 1}"#)).await;
    assert_eq!(
        (s, calls),
        (
            200,
            ops(&[("GetItem", 1), ("TransactWriteItems", 3), ("GetItem", 1)])
        )
    );
    // A refused deduct (402) on an account with nothing due writes nothing.
    let (s, calls) = cost(&app, &probe, deduct("cat", "d2", r#"{"amount": 99}"#)).await;
    assert_eq!((s, calls), (402, ops(&[("GetItem", 1), ("GetItem", 1)])));

    // Hold: read, then account + hold entry + idempotency record.
    let hold = ApiCall::new("POST", "/credits/holds")
        .user("cat")
        .header("idempotency-key", "h1")
        .body(r#"{"amount": 2}"#);
    probe.reset();
    let (status, body) = response_json(deduct::handle(&app, hold.request()).await);
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        probe
            .reset()
            .into_iter()
            .map(|c| (c.operation, c.items))
            .collect::<Vec<_>>(),
        ops(&[("GetItem", 1), ("TransactWriteItems", 3)])
    );
    let id = body["hold_id"].as_str().unwrap().to_owned();

    // Commit part: read, then account + deduct + release entries + the closed hold's record.
    let commit = on_hold("POST", "cat", &id, "/commit", r#"{"amount": 1}"#);
    let (s, calls) = cost(&app, &probe, commit).await;
    assert_eq!(
        (s, calls),
        (200, ops(&[("GetItem", 1), ("TransactWriteItems", 4)]))
    );

    // Transactions: read (a due reset would be written first), then one query.
    let tx = ApiCall::new("GET", "/credits/transactions?limit=5").user("cat");
    let (s, calls) = cost(&app, &probe, tx).await;
    assert_eq!((s, calls), (200, ops(&[("GetItem", 1), ("Query", 0)])));

    // Plans: no DynamoDB request at all.
    let (s, calls) = cost(&app, &probe, ApiCall::new("GET", "/credits/plans")).await;
    assert_eq!((s, calls), (200, vec![]));
}

#[tokio::test]
async fn the_probe_asks_for_consumed_capacity_and_prices_each_request() {
    let (app, probe) = probed("cost-capacity").await;
    let call = ApiCall::new("GET", "/credits/balance").user("dan");
    response_json(balance::handle(&app, call.request()).await);
    let calls = probe.calls();
    let get = &calls[0];
    assert_eq!(get.operation, "GetItem");
    assert!(get.consistent, "account reads are strongly consistent");
    // The emulator answers a stand-in for GetItem: the request asked for it.
    assert!(get.capacity.is_some(), "{get:?}");
    assert_eq!(get.estimated_capacity(), 1.0);
    let write = &calls[1];
    assert_eq!(write.estimated_capacity(), 4.0, "{write:?}");
}

/// The monthly reset: one transaction per account (the account with its `expire` and `grant`
/// entries; the account comes from the Scan page, so no read), plus the Scan pages and the
/// run's own bookkeeping.
#[tokio::test]
async fn a_reset_costs_one_write_per_account() {
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    use chrono::Utc;
    use credits::account::UserId;

    let (app, probe) = probed("cost-reset").await;
    let accounts = 250;
    let users = (0..accounts).map(|i| UserId::parse(format!("r{i:04}")).unwrap());
    credits_e2e::seed_last_month(&app, users).await.unwrap();
    let job = credits_e2e::one_segment_reset(&app);
    probe.reset();
    let run = job.start("cost", "test", Utc::now()).await.unwrap();
    monthly_reset::in_process::run_segments(
        &job,
        &app.clock,
        &run,
        Instant::now() + Duration::from_secs(600),
    )
    .await
    .unwrap();
    let mut by_kind: BTreeMap<(String, usize), usize> = BTreeMap::new();
    for c in probe.reset() {
        *by_kind.entry((c.operation, c.items)).or_default() += 1;
    }
    let count = |op: &str, items: usize| by_kind.get(&(op.to_owned(), items)).copied().unwrap_or(0);
    assert_eq!(count("TransactWriteItems", 3), accounts, "{by_kind:?}");
    // Per account: that write and nothing else. The rest is the Scan's pages of 200 items
    // (accounts and their entries), a checkpoint per page and the run's record.
    let total: usize = by_kind.values().sum();
    let bookkeeping = total - accounts;
    assert!(count("Scan", 0) <= 2 * accounts / 200 + 1, "{by_kind:?}");
    assert!(
        bookkeeping <= 20,
        "{bookkeeping} requests besides the accounts' writes: {by_kind:?}"
    );
}
