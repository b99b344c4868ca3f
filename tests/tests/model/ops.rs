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

/// `scripts/migrate --apply --backup PATH`: the backup, then the migration.
pub async fn migrate(app: &App, ssm: &aws_sdk_ssm::Client, backup: &Path) -> Result {
    rollout::backup(app, ssm, backup).await.map_err(text)?;
    let report = rollout::migrate(app, true, &indicatif::ProgressBar::hidden())
        .await
        .map_err(text)?;
    match report.failed.is_empty() {
        true => Ok(()),
        false => Err(format!("migration failed for {:?}", report.failed)),
    }
}

/// `scripts/rollback --backup PATH` (or without a backup when no migration ran).
pub async fn rollback(app: &App, ssm: &aws_sdk_ssm::Client, backup: &Path) -> Result {
    let Ok(backup) = rollout::read_backup(backup) else {
        return switch(app, ssm, false, true).await;
    };
    let prefix = &app.config.parameter_prefix;
    rollout::switch(
        ssm,
        prefix,
        Version::V1,
        Some(backup.header.enable_purchases),
    )
    .await
    .map_err(text)?;
    let report = rollout::restore(app, &backup).await.map_err(text)?;
    match report.failed.is_empty() {
        true => Ok(()),
        false => Err(format!("rollback failed for {:?}", report.failed)),
    }
}
