//! The notifications end to end: changes through the local stack, the outbox published by the
//! publisher to the emulator's EventBridge, read back from an SQS queue a rule on the bus
//! targets. Each committed change's events arrive once; a refused or replayed request
//! publishes nothing; a publish that fails, or a function that dies after its commit, still
//! delivers, once, when the publisher runs again.

use std::collections::BTreeSet;

use aws_sdk_eventbridge::types::Target;
use aws_sdk_sqs::types::QueueAttributeName;
use chrono::Utc;
use credits::app::App;
use credits::config::STORE_ATTEMPTS;
use credits_e2e::faults::{Fault, FaultProxy, app_through};
use credits_e2e::{Stack, answer, deduct_call as deduct};
use publisher::{Publisher, Settings, Sweep, events_client, handle};
use serde_json::{Value, json};

/// A bus of its own with a rule sending every `credits` event to a queue of its own.
struct Bus {
    name: String,
    sqs: aws_sdk_sqs::Client,
    queue: String,
}

impl Bus {
    async fn new(tag: &str) -> Self {
        let sdk = credits::config::aws_for_tools().await;
        let events = aws_sdk_eventbridge::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let name = format!("{tag}-{}", Utc::now().timestamp_micros());
        publisher::create_bus(&events, &name).await.unwrap();
        let queue = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&queue)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        let arn = attributes.attributes.unwrap()[&QueueAttributeName::QueueArn].clone();
        events
            .put_rule()
            .name(&name)
            .event_bus_name(&name)
            .event_pattern(r#"{"source": ["credits"]}"#)
            .send()
            .await
            .unwrap();
        events
            .put_targets()
            .rule(&name)
            .event_bus_name(&name)
            .targets(Target::builder().id("queue").arn(arn).build().unwrap())
            .send()
            .await
            .unwrap();
        Self { name, sqs, queue }
    }

    /// A publisher of `app`'s outbox to this bus, reaching EventBridge at `endpoint` (the
    /// emulator when `None`).
    async fn publisher(&self, app: &App, endpoint: Option<&str>) -> Publisher {
        let sdk = credits::config::aws_for_tools().await;
        Publisher::new(
            app.service.store().clone(),
            events_client(&sdk, endpoint),
            &self.name,
        )
    }

