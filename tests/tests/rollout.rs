//! The rollout rehearsal on the emulator: v1 accounts with purchased credits, migrate, switch to
//! v2, spend, roll back, and every account's credits checked against the backup.

use chrono::Utc;
use credits::account::UserId;
use credits::flags::Version;
use credits::plan::Package;
use credits::rules;
use credits::service::Deduct;
use credits_ops::rollout;

fn user(i: usize) -> UserId {
    UserId::parse(format!("user-{i:03}")).unwrap()
}

#[tokio::test]
async fn migrate_switch_spend_and_roll_back_lose_nothing() {
    let app = credits::local::isolated_app("rollout").await;
    let ssm = aws_sdk_ssm::Client::new(&credits::config::aws_for_tools().await);
    let prefix = app.config.parameter_prefix.clone();
    let now = Utc::now();
    // v1: twelve accounts, some with packages bought, some with credits spent.
    for i in 0..12 {
        let u = user(i);
        app.service.account(&u, now).await.unwrap();
        for _ in 0..(i % 3) {
            let package = Package::ALL[i % 4];
            app.service
                .apply(&u, now, |cur| {
                    Ok(rules::purchase(cur, &u, package, &format!("evt_{i}"), now))
                })
                .await
                .unwrap();
        }
        if i % 2 == 0 {
            let cmd = Deduct {
                amount: 3,
                reason: None,
                key: "v1-spend",
                request: "3",
            };
            app.service
                .deduct(&u, &cmd, now, |_| String::new())
                .await
                .unwrap();
        }
    }

    // A dry run reports and writes nothing.
    let bar = indicatif::ProgressBar::hidden();
    let dry = rollout::migrate(&app, false, &bar).await.unwrap();
    assert_eq!(
        (dry.accounts, dry.migrated, dry.already_migrated),
        (12, 12, 0)
    );
    assert_eq!(dry.with_purchased, 8);
    let untouched = app
        .service
        .store()
        .account(&user(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(untouched.account.migrated_to, None);

    // Backup, migrate, verify.
    let path = std::env::temp_dir().join(format!("credits-rehearsal-{}.jsonl", std::process::id()));
    let backup = rollout::backup(&app, &ssm, &path).await.unwrap();
    assert_eq!(backup.accounts.len(), 12);
    assert_eq!(rollout::read_backup(&path).unwrap().accounts.len(), 12);
    let done = rollout::migrate(&app, true, &bar).await.unwrap();
    assert_eq!(
        (done.migrated, done.purchased_carried),
        (12, dry.purchased_carried)
    );
    assert!(done.failed.is_empty());
    let again = rollout::migrate(&app, true, &bar).await.unwrap();
    assert_eq!(
        (again.migrated, again.already_migrated),
        (0, 12),
        "a second run resumes, changing nothing"
    );
    assert!(rollout::verify(&app, Some(&backup)).await.unwrap().ok());

    // v2: spend, purchased credits included; the ledger accounts for every purchased credit.
    let (before, after) = rollout::switch(&ssm, &prefix, Version::V2, Some(false))
        .await
        .unwrap();
    assert_eq!((before.version, after.version), (Version::V1, Version::V2));
    assert!(!after.purchases_enabled());
    for i in 0..12 {
        let u = user(i);
        let balance = app.service.account(&u, now).await.unwrap().balance();
        let cmd = Deduct {
            amount: balance.min(120),
            reason: None,
            key: "v2-spend",
            request: "v2",
        };
        app.service
            .deduct(&u, &cmd, now, |_| String::new())
            .await
            .unwrap();
    }
    let v = rollout::verify(&app, Some(&backup)).await.unwrap();
    assert!(v.ok(), "{v:?}");

    // Roll back: v1 again, and every account as the backup has it.
    rollout::switch(
        &ssm,
        &prefix,
        Version::V1,
        Some(backup.header.enable_purchases),
    )
    .await
    .unwrap();
    let restored = rollout::restore(&app, &backup).await.unwrap();
    assert!(restored.failed.is_empty());
    assert_eq!(restored.restored, 12);
    for (id, line) in &backup.accounts {
        let now = app
            .service
            .store()
            .account(&UserId::parse(id.as_str()).unwrap())
            .await
            .unwrap()
            .unwrap();
        let (a, b) = (&now.account, &line.account);
        assert_eq!(
            (a.plan, a.monthly, a.purchased, a.held),
            (b.plan, b.monthly, b.purchased, b.held),
            "{id}"
        );
        assert_eq!(a.migrated_to, None, "{id}");
    }
    let v = rollout::verify(&app, None).await.unwrap();
    assert!(v.ledger_mismatch.is_empty(), "{v:?}");
    let _ = std::fs::remove_file(&path);
}
