use proptest::prelude::*;

use super::*;
use crate::account::UserId;
use crate::ledger::Entry;
use crate::plan::Package;
use crate::rules::tests::{alice, apply, at, ledger_sum};
use crate::rules::{catch_up, deduct, hold, purchase, release_hold, touch};

fn adjustment(amount: Credits, bucket: Bucket) -> Adjustment<'static> {
    Adjustment {
        amount,
        bucket,
        cause: "admin:root idem:k1",
        reason: "goodwill",
    }
}

/// A Free account opened on `t` that bought a basic package (100 purchased credits).
fn with_purchase(t: DateTime<Utc>) -> Account {
    let opened = touch(None, &alice(), t).account;
    purchase(Some(&opened), &alice(), Package::Basic, "evt", t).account
}

#[test]
fn a_grant_writes_one_adjust_entry_naming_the_admin_the_key_and_the_reason() {
    let t = at(2026, 11, 24);
    let acc = touch(None, &alice(), t).account;
    let c = adjust(&acc, &adjustment(25, Bucket::Purchased), t).unwrap();
    assert_eq!(c.entries.len(), 1);
    let e = &c.entries[0];
    assert_eq!(
        (e.kind, e.bucket, e.amount, e.balance_after, e.seq),
        (EntryKind::Adjust, Bucket::Purchased, 25, 30, 2)
    );
    assert_eq!(e.cause, "admin:root idem:k1");
    assert_eq!(e.reason.as_deref(), Some("goodwill"));
    assert_eq!((c.account.monthly, c.account.purchased), (5, 25));
    assert!(!c.opened);
}

#[test]
fn the_cause_names_the_admin_and_the_key() {
    assert_eq!(adjustment_cause("root", "k-1"), "admin:root idem:k-1");
}

#[test]
fn a_correction_takes_credits_out_of_the_named_bucket_only() {
    let t = at(2026, 11, 24);
    let acc = with_purchase(t);
    let c = adjust(&acc, &adjustment(-5, Bucket::Monthly), t).unwrap();
    assert_eq!((c.account.monthly, c.account.purchased), (0, 100));
    assert_eq!(c.entries[0].amount, -5);
    let c = adjust(&acc, &adjustment(-100, Bucket::Purchased), t).unwrap();
    assert_eq!((c.account.monthly, c.account.purchased), (5, 0));
}

#[test]
fn taking_a_bucket_below_zero_is_refused_with_what_it_holds() {
    let t = at(2026, 11, 24);
    let acc = with_purchase(t);
    let refused = adjust(&acc, &adjustment(-6, Bucket::Monthly), t).unwrap_err();
    assert_eq!((refused.bucket, refused.available), (Bucket::Monthly, 5));
    assert!(
        refused.touched.is_empty(),
        "nothing was due: nothing to store"
    );
    // The purchased credits do not make up for the monthly bucket's shortfall.
    let refused = adjust(&acc, &adjustment(-101, Bucket::Purchased), t).unwrap_err();
    assert_eq!(
        (refused.bucket, refused.available),
        (Bucket::Purchased, 100)
    );
}

#[test]
fn a_due_reset_applies_first_and_the_adjustment_meets_this_periods_bucket() {
    let acc = touch(None, &alice(), at(2026, 10, 3)).account;
    let spent = deduct(Some(&acc), &alice(), 5, "k", None, at(2026, 10, 4))
        .unwrap()
        .0
        .account;
    let t = at(2026, 11, 2);
    let c = adjust(&spent, &adjustment(-3, Bucket::Monthly), t).unwrap();
    let kinds: Vec<_> = c.entries.iter().map(|e| (e.kind, e.amount)).collect();
    assert_eq!(kinds, [(EntryKind::Grant, 5), (EntryKind::Adjust, -3)]);
    assert_eq!(c.account.period.to_string(), "2026-11");
    assert_eq!(c.account.monthly, 2);
    // Refused, the reset is still to be stored.
    let refused = adjust(&spent, &adjustment(-6, Bucket::Monthly), t).unwrap_err();
    assert_eq!(refused.available, 5);
    assert_eq!(*refused.touched, touch(Some(&spent), &alice(), t));
}

#[test]
fn held_credits_are_not_the_buckets_until_their_hold_ends() {
    let t = at(2026, 11, 24);
    let acc = with_purchase(t);
    let (held, _) = hold(Some(&acc), &alice(), 50, 60, "h", t).unwrap();
    // 5 monthly and 45 purchased are held: 55 purchased are left in the bucket.
    let refused = adjust(&held.account, &adjustment(-56, Bucket::Purchased), t).unwrap_err();
    assert_eq!(refused.available, 55);
    // Once the hold has expired its credits are back, and the adjustment sees them.
    let later = t + chrono::Duration::seconds(61);
    let c = adjust(&held.account, &adjustment(-100, Bucket::Purchased), later).unwrap();
    assert_eq!((c.account.purchased, c.account.held), (0, 0));
    assert_eq!(c.closed_holds.len(), 1);
    assert_eq!(c.entries.last().unwrap().kind, EntryKind::Adjust);
}

#[derive(Debug, Clone)]
enum Op {
    Touch,
    Deduct(Credits),
    Hold(Credits),
    Release,
    Adjust(Credits, Bucket),
}

