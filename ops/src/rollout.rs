//! The phased rollout's operations: switch the version, back up, migrate v1 -> v2, verify, roll
//! back. Each works through the core's rules and conditional writes, like a request would, so
//! it can run beside live traffic and be run again.

use std::path::Path;

use credits::account::{Account, UserId};
use credits::app::App;
use credits::flags::{Flags, parameter_names, parse_flags};
use credits::ledger::{Bucket, Entry};
use credits::rules;
use credits::service::ServiceError;
use credits::store::{ScanCursor, Stored};
use serde::Serialize;

mod backup;
mod rollback;
pub use backup::{Backup, BackupHeader, BackupLine, backup, migration_backup, read_backup};
pub use rollback::{Rollback, UndoReport, rollback, undo_migration};

pub type Error = crate::OpsError;

/// The version the migration moves accounts to.
pub const TARGET: &str = "v2";

/// Accounts read per scan request.
const PAGE: i32 = 100;

/// The flags as Parameter Store holds them now.
pub async fn read_flags(ssm: &aws_sdk_ssm::Client, prefix: &str) -> Result<Flags, Error> {
    let [version, purchases] = parameter_names(prefix);
    let out = ssm
        .get_parameters()
        .names(&version)
        .names(&purchases)
        .send()
        .await?;
    let value = |name: &str| {
        out.parameters()
            .iter()
            .find(|p| p.name() == Some(name))
            .and_then(|p| p.value())
            .ok_or_else(|| format!("parameter {name} is missing"))
    };
    Ok(parse_flags(value(&version)?, value(&purchases)?)?)
}

/// Sets the version (and the purchases switch when given); returns (before, after).
pub async fn switch(
    ssm: &aws_sdk_ssm::Client,
    prefix: &str,
    version: credits::flags::Version,
    purchases: Option<bool>,
) -> Result<(Flags, Flags), Error> {
    let before = read_flags(ssm, prefix).await?;
    let [version_name, purchases_name] = parameter_names(prefix);
    ssm.put_parameter()
        .name(version_name)
        .value(version.as_str())
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await?;
    if let Some(on) = purchases {
        ssm.put_parameter()
            .name(purchases_name)
            .value(on.to_string())
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await?;
    }
    Ok((before, read_flags(ssm, prefix).await?))
}

/// Every account in the table, a page at a time.
struct Scan<'a> {
    app: &'a App,
    cursor: Option<ScanCursor>,
    done: bool,
}

impl<'a> Scan<'a> {
    fn new(app: &'a App) -> Self {
        Self {
            app,
            cursor: None,
            done: false,
        }
    }

    async fn next_page(&mut self) -> Result<Option<Vec<Stored>>, Error> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .app
            .service
            .store()
            .scan_accounts(0, 1, self.cursor.as_ref(), PAGE)
            .await?;
        self.done = page.next.is_none();
        self.cursor = page.next;
        let accounts = page.accounts.into_iter().collect::<Result<Vec<_>, _>>()?;
        Ok(Some(accounts))
    }
}

/// What a migration did, or would do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MigrationReport {
    pub accounts: usize,
    pub migrated: usize,
    pub already_migrated: usize,
    pub with_purchased: usize,
    pub purchased_carried: i64,
    pub resets_applied: usize,
    pub failed: Vec<String>,
}

/// v1 -> v2 for every account. A dry run only reports. Resumable: an account already stamped
/// is passed over, so running it again after an interruption finishes the rest.
pub async fn migrate(
    app: &App,
    apply: bool,
    progress: &indicatif::ProgressBar,
) -> Result<MigrationReport, Error> {
    let mut report = MigrationReport::default();
    let now = app.clock.now();
    let mut scan = Scan::new(app);
    while let Some(page) = scan.next_page().await? {
        for stored in page {
            progress.inc(1);
            report.accounts += 1;
            let Some(change) = rules::migrate(&stored.account, TARGET, now) else {
                report.already_migrated += 1;
                continue;
            };
            let purchased = change.account.purchased;
            let reset = change.account.period != stored.account.period;
            if apply {
                let user = stored.account.user_id.clone();
                let result = app
                    .service
                    .apply(&user, now, |current| match current {
                        Some(account) => Ok(rules::migrate(account, TARGET, now)
                            .unwrap_or_else(|| rules::touch(Some(account), &user, now))),
                        None => Ok(rules::touch(None, &user, now)),
                    })
                    .await;
                if let Err(e) = result {
                    tracing::error!(user = %user, error = %e, "migration failed for an account");
                    report.failed.push(user.to_string());
                    continue;
                }
            }
            report.migrated += 1;
            report.resets_applied += usize::from(reset);
            if purchased > 0 {
                report.with_purchased += 1;
                report.purchased_carried += purchased;
            }
        }
    }
    Ok(report)
}

