use chrono::TimeZone;
use proptest::prelude::*;

use super::super::{change_plan, deduct, hold, purchase, release_hold, touch};
use super::*;
use crate::account::UserId;
use crate::plan::{Package, Plan};

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 9, 30, 0).unwrap()
}

fn alice() -> UserId {
    UserId::parse("alice").unwrap()
}

/// An account and its ledger, oldest first, as the store keeps them.
#[derive(Debug, Clone)]
struct Kept {
    account: Account,
    ledger: Vec<Entry>,
}

impl Kept {
    fn open(now: DateTime<Utc>) -> Self {
        let c = touch(None, &alice(), now);
        Self {
            account: c.account,
            ledger: c.entries,
        }
    }

    fn apply(&mut self, change: Change) {
        self.ledger.extend(change.entries);
        self.account = change.account;
    }

    fn buy(&mut self, package: Package, event: &str, now: DateTime<Utc>) {
        self.apply(purchase(Some(&self.account), &alice(), package, event, now));
    }

    fn adds_up(&self) -> bool {
        self.ledger.iter().map(|e| e.amount).sum::<Credits>() == self.account.owned()
    }

    /// What the user has: everything but the ledger position and the stamp.
    fn holdings(&self) -> (Plan, Period, Credits, Credits, Credits, Vec<Credits>) {
        let a = &self.account;
        let holds = a.holds.values().map(|h| h.amount).collect();
        (a.plan, a.period, a.monthly, a.purchased, a.held, holds)
    }
}

#[test]
fn migration_stamps_once_and_takes_nothing() {
    let mut acc = touch(None, &alice(), at(2026, 10, 2)).account;
    acc.purchased = 300;
    acc.monthly = 2;
    let c = migrate(&acc, "v2", at(2026, 11, 3)).unwrap();
    assert_eq!(c.account.migrated_to.as_deref(), Some("v2"));
    assert_eq!(c.account.purchased, 300);
    // The due reset came first; then one zero-amount entry that names what was carried.
    let kinds: Vec<_> = c.entries.iter().map(|e| (e.kind, e.amount)).collect();
    assert_eq!(
        kinds,
        [
            (EntryKind::Expire, -2),
            (EntryKind::Grant, 5),
            (EntryKind::Migrate, 0)
        ]
    );
    assert_eq!(c.entries[2].cause, "migrate:v2");
    assert!(
        c.entries[2]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("300 purchased")
    );
    assert!(migrate(&c.account, "v2", at(2026, 11, 4)).is_none());
}

#[test]
fn undoing_a_migration_keeps_every_change_made_since() {
    let mut k = Kept::open(at(2026, 11, 2));
    k.buy(Package::ALL[1], "evt_1", at(2026, 11, 2));
    k.apply(migrate(&k.account, "v2", at(2026, 11, 3)).unwrap());
    // Since the migration: Stripe upgrades her, she buys and spends.
    let t = at(2026, 11, 10);
    k.apply(change_plan(
        Some(&k.account),
        &alice(),
        Plan::ProMonthly,
        "evt_2",
        t,
    ));
    k.buy(Package::ALL[0], "evt_3", t);
    k.apply(
        deduct(Some(&k.account), &alice(), 70, "key", None, t)
            .unwrap()
            .0,
    );
    let before = k.holdings();

    let c = unmigrate(&k.account, &k.ledger, "rollback:r1", at(2026, 11, 12)).unwrap();
    let kinds: Vec<_> = c
        .entries
        .iter()
        .map(|e| (e.kind, e.amount, e.cause.as_str()))
        .collect();
    assert_eq!(kinds, [(EntryKind::Migrate, 0, "rollback:r1")]);
    k.apply(c);
    assert_eq!(k.holdings(), before);
    assert_eq!(k.account.migrated_to, None);
    assert!(k.adds_up());
    assert!(unmigrate(&k.account, &k.ledger, "rollback:r2", at(2026, 11, 12)).is_none());
}

/// A migration that also moved credits: `amount` into `bucket`, written with its stamp.
fn migrate_moving(k: &mut Kept, bucket: Bucket, amount: Credits, now: DateTime<Utc>) {
    let mut c = migrate(&k.account, "v2", now).unwrap();
    let stamp = c.entries.pop().unwrap();
    let mut moved = stamp.clone();
    moved.kind = EntryKind::Adjust;
    moved.bucket = bucket;
    moved.amount = amount;
    match bucket {
        Bucket::Monthly => c.account.monthly += amount,
        Bucket::Purchased => c.account.purchased += amount,
    }
    c.entries.push(moved);
    let mut stamp = stamp;
    stamp.seq += 1;
    c.account.seq += 1;
    c.entries.push(stamp);
    k.apply(c);
    assert!(k.adds_up());
}

