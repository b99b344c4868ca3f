//! The reference model: the product as the product's rules (docs/rules.md) say it must behave, in plain
//! integers and maps. Written from the spec alone: it never calls `credits::rules`, the service
//! or the store, so that a misunderstanding shared with the code cannot hide a defect.
//!
//! Time is lazy-equivalent: [`Model::settle`] applies, in time order, every hold expiry and
//! month start up to now, which is what the product's reset-on-touch must amount to.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, TimeZone, Utc};

mod stripe;
use serde_json::{Value, json};
use stripe::Payment;
pub use stripe::{Event, Price, Status};

pub const USERS: usize = 2;
pub const MAX_HOLDS: usize = 100;
/// How long an `Idempotency-Key` is remembered.
pub const KEY_TTL: i64 = 86_400;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    Free,
    ProMonthly,
    ProYearly,
    Lifetime,
}

impl Plan {
    pub fn credits(self) -> i64 {
        [5, 100, 150, 500][self as usize]
    }
    pub fn id(self) -> &'static str {
        ["free", "pro_monthly", "pro_yearly", "lifetime"][self as usize]
    }
}

/// A period is a month, counted from year 0.
pub fn period(t: i64) -> i64 {
    let d = Utc.timestamp_opt(t, 0).unwrap();
    i64::from(d.year()) * 12 + i64::from(d.month0())
}
pub fn period_start(p: i64) -> i64 {
    let (y, m) = (p.div_euclid(12) as i32, p.rem_euclid(12) as u32 + 1);
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).unwrap().timestamp()
}
fn period_name(p: i64) -> String {
    format!("{:04}-{:02}", p.div_euclid(12), p.rem_euclid(12) + 1)
}
pub fn rfc3339(t: i64) -> String {
    Utc.timestamp_opt(t, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What the product must answer: status, error code, fields by JSON pointer (`Null`: absent),
/// whether it is a replay, and the hold it names (opened, closed).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Expect {
    pub status: u16,
    pub code: Option<&'static str>,
    pub fields: Vec<(&'static str, Value)>,
    pub replayed: bool,
    pub hold: Option<usize>,
}

fn error(status: u16, code: &'static str) -> Expect {
    Expect {
        status,
        code: Some(code),
        ..Expect::default()
    }
}
fn outcome(o: &str) -> Expect {
    Expect {
        status: 200,
        fields: vec![("/outcome", json!(o))],
        ..Expect::default()
    }
}

/// A ledger entry's cause, as far as the model follows it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    Key(String),
    Hold(usize),
    Stripe(String),
}

/// Where a subscription's event stands: Stripe's `created` second, then (within a second) the
/// subscription's life, then the plan it gives.
type Order = (i64, u8, i64);

#[derive(Clone, Debug, Default)]
pub struct User {
    pub open: bool,
    pub plan: Option<Plan>,
    pub period: i64,
    pub monthly: i64,
    pub purchased: i64,
    /// Subscription -> (order it was applied at, plan it gives).
    subs: BTreeMap<usize, (Order, Option<Plan>)>,
}

#[derive(Clone, Debug)]
pub struct Hold {
    pub user: usize,
    pub monthly: i64,
    pub purchased: i64,
    period: i64,
    expires: i64,
}

#[derive(Clone, Debug)]
pub struct Closed {
    pub user: usize,
    pub outcome: &'static str,
    pub committed: i64,
}

#[derive(Clone, Debug, Default)]
pub struct Model {
    pub now: i64,
    pub v2: bool,
    pub purchases_on: bool,
    pub users: [User; USERS],
    pub holds: BTreeMap<usize, Hold>,
    pub closed: BTreeMap<usize, Closed>,
    next_hold: usize,
    /// (user, key) -> (request, answer, expiry).
    keys: BTreeMap<(usize, String), (String, Expect, i64)>,
    pub causes: BTreeMap<(usize, Cause), i64>,
    recorded: BTreeSet<String>,
    links: BTreeMap<usize, usize>,
    payments: BTreeMap<usize, Payment>,
    parked_refunds: BTreeMap<usize, (String, i64, i64)>,
    pub price_configured: bool,
    backup_purchases: Option<bool>,
}

impl Model {
    pub fn new(now: i64) -> Self {
        Self {
            now,
            purchases_on: true,
            ..Self::default()
        }
    }

    fn cause(&mut self, u: usize, c: Cause, delta: i64) {
        *self.causes.entry((u, c)).or_default() += delta;
    }

    /// Whose hold `n` is (open or closed).
    pub fn owner(&self, n: usize) -> Option<usize> {
        let closed = self.closed.get(&n).map(|c| c.user);
        self.holds.get(&n).map(|h| h.user).or(closed)
    }

    pub fn held(&self, u: usize) -> i64 {
        self.holds
            .values()
            .filter(|h| h.user == u)
            .map(|h| h.monthly + h.purchased)
            .sum()
    }

    /// Opens the account (Free, this month's 5) and applies every expiry and month start due.
    pub fn touch(&mut self, u: usize) {
        if !self.users[u].open {
            self.users[u] = User {
                open: true,
                plan: Some(Plan::Free),
                period: period(self.now),
                monthly: 5,
                ..User::default()
            };
        }
        self.settle(u);
    }

    fn settle(&mut self, u: usize) {
        let mut due: Vec<(i64, usize)> = self
            .holds
            .iter()
            .filter(|(_, h)| h.user == u && h.expires <= self.now)
            .map(|(n, h)| (h.expires, *n))
            .collect();
        due.sort();
        for (at, n) in due {
            self.roll_to(u, at);
            self.close(n, 0, "expired");
        }
        self.roll_to(u, self.now);
    }

    fn roll_to(&mut self, u: usize, t: i64) {
        let a = &mut self.users[u];
        while a.open && period_start(a.period + 1) <= t {
            a.period += 1;
            a.monthly = a.plan.map_or(0, Plan::credits);
        }
    }

    pub fn view(&self, u: usize) -> Vec<(&'static str, Value)> {
        let a = &self.users[u];
        let plan = a.plan.unwrap_or(Plan::Free);
        vec![
            ("/plan", json!(plan.id())),
            ("/period", json!(period_name(a.period))),
            ("/balance", json!(a.monthly + a.purchased)),
            ("/monthly/allowance", json!(plan.credits())),
            ("/monthly/remaining", json!(a.monthly)),
            (
                "/monthly/resets_at",
                json!(rfc3339(period_start(a.period + 1))),
            ),
            ("/purchased", json!(a.purchased)),
            ("/held", json!(self.held(u))),
            ("/version", json!(if self.v2 { "v2" } else { "v1" })),
        ]
    }

    pub fn balance(&mut self, u: usize) -> Expect {
        self.touch(u);
        Expect {
            status: 200,
            fields: self.view(u),
            ..Expect::default()
        }
    }

    fn insufficient(&self, u: usize, amount: i64) -> Expect {
        let a = &self.users[u];
        let offers = !self.v2 && self.purchases_on;
        let mut e = error(402, "insufficient_credits");
        e.fields = vec![
            ("/balance", json!(a.monthly + a.purchased)),
            ("/required", json!(amount)),
            ("/plan", json!(a.plan.unwrap_or(Plan::Free).id())),
            (
                "/purchase_options/0/id",
                if offers { json!("basic") } else { Value::Null },
            ),
        ];
        e
    }

    /// The answer a live key gives: its first answer again, or a conflict.
    fn replay(&mut self, u: usize, key: &str, request: &str) -> Option<Expect> {
        let (first, answer, expires) = self.keys.get(&(u, key.to_owned()))?;
        if *expires <= self.now {
            return None;
        }
        Some(if first == request {
            Expect {
                replayed: true,
                ..answer.clone()
            }
        } else {
            error(409, "idempotency_conflict")
        })
    }

    /// Monthly credits first, then purchased ones.
    fn take(&mut self, u: usize, amount: i64) -> (i64, i64) {
        let a = &mut self.users[u];
        let m = amount.min(a.monthly);
        a.monthly -= m;
        a.purchased -= amount - m;
        (m, amount - m)
    }

    pub fn deduct(&mut self, u: usize, key: &str, amount: i64, reason: bool) -> Expect {
        self.touch(u);
        let request = format!("deduct {amount} {reason}");
        if let Some(e) = self.replay(u, key, &request) {
            return e;
        }
        if self.users[u].monthly + self.users[u].purchased < amount {
            return self.insufficient(u, amount);
        }
        self.take(u, amount);
        self.cause(u, Cause::Key(key.into()), -amount);
        let mut fields = self.view(u);
        fields.push(("/deducted", json!(amount)));
        let answer = Expect {
            status: 200,
            fields,
            ..Expect::default()
        };
        self.keys.insert(
            (u, key.into()),
            (request, answer.clone(), self.now + KEY_TTL),
        );
        answer
    }

    pub fn hold(&mut self, u: usize, key: &str, amount: i64, ttl: Option<i64>) -> Expect {
        self.touch(u);
        let ttl = ttl.unwrap_or(900);
        let request = format!("hold {amount} {ttl}");
        if let Some(e) = self.replay(u, key, &request) {
            return e;
        }
        if self.users[u].monthly + self.users[u].purchased < amount {
            return self.insufficient(u, amount);
        }
        if self.holds.values().filter(|h| h.user == u).count() >= MAX_HOLDS {
            return error(409, "too_many_holds");
        }
        let (monthly, purchased) = self.take(u, amount);
        let n = self.next_hold;
        self.next_hold += 1;
        let (period, expires) = (self.users[u].period, self.now + ttl);
        self.holds.insert(
            n,
            Hold {
                user: u,
                monthly,
                purchased,
                period,
                expires,
            },
        );
        self.cause(u, Cause::Key(key.into()), 0);
        let mut fields = self.view(u);
        fields.extend([
            ("/amount", json!(amount)),
            ("/expires_at", json!(rfc3339(expires))),
        ]);
        let answer = Expect {
            status: 201,
            fields,
            hold: Some(n),
            ..Expect::default()
        };
        self.keys.insert(
            (u, key.into()),
            (request, answer.clone(), self.now + KEY_TTL),
        );
        answer
    }

    /// Commit `amount` of hold `n` (all when `None`); a release commits 0.
    pub fn close_hold(
        &mut self,
        u: usize,
        n: Option<usize>,
        amount: Option<i64>,
        release: bool,
    ) -> Expect {
        self.touch(u);
        let Some(n) = n else {
            return error(404, "hold_not_found");
        };
        if let Some(c) = self.closed.get(&n).filter(|c| c.user == u) {
            let mut e = error(409, "hold_closed");
            e.fields = vec![
                ("/hold/outcome", json!(c.outcome)),
                ("/hold/committed", json!(c.committed)),
            ];
            return e;
        }
        let Some(h) = self.holds.get(&n).filter(|h| h.user == u) else {
            return error(404, "hold_not_found");
        };
        let commit = if release {
            0
        } else {
            amount.unwrap_or(h.monthly + h.purchased)
        };
        if commit > h.monthly + h.purchased {
            return error(400, "invalid_request");
        }
        let (released, expired) =
            self.close(n, commit, if release { "released" } else { "committed" });
        let mut fields = self.view(u);
        fields.extend([
            ("/deducted", json!(commit)),
            ("/released", json!(released)),
            ("/expired", json!(expired)),
        ]);
        Expect {
            status: 200,
            fields,
            hold: Some(n),
            ..Expect::default()
        }
    }

    /// Spends `commit` of the hold (its monthly part first) and returns the rest; monthly
    /// credits of an ended period expire instead. Returns (released, expired).
    fn close(&mut self, n: usize, commit: i64, outcome: &'static str) -> (i64, i64) {
        let h = self.holds.remove(&n).expect("an open hold");
        let spent_monthly = commit.min(h.monthly);
        let (back_m, back_p) = (
            h.monthly - spent_monthly,
            h.purchased - (commit - spent_monthly),
        );
        let a = &mut self.users[h.user];
        let expired = if h.period == a.period { 0 } else { back_m };
        a.monthly += back_m - expired;
        a.purchased += back_p;
        // A hold that ends by expiry on a later touch may be written as released, its credits
        // expiring with the month's reset instead: only the total is the model's to check.
        if outcome != "expired" {
            self.cause(h.user, Cause::Hold(n), -commit - expired);
        }
        self.closed.insert(
            n,
            Closed {
                user: h.user,
                outcome,
                committed: commit,
            },
        );
        (back_m - expired + back_p, expired)
    }

    pub fn configure_price(&mut self) {
        self.price_configured = true;
    }

    pub fn flags(&mut self, v2: bool, purchases: bool) {
        (self.v2, self.purchases_on) = (v2, purchases);
    }

    /// Migrate v1 -> v2 (a backup first, once): nothing a user owns changes.
    pub fn migrate(&mut self) {
        self.backup_purchases.get_or_insert(self.purchases_on);
        for u in 0..USERS {
            if self.users[u].open {
                self.touch(u);
            }
        }
    }

    /// Back to v1, purchases as the backup recorded them; what Stripe and spending changed
    /// since the backup stays.
    pub fn rollback(&mut self) {
        self.flags(false, self.backup_purchases.unwrap_or(true));
    }
}
