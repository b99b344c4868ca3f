use chrono::TimeZone;
use proptest::prelude::*;

use super::*;

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 9, 30, 0).unwrap()
}

fn alice() -> UserId {
    UserId::parse("alice").unwrap()
}

fn ledger_sum(entries: &[Entry]) -> Credits {
    entries.iter().map(|e| e.amount).sum()
}

/// Applies a change to a running (account, ledger) pair, as the store would.
fn apply(state: &mut (Option<Account>, Vec<Entry>), change: Change) {
    state.1.extend(change.entries);
    state.0 = Some(change.account);
}

#[test]
fn a_new_user_is_free_with_this_periods_five_credits() {
    let c = touch(None, &alice(), at(2026, 11, 24));
    assert!(c.opened);
    assert_eq!(c.account.plan, Plan::Free);
    assert_eq!(c.account.period.to_string(), "2026-11");
    assert_eq!(
        (c.account.monthly, c.account.purchased, c.account.balance()),
        (5, 0, 5)
    );
    assert_eq!(c.entries.len(), 1);
    assert_eq!(c.entries[0].kind, EntryKind::Grant);
    assert_eq!((c.entries[0].amount, c.entries[0].seq), (5, 1));
}

#[test]
fn touching_a_current_account_changes_nothing() {
    let opened = touch(None, &alice(), at(2026, 11, 1)).account;
    let again = touch(Some(&opened), &alice(), at(2026, 11, 30));
    assert!(again.is_empty());
    assert_eq!(again.account, opened);
}

#[test]
fn reset_expires_the_rest_and_grants_the_allowance_once() {
    let mut acc = touch(None, &alice(), at(2026, 10, 3)).account;
    acc.plan = Plan::ProMonthly;
    acc.monthly = 40;
    acc.purchased = 7;
    let c = touch(Some(&acc), &alice(), at(2026, 11, 1));
    let kinds: Vec<_> = c.entries.iter().map(|e| (e.kind, e.amount)).collect();
    assert_eq!(kinds, [(EntryKind::Expire, -40), (EntryKind::Grant, 100)]);
    assert!(c.entries.iter().all(|e| e.cause == "reset:2026-11"));
    assert_eq!((c.account.monthly, c.account.purchased), (100, 7));
    assert!(touch(Some(&c.account), &alice(), at(2026, 11, 2)).is_empty());
}

#[test]
fn a_reset_after_missed_months_grants_once_for_the_current_period() {
    let acc = touch(None, &alice(), at(2026, 6, 3)).account;
    let c = touch(Some(&acc), &alice(), at(2026, 11, 24));
    assert_eq!(c.account.period.to_string(), "2026-11");
    assert_eq!(
        c.entries
            .iter()
            .filter(|e| e.kind == EntryKind::Grant)
            .count(),
        1
    );
    assert_eq!(c.account.monthly, 5);
}

#[test]
fn deduct_takes_monthly_first_then_purchased() {
    let mut acc = touch(None, &alice(), at(2026, 11, 2)).account;
    acc.purchased = 10;
    let c = deduct(
        Some(&acc),
        &alice(),
        7,
        "k1",
        Some("export"),
        at(2026, 11, 2),
    )
    .unwrap();
    let got: Vec<_> = c
        .entries
        .iter()
        .map(|e| (e.bucket, e.amount, e.balance_after))
        .collect();
    assert_eq!(got, [(Bucket::Monthly, -5, 10), (Bucket::Purchased, -2, 8)]);
    assert_eq!((c.account.monthly, c.account.purchased), (0, 8));
    assert_eq!(c.entries[0].reason.as_deref(), Some("export"));
}

#[test]
fn deduct_is_all_or_nothing() {
    let acc = touch(None, &alice(), at(2026, 11, 2)).account;
    let err = deduct(Some(&acc), &alice(), 6, "k1", None, at(2026, 11, 2)).unwrap_err();
    assert_eq!(err.required, 6);
    assert!(err.touched.is_empty());
    assert_eq!(err.touched.account, acc);
}

#[test]
fn a_refused_deduct_still_carries_the_due_reset() {
    let mut acc = touch(None, &alice(), at(2026, 10, 2)).account;
    acc.monthly = 0;
    let err = deduct(Some(&acc), &alice(), 6, "k1", None, at(2026, 11, 2)).unwrap_err();
    assert_eq!(err.touched.account.monthly, 5);
    assert_eq!(err.touched.entries.len(), 1);
}

#[test]
fn upgrade_on_the_first_adds_the_whole_difference() {
    let acc = touch(None, &alice(), at(2026, 11, 1)).account;
    let c = change_plan(
        Some(&acc),
        &alice(),
        Plan::ProMonthly,
        "evt_1",
        at(2026, 11, 1),
    );
    assert_eq!(c.account.plan, Plan::ProMonthly);
    assert_eq!(c.account.monthly, 100);
    assert_eq!(c.entries[0].kind, EntryKind::Adjust);
}

#[test]
fn upgrade_on_the_28th_of_november_adds_three_thirtieths() {
    let mut acc = touch(None, &alice(), at(2026, 11, 1)).account;
    acc.monthly = 2;
    let c = change_plan(
        Some(&acc),
        &alice(),
        Plan::ProMonthly,
        "evt_1",
        at(2026, 11, 28),
    );
    // floor(95 * 3 / 30) = 9
    assert_eq!(c.account.monthly, 2 + 9);
    let c = change_plan(
        Some(&c.account),
        &alice(),
        Plan::ProYearly,
        "evt_2",
        at(2026, 11, 28),
    );
    // floor(50 * 3 / 30) = 5
    assert_eq!(c.account.monthly, 11 + 5);
}

