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
    /// Print the OpenAPI document of the HTTP API (or, with --write, update infra/openapi.json).
    Openapi {
        #[arg(long)]
        write: bool,
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
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    credits::app::init_logging();
    match Cli::parse().command {
        Command::Setup => setup().await,
        Command::Serve { addr, secret } => run(addr, secret).await,
        Command::Openapi { write } => openapi(write),
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
    }
}

fn openapi(write: bool) -> Result<(), Box<dyn std::error::Error>> {
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
    println!("\nA token for user demo-user (24 h):\n  export TOKEN={token}\n");
    println!("  curl -s {base}/credits/balance -H \"Authorization: Bearer $TOKEN\"");
    println!(
        "  curl -s -X POST {base}/credits/deduct -H \"Authorization: Bearer $TOKEN\" \\\n       \
         -H 'Idempotency-Key: demo-1' -H 'Content-Type: application/json' -d '{{\"amount\": 1}}'"
    );
    println!("  curl -s {base}/credits/transactions -H \"Authorization: Bearer $TOKEN\"");
    println!("  curl -s {base}/credits/plans\n");
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
