//! The model itself, on SPEC's own examples and the reproductions: a model that is
//! wrong would send the test after defects that are not there.

use chrono::{TimeZone, Utc};
use serde_json::json;

use crate::spec::{Event, Model, Plan, Price, Status};

fn at(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> i64 {
    Utc.with_ymd_and_hms(y, m, d, h, min, s)
        .unwrap()
        .timestamp()
}

fn field(e: &crate::spec::Expect, pointer: &str) -> serde_json::Value {
    e.fields
        .iter()
        .find(|(p, _)| *p == pointer)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn sub(status: Status, created: i64) -> Event {
    sub_event(status, created, false)
}

fn sub_event(status: Status, created: i64, deleted: bool) -> Event {
    Event::Sub {
        sub: 0,
        user: Some(0),
        customer: 0,
        status,
        plan: Plan::ProMonthly,
        deleted,
        created,
    }
}

#[test]
fn an_upgrade_on_28_november_adds_three_thirtieths_of_the_difference() {
    let mut m = Model::new(at(2031, 11, 28, 12, 0, 0));
    m.balance(0);
    assert_eq!(
        m.stripe("evt_1", &sub(Status::Active, m.now)).fields[0].1,
        json!("applied")
    );
    assert_eq!(m.users[0].monthly, 5 + 95 * 3 / 30);
    // On the 1st the whole difference; on the last day 1/31 of it.
    for (now, extra) in [
        (at(2031, 12, 1, 0, 0, 0), 95),
        (at(2031, 12, 31, 23, 59, 59), 95 / 31),
    ] {
        let mut m = Model::new(now);
        m.stripe("evt_1", &sub(Status::Active, now));
        assert_eq!(m.users[0].monthly, 5 + extra);
    }
}

#[test]
fn monthly_credits_held_across_the_first_expire_when_they_come_back() {
    let mut m = Model::new(at(2031, 11, 30, 23, 59, 50));
    assert_eq!(m.hold(0, "k", 4, Some(60)).status, 201);
    m.now += 70;
    let view = m.balance(0);
    assert_eq!(
        (field(&view, "/balance"), field(&view, "/held")),
        (json!(5), json!(0))
    );
    assert_eq!(m.closed[&0].outcome, "expired");
    assert_eq!(
        m.users[0].monthly, 5,
        "the 4 held came back after November ended: expired"
    );
}

#[test]
fn held_credits_meet_a_refund_and_a_downgrade() {
    // v1: buy 1,000, hold 1,005, refund it all: nothing escapes through the hold.
    let mut m = Model::new(at(2031, 11, 10, 0, 0, 0));
    let buy = Event::Checkout {
        purchase: 0,
        user: Some(0),
        customer: 0,
        price: Price::Package(1000),
        amount: 1000,
        paid: true,
    };
    m.stripe("evt_buy", &buy);
    m.hold(0, "k", 1005, None);
    m.stripe(
        "evt_refund",
        &Event::Refund {
            purchase: 0,
            amount: 1000,
            refunded: 1000,
        },
    );
    m.close_hold(0, Some(0), None, true);
    assert_eq!(
        (m.users[0].monthly, m.users[0].purchased, m.held(0)),
        (5, 0, 0)
    );
    // Pro, everything held, the subscription deleted: Free keeps at most 5.
    let mut m = Model::new(at(2031, 11, 1, 0, 0, 0));
    m.stripe("evt_a", &sub(Status::Active, m.now));
    m.hold(0, "k", 100, None);
    let deleted = sub_event(Status::Active, m.now + 1, true);
    m.now += 1;
    m.stripe("evt_d", &deleted);
    assert_eq!((m.users[0].monthly, m.held(0)), (0, 5));
}

#[test]
fn same_second_subscription_events_end_on_the_paid_plan_in_either_order() {
    for order in [
        [Status::Incomplete, Status::Active],
        [Status::Active, Status::Incomplete],
    ] {
        let mut m = Model::new(at(2031, 11, 10, 0, 0, 0));
        for (i, status) in order.into_iter().enumerate() {
            m.stripe(&format!("evt_{i}"), &sub(status, m.now));
        }
        assert_eq!(m.users[0].plan, Some(Plan::ProMonthly), "{order:?}");
    }
}

#[test]
fn a_refund_before_its_purchase_is_applied_with_it() {
    let mut m = Model::new(at(2031, 11, 10, 0, 0, 0));
    let refund = m.stripe(
        "evt_r",
        &Event::Refund {
            purchase: 0,
            amount: 1000,
            refunded: 500,
        },
    );
    assert_eq!(refund.fields[0].1, json!("parked"));
    let buy = Event::Checkout {
        purchase: 0,
        user: Some(0),
        customer: 0,
        price: Price::Package(100),
        amount: 1000,
        paid: true,
    };
    m.stripe("evt_b", &buy);
    assert_eq!(m.users[0].purchased, 50);
}
