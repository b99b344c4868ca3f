//! The webhook's arithmetic as tables: events decided on facts, each write applied to the facts
//! as the store would, without I/O.

use chrono::TimeZone;

use super::*;
use crate::flags::Version;
use crate::ledger::EntryKind;
use crate::stripe::records::Payment;

const T: i64 = 1_795_000_000;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 10, 12, 0, 0).unwrap()
}

fn ann() -> UserId {
    UserId::parse("ann").unwrap()
}

fn v1() -> Option<Flags> {
    Some(Flags {
        version: Version::V1,
        enable_purchases: true,
    })
}

fn v2() -> Option<Flags> {
    Some(Flags {
        version: Version::V2,
        enable_purchases: false,
    })
}

fn ev(id: &str, created: i64, command: Command) -> StripeEvent {
    StripeEvent {
        id: id.into(),
        kind: "test".into(),
        created,
        command,
    }
}

fn sub(id: &str, status: &str, prices: &[&str], deleted: bool) -> Command {
    Command::Subscription(Subscription {
        id: id.into(),
        customer: Some("cus_ann".into()),
        user: Some(ann()),
        status: Status::parse(status),
        prices: prices.iter().map(|p| (*p).to_owned()).collect(),
        deleted,
    })
}

fn buy(price: Option<&str>, pi: &str, amount: i64) -> Command {
    Command::Buy(Buy {
        session: format!("cs_{pi}"),
        user: Some(ann()),
        customer: None,
        price: price.map(str::to_owned),
        payment_intent: Some(pi.into()),
        amount,
    })
}

fn refund(pi: &str, amount: i64, amount_refunded: i64) -> Command {
    Command::Refund {
        payment_intent: pi.into(),
        amount,
        amount_refunded,
    }
}

/// What the store holds: the facts every decision reads, per payment.
#[derive(Default)]
struct World {
    account: Option<Account>,
    state: StripeState,
    payments: std::collections::BTreeMap<String, Payment>,
    parked: Vec<String>,
    recorded: Vec<String>,
    flags: Option<Flags>,
}

impl World {
    fn v1() -> Self {
        Self {
            flags: v1(),
            ..Self::default()
        }
    }

    /// Reads what `needs` names, decides, applies the write as the store would.
    fn deliver(&mut self, event: &StripeEvent) -> Result<EventOutcome, Refusal> {
        let prices = PriceMap::default();
        let ctx = StripeContext {
            prices: &prices,
            flags: self.flags,
        };
        if self.recorded.contains(&event.id) {
            return Ok(EventOutcome::Duplicate);
        }
        let needs = needs(event, &ctx);
        let payment = needs
            .payment
            .as_ref()
            .and_then(|k| self.payments.get(k))
            .cloned();
        let user = match &needs.who {
            Who::Nobody => None,
            Who::Named { user, .. } => user.clone(),
            Who::Payer => payment.as_ref().and_then(|p| p.user_id.clone()),
        };
        let facts = Facts {
            account: user.as_ref().and(self.account.clone()),
            state: self.state.clone(),
            user,
            payment,
        };
        let d = decide(event, &facts, &ctx, now())?;
        self.apply(d.write);
        Ok(d.outcome)
    }

    fn apply(&mut self, w: Write) {
        if let Some(e) = w.event {
            self.recorded.push(e.event_id);
        }
        if let Some(change) = w.change {
            self.account = Some(change.account);
            if let Some(s) = w.subscription {
                self.state
                    .subscriptions
                    .retain(|x| x.subscription != s.subscription);
                self.state.subscriptions.push(s);
            }
            if let Some(p) = w.purchase {
                self.state.purchases.retain(|x| x.key != p.key);
                self.state.purchases.push(p);
            }
        }
        if let Some(p) = w.payment {
            assert_eq!(self.payments.get(&p.key), p.read.as_ref(), "as read");
            self.payments.insert(p.key, p.payment);
        }
        if let Some(p) = w.parked {
            self.parked.push(p.event_id);
        }
    }

    fn plan(&self) -> Plan {
        self.account.as_ref().map_or(Plan::Free, |a| a.plan)
    }

    fn buckets(&self) -> (Credits, Credits, Credits) {
        let a = self.account.as_ref().expect("an account");
        (a.monthly, a.purchased, a.held)
    }
}

mod payments;
mod subscriptions;