#[test]
fn credits_a_migration_moved_move_back_as_far_as_they_are_left() {
    let mut k = Kept::open(at(2026, 11, 2));
    migrate_moving(&mut k, Bucket::Purchased, 50, at(2026, 11, 3));
    // 45 spent: the 5 monthly credits first, then 40 of the 50.
    k.apply(
        deduct(Some(&k.account), &alice(), 45, "key", None, at(2026, 11, 4))
            .unwrap()
            .0,
    );

    let c = unmigrate(&k.account, &k.ledger, "rollback:r1", at(2026, 11, 5)).unwrap();
    let adjust = &c.entries[0];
    assert_eq!(
        (adjust.kind, adjust.bucket, adjust.amount),
        (EntryKind::Adjust, Bucket::Purchased, -10)
    );
    assert_eq!(
        adjust.reason.as_deref(),
        Some("undo migrate:v2; 40 already spent")
    );
    k.apply(c);
    assert_eq!((k.account.monthly, k.account.purchased), (0, 0));
    assert!(k.adds_up());

    // Migrated again and undone again: only the second migration's credits move back.
    migrate_moving(&mut k, Bucket::Purchased, 20, at(2026, 11, 6));
    let c = unmigrate(&k.account, &k.ledger, "rollback:r2", at(2026, 11, 7)).unwrap();
    assert_eq!(c.entries[0].amount, -20);
    k.apply(c);
    assert_eq!(k.account.purchased, 0);
    assert!(k.adds_up());
}

#[test]
fn credits_a_migration_took_come_back_whole() {
    let mut k = Kept::open(at(2026, 11, 2));
    k.buy(Package::ALL[0], "evt_1", at(2026, 11, 2));
    migrate_moving(&mut k, Bucket::Purchased, -30, at(2026, 11, 3));
    let c = unmigrate(&k.account, &k.ledger, "rollback:r1", at(2026, 11, 4)).unwrap();
    assert_eq!(c.entries[0].amount, 30);
    k.apply(c);
    assert_eq!(k.account.purchased, 100);
}

#[test]
fn monthly_credits_a_migration_moved_in_an_ended_period_stay_as_the_reset_left_them() {
    let mut k = Kept::open(at(2026, 10, 20));
    migrate_moving(&mut k, Bucket::Monthly, 3, at(2026, 10, 21));
    let c = unmigrate(&k.account, &k.ledger, "rollback:r1", at(2026, 11, 2)).unwrap();
    let kinds: Vec<_> = c.entries.iter().map(|e| (e.kind, e.amount)).collect();
    assert_eq!(
        kinds,
        [
            (EntryKind::Expire, -8),
            (EntryKind::Grant, 5),
            (EntryKind::Migrate, 0)
        ]
    );
    k.apply(c);
    assert_eq!(k.account.monthly, 5);
}

#[test]
fn with_too_short_a_ledger_only_the_stamp_goes() {
    let mut k = Kept::open(at(2026, 11, 2));
    migrate_moving(&mut k, Bucket::Purchased, 50, at(2026, 11, 3));
    let c = unmigrate(&k.account, &[], "rollback:r1", at(2026, 11, 4)).unwrap();
    assert_eq!(c.entries.len(), 1);
    assert_eq!(c.account.purchased, 50);
}

// ---- migrate and undo anywhere in a history: as if never migrated ----

#[derive(Debug, Clone)]
enum Op {
    Deduct(Credits),
    Plan(Plan),
    Purchase(Package),
    Hold(Credits),
    /// Release the first open hold.
    Release,
    Migrate,
    Undo,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1..=200i64).prop_map(Op::Deduct),
        prop::sample::select(Plan::ALL.to_vec()).prop_map(Op::Plan),
        prop::sample::select(Package::ALL.to_vec()).prop_map(Op::Purchase),
        (1..=100i64).prop_map(Op::Hold),
        Just(Op::Release),
        Just(Op::Migrate),
        Just(Op::Undo),
    ]
}

fn step(k: &Kept, op: &Op, migrating: bool, t: DateTime<Utc>) -> Change {
    let a = Some(&k.account);
    let u = alice();
    match op {
        Op::Deduct(n) => deduct(a, &u, *n, "k", None, t)
            .map(|(c, _)| c)
            .unwrap_or_else(|e| *e.touched),
        Op::Plan(p) => change_plan(a, &u, *p, "evt", t),
        Op::Purchase(p) => purchase(a, &u, *p, "evt", t),
        Op::Hold(n) => hold(a, &u, *n, 86_400, "k", t)
            .map(|(c, _)| c)
            .unwrap_or_else(|e| e.touched().clone()),
        Op::Release => match k.account.holds.keys().next() {
            Some(id) => release_hold(a, &u, id, t)
                .map(|(c, _)| c)
                .unwrap_or_else(|e| e.touched().clone()),
            None => touch(a, &u, t),
        },
        Op::Migrate if migrating => migrate(&k.account, "v2", t).unwrap_or_else(|| touch(a, &u, t)),
        Op::Undo if migrating => {
            unmigrate(&k.account, &k.ledger, "rollback:r", t).unwrap_or_else(|| touch(a, &u, t))
        }
        Op::Migrate | Op::Undo => touch(a, &u, t),
    }
}

proptest! {
    #[test]
    fn a_history_migrated_and_undone_ends_as_if_never_migrated(
        h in prop::collection::vec((0u32..12, op()), 1..50)
    ) {
        let start = at(2026, 1, 1);
        let (mut with, mut without) = (Kept::open(start), Kept::open(start));
        let mut t = start;
        for (days, op) in &h {
            t += chrono::Duration::days(i64::from(*days));
            with.apply(step(&with, op, true, t));
            without.apply(step(&without, op, false, t));
            prop_assert!(with.adds_up());
        }
        with.apply(
            unmigrate(&with.account, &with.ledger, "rollback:end", t)
                .unwrap_or_else(|| touch(Some(&with.account), &alice(), t)),
        );
        without.apply(touch(Some(&without.account), &alice(), t));
        prop_assert_eq!(with.holdings(), without.holdings());
        prop_assert_eq!(with.account.migrated_to.as_deref(), None);
        prop_assert!(with.adds_up());
    }
}
