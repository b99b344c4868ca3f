//! Random histories: what users, Stripe, operators, the clock and the store do, in any order.
//! Amounts and holds are named relative to the state they meet ("all of the balance", "the
//! newest hold"), so a history still means something after shrinking removed steps.

use proptest::prelude::*;

use crate::spec::{Price, Status, period, period_start};

#[derive(Clone, Debug)]
pub struct History {
    /// Unix seconds, in 2020-2039: before and after the day the test runs, so that anything
    /// reading the machine's clock instead of the App's is found.
    pub start: i64,
    pub purchases: Vec<Purchase>,
    pub steps: Vec<Step>,
}

/// A payment a user may make (and Stripe may refund) during the history.
#[derive(Clone, Copy, Debug)]
pub struct Purchase {
    pub user: usize,
    pub price: Price,
    pub flow: Flow,
    /// Cents.
    pub amount: i64,
    /// The session names the user (`client_reference_id`, `metadata.user_id`), else only the
    /// customer.
    pub named: bool,
}

/// How the checkout gets paid: at once, with nothing to pay (a 100% coupon), or later
/// (`payment_status: unpaid`, then `checkout.session.async_payment_succeeded`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Paid,
    NothingToPay,
    Async,
}

#[derive(Clone, Debug)]
pub struct Step {
    pub fault: Option<Fault>,
    pub cmd: Command,
}

/// A store fault around one call; the caller (or Stripe) then retries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Every attempt at the next transaction is applied but its response lost.
    LostResponse,
    /// The store cannot be reached at all.
    Outage,
}

#[derive(Clone, Debug)]
pub enum Command {
    Tick(Tick),
    Balance {
        user: usize,
    },
    Deduct {
        user: usize,
        key: u8,
        amount: Amount,
        reason: bool,
    },
    Hold {
        user: usize,
        key: u8,
        amount: Amount,
        ttl: Option<i64>,
    },
    /// `n` holds of `amount` with one TTL, so that they expire together.
    Holds {
        user: usize,
        n: usize,
        amount: i64,
        ttl: i64,
    },
    /// Up to `n` holds that each draw from both buckets.
    Straddle {
        user: usize,
        n: usize,
        ttl: i64,
    },
    /// On the `back`-th newest hold of the history (maybe another user's).
    Commit {
        user: usize,
        back: usize,
        amount: Option<Part>,
    },
    Release {
        user: usize,
        back: usize,
    },
    Stripe(Pay),
    /// Stripe delivers the `back`-th newest event again.
    Redeliver {
        back: usize,
    },
    /// The operator adds the unconfigured price to the price map.
    ConfigurePrice,
    Flags {
        v2: bool,
        purchases: bool,
    },
    Migrate,
    Rollback,
}