#[test]
fn downgrade_caps_monthly_and_keeps_purchased() {
    let mut acc = touch(None, &alice(), at(2026, 11, 1)).account;
    acc.plan = Plan::Lifetime;
    acc.monthly = 320;
    acc.purchased = 200;
    let c = change_plan(
        Some(&acc),
        &alice(),
        Plan::ProMonthly,
        "evt_1",
        at(2026, 11, 10),
    );
    assert_eq!((c.account.monthly, c.account.purchased), (100, 200));
    assert_eq!(c.entries[0].amount, -220);
    let c = change_plan(
        Some(&c.account),
        &alice(),
        Plan::Free,
        "evt_2",
        at(2026, 11, 10),
    );
    assert_eq!(c.account.monthly, 5);
    // Below the new cap, a downgrade takes nothing but still changes the plan.
    let mut low = c.account.clone();
    low.plan = Plan::ProYearly;
    low.monthly = 3;
    let c = change_plan(Some(&low), &alice(), Plan::Free, "evt_3", at(2026, 11, 10));
    assert!(c.entries.is_empty());
    assert!(!c.is_empty());
    assert_eq!((c.account.plan, c.account.monthly), (Plan::Free, 3));
}

#[test]
fn the_same_plan_changes_nothing() {
    let acc = touch(None, &alice(), at(2026, 11, 1)).account;
    assert!(change_plan(Some(&acc), &alice(), Plan::Free, "evt", at(2026, 11, 5)).is_empty());
}

#[test]
fn purchase_adds_to_the_purchased_bucket() {
    let acc = touch(None, &alice(), at(2026, 11, 1)).account;
    let c = purchase(
        Some(&acc),
        &alice(),
        Package::Standard,
        "evt",
        at(2026, 11, 5),
    );
    assert_eq!((c.account.purchased, c.account.balance()), (200, 205));
}

// ---- invariants, over arbitrary histories ----

#[derive(Debug, Clone)]
enum Op {
    Touch,
    Deduct(Credits),
    Plan(Plan),
    Purchase(Package),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Touch),
        (1..=600i64).prop_map(Op::Deduct),
        prop::sample::select(Plan::ALL.to_vec()).prop_map(Op::Plan),
        prop::sample::select(Package::ALL.to_vec()).prop_map(Op::Purchase),
    ]
}

/// A history: operations at non-decreasing times, a few days to a few months apart.
fn history() -> impl Strategy<Value = Vec<(u32, Op)>> {
    prop::collection::vec((0u32..40, op()), 1..60)
}

fn run(history: &[(u32, Op)]) -> ((Option<Account>, Vec<Entry>), Vec<Period>) {
    let mut state = (None, Vec::new());
    let mut t = at(2026, 1, 1);
    let mut periods = Vec::new();
    for (days, op) in history {
        t += chrono::Duration::days(i64::from(*days));
        periods.push(Period::containing(t));
        let current = state.0.clone();
        let change = match op {
            Op::Touch => touch(current.as_ref(), &alice(), t),
            Op::Deduct(n) => match deduct(current.as_ref(), &alice(), *n, "k", None, t) {
                Ok(c) => c,
                Err(e) => e.touched,
            },
            Op::Plan(p) => change_plan(current.as_ref(), &alice(), *p, "evt", t),
            Op::Purchase(p) => purchase(current.as_ref(), &alice(), *p, "evt", t),
        };
        apply(&mut state, change);
    }
    (state, periods)
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
        for (days, op) in &h {
            t += chrono::Duration::days(i64::from(*days));
            let cur = state.0.clone();
            let change = match op {
                Op::Deduct(n) => match deduct(cur.as_ref(), &alice(), *n, "k", None, t) {
                    Ok(c) => c,
                    Err(e) => e.touched,
                },
                Op::Plan(p) => change_plan(cur.as_ref(), &alice(), *p, "evt", t),
                Op::Purchase(p) => purchase(cur.as_ref(), &alice(), *p, "evt", t),
                Op::Touch => touch(cur.as_ref(), &alice(), t),
            };
            let a = &change.account;
            prop_assert!(a.monthly >= 0 && a.purchased >= 0 && a.held >= 0);
            prop_assert!(a.monthly <= a.plan.monthly_credits().max(Plan::Lifetime.monthly_credits()));
            prop_assert!(change.entries.iter().all(|e| e.balance_after >= 0));
            apply(&mut state, change);
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
    fn deduct_takes_exactly_the_amount_or_nothing(
        h in history(), amount in MIN_DEDUCT..=2_000i64
    ) {
        let ((acc, _), _) = run(&h);
        let acc = acc.unwrap();
        let now = acc.period.start();
        let rolled = touch(Some(&acc), &alice(), now).account;
        match deduct(Some(&acc), &alice(), amount, "k", None, now) {
            Ok(c) => {
                prop_assert_eq!(c.account.balance(), rolled.balance() - amount);
                prop_assert_eq!(c.account.plan, rolled.plan);
            }
            Err(e) => {
                prop_assert!(rolled.balance() < amount);
                prop_assert_eq!(e.touched.account, rolled);
            }
        }
    }
}
