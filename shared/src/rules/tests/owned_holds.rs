//! Held credits are owned credits: refunds and downgrade caps reach into open holds at once;
//! expired holds are closed in batches that fit one transaction.

use super::*;

fn with_purchased(purchased: Credits, plan: Plan, now: DateTime<Utc>) -> Account {
    let mut acc = touch(None, &alice(), now).account;
    acc.plan = plan;
    acc.monthly = plan.monthly_credits();
    acc.purchased = purchased;
    acc
}

fn kinds(c: &Change) -> Vec<(EntryKind, Credits, Credits)> {
    c.entries
        .iter()
        .map(|e| (e.kind, e.amount, e.held_after))
        .collect()
}

/// Buy 1,000, hold 1,005, the charge is fully refunded, release: nothing of
/// the package may remain.
#[test]
fn a_refund_takes_the_held_purchased_credits_the_bucket_lacks() {
    let now = at(2026, 11, 10);
    let acc = with_purchased(1_000, Plan::Free, now);
    let (held, crate::rules::NewHold { id, .. }) =
        hold(Some(&acc), &alice(), 1_005, 900, "k", now).unwrap();
    assert_eq!((held.account.balance(), held.account.held), (0, 1_005));
    let (refunded, shortfall) = revoke(Some(&held.account), &alice(), 1_000, "evt", "refund", now);
    assert_eq!(shortfall, 0);
    // One entry: the 1,000 credits leave what the account owns, all of them out of the hold.
    assert_eq!(kinds(&refunded), [(EntryKind::Revoke, -1_000, 5)]);
    let h = &refunded.account.holds[&id];
    assert_eq!((h.amount, h.monthly, h.purchased), (5, 5, 0));
    assert_eq!(refunded.account.owned(), 5);
    let released = release_hold(Some(&refunded.account), &alice(), &id, now)
        .unwrap()
        .0;
    assert_eq!(
        (released.account.monthly, released.account.purchased),
        (5, 0)
    );
    assert_eq!(released.closed_holds[0].released, 5);
}

#[test]
fn a_refund_takes_the_bucket_first_then_the_newest_hold() {
    let now = at(2026, 11, 10);
    let acc = with_purchased(300, Plan::Free, now);
    let (a, crate::rules::NewHold { id: first, .. }) =
        hold(Some(&acc), &alice(), 105, 900, "k1", now).unwrap();
    let (b, crate::rules::NewHold { id: second, .. }) =
        hold(Some(&a.account), &alice(), 100, 900, "k2", now).unwrap();
    assert_eq!(b.account.purchased, 100);
    let (c, _) = revoke(Some(&b.account), &alice(), 250, "evt", "refund", now);
    assert_eq!(c.account.purchased, 0);
    // 100 from the bucket, then 100 from the newer hold, then 50 from the older one.
    assert_eq!(c.account.holds[&second].amount, 0);
    assert_eq!(c.account.holds[&first].amount, 55);
    assert_eq!(c.account.holds[&first].purchased, 50);
    assert_eq!(kinds(&c), [(EntryKind::Revoke, -250, 55)]);
    // A commit of more than the hold now holds is refused; of what is left, it goes through.
    assert!(matches!(
        commit_hold(Some(&c.account), &alice(), &first, Some(105), now),
        Err(HoldRefusal::Exceeds { held: 55, .. })
    ));
    let done = commit_hold(Some(&c.account), &alice(), &first, None, now)
        .unwrap()
        .0;
    assert_eq!(done.closed_holds[0].committed, 55);
    // An emptied hold is still open: it commits or releases nothing.
    let emptied = release_hold(Some(&done.account), &alice(), &second, now)
        .unwrap()
        .0;
    assert_eq!(emptied.closed_holds[0].released, 0);
    assert_eq!(emptied.account.owned(), 0);
}

#[test]
fn a_refund_beyond_what_is_owned_records_the_shortfall() {
    let now = at(2026, 11, 10);
    let acc = with_purchased(100, Plan::Free, now);
    let spent = deduct(Some(&acc), &alice(), 65, "d", None, now)
        .unwrap()
        .0
        .account;
    let (held, _) = hold(Some(&spent), &alice(), 30, 900, "k", now).unwrap();
    let (c, shortfall) = revoke(Some(&held.account), &alice(), 100, "evt", "refund", now);
    assert_eq!(shortfall, 60);
    assert_eq!(kinds(&c), [(EntryKind::Revoke, -40, 0)]);
    assert_eq!(
        c.entries[0].reason.as_deref(),
        Some("refund; 60 already spent")
    );
}