impl Command {
    /// The command's family, as `MODEL_LEAVE_OUT` names it.
    pub fn family(&self) -> &'static str {
        match self {
            Command::Tick(_) => "tick",
            Command::Balance { .. } => "balance",
            Command::Deduct { .. } => "deduct",
            Command::Hold { .. } => "hold",
            Command::Holds { .. } => "holds",
            Command::Straddle { .. } => "straddle",
            Command::Commit { .. } => "commit",
            Command::Release { .. } => "release",
            Command::Stripe(Pay::Link { .. }) => "link",
            Command::Stripe(Pay::Sub { .. }) => "sub",
            Command::Stripe(Pay::Checkout { .. }) => "checkout",
            Command::Stripe(Pay::Refund { .. }) => "refund",
            Command::Redeliver { .. } => "redeliver",
            Command::ConfigurePrice => "price",
            Command::Flags { .. } => "flags",
            Command::Migrate => "migrate",
            Command::Rollback => "rollback",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Tick {
    Secs(i64),
    Days(i64),
    /// To `before` seconds before the next month starts.
    MonthEnd {
        before: i64,
    },
    /// To `after` seconds into the next month.
    MonthStart {
        after: i64,
    },
    Midnight,
}

impl Tick {
    pub fn after(self, now: i64) -> i64 {
        let next = period_start(period(now) + 1);
        match self {
            Tick::Secs(s) => now + s,
            Tick::Days(d) => now + d * 86_400,
            Tick::MonthEnd { before } if next - before > now => next - before,
            Tick::MonthEnd { before } => period_start(period(now) + 2) - before,
            Tick::MonthStart { after } => next + after,
            Tick::Midnight => (now.div_euclid(86_400) + 1) * 86_400,
        }
    }
}

/// An amount to spend or hold, resolved against the balance it meets.
#[derive(Clone, Copy, Debug)]
pub enum Amount {
    Fixed(i64),
    All,
    AllBut(i64),
    Over(i64),
    Monthly,
}

impl Amount {
    pub fn resolve(self, monthly: i64, balance: i64) -> i64 {
        let n = match self {
            Amount::Fixed(n) => n,
            Amount::All => balance,
            Amount::AllBut(k) => balance - k,
            Amount::Over(k) => balance + k,
            Amount::Monthly => monthly,
        };
        n.clamp(1, 1_000_000)
    }
}

/// How much of a hold to commit, resolved against what it holds.
#[derive(Clone, Copy, Debug)]
pub enum Part {
    Zero,
    Fixed(i64),
    Half,
    Over(i64),
}

impl Part {
    pub fn resolve(self, held: i64) -> i64 {
        match self {
            Part::Zero => 0,
            Part::Fixed(n) => n,
            Part::Half => held / 2,
            Part::Over(k) => held + k,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Pay {
    /// A subscription checkout: links the user's customer.
    Link { user: usize },
    /// `customer.subscription.*` of subscription `sub` (user `sub % 2`); `named`: it carries
    /// `metadata.user_id`, else only the customer; `addon`: an add-on item comes first.
    Sub {
        sub: usize,
        kind: SubKind,
        status: Status,
        yearly: bool,
        named: bool,
        addon: bool,
        skew: i64,
    },
    /// The purchase's checkout (`succeeded`: its async payment succeeding).
    Checkout { purchase: usize, succeeded: bool },
    /// `charge.refunded`, `percent` of the purchase refunded so far.
    Refund { purchase: usize, percent: i64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubKind {
    Created,
    Updated,
    Deleted,
}

fn user() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(0usize), 1 => Just(1usize)]
}

fn amount() -> impl Strategy<Value = Amount> {
    prop_oneof![
        6 => (1i64..8).prop_map(Amount::Fixed),
        1 => (8i64..120).prop_map(Amount::Fixed),
        2 => Just(Amount::All),
        1 => (1i64..3).prop_map(Amount::AllBut),
        1 => (1i64..6).prop_map(Amount::Over),
        1 => Just(Amount::Monthly),
    ]
}

fn tick() -> impl Strategy<Value = Tick> {
    prop_oneof![
        4 => (1i64..120).prop_map(Tick::Secs),
        2 => (120i64..20_000).prop_map(Tick::Secs),
        2 => (1i64..40).prop_map(Tick::Days),
        2 => prop_oneof![Just(1i64), Just(2), Just(86_400), Just(60)].prop_map(|before| Tick::MonthEnd { before }),
        2 => (0i64..3).prop_map(|after| Tick::MonthStart { after }),
        1 => Just(Tick::Midnight),
    ]
}

fn ttl() -> impl Strategy<Value = i64> {
    prop_oneof![3 => 1i64..120, 1 => 120i64..5_000, 1 => Just(86_400i64)]
}

fn pay() -> impl Strategy<Value = Pay> {
    let status = prop::sample::select(Status::ALL.to_vec());
    let kind = prop_oneof![
        Just(SubKind::Created),
        Just(SubKind::Updated),
        Just(SubKind::Deleted)
    ];
    let skew = prop_oneof![4 => Just(0i64), 1 => 1i64..3, 1 => Just(40i64)];
    prop_oneof![
        2 => user().prop_map(|user| Pay::Link { user }),
        8 => (0usize..3, kind, status, any::<bool>(), prop::bool::weighted(0.8), prop::bool::weighted(0.2), skew)
            .prop_map(|(sub, kind, status, yearly, named, addon, skew)| Pay::Sub { sub, kind, status, yearly, named, addon, skew }),
        6 => (0usize..6, prop::bool::weighted(0.3))
            .prop_map(|(purchase, succeeded)| Pay::Checkout { purchase, succeeded }),
        4 => (0usize..6, prop_oneof![Just(100i64), Just(50), Just(25), Just(1), Just(75)])
            .prop_map(|(purchase, percent)| Pay::Refund { purchase, percent }),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    let back = prop_oneof![4 => Just(0usize), 2 => 1usize..4, 1 => Just(40usize)];
    let part = prop::option::weighted(
        0.6,
        prop_oneof![
            Just(Part::Zero),
            (1i64..6).prop_map(Part::Fixed),
            Just(Part::Half),
            (1i64..3).prop_map(Part::Over)
        ],
    );
    let many = prop_oneof![3 => 2usize..6, 1 => 20usize..36, 1 => Just(50usize), 1 => 98usize..102];
    prop_oneof![
        12 => tick().prop_map(Command::Tick),
        3 => user().prop_map(|user| Command::Balance { user }),
        10 => (user(), 0u8..6, amount(), any::<bool>())
            .prop_map(|(user, key, amount, reason)| Command::Deduct { user, key, amount, reason }),
        10 => (user(), 0u8..6, amount(), prop::option::weighted(0.8, ttl()))
            .prop_map(|(user, key, amount, ttl)| Command::Hold { user, key, amount, ttl }),
        2 => (user(), many, 1i64..3, ttl()).prop_map(|(user, n, amount, ttl)| Command::Holds { user, n, amount, ttl }),
        1 => (user(), prop_oneof![2usize..5, 30usize..40], 1i64..100)
            .prop_map(|(user, n, ttl)| Command::Straddle { user, n, ttl }),
        6 => (user(), back.clone(), part).prop_map(|(user, back, amount)| Command::Commit { user, back, amount }),
        4 => (user(), back).prop_map(|(user, back)| Command::Release { user, back }),
        20 => pay().prop_map(Command::Stripe),
        4 => (0usize..4).prop_map(|back| Command::Redeliver { back }),
        1 => Just(Command::ConfigurePrice),
        2 => (prop::bool::weighted(0.4), prop::bool::weighted(0.7)).prop_map(|(v2, purchases)| Command::Flags { v2, purchases }),
        1 => Just(Command::Migrate),
        1 => Just(Command::Rollback),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let fault = prop::option::weighted(
        0.06,
        prop_oneof![Just(Fault::LostResponse), Just(Fault::Outage)],
    );
    (fault, command()).prop_map(|(fault, cmd)| {
        // Faults are injected around calls of the service only.
        let service = !matches!(
            cmd,
            Command::Tick(_)
                | Command::ConfigurePrice
                | Command::Flags { .. }
                | Command::Migrate
                | Command::Rollback
                | Command::Holds { .. }
                | Command::Straddle { .. }
        );
        Step {
            fault: fault.filter(|_| service),
            cmd,
        }
    })
}

fn purchase() -> impl Strategy<Value = Purchase> {
    let price = prop_oneof![
        2 => Just(Price::Lifetime),
        4 => prop_oneof![Just(100i64), Just(200), Just(500), Just(1000)].prop_map(Price::Package),
        1 => Just(Price::Unconfigured),
    ];
    let flow =
        prop_oneof![6 => Just(Flow::Paid), 1 => Just(Flow::NothingToPay), 2 => Just(Flow::Async)];
    let amount = prop_oneof![Just(1000i64), Just(999), Just(4900), Just(3)];
    let named = prop::bool::weighted(0.8);
    (user(), price, flow, amount, named).prop_map(|(user, price, flow, amount, named)| Purchase {
        user,
        price,
        flow,
        named,
        amount,
    })
}

/// A start time in 2020-2039, often in the last days of a month.
fn start() -> impl Strategy<Value = i64> {
    let day = prop_oneof![1 => 0i64..31, 2 => 26i64..31];
    (0i64..240, day, 0i64..86_400).prop_map(|(m, day, secs)| {
        let p = 2020 * 12 + m;
        let days = (period_start(p + 1) - period_start(p)) / 86_400;
        period_start(p) + day.min(days - 1) * 86_400 + secs
    })
}

pub fn history(max_steps: usize) -> impl Strategy<Value = History> {
    (
        start(),
        prop::collection::vec(purchase(), 6),
        prop::collection::vec(step(), 1..max_steps),
    )
        .prop_map(|(start, purchases, steps)| History {
            start,
            purchases,
            steps,
        })
}
