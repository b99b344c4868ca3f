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

#[test]
fn a_hold_moves_credits_to_held_with_zero_amount_entries() {
    let mut acc = touch(None, &alice(), at(2026, 11, 2)).account;
    acc.purchased = 10;
    let (c, id) = hold(Some(&acc), &alice(), 7, 900, "idem:h", at(2026, 11, 2)).unwrap();
    assert_eq!(id, "h_000000000002");
    assert_eq!(
        (c.account.monthly, c.account.purchased, c.account.held),
        (0, 8, 7)
    );
    assert_eq!(c.account.balance(), 8);
    let got: Vec<_> = c
        .entries
        .iter()
        .map(|e| (e.kind, e.bucket, e.amount, e.moved))
        .collect();
    assert_eq!(
        got,
        [
            (EntryKind::Hold, Bucket::Monthly, 0, 5),
            (EntryKind::Hold, Bucket::Purchased, 0, 2)
        ]
    );
    let h = &c.account.holds[&id];
    assert_eq!((h.monthly, h.purchased, h.amount), (5, 2, 7));
}

#[test]
fn committing_part_spends_monthly_first_and_returns_the_rest_where_it_came_from() {
    let mut acc = touch(None, &alice(), at(2026, 11, 2)).account;
    acc.purchased = 10;
    let (c, id) = hold(Some(&acc), &alice(), 7, 900, "k", at(2026, 11, 2)).unwrap();
    let done = commit_hold(Some(&c.account), &alice(), &id, Some(3), at(2026, 11, 2)).unwrap();
    let got: Vec<_> = done
        .entries
        .iter()
        .map(|e| (e.kind, e.bucket, e.amount, e.moved))
        .collect();
    assert_eq!(
        got,
        [
            (EntryKind::Deduct, Bucket::Monthly, -3, 0),
            (EntryKind::Release, Bucket::Monthly, 0, 2),
            (EntryKind::Release, Bucket::Purchased, 0, 2)
        ]
    );
    assert_eq!(
        (
            done.account.monthly,
            done.account.purchased,
            done.account.held
        ),
        (2, 10, 0)
    );
    let closed = &done.closed_holds[0];
    assert_eq!(
        (closed.outcome, closed.committed, closed.released),
        (HoldOutcome::Committed, 3, 4)
    );
}

#[test]
fn a_closed_or_unknown_hold_is_not_open_and_too_much_is_refused() {
    let acc = touch(None, &alice(), at(2026, 11, 2)).account;
    let (c, id) = hold(Some(&acc), &alice(), 4, 900, "k", at(2026, 11, 2)).unwrap();
    assert!(matches!(
        commit_hold(Some(&c.account), &alice(), &id, Some(5), at(2026, 11, 2)),
        Err(HoldRefusal::Exceeds { held: 4, .. })
    ));
    let released = release_hold(Some(&c.account), &alice(), &id, at(2026, 11, 2)).unwrap();
    assert_eq!(released.account.balance(), 5);
    assert!(matches!(
        release_hold(Some(&released.account), &alice(), &id, at(2026, 11, 2)),
        Err(HoldRefusal::NotOpen { .. })
    ));
    assert!(matches!(
        commit_hold(
            Some(&released.account),
            &alice(),
            "h_999999999999",
            None,
            at(2026, 11, 2)
        ),
        Err(HoldRefusal::NotOpen { .. })
    ));
}

#[test]
fn an_expired_hold_is_released_by_the_next_touch() {
    let acc = touch(None, &alice(), at(2026, 11, 2)).account;
    let (c, id) = hold(Some(&acc), &alice(), 4, 60, "k", at(2026, 11, 2)).unwrap();
    let later = at(2026, 11, 2) + chrono::Duration::seconds(61);
    let t = touch(Some(&c.account), &alice(), later);
    assert!(t.account.holds.is_empty());
    assert_eq!((t.account.balance(), t.account.held), (5, 0));
    assert_eq!(t.closed_holds[0].outcome, HoldOutcome::Expired);
    assert!(matches!(
        commit_hold(Some(&c.account), &alice(), &id, None, later),
        Err(HoldRefusal::NotOpen { .. })
    ));
}

