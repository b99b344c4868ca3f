//! `credits-local`: the local stack. Provisions the emulator, serves every function behind the
//! local gateway, and signs tokens, Stripe events and samples for it.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use credits::app::App;
use credits::config::Config;
use credits_local::LocalError;
use credits_local::config::{DEFAULT_JWT_SECRET, GatewayConfig, JWT_SECRET_VAR};
use credits_local::gateway::{Gateway, WEBHOOK_PATH, serve};
use credits_local::{cors, samples, stripe_api};

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
    /// Serve every function behind the local gateway. Configured by the environment only,
    /// read once: CREDITS_LOCAL_ADDR, LOCAL_JWT_SECRET, CREDITS_CORS_ALLOWED_ORIGINS, the
    /// functions' CREDITS_* and STRIPE_* variables; a bad value stops the start, named.
    Serve,
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
            env = JWT_SECRET_VAR,
            default_value = DEFAULT_JWT_SECRET,
            hide_env_values = true
        )]
        secret: String,
    },
    /// Print the Stripe-Signature header for a file's exact bytes, signed now as Stripe signs.
    SignEvent {
        file: std::path::PathBuf,
        #[command(flatten)]
        secret: WebhookSecret,
    },
    /// Print a sample of events/ ready for `cargo lambda invoke --data-ascii`: a webhook
    /// event signed now, a hold's release or commit naming a hold opened now for its user
    /// (in the local stack's emulator unless AWS_ENDPOINT_URL says otherwise); others as they are.
    Event {
        file: std::path::PathBuf,
        #[command(flatten)]
        secret: WebhookSecret,
    },
}

/// The webhook's signing secret, for signing events as Stripe would.
#[derive(clap::Args)]
struct WebhookSecret {
    #[arg(
        long,
        env = "STRIPE_WEBHOOK_SECRET",
        default_value = webhook::LOCAL_SECRET,
        hide_env_values = true
    )]
    secret: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    credits::app::init_logging();
    match run_command(Cli::parse().command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("credits-local: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_command(command: Command) -> Result<(), LocalError> {
    match command {
        Command::Setup => setup().await,
        Command::Serve => serve_all(GatewayConfig::from_env()?).await,
        Command::Token {
            user,
            admin,
            ttl_seconds,
            secret,
        } => {
            let groups: &[&str] = if admin { &["admin"] } else { &[] };
            println!(
                "{}",
                credits_testkit::user_token(&secret, &user, groups, ttl_seconds)
            );
            Ok(())
        }
        Command::SignEvent { file, secret } => {
            let body = std::fs::read_to_string(&file)
                .map_err(|e| LocalError::Sample(format!("cannot read {}: {e}", file.display())))?;
            let now = chrono::Utc::now().timestamp();
            println!("{}", webhook::sign(&secret.secret, now, &body));
            Ok(())
        }
        Command::Event { file, secret } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| LocalError::Sample(format!("cannot read {}: {e}", file.display())))?;
            let event: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| LocalError::Sample(format!("{} is not JSON: {e}", file.display())))?;
            let sdk = samples::local_sdk().await;
            let app = App::new(&sdk, Config::from_env()?);
            let ready = samples::prepare(event, &secret.secret, &app)
                .await
                .map_err(LocalError::Sample)?;
            println!("{}", serde_json::to_string_pretty(&ready)?);
            Ok(())
        }
    }
}

async fn setup() -> Result<(), LocalError> {
    let config = Config::from_env()?;
    let sdk = credits::config::aws_for_tools().await;
    let provision = |e: credits_testkit::ProvisionError| LocalError::Provision(e.to_string());
    credits_testkit::create_table(&aws_sdk_dynamodb::Client::new(&sdk), &config.table)
        .await
        .map_err(provision)?;
    credits_testkit::put_parameters(
        &aws_sdk_ssm::Client::new(&sdk),
        &config.parameter_prefix,
        false,
    )
    .await
    .map_err(provision)?;
    println!(
        "table {} and parameters {}/* are ready",
        config.table, config.parameter_prefix
    );
    Ok(())
}

async fn serve_all(config: GatewayConfig) -> Result<(), LocalError> {
    let app = App::new(&credits::config::aws().await, config.app);
    let secret = config.gateway.jwt_secret.clone();
    let origins = config.gateway.cors.listed().to_owned();
    let gateway = Arc::new(Gateway::new(app, config.gateway)?);
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let token = credits_testkit::user_token(&secret, "demo-user", &[], 86_400);
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
        "POST", WEBHOOK_PATH, "webhook"
    );
    println!(
        "  {:<7}{:<36}-> the Stripe API stand-in (local only; key {})",
        "GET",
        format!(
            "{}/v1/checkout/sessions/{{id}}/line_items",
            stripe_api::LOCAL_PREFIX
        ),
        stripe_api::LOCAL_KEY
    );
    println!("\nA token for user demo-user (24 h):\n  export TOKEN={token}\n");
    println!("  curl -s {base}/credits/balance -H \"Authorization: Bearer $TOKEN\"");
    println!(
        "  curl -s -X POST {base}/credits/deduct -H \"Authorization: Bearer $TOKEN\" \\\n       \
         -H 'Idempotency-Key: demo-1' -H 'Content-Type: application/json' -d '{{\"amount\": 1}}'"
    );
    println!("  curl -s {base}/credits/transactions -H \"Authorization: Bearer $TOKEN\"");
    println!("  curl -s {base}/credits/plans");
    let sample = "events/stripe/checkout.session.completed.json";
    println!(
        "  curl -s -X POST {base}{WEBHOOK_PATH} --data-binary @{sample} \\\n       \
         -H \"Stripe-Signature: $(target/debug/credits-local sign-event {sample})\"\n"
    );
    println!("Pages on {origins} may call it ({}).\n", cors::ORIGINS_VAR);
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
