//! The rollback: v1 at once, then the migration undone on every account, and nothing else. What
//! Stripe and the users changed since the backup stays; the backup is the operator's record and
//! the baseline of the verification, never copied onto the accounts.

use chrono::{DateTime, Utc};
use credits::account::UserId;
use credits::app::App;
use credits::flags::{Flags, Version};
use credits::ledger::{Entry, EntryKind};
use credits::rules;
use credits::service::ServiceError;
use serde::Serialize;

use super::{Backup, Error, Scan, Verification, switch, verify};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UndoReport {
    pub accounts: usize,
    /// Accounts whose migration this run undid.
    pub undone: usize,
    /// Accounts not migrated: opened since, or undone already.
    pub not_migrated: usize,
    /// Credits moved back by `adjust` entries (0 while the migration moves none).
    pub credits_added: i64,
    pub credits_removed: i64,
    pub failed: Vec<String>,
}

/// Undoes the migration on every migrated account ([`rules::unmigrate`]), each with its usual
/// conditional write, so it runs beside traffic; an account undone already is passed over, so a
/// run again after an interruption finishes the rest.
pub async fn undo_migration(app: &App, now: DateTime<Utc>) -> Result<UndoReport, Error> {
    let mut report = UndoReport::default();
    let cause = format!("rollback:{}", now.to_rfc3339());
    let mut scan = Scan::new(app);
    while let Some(page) = scan.next_page().await? {
        for stored in page {
            report.accounts += 1;
            if stored.account.migrated_to.is_none() {
                report.not_migrated += 1;
                continue;
            }
            let user = stored.account.user_id.clone();
            let result = match since_last_migration(app, &user).await {
                Ok(ledger) => {
                    app.service
                        .apply(&user, now, |current| {
                            Ok(current
                                .and_then(|a| rules::unmigrate(a, &ledger, &cause, now))
                                .unwrap_or_else(|| rules::touch(current, &user, now)))
                        })
                        .await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(change) => {
                    let ours: Vec<&Entry> =
                        change.entries.iter().filter(|e| e.cause == cause).collect();
                    if ours.is_empty() {
                        report.not_migrated += 1;
                    } else {
                        report.undone += 1;
                    }
                    for e in ours {
                        if e.amount > 0 {
                            report.credits_added += e.amount;
                        } else {
                            report.credits_removed -= e.amount;
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(user = %user, error = %e, "undoing the migration failed for an account");
                    report.failed.push(user.to_string());
                }
            }
        }
    }
    Ok(report)
}

/// The newest entries of a user's ledger, oldest first, back to before the write of the last
/// `migrate` entry: what [`rules::unmigrate`] reads.
async fn since_last_migration(app: &App, user: &UserId) -> Result<Vec<Entry>, ServiceError> {
    let mut newest_first: Vec<Entry> = Vec::new();
    let mut before = None;
    loop {
        let page = app.service.store().entries(user, 100, before).await?;
        newest_first.extend(page.entries);
        let reached = newest_first
            .iter()
            .position(|e| e.kind == EntryKind::Migrate)
            .is_some_and(|i| {
                let cause = &newest_first[i].cause;
                newest_first[i + 1..].iter().any(|e| e.cause != *cause)
            });
        match page.next {
            Some(next) if !reached => before = Some(next),
            _ => break,
        }
    }
    newest_first.reverse();
    Ok(newest_first)
}

/// What `rollback` did.
#[derive(Debug, Clone)]
pub struct Rollback {
    pub before: Flags,
    pub after: Flags,
    pub undone: UndoReport,
    /// Every ledger adds up and, against the backup when one was given, no purchased credit
    /// is lost.
    pub verification: Verification,
}

impl Rollback {
    pub fn ok(&self) -> bool {
        self.undone.failed.is_empty() && self.verification.ok()
    }
}

/// `rollback`: v1 at once (purchases as the backup recorded them; on without one), then the
/// migration undone on every account, then every account verified.
pub async fn rollback(
    app: &App,
    ssm: &aws_sdk_ssm::Client,
    backup: Option<&Backup>,
) -> Result<Rollback, Error> {
    let purchases = backup.is_none_or(|b| b.header.enable_purchases);
    let prefix = &app.config.parameter_prefix;
    let (before, after) = switch(ssm, prefix, Version::V1, Some(purchases)).await?;
    let undone = undo_migration(app, app.clock.now()).await?;
    let verification = verify(app, backup).await?;
    Ok(Rollback {
        before,
        after,
        undone,
        verification,
    })
}
