//! A migration interrupted and resumed keeps the backup of its first run: the file is written
//! once, and a rollback after the resumed run leaves every account as if never migrated.

use std::path::{Path, PathBuf};

use chrono::Utc;
use credits::app::App;
use credits_e2e::rehearsal::{USERS, open_v1, spend, stored, user};
use credits_ops::rollout;

fn temp(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "credits-{tag}-{}-{}.jsonl",
        std::process::id(),
        Utc::now().timestamp_micros()
    ))
}

async fn ssm() -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&credits::config::aws_for_tools().await)
}

async fn stamped(app: &App) -> usize {
    let mut n = 0;
    for i in 0..USERS {
        n += usize::from(stored(app, user(i).as_str()).await.migrated_to.is_some());
    }
    n
}

/// The v1 accounts; `migrate --apply --backup <path>` stopped midway (the process dies: its
/// future is dropped), a deduct meanwhile, then the same command again. Returns the app and the
/// backup file as the first run left it.
async fn interrupted_then_resumed(tag: &str, path: &Path) -> (App, String) {
    let app = credits_testkit::isolated_app(tag).await;
    let now = Utc::now();
    open_v1(&app, now).await;
    let (bar, ssm) = (indicatif::ProgressBar::hidden(), ssm().await);
    tokio::select! {
        _ = rollout::migrate_with_backup(&app, &ssm, path, &bar) => {
            panic!("the first run was to be interrupted")
        }
        _ = async {
            while bar.position() < 6 {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        } => {}
    }
    let first = std::fs::read_to_string(path).unwrap();
    let half = stamped(&app).await;
    assert!((1..USERS).contains(&half), "{half} accounts migrated");

    spend(&app, &user(2), 3, "meanwhile", now).await;

    let bar = indicatif::ProgressBar::hidden();
    let run = rollout::migrate_with_backup(&app, &ssm, path, &bar)
        .await
        .unwrap();
    assert!(run.ok() && run.resumed, "{run:?}");
    assert_eq!(run.report.migrated, USERS - half);
    assert_eq!(stamped(&app).await, USERS);
    (app, first)
}

#[tokio::test]
async fn a_resumed_migration_keeps_its_first_backup_byte_for_byte() {
    let path = temp("resume-bytes");
    let (app, first) = interrupted_then_resumed("resume-bytes", &path).await;
    assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
    let backup = rollout::read_backup(&path).unwrap();
    assert_eq!(backup.migrated(rollout::TARGET), 0, "the state from before");

    // Nothing else writes over it either.
    assert!(rollout::backup(&app, &ssm().await, &path).await.is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), first);

    // A backup of another table is not taken for this one's migration.
    let other = credits_testkit::isolated_app("resume-other").await;
    let foreign = temp("resume-foreign");
    let bar = indicatif::ProgressBar::hidden();
    rollout::migrate_with_backup(&other, &ssm().await, &foreign, &bar)
        .await
        .unwrap();
    let bytes = std::fs::read_to_string(&foreign).unwrap();
    assert!(
        rollout::migrate_with_backup(&app, &ssm().await, &foreign, &bar)
            .await
            .is_err()
    );
    assert_eq!(std::fs::read_to_string(&foreign).unwrap(), bytes);
    for p in [&path, &foreign] {
        let _ = std::fs::remove_file(p);
    }
}

#[tokio::test]
async fn a_rollback_after_a_resumed_migration_leaves_every_account_unmigrated() {
    let path = temp("resume-rollback");
    let (app, _) = interrupted_then_resumed("resume-rollback", &path).await;
    let backup = rollout::read_backup(&path).unwrap();
    rollout::rollback(&app, &ssm().await, Some(&backup))
        .await
        .unwrap();
    for (id, line) in &backup.accounts {
        let (a, b) = (stored(&app, id).await, &line.account);
        // The deduct made meanwhile stays.
        let spent = if *id == user(2).to_string() { 3 } else { 0 };
        assert_eq!(
            (a.plan, a.balance() + spent, a.held),
            (b.plan, b.balance(), b.held),
            "{id}"
        );
        assert_eq!(a.migrated_to, None, "{id}");
    }
    let v = rollout::verify(&app, Some(&backup)).await.unwrap();
    assert!(v.ok(), "{v:?}");
    let _ = std::fs::remove_file(&path);
}
