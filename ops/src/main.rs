//! `credits-ops`: the operator's tools for a deployment (or the local stack's emulator, when
//! `AWS_ENDPOINT_URL` names it): the OpenAPI document, the rollout, refunds, parked events, and
//! the smoke test.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use credits::app::App;
use credits::config::Config;
use credits_ops::{OpsError, rollout};

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the OpenAPI document of the HTTP API (or, with --write, update infra/openapi.json).
    Openapi {
        #[arg(long)]
        write: bool,
    },
    /// Set the system version (and optionally the purchases switch); shows old and new values.
    Switch {
        #[arg(value_parser = ["v1", "v2"])]
        version: String,
        /// Also set enable-purchases (true|false).
        #[arg(long)]
        purchases: Option<bool>,
    },
    /// Write every account to a new file (refused if it exists), and an on-demand table backup
    /// where supported.
    Backup {
        #[arg(long)]
        out: PathBuf,
    },
    /// Migrate v1 -> v2: backup first, dry run unless --apply, resumable, verified afterwards.
    Migrate {
        #[arg(long)]
        apply: bool,
        /// The first run writes its backup here; a run that finds this migration's backup here
        /// resumes from it (a backup is never rewritten).
        #[arg(long, default_value = "backups/before-v2.jsonl")]
        backup: PathBuf,
    },
    /// Check that every ledger adds up and, against a backup, that no purchased credit was lost.
    Verify {
        #[arg(long)]
        backup: Option<PathBuf>,
    },
    /// The emergency path: switch back to v1 at once, then undo the migration on every account
    /// (only what it changed: Stripe's and the users' changes since stay), then verify.
    Rollback {
        /// The migration's backup: purchases go back as it recorded them, and the verification
        /// checks that no purchased credit of it was lost.
        #[arg(long)]
        backup: Option<PathBuf>,
    },
    /// Drive a deployed (or the local) stack through its routes and a signed webhook delivery;
    /// pass or fail per step.
    Smoke {
        /// The API's base URL (the stack's ApiUrl output, or http://127.0.0.1:3000).
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        base: String,
        /// A token of the user the test spends one credit of (on the local stack:
        /// `credits-local token smoke-test-user`).
        #[arg(long, env = "SMOKE_TOKEN", hide_env_values = true)]
        token: String,
        /// The webhook's URL (the stack's WebhookUrl output); the local stack's by default.
        #[arg(long)]
        webhook_url: Option<String>,
        #[arg(
            long,
            env = "STRIPE_WEBHOOK_SECRET",
            default_value = "whsec_local",
            hide_env_values = true
        )]
        webhook_secret: String,
    },
    /// List the v2 package purchases that granted nothing (to refund), as JSON lines.
    RejectedPurchases,
    /// List the Stripe events parked (a price not in STRIPE_PRICES, a refund before its
    /// purchase), as JSON lines with `applied` (a later delivery applied it since).
    Parked {
        /// Also remove from the list the events that have applied since.
        #[arg(long)]
        prune: bool,
    },
}

