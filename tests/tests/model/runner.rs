//! Runs a history through the real handlers (in process, as API Gateway and Stripe would call
//! them) against the emulator, on an App whose clock the history sets, and after every step
//! holds the answers, the balance view, the ledger and every transaction to the model.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use credits::app::App;
use credits::clock::Clock;
use credits::ledger::Entry;
use credits::stripe::PriceMap;
use credits_e2e::faults::{Fault as ProxyFault, FaultProxy};
use credits_e2e::{invoke, keyed, on_hold};
use credits_testkit::ApiCall;
use credits_testkit::probe::Probe;
use serde_json::json;
use webhook::{SigningSecret, Webhook};

use crate::check::{self, Got};
use crate::generator::{Command, Fault, Flow, History, Pay, Purchase, Step};
use crate::spec::{self, Event, Expect, Model, Price};
use crate::stripe::{UNCONFIGURED, name};
use crate::{ops, stripe};

mod observe;

const SECRET: &str = "whsec_model";

/// What every history shares: the fault proxy in front of the emulator, and the command
/// families left out (`MODEL_LEAVE_OUT=refund,fault`: to look past a defect already known).
pub struct Env {
    pub proxy: FaultProxy,
    pub leave_out: Vec<String>,
}

impl Env {
    pub async fn start() -> Self {
        let leave_out = std::env::var("MODEL_LEAVE_OUT").unwrap_or_default();
        let leave_out = leave_out.split(',').map(|f| f.trim().to_owned()).collect();
        let upstream =
            std::env::var("AWS_ENDPOINT_URL").expect("run with scripts/test or scripts/model");
        Self {
            proxy: FaultProxy::start(&upstream).await,
            leave_out,
        }
    }
}

/// A call as a caller makes it.
#[derive(Clone)]
enum Call {
    Api(ApiCall),
    Stripe(String),
}

/// A command resolved against the model: what to apply to it.
#[derive(Clone, Debug)]
enum Op {
    Balance(usize),
    Deduct(usize, String, i64, bool),
    Hold(usize, String, i64, Option<i64>),
    Close(usize, Option<usize>, Option<i64>, bool),
    Stripe(String, Event),
}

impl Op {
    fn apply(&self, m: &mut Model) -> Expect {
        match self {
            Op::Balance(u) => m.balance(*u),
            Op::Deduct(u, key, n, reason) => m.deduct(*u, key, *n, *reason),
            Op::Hold(u, key, n, ttl) => m.hold(*u, key, *n, *ttl),
            Op::Close(u, hold, n, release) => m.close_hold(*u, *hold, *n, *release),
            Op::Stripe(id, event) => m.stripe(id, event),
        }
    }
}

/// `p` without the families left out: `flows` (paid later or with nothing to pay) and
/// `unconfigured` (a price the deployment does not know).
fn plain(p: &Purchase, leave_out: &[String]) -> Purchase {
    let out = |f: &str| leave_out.iter().any(|l| l == f);
    let mut p = *p;
    if out("flows") {
        p.flow = Flow::Paid;
    }
    if out("unconfigured") && p.price == Price::Unconfigured {
        p.price = Price::Package(500);
    }
    p
}

pub struct Run<'a> {
    env: &'a Env,
    history: &'a History,
    /// The history's purchases, with the families left out made plain (paid at once, priced).
    purchases: Vec<Purchase>,
    app: App,
    hook: Webhook,
    probe: Probe,
    ssm: aws_sdk_ssm::Client,
    backup: PathBuf,
    pub model: Model,
    /// Model hold numbers in the order they opened, and their ids in the product.
    opened: Vec<usize>,
    holds: BTreeMap<usize, String>,
    /// Every Stripe delivery so far: id, body, and the event as the model reads it.
    deliveries: Vec<(String, String, Event)>,
    ledgers: [BTreeMap<u64, Entry>; spec::USERS],
    step: usize,
}

