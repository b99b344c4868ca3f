//! Invariants over arbitrary histories of commands, refunds and plan changes included.

use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
pub(super) enum Op {
    Touch,
    Deduct(Credits),
    Plan(Plan),
    Purchase(Package),
    Hold(Credits, i64),
    /// Commit the n-th open hold (modulo how many there are), this much of it at most.
    Commit(usize, Option<Credits>),
    Release(usize),
    /// A refunded package: take back this many purchased credits.
    Revoke(Credits),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Touch),
        (1..=600i64).prop_map(Op::Deduct),
        prop::sample::select(Plan::ALL.to_vec()).prop_map(Op::Plan),
        prop::sample::select(Package::ALL.to_vec()).prop_map(Op::Purchase),
        (
            1..=300i64,
            prop_oneof![Just(60i64), Just(86_400i64), Just(40 * 86_400i64)]
        )
            .prop_map(|(a, ttl)| Op::Hold(a, ttl.min(MAX_HOLD_TTL))),
        (0..4usize, prop::option::of(0..=300i64)).prop_map(|(i, a)| Op::Commit(i, a)),
        (0..4usize).prop_map(Op::Release),
        (1..=1_200i64).prop_map(Op::Revoke),
    ]
}

/// Applies one operation as the service does: expired holds beyond one change's share closed
/// first, in changes of their own ([`catch_up`]), then the command; refused ones still store
/// what they touched.
pub(super) fn step(current: Option<&Account>, op: &Op, t: DateTime<Utc>) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut current = current.cloned();
    while let Some(batch) = catch_up(current.as_ref(), t) {
        current = Some(batch.account.clone());
        changes.push(batch);
    }
    changes.push(command(current.as_ref(), op, t));
    changes
}

fn command(current: Option<&Account>, op: &Op, t: DateTime<Utc>) -> Change {
    let nth = |i: usize| {
        current.and_then(|a| {
            let ids: Vec<&String> = a.holds.keys().collect();
            (!ids.is_empty()).then(|| ids[i % ids.len()].clone())
        })
    };
    let or_touched = |r: Result<Change, HoldRefusal>| r.unwrap_or_else(|e| e.touched().clone());
    match op {
        Op::Touch => touch(current, &alice(), t),
        Op::Deduct(n) => deduct(current, &alice(), *n, "k", None, t)
            .map(|(c, _)| c)
            .unwrap_or_else(|e| *e.touched),
        Op::Plan(p) => change_plan(current, &alice(), *p, "evt", t),
        Op::Purchase(p) => purchase(current, &alice(), *p, "evt", t),
        Op::Hold(n, ttl) => or_touched(hold(current, &alice(), *n, *ttl, "k", t).map(|(c, _)| c)),
        Op::Commit(i, a) => match nth(*i) {
            Some(id) => or_touched(commit_hold(current, &alice(), &id, *a, t).map(|(c, _)| c)),
            None => touch(current, &alice(), t),
        },
        Op::Release(i) => match nth(*i) {
            Some(id) => or_touched(release_hold(current, &alice(), &id, t).map(|(c, _)| c)),
            None => touch(current, &alice(), t),
        },
        Op::Revoke(n) => revoke(current, &alice(), *n, "evt", "refund", t).0,
    }
}

/// A history: operations at non-decreasing times, seconds to weeks apart (holds meet the next
/// operations, or expire before them, or across a month's end).
pub(super) fn history() -> impl Strategy<Value = Vec<(i64, Op)>> {
    let gap = prop_oneof![3 => 0..300i64, 1 => 86_400..40 * 86_400i64];
    prop::collection::vec((gap, op()), 1..60)
}

pub(super) fn run(history: &[(i64, Op)]) -> ((Option<Account>, Vec<Entry>), Vec<Period>) {
    let mut state = (None, Vec::new());
    let mut t = at(2026, 1, 1);
    let mut periods = Vec::new();
    for (seconds, op) in history {
        t += chrono::Duration::seconds(*seconds);
        periods.push(Period::containing(t));
        let current = state.0.clone();
        for change in step(current.as_ref(), op, t) {
            apply(&mut state, change);
        }
    }
    (state, periods)
}

