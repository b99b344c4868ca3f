//! `credits-ops`: the local stack's gateway and provisioning, and local tokens.

use std::net::SocketAddr;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use credits::app::App;
use credits::config::Config;
use credits_ops::gateway::{Gateway, serve};

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the table and the flag parameters from infra/template.yaml (existing ones are kept).
    Setup,
    /// Serve every function behind the local gateway.
    Serve {
        #[arg(long, env = "CREDITS_LOCAL_ADDR", default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
        #[arg(
            long,
            env = "LOCAL_JWT_SECRET",
            default_value = "local-dev-secret",
            hide_env_values = true
        )]
        secret: String,
    },
    /// Print a token for a user, signed like the local authorizer expects.
    Token {
        user: String,
        /// Add `admin` to the token's `cognito:groups`.
        #[arg(long)]
        admin: bool,
        #[arg(long, default_value_t = 86_400)]
        ttl_seconds: i64,
        #[arg(
            long,
            env = "LOCAL_JWT_SECRET",
            default_value = "local-dev-secret",
            hide_env_values = true
        )]
        secret: String,
    },
    /// Print the Stripe-Signature header for a file's exact bytes, signed now as Stripe signs.
    SignEvent {
        file: std::path::PathBuf,
        #[arg(
            long,
            env = "STRIPE_WEBHOOK_SECRET",
            default_value = webhook::LOCAL_SECRET,
            hide_env_values = true
        )]
        secret: String,
    },
    /// List the v2 package purchases that granted nothing (to refund), as JSON lines.
    RejectedPurchases,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    credits::app::init_logging();
    match Cli::parse().command {
        Command::Setup => setup().await,
        Command::Serve { addr, secret } => run(addr, secret).await,
        Command::Token {
            user,
            admin,
            ttl_seconds,
            secret,
        } => {
            let groups: &[&str] = if admin { &["admin"] } else { &[] };
            println!(
                "{}",
                credits::local::user_token(&secret, &user, groups, ttl_seconds)
            );
            Ok(())
        }
        Command::SignEvent { file, secret } => {
            let body = std::fs::read_to_string(&file)?;
            let now = chrono::Utc::now().timestamp();
            println!("{}", webhook::sign(&secret, now, &body));
            Ok(())
        }
        Command::RejectedPurchases => rejected_purchases().await,
    }
}

async fn rejected_purchases() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let sdk = credits::config::aws().await;
    let store = credits::store::Store::new(aws_sdk_dynamodb::Client::new(&sdk), config.table);
    for r in store.rejected_purchases().await? {
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(())
}

async fn setup() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let sdk = credits::config::aws().await;
    credits::local::create_table(&aws_sdk_dynamodb::Client::new(&sdk), &config.table).await?;
    credits::local::put_parameters(
        &aws_sdk_ssm::Client::new(&sdk),
        &config.parameter_prefix,
        false,
    )
    .await?;
    println!(
        "table {} and parameters {}/* are ready",
        config.table, config.parameter_prefix
    );
    Ok(())
}

async fn run(addr: SocketAddr, secret: String) -> Result<(), Box<dyn std::error::Error>> {
    let app = App::from_env().await?;
    let gateway = Arc::new(Gateway::new(app, secret.clone())?);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let token = credits::local::user_token(&secret, "demo-user", &[], 86_400);
    println!("\nCredits local stack on {base}");
    for r in gateway.routes() {
        let auth = if r.authorized { "token" } else { "public" };
        println!(
            "  {:<7}{:<36}-> {:<8} ({auth})",
            r.method, r.path, r.function
        );
    }
    println!(
        "  {:<7}{:<36}-> {:<8} (Stripe-Signature, Function URL)",
        "POST",
        credits_ops::gateway::WEBHOOK_PATH,
        "webhook"
    );
    println!("\nA token for user demo-user (24 h):\n  export TOKEN={token}\n");
    println!("  curl -s {base}/credits/balance -H \"Authorization: Bearer $TOKEN\"");
    println!(
        "  curl -s -X POST {base}/credits/deduct -H \"Authorization: Bearer $TOKEN\" \\\n       \
         -H 'Idempotency-Key: demo-1' -H 'Content-Type: application/json' -d '{{\"amount\": 1}}'"
    );
    println!("  curl -s {base}/credits/transactions -H \"Authorization: Bearer $TOKEN\"");
    println!("  curl -s {base}/credits/plans");
    let sample = "events/customer.subscription.created.json";
    println!(
        "  curl -s -X POST {base}{} --data-binary @{sample} \\\n       \
         -H \"Stripe-Signature: $(target/debug/credits-ops sign-event {sample})\"\n",
        credits_ops::gateway::WEBHOOK_PATH
    );
    serve(listener, gateway, shutdown_signal()).await?;
    println!("stopped");
    Ok(())
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
