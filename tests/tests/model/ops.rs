//! The operator's tooling as a history calls it (`credits_ops::rollout`): every call in one
//! place, so that a change of its interface is adapted here alone.

use std::path::Path;

use credits::app::App;
use credits::flags::Version;
use credits_ops::rollout;

type Result = std::result::Result<(), String>;

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Both flags, as `scripts/switch` sets them.
pub async fn switch(app: &App, ssm: &aws_sdk_ssm::Client, v2: bool, purchases: bool) -> Result {
    let version = if v2 { Version::V2 } else { Version::V1 };
    rollout::switch(ssm, &app.config.parameter_prefix, version, Some(purchases))
        .await
        .map(|_| ())
        .map_err(text)
}

/// `scripts/migrate --apply --backup PATH`: the backup (once), the migration, the verification.
pub async fn migrate(app: &App, ssm: &aws_sdk_ssm::Client, backup: &Path) -> Result {
    let bar = indicatif::ProgressBar::hidden();
    let run = rollout::migrate_with_backup(app, ssm, backup, &bar)
        .await
        .map_err(text)?;
    match run.ok() {
        true => Ok(()),
        false => Err(format!("migrate: {:?} {:?}", run.report, run.verification)),
    }
}

/// `scripts/rollback --backup PATH` (or without a backup when no migration ran).
pub async fn rollback(app: &App, ssm: &aws_sdk_ssm::Client, backup: &Path) -> Result {
    let backup = rollout::read_backup(backup).ok();
    let run = rollout::rollback(app, ssm, backup.as_ref())
        .await
        .map_err(text)?;
    match run.ok() {
        true => Ok(()),
        false => Err(format!("rollback: {:?} {:?}", run.undone, run.verification)),
    }
}