/// The time of a history's last operation.
pub(super) fn end(history: &[(i64, Op)]) -> DateTime<Utc> {
    at(2026, 1, 1) + chrono::Duration::seconds(history.iter().map(|(s, _)| s).sum::<i64>())
}

/// A history of operations a whole number of days apart: every hold of one day has ended by
/// the next, so a later time sees none of them expire on the way.
fn daily_history() -> impl Strategy<Value = Vec<(i64, Op)>> {
    prop::collection::vec((0..40i64, op()), 1..60)
        .prop_map(|h| h.into_iter().map(|(d, op)| (d * 86_400, op)).collect())
}

/// The account at `now` with its expired holds beyond one change's share closed, as the
/// service leaves it before deciding a command.
pub(super) fn caught_up(mut account: Account, now: DateTime<Utc>) -> Account {
    while let Some(batch) = catch_up(Some(&account), now) {
        account = batch.account;
    }
    account
}

/// Releases every open hold, oldest first.
fn release_all(mut account: Account, now: DateTime<Utc>) -> Account {
    let ids: Vec<String> = account.holds.keys().cloned().collect();
    for id in ids {
        account = release_hold(Some(&account), &alice(), &id, now)
            .map(|(c, _)| c.account)
            .unwrap_or_else(|e| e.touched().account.clone());
    }
    account
}

