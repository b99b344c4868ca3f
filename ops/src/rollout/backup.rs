//! Backups: every account in a JSON-lines file (a header, then one account per line) and, where
//! the endpoint supports one, an on-demand table backup. A file is written once: it appears whole
//! or not at all, and never replaces another, so the copy from before a migration survives every
//! later run.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use credits::account::Account;
use credits::app::App;
use serde::{Deserialize, Serialize};

use super::{Error, Scan, read_flags};

/// The first line of a backup file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupHeader {
    pub kind: String,
    pub table: String,
    pub taken_at: DateTime<Utc>,
    pub version: String,
    pub enable_purchases: bool,
    /// The on-demand table backup taken with it, where the endpoint supports one.
    pub table_backup_arn: Option<String>,
    /// The migration it was taken before (`v2`): a resumed run of that migration starts from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<String>,
}

/// Every other line: an account as it was, with the revision it was read at.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupLine {
    pub account: Account,
    pub rev: u64,
}

#[derive(Debug, Clone)]
pub struct Backup {
    pub header: BackupHeader,
    pub accounts: BTreeMap<String, BackupLine>,
}

impl Backup {
    /// How many of its accounts were already migrated to `to` when it was taken (0 for a backup
    /// from before that migration).
    pub fn migrated(&self, to: &str) -> usize {
        self.accounts
            .values()
            .filter(|l| l.account.migrated_to.as_deref() == Some(to))
            .count()
    }
}

/// Writes every account to a new file at `path`, and asks DynamoDB for an on-demand table
/// backup too. Refuses a path that exists.
pub async fn backup(app: &App, ssm: &aws_sdk_ssm::Client, path: &Path) -> Result<Backup, Error> {
    take(app, ssm, path, None).await
}

/// The backup a migration to `to` starts from, and whether it was there already (a resumed
/// run). The first run takes it at `path`; a later run finds it there, checks that it was taken
/// of this table before this migration, and starts from it: it is never taken again, so it
/// keeps the state from before the first run.
pub async fn migration_backup(
    app: &App,
    ssm: &aws_sdk_ssm::Client,
    path: &Path,
    to: &str,
) -> Result<(Backup, bool), Error> {
    if !path.try_exists()? {
        return Ok((take(app, ssm, path, Some(to)).await?, false));
    }
    let found = read_backup(path)?;
    let h = &found.header;
    if h.table != app.config.table || h.migration.as_deref() != Some(to) {
        let taken_for = h.migration.as_deref().map_or("on demand".to_owned(), |m| {
            format!("before migrating to {m}")
        });
        return Err(format!(
            "{} is a backup of table {} taken {taken_for}, not of {} before migrating to {to}: \
             pass this migration's first backup, or a path that does not exist yet",
            path.display(),
            h.table,
            app.config.table
        )
        .into());
    }
    Ok((found, true))
}

async fn take(
    app: &App,
    ssm: &aws_sdk_ssm::Client,
    path: &Path,
    migration: Option<&str>,
) -> Result<Backup, Error> {
    // Refused before anything is asked of AWS; `write_once` refuses again at the end.
    if path.try_exists()? {
        return Err(exists(path));
    }
    let flags = read_flags(ssm, &app.config.parameter_prefix).await?;
    let now = app.clock.now();
    let table_backup_arn = match app
        .service
        .store()
        .client()
        .create_backup()
        .table_name(&app.config.table)
        .backup_name(format!("credits-{}", now.format("%Y%m%dT%H%M%SZ")))
        .send()
        .await
    {
        Ok(out) => out.backup_details().map(|d| d.backup_arn().to_owned()),
        Err(e) => {
            tracing::warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(e), "no on-demand table backup; the file backup stands alone");
            None
        }
    };
    let header = BackupHeader {
        kind: "credits-backup".into(),
        table: app.config.table.clone(),
        taken_at: now,
        version: flags.version.as_str().into(),
        enable_purchases: flags.enable_purchases,
        table_backup_arn,
        migration: migration.map(str::to_owned),
    };
    let mut accounts = BTreeMap::new();
    let mut scan = Scan::new(app);
    while let Some(page) = scan.next_page().await? {
        for stored in page {
            let line = BackupLine {
                account: stored.account,
                rev: stored.rev,
            };
            accounts.insert(line.account.user_id.to_string(), line);
        }
    }
    write_once(path, |out| {
        serde_json::to_writer(&mut *out, &header)?;
        out.write_all(b"\n")?;
        for line in accounts.values() {
            serde_json::to_writer(&mut *out, line)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    })?;
    Ok(Backup { header, accounts })
}

fn exists(path: &Path) -> Error {
    format!(
        "{} exists: a backup is written once, never over another; choose a new path \
         (to resume a migration, pass its first run's backup)",
        path.display()
    )
    .into()
}

/// Writes `path` once: the lines go to a file of their own first, which then takes the name
/// with a hard link. A link never replaces a file, so an existing backup is refused, and a run
/// that dies midway leaves no half-written backup under the name.
fn write_once(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<(), Error>,
) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let name = path
        .file_name()
        .ok_or_else(|| format!("{} names no file", path.display()))?;
    let partial = path.with_file_name(format!(
        ".{}.{}.partial",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| {
        let mut out = BufWriter::new(std::fs::File::create(&partial)?);
        write(&mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::hard_link(&partial, path).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => exists(path),
            _ => e.into(),
        })
    })();
    let _ = std::fs::remove_file(&partial);
    written
}

pub fn read_backup(path: &Path) -> Result<Backup, Error> {
    let mut lines = BufReader::new(std::fs::File::open(path)?).lines();
    let header: BackupHeader = serde_json::from_str(&lines.next().ok_or("an empty backup file")??)?;
    if header.kind != "credits-backup" {
        return Err(format!("{} is not a credits backup", path.display()).into());
    }
    let mut accounts = BTreeMap::new();
    for line in lines {
        let line: BackupLine = serde_json::from_str(&line?)?;
        accounts.insert(line.account.user_id.to_string(), line);
    }
    Ok(Backup { header, accounts })
}
