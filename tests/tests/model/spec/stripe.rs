//! The model's Stripe side: subscriptions, purchases, refunds, and how a plan change or a
//! refund meets the credits a user owns (held ones included).

use super::{Cause, Expect, Model, Plan, error, outcome, period_start};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Product {
    Lifetime,
    Package(i64),
}

#[derive(Clone, Debug)]
pub(super) struct Payment {
    user: usize,
    product: Option<Product>, // None: rejected (v2)
    amount: i64,
    refunded: i64,
    revoked: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Incomplete,
    Trialing,
    Active,
    PastDue,
    Unpaid,
    Paused,
    Canceled,
    IncompleteExpired,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Incomplete,
        Status::Trialing,
        Status::Active,
        Status::PastDue,
        Status::Unpaid,
        Status::Paused,
        Status::Canceled,
        Status::IncompleteExpired,
    ];
    pub fn id(self) -> &'static str {
        use Status::*;
        match self {
            Incomplete => "incomplete",
            Trialing => "trialing",
            Active => "active",
            PastDue => "past_due",
            Unpaid => "unpaid",
            Paused => "paused",
            Canceled => "canceled",
            IncompleteExpired => "incomplete_expired",
        }
    }
    /// Within one second, where a status stands in a subscription's life (the tie-break the
    /// `money` branch documents): an event applies only if it stands later than the last one.
    fn rank(self, deleted: bool) -> u8 {
        use Status::*;
        match (self, deleted) {
            (_, true) | (Canceled | IncompleteExpired, _) => 5,
            (Incomplete, _) => 0,
            (Trialing, _) => 1,
            (Active, _) => 2,
            (PastDue, _) => 3,
            (Unpaid | Paused, _) => 4,
        }
    }
}