#[tokio::main]
async fn main() -> Result<(), OpsError> {
    credits::app::init_logging();
    match Cli::parse().command {
        Command::Openapi { write } => openapi(write),
        Command::Switch { version, purchases } => {
            let (app, ssm) = clients().await?;
            let version = credits::flags::Version::parse(&version).ok_or("v1 or v2")?;
            let (before, after) =
                rollout::switch(&ssm, &app.config.parameter_prefix, version, purchases).await?;
            println!(
                "system-version   {} -> {}\nenable-purchases {} -> {}\npurchases on     {} -> {}",
                before.version.as_str(),
                after.version.as_str(),
                before.enable_purchases,
                after.enable_purchases,
                before.purchases_enabled(),
                after.purchases_enabled()
            );
            println!("(functions pick it up within CREDITS_FLAG_TTL_SECONDS)");
            Ok(())
        }
        Command::Backup { out } => {
            let (app, ssm) = clients().await?;
            let b = rollout::backup(&app, &ssm, &out).await?;
            println!("{} accounts written to {}", b.accounts.len(), out.display());
            if let Some(arn) = b.header.table_backup_arn {
                println!("table backup: {arn}");
            }
            Ok(())
        }
        Command::Migrate { apply, backup } => migrate(apply, &backup).await,
        Command::Verify { backup } => {
            let (app, _) = clients().await?;
            let backup = backup.map(|p| rollout::read_backup(&p)).transpose()?;
            let v = rollout::verify(&app, backup.as_ref()).await?;
            println!("{}", serde_json::to_string_pretty(&v)?);
            if v.ok() {
                Ok(())
            } else {
                Err("verification failed".into())
            }
        }
        Command::Rollback { backup } => {
            let (app, ssm) = clients().await?;
            let backup = backup.map(|p| rollout::read_backup(&p)).transpose()?;
            let r = rollout::rollback(&app, &ssm, backup.as_ref()).await?;
            println!(
                "switched {} -> {} (purchases {} -> {})",
                r.before.version.as_str(),
                r.after.version.as_str(),
                r.before.purchases_enabled(),
                r.after.purchases_enabled()
            );
            println!(
                "migration undone\n{}",
                serde_json::to_string_pretty(&r.undone)?
            );
            println!(
                "verification\n{}",
                serde_json::to_string_pretty(&r.verification)?
            );
            if !r.ok() {
                return Err("rollback incomplete: run it again (it resumes)".into());
            }
            Ok(())
        }
        Command::Smoke {
            base,
            token,
            webhook_url,
            webhook_secret,
        } => {
            let webhook_url = webhook_url.or_else(|| {
                base.contains("127.0.0.1")
                    .then(|| format!("{}/webhook/stripe", base.trim_end_matches('/')))
            });
            let target = credits_ops::smoke::Target {
                base,
                token,
                webhook_url,
                webhook_secret,
            };
            let steps = credits_ops::smoke::run(&target).await?;
            let failed = steps.iter().filter(|s| !s.passed).count();
            for s in &steps {
                let mark = if s.passed { "pass" } else { "FAIL" };
                println!("{mark}  {:<22} {}", s.name, s.detail);
            }
            println!("smoke: {} passed, {failed} failed", steps.len() - failed);
            if failed > 0 {
                Err("smoke test failed".into())
            } else {
                Ok(())
            }
        }
        Command::RejectedPurchases => rejected_purchases().await,
        Command::Parked { prune } => parked(prune).await,
    }
}

fn openapi(write: bool) -> Result<(), OpsError> {
    let text = credits_ops::openapi::document_text();
    if write {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(credits_ops::openapi::COMMITTED_PATH);
        std::fs::write(&path, text)?;
        println!("wrote {}", path.display());
    } else {
        print!("{text}");
    }
    Ok(())
}

async fn clients() -> Result<(App, aws_sdk_ssm::Client), OpsError> {
    let config = Config::from_env()?;
    let sdk = credits::config::aws_for_tools().await;
    Ok((App::new(&sdk, config), aws_sdk_ssm::Client::new(&sdk)))
}

async fn migrate(apply: bool, backup: &std::path::Path) -> Result<(), OpsError> {
    let (app, ssm) = clients().await?;
    let bar = indicatif::ProgressBar::new_spinner().with_message("accounts");
    if !apply {
        let report = rollout::migrate(&app, false, &bar).await?;
        bar.finish_and_clear();
        println!(
            "dry run: would migrate\n{}",
            serde_json::to_string_pretty(&report)?
        );
        return Ok(());
    }
    let run = rollout::migrate_with_backup(&app, &ssm, backup, &bar).await?;
    bar.finish_and_clear();
    let taken = run.backup.header.taken_at;
    if run.resumed {
        println!(
            "resumed from the backup of {taken} in {} (kept as it is)",
            backup.display()
        );
    } else {
        println!(
            "backup: {} accounts in {}",
            run.backup.accounts.len(),
            backup.display()
        );
    }
    let early = run.backup.migrated(rollout::TARGET);
    if early > 0 {
        println!(
            "warning: {early} accounts of that backup were migrated already when it was taken: \
             it is not the state from before the migration (the first run's backup is)"
        );
    }
    println!("migrated\n{}", serde_json::to_string_pretty(&run.report)?);
    println!(
        "verification\n{}",
        serde_json::to_string_pretty(&run.verification)?
    );
    if !run.ok() {
        return Err("migration incomplete: run it again (it resumes), or roll back".into());
    }
    Ok(())
}

async fn rejected_purchases() -> Result<(), OpsError> {
    let (app, _) = clients().await?;
    for r in app.service.store().rejected_purchases().await? {
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(())
}

async fn parked(prune: bool) -> Result<(), OpsError> {
    let (app, _) = clients().await?;
    let store = app.service.store();
    for p in store.parked_events().await? {
        let applied = store.parked_applied(&p).await?;
        if applied && prune {
            store.forget_parked(&p.event_id).await?;
        }
        let mut line = serde_json::to_value(&p)?;
        line["applied"] = applied.into();
        println!("{line}");
    }
    Ok(())
}
