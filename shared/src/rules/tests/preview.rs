//! The preview of a plan change against the change itself: the same rule on the same account
//! at the same time, so the same numbers.

use proptest::prelude::*;

use super::histories::{Op, caught_up, end, history, run, step};
use super::*;

#[test]
fn an_upgrade_previews_the_prorated_difference() {
    let free = touch(None, &alice(), at(2026, 11, 24)).account;
    let p = preview_change_plan(Some(&free), &alice(), Plan::ProYearly, at(2026, 11, 24));
    // (150 - 5) * 7 / 30 = 33.8.
    assert_eq!((p.granted, p.capped), (33, 0));
    assert_eq!((p.before.balance(), p.after.balance()), (5, 38));
    assert_eq!(p.after.plan, Plan::ProYearly);
}

#[test]
fn a_downgrade_previews_the_cap_held_credits_included() {
    let now = at(2026, 11, 2);
    let mut acc = change_plan(None, &alice(), Plan::ProMonthly, "evt", now).account;
    acc.purchased = 7;
    let (held, _) = hold(Some(&acc), &alice(), 30, 3_600, "k", now).unwrap();
    // Monthly 5 + 95 * 29 / 30 = 96, of which 30 held: 91 go, 66 from the bucket, 25 held.
    assert_eq!((held.account.monthly, held.account.held), (66, 30));
    let p = preview_change_plan(Some(&held.account), &alice(), Plan::Free, now);
    assert_eq!((p.granted, p.capped), (0, 91));
    assert_eq!((p.after.monthly, p.after.held), (0, 5));
    assert_eq!(p.after.balance(), 7, "purchased credits are untouched");
}

#[test]
fn a_never_seen_user_previews_from_the_free_account_they_would_get() {
    let p = preview_change_plan(None, &alice(), Plan::Lifetime, at(2026, 11, 1));
    assert_eq!(p.before, touch(None, &alice(), at(2026, 11, 1)).account);
    assert_eq!((p.granted, p.after.balance()), (495, 500));
}

#[test]
fn a_due_reset_applies_before_the_previewed_change() {
    let october = touch(None, &alice(), at(2026, 10, 3)).account;
    let p = preview_change_plan(Some(&october), &alice(), Plan::ProMonthly, at(2026, 11, 1));
    assert_eq!(p.before.period.to_string(), "2026-11");
    assert_eq!(
        (p.before.balance(), p.granted, p.after.balance()),
        (5, 95, 100)
    );
}

proptest! {
    /// Whatever the account's history, the plan and the time: the preview's account after is
    /// the account the applied change stores, its balance before is the one the change starts
    /// from, and its granted or capped credits are the plan change's entry.
    #[test]
    fn a_preview_is_what_applying_the_change_then_yields(
        h in history(),
        plan in prop::sample::select(Plan::ALL.to_vec()),
        later in 0..40 * 86_400i64,
    ) {
        let ((account, _), _) = run(&h);
        let now = end(&h) + chrono::Duration::seconds(later);
        let p = preview_change_plan(account.as_ref(), &alice(), plan, now);
        let changes = step(account.as_ref(), &Op::Plan(plan), now);
        let stored = &changes.last().unwrap().account;
        prop_assert_eq!(&p.after, stored);
        let plan_entries: Credits = changes
            .iter()
            .flat_map(|c| &c.entries)
            .filter(|e| e.cause == "evt")
            .map(|e| e.amount)
            .sum();
        prop_assert_eq!(p.granted - p.capped, plan_entries);
        prop_assert!(p.granted == 0 || p.capped == 0);
        let read = account.map(|a| caught_up(a, now));
        let touched = touch(read.as_ref(), &alice(), now).account;
        prop_assert_eq!(&p.before, &touched);
        if p.before.plan == plan {
            prop_assert_eq!((p.granted, p.capped), (0, 0));
            prop_assert_eq!(p.after.balance(), p.before.balance());
        }
    }
}
