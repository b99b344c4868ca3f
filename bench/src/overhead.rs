//! Each handler called in process against the bare SDK calls it makes, interleaved in one run
//! against the emulator: the ratio of the two is what the function adds (parsing, rules,
//! encoding, flags) on top of the store's round trips.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use credits::local::ApiCall;
use credits_e2e::{answer, keyed, on_hold};

use crate::Error;
use crate::stats::ratio_row;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The bare calls: a consistent GetItem of the account, and (for a change) a TransactWriteItems
/// of the account conditioned on its revision plus `puts` new items conditioned on not existing.
pub struct Bare {
    client: aws_sdk_dynamodb::Client,
    table: String,
    pk: String,
    seq: u64,
}

impl Bare {
    /// On the account item `pk`, created with revision 0.
    pub async fn new(
        client: aws_sdk_dynamodb::Client,
        table: &str,
        pk: &str,
    ) -> Result<Self, Error> {
        client
            .put_item()
            .table_name(table)
            .item("pk", s(pk))
            .item("sk", s("ACCOUNT"))
            .item("rev", n(0))
            .send()
            .await?;
        Ok(Self {
            client,
            table: table.to_owned(),
            pk: pk.to_owned(),
            seq: 0,
        })
    }

    pub async fn read(&self) -> Result<u64, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(&self.pk))
            .key("sk", s("ACCOUNT"))
            .consistent_read(true)
            .send()
            .await?;
        let rev = out
            .item
            .as_ref()
            .and_then(|i| i.get("rev"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok(rev)
    }

    pub async fn change(&mut self, puts: usize) -> Result<(), Error> {
        let rev = self.read().await?;
        let mut items = vec![
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(&self.table)
                        .key("pk", s(&self.pk))
                        .key("sk", s("ACCOUNT"))
                        .update_expression("SET monthly = :m, seq = :seq, rev = :next")
                        .condition_expression("rev = :rev")
                        .expression_attribute_values(":m", n(500 - self.seq % 500))
                        .expression_attribute_values(":seq", n(self.seq))
                        .expression_attribute_values(":next", n(rev + 1))
                        .expression_attribute_values(":rev", n(rev))
                        .build()?,
                )
                .build(),
        ];
        for _ in 0..puts {
            self.seq += 1;
            items.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .item("pk", s(&self.pk))
                            .item("sk", s(&format!("TX#{:012}", self.seq)))
                            .item("type", s("deduct"))
                            .item("amount", AttributeValue::N("-1".into()))
                            .item("bucket", s("monthly"))
                            .item("cause", s("idem:bench"))
                            .item("at", s(&chrono::Utc::now().to_rfc3339()))
                            .condition_expression("attribute_not_exists(pk)")
                            .build()?,
                    )
                    .build(),
            );
        }
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await?;
        Ok(())
    }
}

async fn timed<T>(f: impl Future<Output = T>) -> (Duration, T) {
    let start = Instant::now();
    let out = f.await;
    (start.elapsed(), out)
}

pub async fn run(rounds: usize) -> Result<(), Error> {
    let (app, _probe, client) = crate::probed_app("bench-overhead").await;
    let user = "overhead-user";
    crate::lifetime(&app, user).await?;
    let mut bare = Bare::new(client, &app.config.table, "USER#overhead-bare").await?;
    let names = ["balance", "deduct", "hold"];
    let mut handler: Vec<Vec<Duration>> = vec![vec![]; 3];
    let mut sdk: Vec<Vec<Duration>> = vec![vec![]; 3];
    // Warm both paths (connections, flags cache) before measuring.
    for i in 0..(rounds + 10) {
        let warm = i < 10;
        let (t, (status, _, _)) = timed(answer(
            &app,
            &ApiCall::new("GET", "/credits/balance").user(user),
        ))
        .await;
        assert_eq!(status, 200);
        let (b, r) = timed(bare.read()).await;
        r?;
        if !warm {
            handler[0].push(t);
            sdk[0].push(b);
        }
        let call = keyed(
            "POST",
            "/credits/deduct",
            user,
            &format!("d{i}"),
            r#"{"amount": 1}"#,
        );
        let (t, (status, _, body)) = timed(answer(&app, &call)).await;
        assert_eq!(status, 200, "{body}");
        let (b, r) = timed(bare.change(2)).await;
        r?;
        if !warm {
            handler[1].push(t);
            sdk[1].push(b);
        }
        let call = keyed(
            "POST",
            "/credits/holds",
            user,
            &format!("h{i}"),
            r#"{"amount": 1}"#,
        );
        let (t, (status, _, body)) = timed(answer(&app, &call)).await;
        assert_eq!(status, 201, "{body}");
        let (b, r) = timed(bare.change(2)).await;
        r?;
        if !warm {
            handler[2].push(t);
            sdk[2].push(b);
        }
        let id = body["hold_id"].as_str().unwrap_or_default();
        let (status, _, _) = answer(&app, &on_hold("DELETE", user, id, "", "")).await;
        assert_eq!(status, 200);
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
