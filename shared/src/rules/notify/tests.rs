use chrono::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::plan::Package;
use crate::rules::{self, Change};

fn at(d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, d, 9, 30, 0).unwrap()
}

fn alice() -> UserId {
    UserId::parse("alice").unwrap()
}

fn decided(change: &Change, cause: Option<&str>) -> Vec<Event> {
    let what = Committed {
        change: Some(change),
        cause,
        rejected: None,
        at: at(2),
    };
    events(what, DEFAULT_LOW_BALANCE_PERCENT, "w1")
}

fn types(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.detail_type.as_str()).collect()
}

/// A Pro Monthly account (100 credits this month, threshold 20) with `balance` left.
fn pro(balance: Credits) -> Account {
    let opened = rules::touch(None, &alice(), at(1)).account;
    let mut a =
        rules::change_plan(Some(&opened), &alice(), Plan::ProMonthly, "evt_up", at(1)).account;
    a.monthly = balance;
    a
}

fn spend(a: &Account, n: Credits) -> Change {
    rules::deduct(Some(a), &alice(), n, "idem:k", None, at(2))
        .unwrap()
        .0
}

#[test]
fn a_deduct_that_crosses_the_threshold_is_low_once() {
    let change = spend(&pro(30), 10);
    let events = decided(&change, Some("idem:k"));
    assert_eq!(types(&events), [LOW_BALANCE]);
    let d = &events[0].detail;
    assert_eq!(d["event_id"], "w1.0");
    assert_eq!(d["user_id"], "alice");
    assert_eq!(d["threshold"], 20);
    assert_eq!(d["balance"]["balance"], 20);
    assert_eq!(d["balance"]["monthly"]["allowance"], 100);
    assert_eq!(d["entries"], json!([change.entries[0].id().to_string()]));
    // Already low: the next deduct is not a new crossing.
    assert!(decided(&spend(&change.account, 1), None).is_empty());
    // Above it after the deduct: nothing.
    assert!(decided(&spend(&pro(30), 9), None).is_empty());
}

#[test]
fn reaching_zero_is_depleted_and_low_when_it_crosses_both() {
    assert_eq!(
        types(&decided(&spend(&pro(30), 30), None)),
        [LOW_BALANCE, DEPLETED]
    );
    assert_eq!(types(&decided(&spend(&pro(5), 5), None)), [DEPLETED]);
}

#[test]
fn a_reset_grants_and_a_deduct_after_it_in_the_same_change_can_cross_again() {
    let a = pro(3);
    let december = Utc.with_ymd_and_hms(2026, 12, 2, 0, 0, 0).unwrap();
    let reset = rules::touch(Some(&a), &alice(), december);
    let events = decided(&reset, None);
    assert_eq!(types(&events), [GRANTED]);
    assert_eq!(events[0].detail["reason"], "reset");
    assert_eq!(events[0].detail["amount"], 100);
    // Expire then grant then a deduct to 15: low, although it started at 3.
    let spent = rules::deduct(Some(&a), &alice(), 85, "idem:k", None, december)
        .unwrap()
        .0;
    assert_eq!(types(&decided(&spent, None)), [GRANTED, LOW_BALANCE]);
}

#[test]
fn plan_changes_name_old_new_and_cause_and_an_upgrade_grants() {
    let free = rules::touch(None, &alice(), at(1)).account;
    let up = rules::change_plan(Some(&free), &alice(), Plan::ProMonthly, "evt_1", at(1));
    let events = decided(&up, Some("evt_1"));
    assert_eq!(types(&events), [PLAN_CHANGED, GRANTED]);
    assert_eq!(events[0].detail["old_plan"], "free");
    assert_eq!(events[0].detail["new_plan"], "pro_monthly");
    assert_eq!(events[0].detail["cause"], "evt_1");
    assert_eq!(events[1].detail["reason"], "upgrade");
    assert_eq!(events[1].detail["amount"], 95);
    // A downgrade caps the monthly credits: a plan change, no grant; 30 of Free's 5 -> 5.
    let down = rules::change_plan(Some(&pro(30)), &alice(), Plan::Free, "evt_2", at(2));
    assert_eq!(types(&decided(&down, Some("evt_2"))), [PLAN_CHANGED]);
}

#[test]
fn a_purchase_and_an_adjustment_are_grants() {
    let bought = rules::purchase(Some(&pro(50)), &alice(), Package::Basic, "evt_p", at(2));
    let events = decided(&bought, Some("evt_p"));
    assert_eq!(types(&events), [GRANTED]);
    assert_eq!(events[0].detail["reason"], "purchase");
    assert_eq!(events[0].detail["bucket"], "purchased");
    let mut adjusted = spend(&pro(50), 1);
    adjusted.entries[0].kind = EntryKind::Adjust;
    adjusted.entries[0].amount = 7;
    adjusted.entries[0].balance_after = 57;
    assert_eq!(decided(&adjusted, None)[0].detail["reason"], "adjustment");
}