/// What `migrate --apply` did: the backup it started from, the migration, and the verification
/// against that backup afterwards.
#[derive(Debug, Clone)]
pub struct MigrationRun {
    pub backup: Backup,
    /// The backup was there already: this run resumed from it.
    pub resumed: bool,
    pub report: MigrationReport,
    pub verification: Verification,
}

impl MigrationRun {
    pub fn ok(&self) -> bool {
        self.verification.ok() && self.report.failed.is_empty()
    }
}

/// `migrate --apply`: the backup at `path` (taken by the first run, reused as it is by a
/// resumed one, see [`migration_backup`]), then the migration, then the verification.
pub async fn migrate_with_backup(
    app: &App,
    ssm: &aws_sdk_ssm::Client,
    path: &Path,
    progress: &indicatif::ProgressBar,
) -> Result<MigrationRun, Error> {
    let (backup, resumed) = migration_backup(app, ssm, path, TARGET).await?;
    let report = migrate(app, true, progress).await?;
    let verification = verify(app, Some(&backup)).await?;
    Ok(MigrationRun {
        backup,
        resumed,
        report,
        verification,
    })
}

/// Every entry of a user's ledger, oldest first.
async fn ledger(app: &App, user: &UserId) -> Result<Vec<Entry>, ServiceError> {
    let mut all = Vec::new();
    let mut before = None;
    loop {
        let page = app.service.store().entries(user, 100, before).await?;
        all.extend(page.entries);
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    all.reverse();
    Ok(all)
}

/// What the purchased bucket became from `from` on, entry by entry: an entry's change of its
/// bucket is its amount less its change of the held credits.
fn purchased_after(backup: &Account, entries: &[Entry]) -> i64 {
    let mut held = backup.held;
    let mut purchased = backup.purchased;
    for e in entries.iter().filter(|e| e.seq > backup.seq) {
        let to_held = e.held_after - held;
        held = e.held_after;
        if e.bucket == Bucket::Purchased {
            purchased += e.amount - to_held;
        }
    }
    purchased
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub accounts: usize,
    /// Users whose ledger does not add up to what they own.
    pub ledger_mismatch: Vec<String>,
    /// Users whose purchased credits differ from the backup's plus what their ledger shows.
    pub purchased_lost: Vec<String>,
    /// Users in the backup with no account now.
    pub missing: Vec<String>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.ledger_mismatch.is_empty() && self.purchased_lost.is_empty() && self.missing.is_empty()
    }
}

/// Checks every account: its ledger adds up to what it owns and, against `backup`, every
/// purchased credit is either still there or accounted for by a ledger entry.
pub async fn verify(app: &App, backup: Option<&Backup>) -> Result<Verification, Error> {
    let mut v = Verification::default();
    let mut seen = std::collections::BTreeSet::new();
    let mut scan = Scan::new(app);
    while let Some(page) = scan.next_page().await? {
        for stored in page {
            v.accounts += 1;
            let user = &stored.account.user_id;
            seen.insert(user.to_string());
            let entries = ledger(app, user).await?;
            if entries.iter().map(|e| e.amount).sum::<i64>() != stored.account.owned() {
                v.ledger_mismatch.push(user.to_string());
            }
            if let Some(line) = backup.and_then(|b| b.accounts.get(user.as_str()))
                && purchased_after(&line.account, &entries) != stored.account.purchased
            {
                v.purchased_lost.push(user.to_string());
            }
        }
    }
    if let Some(b) = backup {
        v.missing = b
            .accounts
            .keys()
            .filter(|u| !seen.contains(*u))
            .cloned()
            .collect();
    }
    Ok(v)
}
