//! The rollout rehearsal on the emulator: v1 accounts with purchased credits, migrate (and the
//! same command again), switch to v2, spend, roll back: the migration is undone, what users spent
//! stays, and every purchased credit of the backup is there or accounted for.

use std::collections::BTreeMap;

use chrono::Utc;
use credits::app::App;
use credits::flags::Version;
use credits::plan::Plan;
use credits_e2e::rehearsal::{USERS, open_v1, spend, stored, user};
use credits_ops::rollout;

#[tokio::test]
async fn migrate_switch_spend_and_roll_back_lose_nothing() {
    let app = credits_testkit::isolated_app("rollout").await;
    let ssm = aws_sdk_ssm::Client::new(&credits::config::aws_for_tools().await);
    let prefix = app.config.parameter_prefix.clone();
    let now = Utc::now();
    open_v1(&app, now).await;

    // A dry run reports and writes nothing.
    let bar = indicatif::ProgressBar::hidden();
    let dry = rollout::migrate(&app, false, &bar).await.unwrap();
    assert_eq!(
        (dry.accounts, dry.migrated, dry.already_migrated),
        (12, 12, 0)
    );
    assert_eq!(dry.with_purchased, 8);
    assert_eq!(stored(&app, "user-001").await.migrated_to, None);

    // `migrate --apply`: backup, migrate, verify; the same command again changes nothing.
    let path = std::env::temp_dir().join(format!("credits-rehearsal-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let done = rollout::migrate_with_backup(&app, &ssm, &path, &bar)
        .await
        .unwrap();
    assert!(done.ok() && !done.resumed, "{done:?}");
    let backup = done.backup;
    assert_eq!(backup.accounts.len(), 12);
    assert_eq!(rollout::read_backup(&path).unwrap().accounts.len(), 12);
    assert_eq!(
        (done.report.migrated, done.report.purchased_carried),
        (12, dry.purchased_carried)
    );
    let again = rollout::migrate_with_backup(&app, &ssm, &path, &bar)
        .await
        .unwrap();
    assert!(again.ok() && again.resumed, "{again:?}");
    assert_eq!(
        (again.report.migrated, again.report.already_migrated),
        (0, 12),
        "a second run resumes, changing nothing"
    );
    assert_eq!(again.backup.header.taken_at, backup.header.taken_at);

    // v2: spend, purchased credits included; the ledger accounts for every purchased credit.
    let (before, after) = rollout::switch(&ssm, &prefix, Version::V2, Some(false))
        .await
        .unwrap();
    assert_eq!((before.version, after.version), (Version::V1, Version::V2));
    assert!(!after.purchases_enabled());
    for i in 0..USERS {
        let u = user(i);
        let balance = app.service.touch_account(&u, now).await.unwrap().balance();
        spend(&app, &u, balance.min(120), "v2-spend", now).await;
    }
    let v = rollout::verify(&app, Some(&backup)).await.unwrap();
    assert!(v.ok(), "{v:?}");
    let spent = holdings(&app).await;

    // Roll back: v1 again, the migration undone, the v2 spending kept.
    let r = rollout::rollback(&app, &ssm, Some(&backup)).await.unwrap();
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.after.version, Version::V1);
    assert_eq!((r.undone.undone, r.undone.failed.len()), (12, 0));
    assert_eq!((r.undone.credits_added, r.undone.credits_removed), (0, 0));
    assert_eq!(holdings(&app).await, spent);
    for (id, line) in &backup.accounts {
        let now = stored(&app, id).await;
        assert_eq!(now.migrated_to, None, "{id}");
        assert_eq!(now.plan, line.account.plan, "{id}");
    }
    let _ = std::fs::remove_file(&path);
}

/// What each user of the rehearsal has: plan, monthly, purchased and held credits.
async fn holdings(app: &App) -> BTreeMap<String, (Plan, i64, i64, i64)> {
    let mut all = BTreeMap::new();
    for i in 0..USERS {
        let id = user(i).to_string();
        let a = stored(app, &id).await;
        all.insert(id, (a.plan, a.monthly, a.purchased, a.held));
    }
    all
}

/// The operations act on the App's clock, as every request does: an account of a month a test
/// sets (here January 2020, on its last minute) is migrated and rolled back in that month, not
/// reset to the month of the machine's clock, and every entry they write is of that time.
#[tokio::test]
async fn migrate_and_roll_back_act_on_the_apps_clock() {
    let at = chrono::DateTime::parse_from_rfc3339("2020-01-31T23:59:00Z")
        .unwrap()
        .to_utc();
    let app = credits_testkit::isolated_app("rollout-clock")
        .await
        .with_clock(credits::clock::Clock::fixed(at));
    let ssm = aws_sdk_ssm::Client::new(&credits::config::aws_for_tools().await);
    let u = user(0);
    app.service.touch_account(&u, at).await.unwrap();
    let path = std::env::temp_dir().join(format!("credits-clock-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let bar = indicatif::ProgressBar::hidden();
    let run = rollout::migrate_with_backup(&app, &ssm, &path, &bar)
        .await
        .unwrap();
    assert!(run.ok(), "{run:?}");
    assert_eq!(run.backup.header.taken_at, at);
    let a = stored(&app, u.as_str()).await;
    assert_eq!((a.period.to_string(), a.monthly), ("2020-01".into(), 5));
    assert_eq!(a.migrated_to.as_deref(), Some("v2"));
    let r = rollout::rollback(&app, &ssm, Some(&run.backup))
        .await
        .unwrap();
    assert!(r.ok(), "{r:?}");
    let a = stored(&app, u.as_str()).await;
    assert_eq!(
        (a.period.to_string(), a.migrated_to),
        ("2020-01".into(), None)
    );
    let (_, entries) = credits_testkit::account_and_ledger(&app, u.as_str()).await;
    assert!(entries.iter().all(|e| e.at == at), "{entries:?}");
    let _ = std::fs::remove_file(&path);
}