proptest! {
    #[test]
    fn the_ledger_adds_up_to_what_the_account_owns(h in history()) {
        let ((acc, ledger), _) = run(&h);
        let acc = acc.unwrap();
        prop_assert_eq!(ledger_sum(&ledger), acc.owned());
        prop_assert_eq!(ledger.last().map(|e| e.balance_after), Some(acc.balance()));
        // Entries are numbered 1, 2, 3, ... and the account knows the last number.
        prop_assert!(ledger.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1));
        prop_assert_eq!(acc.seq, ledger.len() as u64);
    }

    #[test]
    fn no_bucket_ever_goes_below_zero(h in history()) {
        let mut state: (Option<Account>, Vec<Entry>) = (None, Vec::new());
        let mut t = at(2026, 1, 1);
        for (seconds, op) in &h {
            t += chrono::Duration::seconds(*seconds);
            let cur = state.0.clone();
            for change in step(cur.as_ref(), op, t) {
                let a = &change.account;
                prop_assert!(a.monthly >= 0 && a.purchased >= 0 && a.held >= 0);
                prop_assert!(a.monthly <= a.plan.monthly_credits().max(Plan::Lifetime.monthly_credits()));
                prop_assert_eq!(a.held, a.holds.values().map(|h| h.amount).sum::<Credits>());
                prop_assert!(a.holds.values().all(|h| h.monthly >= 0 && h.purchased >= 0));
                prop_assert!(a.holds.values().all(|h| h.monthly + h.purchased == h.amount));
                prop_assert!(change.entries.iter().all(|e| e.balance_after >= 0 && e.held_after >= 0));
                // A plan's cap holds for the period's monthly credits, held ones included.
                let held_now: Credits = a.holds.values().filter(|h| h.period == a.period).map(|h| h.monthly).sum();
                prop_assert!(a.monthly + held_now <= a.plan.monthly_credits().max(Plan::Lifetime.monthly_credits()));
                apply(&mut state, change);
            }
        }
    }

    #[test]
    fn a_reset_happens_once_per_account_and_period(h in history()) {
        let ((_, ledger), periods) = run(&h);
        let mut resets: Vec<&str> = ledger
            .iter()
            .filter(|e| e.kind == EntryKind::Grant)
            .map(|e| e.cause.as_str())
            .collect();
        let total = resets.len();
        resets.sort_unstable();
        resets.dedup();
        prop_assert_eq!(resets.len(), total, "a period was granted twice");
        // And every period the account was touched in got its grant.
        let mut touched: Vec<Period> = periods;
        touched.dedup();
        prop_assert_eq!(total, touched.len());
    }

    #[test]
    fn a_hold_never_takes_more_than_the_balance_and_closing_returns_it_all(
        h in daily_history(), amount in 1..=400i64, commit in prop::option::of(0..=400i64)
    ) {
        let ((acc, _), _) = run(&h);
        let now = acc.as_ref().unwrap().period.start() + chrono::Duration::hours(1);
        let acc = caught_up(acc.unwrap(), now);
        let before = touch(Some(&acc), &alice(), now).account;
        match hold(Some(&acc), &alice(), amount, 600, "k", now) {
            Err(HoldRefusal::Insufficient { touched, .. }) => {
                prop_assert!(before.balance() < amount);
                prop_assert_eq!(&touched.account, &before);
            }
            Err(HoldRefusal::TooManyHolds { .. }) => prop_assert!(before.holds.len() >= MAX_OPEN_HOLDS),
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
            Ok((held, crate::rules::NewHold { id, .. })) => {
                prop_assert_eq!(held.account.balance(), before.balance() - amount);
                prop_assert_eq!(held.account.held, before.held + amount);
                prop_assert_eq!(held.account.owned(), before.owned());
                let later = now + chrono::Duration::seconds(30);
                match commit_hold(Some(&held.account), &alice(), &id, commit, later) {
                    Ok((done, _)) => {
                        let spent = commit.unwrap_or(amount);
                        prop_assert_eq!(done.account.balance(), before.balance() - spent);
                        prop_assert_eq!(done.account.held, before.held);
                        prop_assert!(!done.account.holds.contains_key(&id));
                        prop_assert_eq!(done.closed_holds.len(), 1);
                    }
                    Err(HoldRefusal::Exceeds { held: h, .. }) => {
                        prop_assert_eq!(h, amount);
                        prop_assert!(commit.unwrap_or(0) > amount);
                    }
                    Err(other) => prop_assert!(false, "unexpected {:?}", other),
                }
                let released = release_hold(Some(&held.account), &alice(), &id, later).unwrap().0;
                prop_assert_eq!(released.account.balance(), before.balance());
                prop_assert!(release_hold(Some(&released.account), &alice(), &id, later).is_err());
            }
        }
    }

    #[test]
    fn deduct_takes_exactly_the_amount_or_nothing(
        h in daily_history(), amount in MIN_DEDUCT..=2_000i64
    ) {
        let ((acc, _), _) = run(&h);
        let now = acc.as_ref().unwrap().period.start();
        let acc = caught_up(acc.unwrap(), now);
        let rolled = touch(Some(&acc), &alice(), now).account;
        match deduct(Some(&acc), &alice(), amount, "k", None, now) {
            Ok((c, _)) => {
                prop_assert_eq!(c.account.balance(), rolled.balance() - amount);
                prop_assert_eq!(c.account.plan, rolled.plan);
            }
            Err(e) => {
                prop_assert!(rolled.balance() < amount);
                prop_assert_eq!(&e.touched.account, &rolled);
            }
        }
    }

    /// Held credits are owned credits: a refund or a downgrade that meets open holds leaves
    /// exactly what it would have left had the holds been released just before it.
    #[test]
    fn a_hold_never_keeps_what_a_refund_or_a_downgrade_takes(
        h in history(),
        owed in 0..=1_500i64,
        plan in prop::sample::select(Plan::ALL.to_vec()),
        later in 0..120i64,
    ) {
        let ((acc, _), _) = run(&h);
        let now = end(&h) + chrono::Duration::seconds(later);
        let acc = touch(Some(&caught_up(acc.unwrap(), now)), &alice(), now).account;
        let refund = |a: &Account| revoke(Some(a), &alice(), owed, "evt", "refund", now).0.account;
        let downgrade = |a: &Account| change_plan(Some(a), &alice(), plan, "evt", now).account;
        for (name, x) in [("refund", &refund as &dyn Fn(&Account) -> Account), ("plan", &downgrade)] {
            let through_holds = release_all(x(&acc), now);
            let without = x(&release_all(acc.clone(), now));
            prop_assert_eq!(
                (through_holds.plan, through_holds.monthly, through_holds.purchased, through_holds.held),
                (without.plan, without.monthly, without.purchased, without.held),
                "{}", name
            );
        }
    }
}
