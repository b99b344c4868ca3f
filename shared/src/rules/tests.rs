use chrono::TimeZone;

use super::*;

pub(super) fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 9, 30, 0).unwrap()
}

pub(super) fn alice() -> UserId {
    UserId::parse("alice").unwrap()
}

pub(super) fn ledger_sum(entries: &[Entry]) -> Credits {
    entries.iter().map(|e| e.amount).sum()
}

/// Applies a change to a running (account, ledger) pair, as the store would.
pub(super) fn apply(state: &mut (Option<Account>, Vec<Entry>), change: Change) {
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
    .unwrap()
    .0;
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
    let (c, crate::rules::NewHold { id, .. }) =
        hold(Some(&acc), &alice(), 7, 900, "idem:h", at(2026, 11, 2)).unwrap();
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
    let (c, crate::rules::NewHold { id, .. }) =
        hold(Some(&acc), &alice(), 7, 900, "k", at(2026, 11, 2)).unwrap();
    let done = commit_hold(Some(&c.account), &alice(), &id, Some(3), at(2026, 11, 2))
        .unwrap()
        .0;
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
    let (c, crate::rules::NewHold { id, .. }) =
        hold(Some(&acc), &alice(), 4, 900, "k", at(2026, 11, 2)).unwrap();
    assert!(matches!(
        commit_hold(Some(&c.account), &alice(), &id, Some(5), at(2026, 11, 2)),
        Err(HoldRefusal::Exceeds { held: 4, .. })
    ));
    let released = release_hold(Some(&c.account), &alice(), &id, at(2026, 11, 2))
        .unwrap()
        .0;
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
    let (c, crate::rules::NewHold { id, .. }) =
        hold(Some(&acc), &alice(), 4, 60, "k", at(2026, 11, 2)).unwrap();
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
    let (c, crate::rules::NewHold { id, .. }) =
        hold(Some(&acc), &alice(), 8, 3600, "k", late_nov).unwrap();
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
    let done = commit_hold(Some(&reset.account), &alice(), &id, Some(1), dec)
        .unwrap()
        .0;
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

mod histories;
mod owned_holds;
mod preview;

#[test]
fn a_deduct_names_its_first_entry_and_a_hold_end_its_record_and_first_entry() {
    let mut acc = touch(None, &alice(), at(2026, 11, 2)).account;
    acc.purchased = 10;
    let (c, tx) = deduct(Some(&acc), &alice(), 7, "k1", None, at(2026, 11, 2)).unwrap();
    assert_eq!(tx, c.entries[0].id());
    assert_eq!(c.entries.len(), 2);

    let (
        held,
        crate::rules::NewHold {
            id,
            amount,
            expires_at,
        },
    ) = hold(Some(&c.account), &alice(), 6, 900, "k2", at(2026, 11, 2)).unwrap();
    assert_eq!(
        (amount, expires_at),
        (6, at(2026, 11, 2) + chrono::Duration::seconds(900))
    );
    assert_eq!(held.account.holds[&id].expires_at, expires_at);
    let (done, end) =
        commit_hold(Some(&held.account), &alice(), &id, Some(2), at(2026, 11, 2)).unwrap();
    assert_eq!(done.closed_holds, std::slice::from_ref(&end.closed));
    assert_eq!((end.closed.committed, end.closed.released), (2, 4));
    assert_eq!(end.transaction, Some(done.entries[0].id()));

    // A hold a refund emptied ends with no entry, so with no transaction.
    let (held, crate::rules::NewHold { id, .. }) =
        hold(Some(&done.account), &alice(), 4, 900, "k3", at(2026, 11, 2)).unwrap();
    let mut emptied = held.account.clone();
    let h = emptied.holds.get_mut(&id).unwrap();
    emptied.purchased += h.amount;
    emptied.held -= h.amount;
    (h.amount, h.monthly, h.purchased) = (0, 0, 0);
    let (gone, end) = release_hold(Some(&emptied), &alice(), &id, at(2026, 11, 2)).unwrap();
    assert!(gone.entries.is_empty());
    assert_eq!(
        (end.closed.hold_id.as_str(), end.transaction),
        (id.as_str(), None)
    );
}