fn bucket() -> impl Strategy<Value = Bucket> {
    prop_oneof![Just(Bucket::Monthly), Just(Bucket::Purchased)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::Touch),
        1 => (1..=200i64).prop_map(Op::Deduct),
        1 => (1..=100i64).prop_map(Op::Hold),
        1 => Just(Op::Release),
        3 => (-300..=300i64, bucket())
            .prop_filter("not 0", |(n, _)| *n != 0)
            .prop_map(|(n, b)| Op::Adjust(n, b)),
        1 => (prop_oneof![Just(-MAX_ADJUSTMENT), Just(MAX_ADJUSTMENT)], bucket())
            .prop_map(|(n, b)| Op::Adjust(n, b)),
    ]
}

/// Operations seconds to weeks apart: holds expire and resets come between adjustments.
fn history() -> impl Strategy<Value = Vec<(i64, Op)>> {
    let gap = prop_oneof![3 => 0..600i64, 1 => 86_400..40 * 86_400i64];
    prop::collection::vec((gap, op()), 1..50)
}

/// One operation as the service applies it: expired holds closed in batches first, then the
/// command (a refused one stores what it touched). The account exists: the service refuses an
/// adjustment of a user never seen.
fn step(current: &Account, op: &Op, t: DateTime<Utc>) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut current = current.clone();
    while let Some(batch) = catch_up(Some(&current), t) {
        current = batch.account.clone();
        changes.push(batch);
    }
    let user: &UserId = &current.user_id;
    let c = Some(&current);
    changes.push(match op {
        Op::Touch => touch(c, user, t),
        Op::Deduct(n) => deduct(c, user, *n, "k", None, t).map_or_else(|e| *e.touched, |(c, _)| c),
        Op::Hold(n) => hold(c, user, *n, 300, "h", t)
            .map(|(c, _)| c)
            .unwrap_or_else(|e| e.touched().clone()),
        Op::Release => match current.holds.keys().next() {
            Some(id) => {
                release_hold(c, user, id, t).map_or_else(|e| e.touched().clone(), |(c, _)| c)
            }
            None => touch(c, user, t),
        },
        Op::Adjust(n, b) => adjust(&current, &adjustment(*n, *b), t).unwrap_or_else(|e| *e.touched),
    });
    changes
}

proptest! {
    #[test]
    fn with_adjustments_the_ledger_adds_up_and_no_bucket_goes_below_zero(h in history()) {
        let mut t = at(2026, 1, 1);
        let opened = touch(None, &alice(), t);
        let mut state: (Option<Account>, Vec<Entry>) = (None, Vec::new());
        apply(&mut state, opened);
        for (seconds, op) in &h {
            t += chrono::Duration::seconds(*seconds);
            let current = state.0.clone().unwrap();
            for change in step(&current, op, t) {
                let a = &change.account;
                prop_assert!(a.monthly >= 0 && a.purchased >= 0 && a.held >= 0, "{:?}", a);
                prop_assert!(change.entries.iter().all(|e| e.balance_after >= 0 && e.held_after >= 0));
                apply(&mut state, change);
            }
            let (acc, ledger) = (state.0.as_ref().unwrap(), &state.1);
            prop_assert_eq!(ledger_sum(ledger), acc.owned());
            prop_assert_eq!(ledger.last().map(|e| e.balance_after), Some(acc.balance()));
            prop_assert!(ledger.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1));
        }
    }

    #[test]
    fn an_adjustment_moves_its_bucket_by_exactly_its_amount_or_nothing(
        h in history(), amount in -1_000..=1_000i64, b in bucket(), later in 0..60 * 86_400i64,
    ) {
        let mut t = at(2026, 1, 1);
        let mut acc = touch(None, &alice(), t).account;
        for (seconds, op) in &h {
            t += chrono::Duration::seconds(*seconds);
            for change in step(&acc, op, t) {
                acc = change.account;
            }
        }
        prop_assume!(amount != 0);
        let now = t + chrono::Duration::seconds(later);
        let mut current = acc;
        while let Some(batch) = catch_up(Some(&current), now) {
            current = batch.account;
        }
        let rolled = touch(Some(&current), &alice(), now);
        let in_bucket = |a: &Account| match b {
            Bucket::Monthly => a.monthly,
            Bucket::Purchased => a.purchased,
        };
        match adjust(&current, &adjustment(amount, b), now) {
            Ok(c) => {
                prop_assert_eq!(in_bucket(&c.account), in_bucket(&rolled.account) + amount);
                prop_assert_eq!(c.account.owned(), rolled.account.owned() + amount);
                prop_assert_eq!(c.account.held, rolled.account.held);
                prop_assert_eq!(c.account.plan, rolled.account.plan);
                let last = c.entries.last().unwrap();
                prop_assert_eq!((last.kind, last.amount, last.bucket), (EntryKind::Adjust, amount, b));
                prop_assert_eq!(c.entries.len(), rolled.entries.len() + 1);
            }
            Err(refused) => {
                prop_assert!(amount < 0);
                prop_assert_eq!(refused.available, in_bucket(&rolled.account));
                prop_assert!(refused.available + amount < 0);
                prop_assert_eq!(*refused.touched, rolled);
            }
        }
    }
}
