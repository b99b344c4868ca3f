//! Each handler called in process against the bare SDK calls it makes, interleaved in one run
//! against the emulator: the ratio of the two is what the function adds (parsing the event,
//! rules, encoding, flags, the answer) on top of the store's round trips.
//!
//! The bare calls are the handler's own: the same consistent GetItem of an account of the same
//! size, and the very transaction it sent (captured by the probe), replayed on a mirror of its
//! account whose key has the same length, so both sides send requests of the same size.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::types::AttributeValue;
use credits::app::App;
use credits_e2e::{keyed, on_hold};
use credits_testkit::ApiCall;
use credits_testkit::probe::Probe;

use crate::Error;
use crate::stats::ratio_row;

const USER: &str = "overhead-user";
/// As long as [`USER`]: the mirror's items are the same size as the handler's.
const MIRROR: &str = "overhead-bare";

/// A copy of the handler's account that receives the same writes.
pub struct Mirror {
    client: aws_sdk_dynamodb::Client,
    table: String,
    from: AttributeValue,
    to: AttributeValue,
}

impl Mirror {
    /// Copies the account item of `user` to `mirror`'s key.
    pub async fn new(
        client: aws_sdk_dynamodb::Client,
        table: &str,
        user: &str,
        mirror: &str,
    ) -> Result<Self, Error> {
        let this = Self {
            client,
            table: table.to_owned(),
            from: AttributeValue::S(format!("USER#{user}")),
            to: AttributeValue::S(format!("USER#{mirror}")),
        };
        let mut item = this
            .client
            .get_item()
            .table_name(table)
            .key("pk", this.from.clone())
            .key("sk", AttributeValue::S("ACCOUNT".into()))
            .consistent_read(true)
            .send()
            .await?
            .item
            .ok_or("the handler's account is not there")?;
        item.insert("pk".into(), this.to.clone());
        this.client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .send()
            .await?;
        Ok(this)
    }

    /// The consistent read of the account every handler starts with.
    pub async fn read(&self) -> Result<(), Error> {
        self.client
            .get_item()
            .table_name(&self.table)
            .key("pk", self.to.clone())
            .key("sk", AttributeValue::S("ACCOUNT".into()))
            .consistent_read(true)
            .send()
            .await?;
        Ok(())
    }

    /// The handler's transaction with its partition key swapped for the mirror's.
    pub fn prepare(&self, mut tx: TransactWriteItemsInput) -> TransactWriteItemsInput {
        let swap = |map: &mut HashMap<String, AttributeValue>| {
            if map.get("pk") == Some(&self.from) {
                map.insert("pk".into(), self.to.clone());
            }
        };
        for item in tx.transact_items.iter_mut().flatten() {
            if let Some(p) = item.put.as_mut() {
                swap(&mut p.item);
            }
            if let Some(u) = item.update.as_mut() {
                swap(&mut u.key);
            }
            if let Some(c) = item.condition_check.as_mut() {
                swap(&mut c.key);
            }
            if let Some(d) = item.delete.as_mut() {
                swap(&mut d.key);
            }
        }
        tx
    }

    pub async fn send(&self, tx: TransactWriteItemsInput) -> Result<(), Error> {
        self.client
            .transact_write_items()
            .set_transact_items(tx.transact_items)
            .set_return_consumed_capacity(tx.return_consumed_capacity)
            .set_client_request_token(tx.client_request_token)
            .send()
            .await?;
        Ok(())
    }

    /// Replays, untimed, writes that are not measured but keep the mirror in step.
    pub async fn follow(&self, probe: &Probe) -> Result<(), Error> {
        for tx in probe.take_transactions() {
            self.send(self.prepare(tx)).await?;
        }
        Ok(())
    }
}

/// Calls the handler that serves `call` as its Lambda would: the event's JSON parsed into a
/// request, handled, and the answer's status read. Returns the time and the answer.
async fn handled(app: &App, call: &ApiCall) -> Result<(Duration, u16, serde_json::Value), Error> {
    let event = call.event().to_string();
    let get = call.route_key.starts_with("GET");
    let start = Instant::now();
    let request = lambda_http::request::from_str(&event)?;
    let response = if get {
        balance::handle(app, request).await
    } else {
        deduct::handle(app, request).await
    };
    let took = start.elapsed();
    let (status, body) = credits_testkit::response_json(response);
    Ok((took, status, body))
}

/// The mirror's share of one measured call: the read, then the transaction the handler sent.
async fn bare(mirror: &Mirror, probe: &Probe) -> Result<Duration, Error> {
    let mut txs = probe.take_transactions();
    let tx = match txs.len() {
        0 => None,
        1 => txs.pop().map(|tx| mirror.prepare(tx)),
        n => return Err(format!("expected one transaction, the handler sent {n}").into()),
    };
    let start = Instant::now();
    mirror.read().await?;
    if let Some(tx) = tx {
        mirror.send(tx).await?;
    }
    Ok(start.elapsed())
}

pub async fn run(rounds: usize) -> Result<(), Error> {
    let (app, probe, sdk) = crate::probed_app("bench-overhead").await;
    crate::lifetime(&app, USER).await?;
    // The bare side carries the same interceptor, so the probe's own work is on both sides.
    let client = Probe::new().client(&sdk);
    let mirror = Mirror::new(client, &app.config.table, USER, MIRROR).await?;
    probe.reset();
    let names = ["balance", "deduct", "hold"];
    let mut handler: Vec<Vec<Duration>> = vec![vec![]; 3];
    let mut sdk: Vec<Vec<Duration>> = vec![vec![]; 3];
    // Warm both paths (connections, flags cache) before measuring.
    for i in 0..(rounds + 10) {
        let warm = i < 10;
        let calls = [
            ApiCall::new("GET", "/credits/balance").user(USER),
            keyed(
                "POST",
                "/credits/deduct",
                USER,
                &format!("d{i}"),
                r#"{"amount": 1}"#,
            ),
            keyed(
                "POST",
                "/credits/holds",
                USER,
                &format!("h{i}"),
                r#"{"amount": 1}"#,
            ),
        ];
        for (k, call) in calls.iter().enumerate() {
            let (t, status, body) = handled(&app, call).await?;
            if status >= 300 {
                return Err(format!("{} answered {status}: {body}", names[k]).into());
            }
            let b = bare(&mirror, &probe).await?;
            if !warm {
                handler[k].push(t);
                sdk[k].push(b);
            }
            if let Some(id) = body["hold_id"].as_str() {
                let (_, status, _) = handled(&app, &on_hold("DELETE", USER, id, "", "")).await?;
                assert_eq!(status, 200);
                mirror.follow(&probe).await?;
            }
        }
    }
    println!(
        "| handler ({rounds} calls each) | handler p50 ms | bare SDK p50 ms | ratio p50 | handler p99 ms | bare SDK p99 ms | ratio p99 |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (i, name) in names.iter().enumerate() {
        println!("{}", ratio_row(name, handler[i].clone(), sdk[i].clone()));
    }
    Ok(())
}