#[test]
fn a_hold_across_a_month_boundary_keeps_its_credits_and_returned_monthly_ones_expire() {
    let mut acc = touch(None, &alice(), at(2026, 11, 30)).account;
    acc.purchased = 10;
    let late_nov = Utc.with_ymd_and_hms(2026, 11, 30, 23, 50, 0).unwrap();
    let (c, id) = hold(Some(&acc), &alice(), 8, 3600, "k", late_nov).unwrap();
    // The reset on 1 December grants the allowance once and leaves the hold alone.
    let dec = Utc.with_ymd_and_hms(2026, 12, 1, 0, 5, 0).unwrap();
    let reset = touch(Some(&c.account), &alice(), dec);
    assert_eq!(
        (
            reset.account.monthly,
            reset.account.purchased,
            reset.account.held
        ),
        (5, 7, 8)
    );
    assert!(reset.account.holds.contains_key(&id));
    // Commit 1: the November credits that come back expire, the purchased ones return.
    let done = commit_hold(Some(&reset.account), &alice(), &id, Some(1), dec).unwrap();
    assert_eq!(
        (
            done.account.monthly,
            done.account.purchased,
            done.account.held
        ),
        (5, 10, 0)
    );
    let closed = &done.closed_holds[0];
    assert_eq!(
        (closed.committed, closed.expired, closed.released),
        (1, 4, 3)
    );
    let kinds: Vec<_> = done.entries.iter().map(|e| (e.kind, e.amount)).collect();
    assert_eq!(
        kinds,
        [
            (EntryKind::Deduct, -1),
            (EntryKind::Expire, -4),
            (EntryKind::Release, 0)
        ]
    );
}

// ---- invariants, over arbitrary histories ----

#[derive(Debug, Clone)]
enum Op {
    Touch,
    Deduct(Credits),
    Plan(Plan),
    Purchase(Package),
    Hold(Credits, i64),
    /// Commit the n-th open hold (modulo how many there are), this much of it at most.
    Commit(usize, Option<Credits>),
    Release(usize),
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
    ]
}

/// Applies one operation; refused ones still store what they touched.
fn step(current: Option<&Account>, op: &Op, t: DateTime<Utc>) -> Change {
    let nth = |i: usize| {
        current.and_then(|a| {
            let ids: Vec<&String> = a.holds.keys().collect();
            (!ids.is_empty()).then(|| ids[i % ids.len()].clone())
        })
    };
    let or_touched = |r: Result<Change, HoldRefusal>| r.unwrap_or_else(|e| e.touched().clone());
    match op {
        Op::Touch => touch(current, &alice(), t),
        Op::Deduct(n) => deduct(current, &alice(), *n, "k", None, t).unwrap_or_else(|e| *e.touched),
        Op::Plan(p) => change_plan(current, &alice(), *p, "evt", t),
        Op::Purchase(p) => purchase(current, &alice(), *p, "evt", t),
        Op::Hold(n, ttl) => or_touched(hold(current, &alice(), *n, *ttl, "k", t).map(|(c, _)| c)),
        Op::Commit(i, a) => match nth(*i) {
            Some(id) => or_touched(commit_hold(current, &alice(), &id, *a, t)),
            None => touch(current, &alice(), t),
        },
        Op::Release(i) => match nth(*i) {
            Some(id) => or_touched(release_hold(current, &alice(), &id, t)),
            None => touch(current, &alice(), t),
        },
    }
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
        let change = step(current.as_ref(), op, t);
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
            let change = step(cur.as_ref(), op, t);
            let a = &change.account;
            prop_assert!(a.monthly >= 0 && a.purchased >= 0 && a.held >= 0);
            prop_assert!(a.monthly <= a.plan.monthly_credits().max(Plan::Lifetime.monthly_credits()));
            prop_assert_eq!(a.held, a.holds.values().map(|h| h.amount).sum::<Credits>());
            prop_assert!(a.holds.values().all(|h| h.monthly + h.purchased == h.amount));
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
    fn a_hold_never_takes_more_than_the_balance_and_closing_returns_it_all(
        h in history(), amount in 1..=400i64, commit in prop::option::of(0..=400i64)
    ) {
        let ((acc, _), _) = run(&h);
        let acc = acc.unwrap();
        let now = acc.period.start() + chrono::Duration::hours(1);
        let before = touch(Some(&acc), &alice(), now).account;
        match hold(Some(&acc), &alice(), amount, 600, "k", now) {
            Err(HoldRefusal::Insufficient { touched, .. }) => {
                prop_assert!(before.balance() < amount);
                prop_assert_eq!(&touched.account, &before);
            }
            Err(HoldRefusal::TooManyHolds { .. }) => prop_assert!(before.holds.len() >= MAX_OPEN_HOLDS),
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
            Ok((held, id)) => {
                prop_assert_eq!(held.account.balance(), before.balance() - amount);
                prop_assert_eq!(held.account.held, before.held + amount);
                prop_assert_eq!(held.account.owned(), before.owned());
                let later = now + chrono::Duration::seconds(30);
                match commit_hold(Some(&held.account), &alice(), &id, commit, later) {
                    Ok(done) => {
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
                let released = release_hold(Some(&held.account), &alice(), &id, later).unwrap();
                prop_assert_eq!(released.account.balance(), before.balance());
                prop_assert!(release_hold(Some(&released.account), &alice(), &id, later).is_err());
            }
        }
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
                prop_assert_eq!(&e.touched.account, &rolled);
            }
        }
    }
}