/// Pro Monthly, hold every monthly credit, the subscription ends, release:
/// the Free account keeps 5 monthly credits, no more. A fully refunded Lifetime the same.
#[test]
fn a_downgrade_caps_the_held_monthly_credits_too() {
    let now = at(2026, 11, 10);
    for (plan, held) in [(Plan::ProMonthly, 100), (Plan::Lifetime, 500)] {
        let acc = with_purchased(0, plan, now);
        let (h, crate::rules::NewHold { id, .. }) =
            hold(Some(&acc), &alice(), held, 900, "k", now).unwrap();
        let down = change_plan(Some(&h.account), &alice(), Plan::Free, "evt", now);
        assert_eq!(
            kinds(&down),
            [(EntryKind::Adjust, -(held - 5), 5)],
            "{plan}"
        );
        let released = release_hold(Some(&down.account), &alice(), &id, now)
            .unwrap()
            .0;
        assert_eq!(
            (released.account.plan, released.account.monthly),
            (Plan::Free, 5)
        );
    }
}

#[test]
fn a_downgrade_cuts_the_monthly_bucket_before_the_holds_and_leaves_purchased_alone() {
    let now = at(2026, 11, 10);
    let acc = with_purchased(50, Plan::ProYearly, now);
    // 150 monthly: 120 held (monthly only), 30 left in the bucket.
    let (h, crate::rules::NewHold { id, .. }) =
        hold(Some(&acc), &alice(), 120, 900, "k", now).unwrap();
    let down = change_plan(Some(&h.account), &alice(), Plan::ProMonthly, "evt", now);
    // 150 owned monthly credits capped at 100: 30 from the bucket, 20 from the hold.
    assert_eq!((down.account.monthly, down.account.purchased), (0, 50));
    assert_eq!(down.account.holds[&id].amount, 100);
    assert_eq!(kinds(&down), [(EntryKind::Adjust, -50, 100)]);
    // Below the cap nothing moves.
    let again = change_plan(Some(&h.account), &alice(), Plan::Lifetime, "evt", now);
    assert_eq!(again.account.holds[&id].amount, 120);
}

#[test]
fn held_monthly_credits_of_an_ended_period_are_not_capped_they_expire_when_they_return() {
    let nov = Utc.with_ymd_and_hms(2026, 11, 30, 23, 50, 0).unwrap();
    let acc = with_purchased(0, Plan::ProMonthly, nov);
    let (h, crate::rules::NewHold { id, .. }) =
        hold(Some(&acc), &alice(), 80, 3_600, "k", nov).unwrap();
    let dec = Utc.with_ymd_and_hms(2026, 12, 1, 0, 5, 0).unwrap();
    // December's 100 are capped at 5; November's 80 still held are not December's credits.
    let down = change_plan(Some(&h.account), &alice(), Plan::Free, "evt", dec);
    assert_eq!(down.account.monthly, 5);
    assert_eq!(down.account.holds[&id].amount, 80);
    let back = release_hold(Some(&down.account), &alice(), &id, dec)
        .unwrap()
        .0;
    assert_eq!(
        (back.account.monthly, back.closed_holds[0].expired),
        (5, 80)
    );
}

/// 100 holds that each drew from both buckets, all expired across a month's
/// end. Closing one writes three items; the batches and the final change each fit a transaction.
#[test]
fn expired_holds_are_closed_in_batches_that_fit_one_transaction() {
    let nov = Utc.with_ymd_and_hms(2026, 11, 30, 23, 0, 0).unwrap();
    let mut acc = with_purchased(1_000, Plan::Free, nov);
    for i in 0..MAX_OPEN_HOLDS {
        // Each hold takes the last monthly credit there is (topped up here) and one purchased.
        acc.monthly = 1;
        let ttl = 60 + i64::try_from(MAX_OPEN_HOLDS - i).unwrap();
        acc = hold(Some(&acc), &alice(), 2, ttl, "k", nov)
            .unwrap()
            .0
            .account;
    }
    assert!(
        acc.holds
            .values()
            .all(|h| h.monthly == 1 && h.purchased == 1)
    );
    let dec = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    let mut batches = Vec::new();
    while let Some(batch) = catch_up(Some(&acc), dec) {
        // Two entries and one record per hold, no reset.
        assert_eq!(batch.closed_holds.len(), EXPIRY_BATCH);
        assert_eq!(batch.entries.len(), 2 * EXPIRY_BATCH);
        assert_eq!(batch.account.period, acc.period);
        acc = batch.account.clone();
        batches.push(batch);
    }
    assert_eq!(batches.len(), MAX_OPEN_HOLDS / EXPIRY_BATCH - 1);
    // Earliest expiry first: the last holds opened had the shortest lifetimes.
    assert_eq!(batches[0].closed_holds[0].hold_id, hold_id(2 + 2 * 99));
    let last = touch(Some(&acc), &alice(), dec);
    assert_eq!(last.closed_holds.len(), EXPIRY_BATCH);
    assert!(last.account.holds.is_empty());
    assert_eq!(last.account.period.to_string(), "2026-12");
    assert_eq!((last.account.monthly, last.account.purchased), (5, 1_000));
    // Nothing more is due: no batch.
    assert!(catch_up(Some(&last.account), dec).is_none());
}