impl<'a> Run<'a> {
    pub async fn new(env: &'a Env, history: &'a History) -> Run<'a> {
        let (sdk, config) =
            credits_testkit::isolated_with("model", |c| c.flag_ttl = Duration::ZERO).await;
        let probe = Probe::new();
        let (dynamodb, _) = credits::app::clients(&sdk, Some(env.proxy.url()));
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            dynamodb
                .config()
                .to_builder()
                .interceptor(probe.clone())
                .build(),
        );
        let (_, ssm) = credits::app::clients(&sdk, None);
        let start = Utc.timestamp_opt(history.start, 0).unwrap();
        let backup = std::env::temp_dir().join(format!("credits-model-{}.jsonl", config.table));
        let app = App::with_clients(dynamodb, ssm.clone(), config).with_clock(Clock::fixed(start));
        let hook = Webhook {
            secret: SigningSecret::new(SECRET),
            prices: PriceMap::default(),
            line_items: None,
        };
        Run {
            env,
            history,
            purchases: history
                .purchases
                .iter()
                .map(|p| plain(p, &env.leave_out))
                .collect(),
            app,
            hook,
            probe,
            ssm,
            backup,
            model: Model::new(history.start),
            opened: Vec::new(),
            holds: BTreeMap::new(),
            deliveries: Vec::new(),
            ledgers: Default::default(),
            step: 0,
        }
    }

    /// Every step, then the table is dropped.
    pub async fn all(mut self) -> Result<(), String> {
        let mut result = self.flags_read().await;
        let history = self.history;
        for (i, step) in history.steps.iter().enumerate() {
            if result.is_err() {
                break;
            }
            self.step = i;
            if let Err(e) = self.one(step).await {
                result = Err(format!("step {i} ({:?}): {e}", step.cmd));
                break;
            }
        }
        let _ = std::fs::remove_file(&self.backup);
        let store = self.app.service.store();
        let _ = store
            .client()
            .delete_table()
            .table_name(store.table())
            .send()
            .await;
        result
    }

    async fn one(&mut self, step: &Step) -> Result<(), String> {
        let left_out = |family: &str| self.env.leave_out.iter().any(|f| f == family);
        if left_out(step.cmd.family()) {
            return Ok(());
        }
        let fault = step.fault.filter(|_| !left_out("fault"));
        let mut observe = Vec::new();
        match step.cmd {
            Command::Tick(t) => {
                self.model.now = t.after(self.model.now);
                self.app
                    .clock
                    .set(Utc.timestamp_opt(self.model.now, 0).unwrap());
            }
            Command::Flags { v2, purchases } => {
                ops::switch(&self.app, &self.ssm, v2, purchases).await?;
                self.model.flags(v2, purchases);
                self.flags_read().await?;
            }
            Command::ConfigurePrice => {
                let spec = format!("{},{UNCONFIGURED}=premium", PriceMap::DEFAULT);
                self.hook.prices = PriceMap::parse(&spec).map_err(|e| e.to_string())?;
                self.model.configure_price();
            }
            Command::Migrate | Command::Rollback => {
                if matches!(step.cmd, Command::Migrate) {
                    ops::migrate(&self.app, &self.ssm, &self.backup).await?;
                    self.model.migrate();
                } else {
                    ops::rollback(&self.app, &self.ssm, &self.backup).await?;
                    self.model.rollback();
                    self.flags_read().await?;
                }
                observe.extend((0..spec::USERS).filter(|u| self.model.users[*u].open));
            }
            Command::Holds {
                user,
                n,
                amount,
                ttl,
            } => {
                for i in 0..n {
                    let key = format!("many-{}-{i}", self.step);
                    self.hold(user, &key, amount, Some(ttl), None).await?;
                }
                observe.push(user);
            }
            Command::Straddle { user, n, ttl } => {
                self.straddle(user, n, ttl).await?;
                observe.push(user);
            }
            Command::Redeliver { back } => {
                let Some(i) = self.deliveries.len().checked_sub(back + 1) else {
                    return Ok(());
                };
                let (id, body, event) = self.deliveries[i].clone();
                observe.extend(self.subject(&event));
                self.exec(Op::Stripe(id, event), Call::Stripe(body), fault)
                    .await?;
            }
            Command::Stripe(mut pay) => {
                match &mut pay {
                    // `early-refunds` left out: no refund before its purchase.
                    Pay::Refund { purchase, .. }
                        if left_out("early-refunds") && !self.model.paid(*purchase) =>
                    {
                        return Ok(());
                    }
                    // `ties` left out: each subscription event a second after the last;
                    // `addon`: no add-on item.
                    Pay::Sub { skew, addon, .. } => {
                        *addon &= !left_out("addon");
                        if left_out("ties") {
                            *skew = 0;
                            self.model.now += 1;
                            let now = Utc.timestamp_opt(self.model.now, 0).unwrap();
                            self.app.clock.set(now);
                        }
                    }
                    _ => {}
                }
                let (id, body, event) =
                    stripe::delivery(&self.purchases, self.step, self.model.now, pay);
                observe.extend(self.subject(&event));
                self.deliveries
                    .push((id.clone(), body.clone(), event.clone()));
                self.exec(Op::Stripe(id, event), Call::Stripe(body), fault)
                    .await?;
            }
            Command::Balance { user } => {
                let call = ApiCall::new("GET", "/credits/balance").user(&name(user));
                self.exec(Op::Balance(user), Call::Api(call), fault).await?;
            }
            Command::Deduct {
                user,
                key,
                amount,
                reason,
            } => {
                self.model.touch(user);
                let a = &self.model.users[user];
                let n = amount.resolve(a.monthly, a.monthly + a.purchased);
                let body = match reason {
                    true => json!({"amount": n, "reason": "model"}),
                    false => json!({"amount": n}),
                };
                let key = format!("k{key}");
                let call = keyed(
                    "POST",
                    "/credits/deduct",
                    &name(user),
                    &key,
                    &body.to_string(),
                );
                self.exec(Op::Deduct(user, key, n, reason), Call::Api(call), fault)
                    .await?;
                observe.push(user);
            }
            Command::Hold {
                user,
                key,
                amount,
                ttl,
            } => {
                self.model.touch(user);
                let a = &self.model.users[user];
                let n = amount.resolve(a.monthly, a.monthly + a.purchased);
                self.hold(user, &format!("k{key}"), n, ttl, fault).await?;
                observe.push(user);
            }
            Command::Commit { user, back, amount } => {
                self.model.touch(user);
                let (id, hold) = self.target(user, back);
                let held = hold
                    .and_then(|n| self.model.holds.get(&n))
                    .map_or(1, |h| h.monthly + h.purchased);
                let n = amount.map(|p| p.resolve(held));
                let body = n.map_or(String::new(), |n| json!({"amount": n}).to_string());
                let call = on_hold("POST", &name(user), &id, "/commit", &body);
                self.exec(Op::Close(user, hold, n, false), Call::Api(call), fault)
                    .await?;
                observe.push(user);
            }
            Command::Release { user, back } => {
                let (id, hold) = self.target(user, back);
                let call = on_hold("DELETE", &name(user), &id, "", "");
                self.exec(Op::Close(user, hold, None, true), Call::Api(call), fault)
                    .await?;
                observe.push(user);
            }
        }
        self.limits()?;
        observe.sort();
        observe.dedup();
        for u in observe {
            self.observe(u).await?;
        }
        self.limits()
    }

    /// The `back`-th newest hold of the history (any user's): its id, and which of `user`'s
    /// holds that id names (ids count per account, so another user's may name one of theirs).
    fn target(&self, user: usize, back: usize) -> (String, Option<usize>) {
        let n = self
            .opened
            .len()
            .checked_sub(back + 1)
            .map(|i| self.opened[i]);
        let id = self.hold_id(n);
        let mine = self
            .holds
            .iter()
            .find(|(m, i)| **i == id && self.model.owner(**m) == Some(user));
        (id, mine.map(|(m, _)| *m))
    }

    fn hold_id(&self, hold: Option<usize>) -> String {
        hold.and_then(|n| self.holds.get(&n).cloned())
            .unwrap_or_else(|| "h_999999999999".into())
    }

    async fn hold(
        &mut self,
        user: usize,
        key: &str,
        n: i64,
        ttl: Option<i64>,
        fault: Option<Fault>,
    ) -> Result<(), String> {
        let body = match ttl {
            Some(ttl) => json!({"amount": n, "ttl_seconds": ttl}),
            None => json!({"amount": n}),
        };
        let call = keyed(
            "POST",
            "/credits/holds",
            &name(user),
            key,
            &body.to_string(),
        );
        self.exec(Op::Hold(user, key.into(), n, ttl), Call::Api(call), fault)
            .await
    }

    /// Holds that each take the last monthly credit and one purchased: a long "pump" hold
    /// takes all but one monthly credit first, and is released after.
    async fn straddle(&mut self, user: usize, n: usize, ttl: i64) -> Result<(), String> {
        for i in 0..n {
            self.model.touch(user);
            let a = &self.model.users[user];
            let (monthly, purchased) = (a.monthly, a.purchased);
            if monthly == 0 || purchased == 0 {
                break;
            }
            if monthly > 1 {
                self.hold(
                    user,
                    &format!("pump-{}-{i}", self.step),
                    monthly - 1,
                    Some(86_400),
                    None,
                )
                .await?;
            }
            self.hold(
                user,
                &format!("straddle-{}-{i}", self.step),
                2,
                Some(ttl),
                None,
            )
            .await?;
            if monthly > 1 {
                let pump = self.opened.len().checked_sub(2).map(|i| self.opened[i]);
                let call = on_hold("DELETE", &name(user), &self.hold_id(pump), "", "");
                self.exec(Op::Close(user, pump, None, true), Call::Api(call), None)
                    .await?;
            }
        }
        Ok(())
    }

    /// The user whose account an event concerns.
    fn subject(&self, event: &Event) -> Option<usize> {
        match *event {
            Event::Link { user, .. } => Some(user),
            Event::Sub { sub, .. } => Some(sub % 2),
            Event::Checkout { purchase, .. } | Event::Refund { purchase, .. } => {
                Some(self.purchases[purchase].user)
            }
        }
    }

    async fn send(&self, call: &Call) -> Got {
        let response = match call {
            Call::Api(c) => invoke(&self.app, c).await,
            Call::Stripe(body) => {
                let signature = webhook::sign(SECRET, self.model.now, body);
                let c = ApiCall {
                    route_key: "$default".into(),
                    ..ApiCall::new("POST", "/")
                }
                .header("content-type", "application/json")
                .header("stripe-signature", &signature)
                .body(body.clone());
                webhook::handle(&self.app, &self.hook, c.request()).await
            }
        };
        let header = |n: &str| {
            response
                .headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (replayed, retry_after) = (
            header("idempotent-replayed").is_some(),
            header("retry-after"),
        );
        let (status, json) = credits_testkit::response_json(response);
        Got {
            status,
            replayed,
            retry_after,
            json,
        }
    }

    /// One call, with its fault if any, and the caller's retry after a fault; the model
    /// follows, and where a fault leaves it open whether the store applied the call, the
    /// retry's answer tells which.
    async fn exec(&mut self, op: Op, call: Call, fault: Option<Fault>) -> Result<(), String> {
        let env = self.env;
        let proxy = &env.proxy;
        let first = match fault {
            None => {
                let got = self.send(&call).await;
                let exp = op.apply(&mut self.model);
                return self.accept(&exp, &got, &op);
            }
            Some(Fault::LostResponse) => {
                for _ in 0..credits::config::STORE_ATTEMPTS {
                    proxy.plan("TransactWriteItems", ProxyFault::DropResponse);
                }
                let got = self.send(&call).await;
                proxy.clear();
                got
            }
            Some(Fault::Outage) => {
                proxy.standing(ProxyFault::Reset);
                let got = self.send(&call).await;
                proxy.standing(ProxyFault::Pass);
                got
            }
        };
        let mut applied = self.model.clone();
        let exp = op.apply(&mut applied);
        // A call that needed no write (or no store at all) answers as usual.
        if first.status != 503 {
            self.model = applied;
            return self.accept(&exp, &first, &op);
        }
        self.limits()?;
        check::answer(
            &Expect {
                status: 503,
                code: Some("service_unavailable"),
                ..Expect::default()
            },
            &first,
            &self.holds,
        )
        .map_or(Ok(()), |e| Err(format!("under a store fault: {e}")))?;
        let retry = self.send(&call).await;
        let mut candidates = vec![self.model.clone()];
        if fault == Some(Fault::LostResponse) {
            candidates.insert(0, applied);
        }
        let mut why = Vec::new();
        for mut model in candidates {
            let exp = op.apply(&mut model);
            match check::answer(&exp, &retry, &self.holds) {
                None => {
                    self.model = model;
                    return self.accept(&exp, &retry, &op);
                }
                Some(e) => why.push(format!("{e} (expected {exp:?})")),
            }
        }
        Err(format!(
            "the retry after {fault:?} answered {} {}: {}",
            retry.status,
            retry.json,
            why.join(" / or: ")
        ))
    }

    fn accept(&mut self, exp: &Expect, got: &Got, op: &Op) -> Result<(), String> {
        // A write DynamoDB refuses explains the answer: say so first.
        self.limits()?;
        if let Some(wrong) = check::answer(exp, got, &self.holds) {
            let server = if got.status >= 500 {
                "a 5xx without a fault: "
            } else {
                ""
            };
            return Err(format!(
                "{server}{wrong}\n    op {op:?}\n    got {} {}",
                got.status, got.json
            ));
        }
        if let (Some(n), Some(id)) = (exp.hold, got.json["hold_id"].as_str())
            && !self.holds.contains_key(&n)
        {
            self.holds.insert(n, id.to_owned());
            self.opened.push(n);
        }
        Ok(())
    }
}
