//! A rollback after the migration undoes the migration and nothing else: what Stripe changed
//! (subscriptions, cancellations, packages) and what users spent after the backup stays, and
//! every ledger still adds up. Stripe's events arrive signed through the local gateway.

use chrono::Utc;
use credits::account::Account;
use credits::flags::Version;
use credits::ledger::Entry;
use credits_e2e::rehearsal::stored;
use credits_e2e::{Stack, stripe_event, stripe_purchase, stripe_subscription};
use credits_ops::rollout::{self, Backup};

/// An SSM client for the operations (the stack's parameters live in the same emulator).
async fn ssm() -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&credits::config::aws_for_tools().await)
}

/// The account (as of now) and its whole ledger, oldest first.
async fn account(stack: &Stack, user: &str) -> (Account, Vec<Entry>) {
    let (account, mut entries) =
        credits_testkit::account_and_ledger(stack.gateway.app(), user).await;
    entries.reverse();
    (account, entries)
}

/// `migrate --apply` with a backup (the accounts stay on v1 until switched).
async fn migrated(stack: &Stack, tag: &str) -> (Backup, std::path::PathBuf) {
    let app = stack.gateway.app();
    let path = std::env::temp_dir().join(format!(
        "credits-{tag}-{}-{}.jsonl",
        std::process::id(),
        Utc::now().timestamp_micros()
    ));
    let bar = indicatif::ProgressBar::hidden();
    let run = rollout::migrate_with_backup(app, &ssm().await, &path, &bar)
        .await
        .unwrap();
    assert!(run.ok(), "{:?}", run.verification);
    (run.backup, path)
}

/// Phase 3: v2, purchases off.
async fn switch_to_v2(stack: &Stack) {
    let prefix = &stack.gateway.app().config.parameter_prefix;
    rollout::switch(&ssm().await, prefix, Version::V2, Some(false))
        .await
        .unwrap();
}

/// `rollback --backup`: back on v1, every account unstamped, every ledger adding up, and every
/// purchased credit of the backup still there or accounted for.
async fn roll_back(stack: &Stack, backup: &Backup, path: &std::path::Path) {
    let app = stack.gateway.app();
    let r = rollout::rollback(app, &ssm().await, Some(backup))
        .await
        .unwrap();
    assert_eq!(r.after.version, Version::V1);
    let v = rollout::verify(app, Some(backup)).await.unwrap();
    assert!(v.ok(), "{v:?}");
    for id in backup.accounts.keys() {
        assert_eq!(stored(app, id).await.migrated_to, None, "{id}");
    }
    let _ = std::fs::remove_file(path);
}

async fn deliver(stack: &Stack, id: &str, kind: &str, created: i64, object: serde_json::Value) {
    let r = stack.stripe(&stripe_event(id, kind, created, object)).await;
    assert_eq!(
        (r.status, r.json["outcome"].as_str()),
        (200, Some("applied")),
        "{id}: {:?}",
        r.json
    );
}

/// `user`'s Pro Monthly subscription, in `status`.
fn pro(user: &str, status: &str) -> serde_json::Value {
    stripe_subscription(&format!("sub_{user}"), user, status, "price_pro_monthly")
}

/// (plan, monthly, purchased, held): what a rollback must leave as it found it.
fn holdings(a: &Account) -> (credits::plan::Plan, i64, i64, i64) {
    (a.plan, a.monthly, a.purchased, a.held)
}

#[tokio::test]
async fn a_subscription_after_the_backup_keeps_its_plan_and_credits_through_a_rollback() {
    let stack = Stack::start("rollback-sub").await;
    let t = Utc::now().timestamp() - 60;
    account(&stack, "ann").await;
    let (backup, path) = migrated(&stack, "rollback-sub").await;
    switch_to_v2(&stack).await;

    let created = "customer.subscription.created";
    deliver(&stack, "evt_ann_1", created, t, pro("ann", "active")).await;
    let (paying, _) = account(&stack, "ann").await;
    assert_eq!(paying.plan, credits::plan::Plan::ProMonthly);

    roll_back(&stack, &backup, &path).await;
    let (after, ledger) = account(&stack, "ann").await;
    assert_eq!(
        holdings(&after),
        holdings(&paying),
        "Stripe bills her for Pro"
    );
    // The rollback moved no credit: it only recorded that the migration was undone.
    let last = ledger.last().unwrap();
    assert_eq!((last.kind.as_str(), last.amount), ("migrate", 0));
    assert!(last.cause.starts_with("rollback:"), "{last:?}");
}

#[tokio::test]
async fn a_cancellation_after_the_backup_stays_cancelled_through_a_rollback() {
    let stack = Stack::start("rollback-cancel").await;
    let t = Utc::now().timestamp() - 60;
    let created = "customer.subscription.created";
    deliver(&stack, "evt_bob_1", created, t, pro("bob", "active")).await;
    let (backup, path) = migrated(&stack, "rollback-cancel").await;
    switch_to_v2(&stack).await;
    assert_eq!(
        backup.accounts["bob"].account.plan,
        credits::plan::Plan::ProMonthly
    );

    let deleted = "customer.subscription.deleted";
    deliver(&stack, "evt_bob_2", deleted, t + 1, pro("bob", "canceled")).await;
    let (cancelled, _) = account(&stack, "bob").await;
    assert_eq!(cancelled.plan, credits::plan::Plan::Free);

    roll_back(&stack, &backup, &path).await;
    let (after, _) = account(&stack, "bob").await;
    assert_eq!(
        holdings(&after),
        holdings(&cancelled),
        "Stripe no longer bills him"
    );
}

#[tokio::test]
async fn packages_bought_and_credits_spent_after_the_backup_stay_through_a_rollback() {
    let stack = Stack::start("rollback-spend").await;
    let app = stack.gateway.app();
    let hook = stack.gateway.webhook();
    let buy = |user: &str, event: &str| stripe_purchase(hook.secret.expose(), user, event);
    let bought = webhook::handle(app, hook, buy("dan", "evt_dan_1").request()).await;
    assert_eq!(bought.status(), 200);
    account(&stack, "cat").await;
    let (backup, path) = migrated(&stack, "rollback-spend").await;
    // Still v1 (purchases on): Cat buys a package.
    let bought = webhook::handle(app, hook, buy("cat", "evt_cat_1").request()).await;
    assert_eq!(bought.status(), 200);
    // Dan spends his monthly credits and some purchased ones.
    let token = stack.token("dan");
    let r = stack
        .deduct(&token, "dan-after-backup", r#"{"amount": 40}"#)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    let before: Vec<_> = [
        account(&stack, "cat").await.0,
        account(&stack, "dan").await.0,
    ]
    .iter()
    .map(holdings)
    .collect();
    assert_eq!((before[0].2, before[1].2), (100, 65));

    roll_back(&stack, &backup, &path).await;
    let after: Vec<_> = [
        account(&stack, "cat").await.0,
        account(&stack, "dan").await.0,
    ]
    .iter()
    .map(holdings)
    .collect();
    assert_eq!(after, before);
}