#[test]
fn opening_an_account_or_touching_it_publishes_nothing() {
    let opened = rules::touch(None, &alice(), at(1));
    assert!(decided(&opened, None).is_empty());
    assert!(decided(&rules::touch(Some(&opened.account), &alice(), at(2)), None).is_empty());
}

#[test]
fn a_rejected_purchase_is_one_event_even_without_an_account_change() {
    let rejected = Rejected {
        user_id: alice(),
        session: "cs_1".into(),
        price: "price_credits_100".into(),
        product: "basic".into(),
        amount: 1000,
        payment_intent: Some("pi_1".into()),
        stripe_event_id: "evt_9".into(),
    };
    let what = Committed {
        change: None,
        cause: Some("evt_9"),
        rejected: Some(&rejected),
        at: at(2),
    };
    let events = events(what, 20, "w2");
    assert_eq!(types(&events), [PURCHASE_REJECTED]);
    assert_eq!(events[0].detail["purchase"]["session"], "cs_1");
    assert_eq!(events[0].detail["user_id"], "alice");
    assert_eq!(events[0].id(), Some("w2.0"));
}

#[derive(Debug, Clone)]
enum Op {
    Deduct(Credits),
    Plan(Plan),
    Buy,
    Days(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1..=60i64).prop_map(Op::Deduct),
        1 => prop::sample::select(Plan::ALL.to_vec()).prop_map(Op::Plan),
        1 => Just(Op::Buy),
        1 => (1..=40u32).prop_map(Op::Days),
    ]
}

proptest! {
    /// Over random histories: at most MAX_EVENTS per change, unique ids; a low-balance event
    /// exactly when the balance ends at or below the threshold having been above it before
    /// the change (within a period, where balances only move one way per entry kind); a
    /// depleted one only at 0; a plan change exactly when the plan differs.
    #[test]
    fn events_follow_the_balance_and_the_plan(ops in prop::collection::vec(op(), 1..40), percent in 0..=100u8) {
        let mut t = at(1);
        let mut account: Option<Account> = None;
        for (i, op) in ops.iter().enumerate() {
            let current = account.as_ref();
            let change = match op {
                Op::Deduct(n) => rules::deduct(current, &alice(), *n, "k", None, t).map_or_else(|e| *e.touched, |(c, _)| c),
                Op::Plan(p) => rules::change_plan(current, &alice(), *p, "evt", t),
                Op::Buy => rules::purchase(current, &alice(), Package::Basic, "evt", t),
                Op::Days(d) => { t += chrono::Duration::days(i64::from(*d)); rules::touch(current, &alice(), t) }
            };
            if let Some(a) = current {
                prop_assert_eq!(change.before, Before::of(a));
            }
            let what = Committed { change: Some(&change), cause: Some("c"), rejected: None, at: t };
            let id = format!("w{i}");
            let events = events(what, percent, &id);
            prop_assert!(events.len() <= MAX_EVENTS);
            let ids: std::collections::BTreeSet<_> = events.iter().filter_map(Event::id).collect();
            prop_assert_eq!(ids.len(), events.len());
            let prefix = format!("{id}.");
            prop_assert!(ids.iter().all(|e| e.starts_with(&prefix)));
            let count = |t: &str| events.iter().filter(|e| e.detail_type == t).count();
            let after = change.account.balance();
            let low = threshold(change.account.plan, percent);
            if count(LOW_BALANCE) == 1 {
                prop_assert!(after <= low);
            }
            if change.before.balance > low && after <= low {
                prop_assert_eq!(count(LOW_BALANCE), 1, "{:?}", change);
            }
            prop_assert!(count(LOW_BALANCE) <= 1 && count(DEPLETED) <= 1);
            if count(DEPLETED) == 1 {
                prop_assert_eq!(after, 0);
            }
            if change.before.balance > 0 && after == 0 {
                prop_assert_eq!(count(DEPLETED), 1);
            }
            prop_assert_eq!(count(PLAN_CHANGED) == 1, change.before.plan != change.account.plan);
            if change.entries.is_empty() && change.before.plan == change.account.plan {
                prop_assert!(events.is_empty());
            }
            for e in &events {
                prop_assert_eq!(&e.detail["balance"]["balance"], &json!(after));
            }
            account = Some(change.account);
        }
    }
}