    /// Every event the queue holds now, taken off it: (detail-type, detail).
    async fn received(&self) -> Vec<(String, Value)> {
        let mut all = Vec::new();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return all;
            }
            for m in messages {
                let event: Value = serde_json::from_str(m.body().unwrap()).unwrap();
                assert_eq!(event["source"], "credits");
                all.push((
                    event["detail-type"].as_str().unwrap().to_owned(),
                    event["detail"].clone(),
                ));
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

fn types(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(t, _)| t.as_str()).collect()
}

async fn sweep(publisher: &Publisher) -> Sweep {
    publisher.sweep(Utc::now()).await.unwrap()
}

#[tokio::test]
async fn a_deduct_that_crosses_the_threshold_publishes_its_events_once() {
    let stack = Stack::start("notify-e2e").await;
    let bus = Bus::new("notify-e2e").await;
    let publisher = bus.publisher(stack.gateway.app(), None).await;
    let token = stack.token("nia");

    // Free: 5 credits, low at 1 (20 %). 4 crosses it.
    let first = stack.deduct(&token, "k1", r#"{"amount": 4}"#).await;
    assert_eq!((first.status, &first.json["balance"]), (200, &json!(1)));
    let replayed = stack.deduct(&token, "k1", r#"{"amount": 4}"#).await;
    assert_eq!(replayed.status, 200);
    assert!(replayed.headers.contains_key("idempotent-replayed"));
    let refused = stack.deduct(&token, "k2", r#"{"amount": 5}"#).await;
    assert_eq!(refused.status, 402);

    assert_eq!(
        sweep(&publisher).await,
        Sweep {
            published: 1,
            failed: 0
        }
    );
    let events = bus.received().await;
    assert_eq!(types(&events), ["credits.low_balance"], "{events:?}");
    let detail = &events[0].1;
    assert_eq!(detail["user_id"], "nia");
    // The account was opened by the same change: its opening grant, then the deduct.
    assert_eq!(
        detail["entries"],
        json!(["tx_000000000001", first.json["transaction_id"]])
    );
    assert_eq!(detail["balance"]["balance"], 1);
    assert_eq!(detail["threshold"], 1);
    assert!(detail["event_id"].as_str().is_some_and(|id| !id.is_empty()));

    // Published and gone: the next runs send nothing again.
    assert_eq!(sweep(&publisher).await, Sweep::default());
    assert!(bus.received().await.is_empty());

    // The last credit: depleted (already low: no second low-balance event).
    assert_eq!(
        stack.deduct(&token, "k3", r#"{"amount": 1}"#).await.status,
        200
    );
    sweep(&publisher).await;
    let events = bus.received().await;
    assert_eq!(types(&events), ["credits.depleted"]);
    assert_eq!(events[0].1["balance"]["balance"], 0);
}

#[tokio::test]
async fn the_stream_path_publishes_new_outbox_items_and_the_schedule_only_old_ones() {
    let stack = Stack::start("notify-stream").await;
    let bus = Bus::new("notify-stream").await;
    let app = stack.gateway.app();
    let publisher = bus.publisher(app, None).await;
    let token = stack.token("ola");
    assert_eq!(
        stack.deduct(&token, "k1", r#"{"amount": 5}"#).await.status,
        200
    );

    // The schedule leaves what the stream has not had two minutes to publish.
    let settings = Settings::from_lookup(|_| None).unwrap();
    let scheduled = handle(&publisher, &settings, json!({}), Utc::now())
        .await
        .unwrap();
    assert_eq!(scheduled["published"], 0);
    assert!(bus.received().await.is_empty());

    let pending = app
        .service
        .store()
        .pending_events(Utc::now(), 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    let record = |event: &str| {
        json!({"eventName": event, "dynamodb": {"Keys": {
            "pk": {"S": pending[0].pk}, "sk": {"S": pending[0].sk}}}})
    };
    let batch = json!({"Records": [record("INSERT"), record("INSERT")]});
    let answer = handle(&publisher, &settings, batch, Utc::now())
        .await
        .unwrap();
    // The same record twice (a retried batch): published once.
    assert_eq!(answer["published"], 1);
    assert_eq!(
        types(&bus.received().await),
        ["credits.low_balance", "credits.depleted"]
    );
}

async fn proxy() -> FaultProxy {
    let upstream = std::env::var("AWS_ENDPOINT_URL").expect("run with scripts/test");
    FaultProxy::start(&upstream).await
}

#[tokio::test]
async fn a_publish_that_fails_is_delivered_once_by_the_next_run() {
    let proxy = proxy().await;
    let stack = Stack::start("notify-fail").await;
    let bus = Bus::new("notify-fail").await;
    let publisher = bus.publisher(stack.gateway.app(), Some(proxy.url())).await;
    let token = stack.token("pia");
    assert_eq!(
        stack.deduct(&token, "k1", r#"{"amount": 4}"#).await.status,
        200
    );

    // EventBridge unreachable: every attempt's connection is cut.
    proxy.standing(Fault::Reset);
    assert_eq!(
        sweep(&publisher).await,
        Sweep {
            published: 0,
            failed: 1
        }
    );
    assert!(proxy.seen("PutEvents") >= 1);
    assert!(bus.received().await.is_empty());

    proxy.standing(Fault::Pass);
    assert_eq!(sweep(&publisher).await.published, 1);
    assert_eq!(sweep(&publisher).await, Sweep::default());
    let events = bus.received().await;
    assert_eq!(types(&events), ["credits.low_balance"]);
    let ids: BTreeSet<_> = events
        .iter()
        .map(|(_, d)| d["event_id"].to_string())
        .collect();
    assert_eq!(ids.len(), events.len());
}

#[tokio::test]
async fn a_function_that_dies_after_its_commit_still_delivers_once() {
    let proxy = proxy().await;
    let app = app_through(&proxy, "notify-died").await;
    let bus = Bus::new("notify-died").await;

    // The commit is applied and every answer to it is lost: the function never learns it
    // committed, let alone publishes; the caller's retry replays.
    for _ in 0..STORE_ATTEMPTS {
        proxy.plan("TransactWriteItems", Fault::DropResponse);
    }
    assert_eq!(answer(&app, &deduct("quin", "k1", 5)).await.0, 503);
    let retry = answer(&app, &deduct("quin", "k1", 5)).await;
    assert_eq!((retry.0, &retry.2["balance"]), (200, &json!(0)));
    // A refused deduct commits nothing and so publishes nothing.
    assert_eq!(answer(&app, &deduct("quin", "k2", 1)).await.0, 402);

    let publisher = bus.publisher(&app, None).await;
    assert_eq!(sweep(&publisher).await.published, 1);
    assert_eq!(sweep(&publisher).await, Sweep::default());
    let events = bus.received().await;
    assert_eq!(
        types(&events),
        ["credits.low_balance", "credits.depleted"],
        "{events:?}"
    );
    assert!(events.iter().all(|(_, d)| d["user_id"] == "quin"));
}

/// Support's adjustment is a committed change like any other: a grant publishes
/// `credits.granted` (reason `adjustment`) once; its replay and a refused one publish nothing.
#[tokio::test]
async fn an_admin_adjustment_publishes_one_grant_and_its_replay_nothing() {
    let stack = Stack::start("notify-adjust").await;
    let bus = Bus::new("notify-adjust").await;
    let publisher = bus.publisher(stack.gateway.app(), None).await;
    let user = stack.token("rhea");
    assert_eq!(stack.get("/credits/balance", Some(&user)).await.status, 200);
    assert_eq!(sweep(&publisher).await, Sweep::default());
    let admin = stack.token_in("root", &["admin"]);
    let adjust = |key: &'static str, body: &'static str| {
        let auth = format!("Bearer {admin}");
        let stack = &stack;
        async move {
            let headers = [
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
                ("idempotency-key", key),
            ];
            let path = "/admin/credits/users/rhea/adjustments";
            stack.send("POST", path, &headers, body).await
        }
    };
    let grant = r#"{"amount": 40, "bucket": "purchased", "reason": "outage credit"}"#;
    let first = adjust("t-1", grant).await;
    assert_eq!(first.status, 201, "{:?}", first.json);
    assert_eq!(adjust("t-1", grant).await.status, 201);
    let too_much = r#"{"amount": -6, "bucket": "monthly", "reason": "over"}"#;
    assert_eq!(adjust("t-2", too_much).await.status, 409);

    assert_eq!(sweep(&publisher).await.published, 1);
    let events = bus.received().await;
    assert_eq!(types(&events), ["credits.granted"], "{events:?}");
    let detail = &events[0].1;
    assert_eq!(
        (&detail["reason"], &detail["amount"], &detail["bucket"]),
        (&json!("adjustment"), &json!(40), &json!("purchased"))
    );
    assert_eq!(detail["entry_id"], first.json["entry"]["id"]);
    assert_eq!(detail["cause"], "admin:root idem:t-1");
    assert_eq!(detail["balance"]["balance"], 45);
}