/// A Stripe event as the model reads it.
#[derive(Clone, Debug)]
pub enum Event {
    Link {
        user: usize,
        customer: usize,
    },
    Sub {
        sub: usize,
        user: Option<usize>,
        customer: usize,
        status: Status,
        plan: Plan,
        deleted: bool,
        created: i64,
    },
    /// A checkout that pays (`paid`: paid or nothing to pay, now or by a later async event).
    Checkout {
        purchase: usize,
        user: Option<usize>,
        customer: usize,
        price: Price,
        amount: i64,
        paid: bool,
    },
    Refund {
        purchase: usize,
        amount: i64,
        refunded: i64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Price {
    Lifetime,
    Package(i64),
    /// A price the deployment's map does not know until an operator adds it (a 500 package).
    Unconfigured,
}

impl Model {
    /// Whether a purchase's payment has been applied (or rejected).
    pub fn paid(&self, purchase: usize) -> bool {
        self.payments.contains_key(&purchase)
    }

    /// Takes `want` credits of a bucket: from the bucket first, then from open holds, newest
    /// first (held credits are owned credits). Returns what it took.
    fn claw(&mut self, u: usize, monthly: bool, want: i64) -> i64 {
        let a = &mut self.users[u];
        let bucket = if monthly {
            &mut a.monthly
        } else {
            &mut a.purchased
        };
        let from_bucket = want.min(*bucket);
        *bucket -= from_bucket;
        let (period, mut left) = (a.period, want - from_bucket);
        for h in self.holds.values_mut().rev().filter(|h| h.user == u) {
            let part = if monthly {
                &mut h.monthly
            } else {
                &mut h.purchased
            };
            if monthly && h.period != period {
                continue;
            }
            let t = left.min(*part);
            *part -= t;
            left -= t;
        }
        want - left
    }

    fn plan_of(&self, u: usize, except: Option<usize>) -> Plan {
        let lifetime = self.payments.iter().any(|(p, pay)| {
            pay.user == u
                && pay.product == Some(Product::Lifetime)
                && pay.refunded < pay.amount
                && Some(*p) != except
        });
        let subs = self.users[u].subs.values().filter_map(|(_, p)| *p);
        subs.chain(lifetime.then_some(Plan::Lifetime))
            .max_by_key(|p| p.credits())
            .unwrap_or(Plan::Free)
    }

    /// Upgrades add the prorated difference (the day of change counted); downgrades cap the
    /// period's monthly credits, held ones included.
    fn change_plan(&mut self, u: usize, to: Plan, cause: &str) {
        self.touch(u);
        let a = &self.users[u];
        let from = a.plan.unwrap_or(Plan::Free);
        if from == to {
            return;
        }
        let delta = if to.credits() > from.credits() {
            let days = (period_start(a.period + 1) - period_start(a.period)) / 86_400;
            let days_left = (period_start(a.period + 1) - self.now + 86_399) / 86_400;
            let extra = (to.credits() - from.credits()) * days_left / days;
            self.users[u].monthly += extra;
            extra
        } else {
            let held: i64 = self
                .holds
                .values()
                .filter(|h| h.user == u && h.period == a.period)
                .map(|h| h.monthly)
                .sum();
            let cut = (a.monthly + held - to.credits()).max(0);
            -self.claw(u, true, cut)
        };
        self.users[u].plan = Some(to);
        self.cause(u, Cause::Stripe(cause.into()), delta);
    }

    pub fn stripe(&mut self, id: &str, event: &Event) -> Expect {
        if self.recorded.contains(id) {
            return outcome("duplicate");
        }
        let who = |m: &Self, user: Option<usize>, customer: usize| {
            user.or_else(|| m.links.get(&customer).copied())
        };
        let e = match *event {
            Event::Link { user, customer } => {
                self.links.insert(customer, user);
                outcome("applied")
            }
            Event::Sub {
                sub,
                user,
                customer,
                status,
                plan,
                deleted,
                created,
            } => {
                let Some(u) = who(self, user, customer) else {
                    return error(503, "service_unavailable");
                };
                self.touch(u);
                let before = self.users[u].subs.get(&sub).cloned();
                let gives = match (deleted, status) {
                    (true, _) => None,
                    (_, Status::Active | Status::Trialing) => Some(plan),
                    (_, Status::PastDue | Status::Incomplete) => before.and_then(|b| b.1),
                    _ => None,
                };
                let order = (
                    created,
                    status.rank(deleted),
                    gives.map_or(0, Plan::credits),
                );
                if before.is_some_and(|b| b.0 >= order) {
                    outcome("stale")
                } else {
                    self.links.insert(customer, u);
                    self.users[u].subs.insert(sub, (order, gives));
                    self.change_plan(u, self.plan_of(u, None), id);
                    outcome("applied")
                }
            }
            Event::Checkout { paid: false, .. } => return outcome("ignored"),
            Event::Checkout {
                purchase,
                user,
                customer,
                price,
                amount,
                paid: true,
            } => {
                let product = match price {
                    Price::Lifetime => Product::Lifetime,
                    Price::Package(n) => Product::Package(n),
                    Price::Unconfigured if self.price_configured => Product::Package(500),
                    Price::Unconfigured => return outcome("parked"),
                };
                let Some(u) = who(self, user, customer) else {
                    return error(503, "service_unavailable");
                };
                if self.payments.contains_key(&purchase) {
                    outcome("ignored")
                } else if matches!(product, Product::Package(_)) && (self.v2 || !self.purchases_on)
                {
                    self.payments.insert(
                        purchase,
                        Payment {
                            user: u,
                            product: None,
                            amount,
                            refunded: 0,
                            revoked: 0,
                        },
                    );
                    outcome("rejected")
                } else {
                    self.touch(u);
                    self.links.insert(customer, u);
                    self.payments.insert(
                        purchase,
                        Payment {
                            user: u,
                            product: Some(product),
                            amount,
                            refunded: 0,
                            revoked: 0,
                        },
                    );
                    if let Product::Package(n) = product {
                        self.users[u].purchased += n;
                        self.cause(u, Cause::Stripe(id.into()), n);
                    }
                    if let Some((refund_id, amount, refunded)) =
                        self.parked_refunds.remove(&purchase)
                    {
                        self.refund(purchase, &refund_id, amount, refunded);
                    }
                    self.change_plan(u, self.plan_of(u, None), id);
                    outcome("applied")
                }
            }
            Event::Refund {
                purchase,
                amount,
                refunded,
            } => {
                if !self.payments.contains_key(&purchase) {
                    let parked = self.parked_refunds.entry(purchase).or_insert((
                        id.into(),
                        amount,
                        refunded,
                    ));
                    if refunded > parked.2 {
                        *parked = (id.into(), amount, refunded);
                    }
                    return outcome("parked");
                }
                outcome(self.refund(purchase, id, amount, refunded))
            }
        };
        self.recorded.insert(id.into());
        e
    }

    /// A refund of `refunded` (cumulative) of `amount`: a package loses
    /// `floor(credits * refunded / amount)` in all, never more than it owns; a Lifetime plan
    /// fully refunded is given up.
    fn refund(&mut self, purchase: usize, id: &str, amount: i64, refunded: i64) -> &'static str {
        let pay = self.payments.get_mut(&purchase).expect("a payment");
        let u = pay.user;
        let before = pay.refunded;
        pay.refunded = pay.refunded.max(refunded);
        let paid = if amount > 0 { amount } else { pay.amount };
        match pay.product {
            None => "ignored",
            // Given up once: a later event of the same full refund (a redelivery after the
            // purchase applied it while parked) changes nothing.
            Some(Product::Lifetime) if pay.refunded >= paid && before < paid => {
                self.change_plan(u, self.plan_of(u, Some(purchase)), id);
                "applied"
            }
            Some(Product::Lifetime) => "ignored",
            Some(Product::Package(credits)) => {
                let owed = credits * pay.refunded.min(paid) / paid;
                let more = owed - pay.revoked;
                pay.revoked = pay.revoked.max(owed);
                if more <= 0 {
                    return "ignored";
                }
                self.touch(u);
                let taken = self.claw(u, false, more);
                self.cause(u, Cause::Stripe(id.into()), -taken);
                "applied"
            }
        }
    }
}
