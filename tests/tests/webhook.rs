//! The scripted run through the local gateway: a Free user subscribes (Pro Monthly), upgrades
//! to Pro Yearly and cancels, each step a signed Stripe event on `POST /webhook/stripe`, with
//! the balance and the ledger read back through the API after each step.

use chrono::Utc;
use credits::period::Period;
use credits::plan::Plan;
use credits::rules::prorated;
use credits_e2e::Stack;
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let text = match name {
        "checkout.session" => include_str!(
            "../../functions/webhook/tests/fixtures/2026-07-29.dahlia/checkout.session.json"
        ),
        _ => include_str!(
            "../../functions/webhook/tests/fixtures/2026-07-29.dahlia/subscription.json"
        ),
    };
    serde_json::from_str(text).unwrap()
}

fn event(id: &str, kind: &str, created: i64, object: Value) -> String {
    json!({"id": id, "object": "event", "api_version": "2026-07-29.dahlia", "created": created,
           "livemode": false, "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null},
           "type": kind, "data": {"object": object}})
    .to_string()
}

fn subscription(status: &str, price: &str) -> Value {
    let mut s = fixture("subscription");
    s["id"] = json!("sub_e2e");
    s["customer"] = json!("cus_e2e");
    s["status"] = json!(status);
    s["cancel_at_period_end"] = json!(false);
    s["items"]["data"][0]["price"]["id"] = json!(price);
    s
}

/// (plan, balance) from GET /credits/balance and the ledger (type, amount), newest first.
async fn look(stack: &Stack, token: &str) -> (String, i64, Vec<(String, i64)>) {
    let b = stack.get("/credits/balance", Some(token)).await;
    assert_eq!(b.status, 200, "{:?}", b.json);
    let t = stack
        .get("/credits/transactions?limit=100", Some(token))
        .await;
    let ledger = t.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["type"].as_str().unwrap().to_owned(),
                i["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    (
        b.json["plan"].as_str().unwrap().to_owned(),
        b.json["balance"].as_i64().unwrap(),
        ledger,
    )
}

fn extra(from: Plan, to: Plan) -> i64 {
    let now = Utc::now();
    prorated(
        to.monthly_credits() - from.monthly_credits(),
        Period::containing(now),
        now,
    )
}

fn e(kind: &str, amount: i64) -> (String, i64) {
    (kind.to_owned(), amount)
}

#[tokio::test]
async fn free_subscribes_upgrades_and_cancels_through_the_local_gateway() {
    let stack = Stack::start("e2e-stripe").await;
    let token = stack.token("sam");
    let t = Utc::now().timestamp() - 60;

    let (plan, balance, ledger) = look(&stack, &token).await;
    assert_eq!((plan.as_str(), balance), ("free", 5));
    assert_eq!(ledger, [e("grant", 5)]);

    // Checkout links the customer; the subscription arrives.
    let mut checkout = fixture("checkout.session");
    checkout["mode"] = json!("subscription");
    checkout["payment_status"] = json!("paid");
    checkout["client_reference_id"] = json!("sam");
    checkout["customer"] = json!("cus_e2e");
    checkout["subscription"] = json!("sub_e2e");
    let r = stack
        .stripe(&event(
            "evt_e2e_1",
            "checkout.session.completed",
            t,
            checkout,
        ))
        .await;
    assert_eq!(
        (r.status, &r.json),
        (200, &json!({"received": true, "outcome": "applied"}))
    );
    let created = event(
        "evt_e2e_2",
        "customer.subscription.created",
        t + 1,
        subscription("active", "price_pro_monthly"),
    );
    let r = stack.stripe(&created).await;
    assert_eq!(
        (r.status, r.json["outcome"].as_str()),
        (200, Some("applied")),
        "{:?}",
        r.json
    );
    let up = extra(Plan::Free, Plan::ProMonthly);
    let (plan, balance, ledger) = look(&stack, &token).await;
    assert_eq!((plan.as_str(), balance), ("pro_monthly", 5 + up));
    assert_eq!(ledger, [e("adjust", up), e("grant", 5)]);
    // Stripe delivers it again: nothing changes.
    let r = stack.stripe(&created).await;
    assert_eq!(r.json["outcome"], "duplicate");

    // Upgrade to Pro Yearly.
    let updated = event(
        "evt_e2e_3",
        "customer.subscription.updated",
        t + 2,
        subscription("active", "price_pro_yearly"),
    );
    assert_eq!(stack.stripe(&updated).await.json["outcome"], "applied");
    let up2 = extra(Plan::ProMonthly, Plan::ProYearly);
    let (plan, balance, ledger) = look(&stack, &token).await;
    assert_eq!((plan.as_str(), balance), ("pro_yearly", 5 + up + up2));
    assert_eq!(ledger, [e("adjust", up2), e("adjust", up), e("grant", 5)]);

    // Cancel: back to Free, the monthly bucket capped at 5.
    let deleted = event(
        "evt_e2e_4",
        "customer.subscription.deleted",
        t + 3,
        subscription("canceled", "price_pro_yearly"),
    );
    assert_eq!(stack.stripe(&deleted).await.json["outcome"], "applied");
    let (plan, balance, ledger) = look(&stack, &token).await;
    assert_eq!((plan.as_str(), balance), ("free", 5));
    assert_eq!(
        ledger,
        [
            e("adjust", -(up + up2)),
            e("adjust", up2),
            e("adjust", up),
            e("grant", 5)
        ]
    );

    // The older update, delivered late, is stale.
    let late = event(
        "evt_e2e_5",
        "customer.subscription.updated",
        t + 2,
        subscription("active", "price_pro_monthly"),
    );
    assert_eq!(stack.stripe(&late).await.json["outcome"], "stale");
    assert_eq!(look(&stack, &token).await.1, 5);

    // A bad signature is a 400 in the contract's shape.
    let r = stack
        .send(
            "POST",
            "/webhook/stripe",
            &[("stripe-signature", "t=1,v1=00")],
            &deleted,
        )
        .await;
    assert_eq!(
        (r.status, r.json["error"]["code"].as_str()),
        (400, Some("invalid_signature"))
    );
}
