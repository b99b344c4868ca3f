//! Cold start of a function's binary under a minimal Lambda Runtime API served here on
//! loopback: from spawning the process to its first `next` (initialisation done: config, SDK
//! clients, runtime) and to its first response (one event handled, store round trips included),
//! and the process's peak RSS (`VmHWM`) after that event. The function reaches the store
//! through a proxy that times each request's round trip to the store, so the store's share of
//! the first event is measured, not guessed, and taken off.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use credits_testkit::ApiCall;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;

use credits_e2e::faults::FaultProxy;

use crate::Error;
use crate::stats::{Summary, ms};

enum Seen {
    Next(Instant),
    /// An event handed to the function.
    Served(Instant),
    Response(Instant, String),
    Failed(String),
}

/// The Runtime API's state: events to hand out, one per `next`, and what the function did.
pub struct Runtime {
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<String>>,
    seen: mpsc::UnboundedSender<Seen>,
}

async fn runtime_api(rt: Arc<Runtime>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let now = Instant::now();
    let path = req.uri().path().to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    if path.ends_with("/invocation/next") {
        let _ = rt.seen.send(Seen::Next(now));
        let Some(event) = rt.events.lock().await.recv().await else {
            // No more events: the harness stops the process.
            std::future::pending::<()>().await;
            return Response::default();
        };
        let _ = rt.seen.send(Seen::Served(Instant::now()));
        let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
        return Response::builder()
            .header("lambda-runtime-aws-request-id", "bench-1")
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:000000000000:function:bench",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000",
            )
            .body(Full::new(Bytes::from(event)))
            .unwrap_or_default();
    }
    if path.ends_with("/response") {
        let _ = rt.seen.send(Seen::Response(now, body));
    } else {
        let _ = rt.seen.send(Seen::Failed(format!("{path}: {body}")));
    }
    Response::builder()
        .status(202)
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap_or_default()
}

struct Run {
    init: Duration,
    /// `None` when no event was handled (initialisation only).
    first_event: Option<Duration>,
    /// The store's time on the requests of the first event (DynamoDB and SSM).
    store: Duration,
    peak_rss_kb: u64,
}

fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The event each binary gets first: the call its users make most.
/// The webhook's signing secret in these runs.
const SECRET: &str = "whsec_cold";

/// The first event of a cold start of `bin`: `None` for the reset's binaries, whose first event
/// fans out through the Lambda API (not here): only their initialisation is measured.
fn event_for(bin: &str, i: usize) -> Option<ApiCall> {
    let user = format!("cold-{bin}-{i}");
    Some(match bin {
        "deduct" => credits_e2e::keyed("POST", "/credits/deduct", &user, "k1", r#"{"amount": 1}"#),
        "status" => ApiCall::new("GET", "/credits/status"),
        // A v1 package purchase: the flags' first read, then one transaction.
        "webhook" => credits_e2e::stripe_purchase(SECRET, &user, &format!("evt_{user}")),
        "monthly-reset" | "admin-reset" => return None,
        _ => ApiCall::new("GET", "/credits/balance").user(&user),
    })
}

/// A function's process under a Runtime API served here.
struct Function {
    child: tokio::process::Child,
    events: mpsc::UnboundedSender<String>,
    seen: mpsc::UnboundedReceiver<Seen>,
    server: tokio::task::JoinHandle<()>,
    start: Instant,
}

impl Function {
    async fn spawn(path: &str, env: &[(String, String)]) -> Result<Self, Error> {
        let (events, rx_events) = mpsc::unbounded_channel();
        let (tx, seen) = mpsc::unbounded_channel();
        let rt = Arc::new(Runtime {
            events: tokio::sync::Mutex::new(rx_events),
            seen: tx,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let rt = rt.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let rt = rt.clone();
                        async move { Ok::<_, Infallible>(runtime_api(rt, req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let start = Instant::now();
        let child = tokio::process::Command::new(path)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        Ok(Self {
            child,
            events,
            seen,
            server,
            start,
        })
    }

    /// Waits for the first `next`: the function is initialised.
    async fn ready(&mut self) -> Result<Instant, Error> {
        tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(seen) = self.seen.recv().await {
                match seen {
                    Seen::Next(t) => return Ok(t),
                    Seen::Failed(e) => return Err(Error::from(e)),
                    _ => {}
                }
            }
            Err(Error::from("the runtime API closed"))
        })
        .await
        .map_err(|_| "not initialised within 10 s")?
    }

    /// Hands `call`'s event over; returns when it was served and answered, and the answer.
    async fn handle(
        &mut self,
        call: &ApiCall,
    ) -> Result<(Option<Instant>, Instant, Instant), Error> {
        self.events.send(call.event().to_string())?;
        let mut first_next = None;
        let mut served = None;
        let outcome = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(seen) = self.seen.recv().await {
                match seen {
                    Seen::Next(t) => {
                        first_next.get_or_insert(t);
                    }
                    Seen::Served(t) => served = Some(t),
                    Seen::Response(t, body) => return Ok((t, body)),
                    Seen::Failed(e) => return Err(Error::from(e)),
                }
            }
            Err(Error::from("the runtime API closed"))
        })
        .await
        .map_err(|_| "no response within 10 s")??;
        let (answered, body) = outcome;
        let status = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["statusCode"].as_u64())
            .unwrap_or(0);
        if status >= 300 {
            return Err(format!("answered {status}: {body}").into());
        }
        Ok((first_next, served.unwrap_or(answered), answered))
    }

    async fn stop(mut self) -> u64 {
        let rss = self.child.id().map_or(0, peak_rss_kb);
        self.child.kill().await.ok();
        self.server.abort();
        rss
    }
}

async fn once(
    path: &str,
    call: Option<&ApiCall>,
    env: &[(String, String)],
    proxy: &FaultProxy,
) -> Result<Run, Error> {
    proxy.take_upstream_time();
    let mut f = Function::spawn(path, env).await?;
    let start = f.start;
    let result = match call {
        Some(call) => f
            .handle(call)
            .await
            .map(|(next, _, answered)| (next, Some(answered))),
        None => f.ready().await.map(|next| (Some(next), None)),
    };
    let rss = f.stop().await;
    let (next, answered) = result?;
    let ready = next.or(answered).unwrap_or(start);
    Ok(Run {
        init: ready - start,
        first_event: answered.map(|t| t - start),
        store: proxy.take_upstream_time(),
        peak_rss_kb: rss,
    })
}

fn lambda_env(config: &credits::config::Config) -> Vec<(String, String)> {
    vec![
        ("CREDITS_TABLE".to_owned(), config.table.clone()),
        (
            "CREDITS_PARAMETER_PREFIX".to_owned(),
            config.parameter_prefix.clone(),
        ),
        ("AWS_LAMBDA_FUNCTION_NAME".to_owned(), "bench".to_owned()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".to_owned(),
            "256".to_owned(),
        ),
        (
            "AWS_LAMBDA_FUNCTION_VERSION".to_owned(),
            "$LATEST".to_owned(),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME".to_owned(), "bench".to_owned()),
        ("AWS_LAMBDA_LOG_GROUP_NAME".to_owned(), "bench".to_owned()),
        ("AWS_LAMBDA_LOG_FORMAT".to_owned(), "JSON".to_owned()),
        ("STRIPE_WEBHOOK_SECRET".to_owned(), SECRET.to_owned()),
        // admin-reset's fan-out target (never invoked here).
        ("CREDITS_RESET_FUNCTION".to_owned(), "bench".to_owned()),
    ]
}

pub async fn run(args: &[String]) -> Result<(), Error> {
    let mut runs = 10;
    let mut bins = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--runs" {
            runs = it.next().and_then(|r| r.parse().ok()).unwrap_or(runs);
        } else {
            bins.push(a.clone());
        }
    }
    // The functions' table and flags, made from the template in the emulator, reached through
    // a proxy that times the store's part.
    let (_, config) = credits_testkit::isolated("bench-cold").await;
    let endpoint = std::env::var("AWS_ENDPOINT_URL")?;
    let proxy = FaultProxy::start(&endpoint).await;
    let mut env = lambda_env(&config);
    env.push(("AWS_ENDPOINT_URL".into(), proxy.url().to_owned()));
    println!(
        "| binary ({runs} cold starts each) | size | init p50 / max ms | first event p50 / max ms | store's time in it p50 ms | first event less the store's time p50 / max ms | peak RSS max MB |"
    );
    println!("|---|---|---|---|---|---|---|");
    for path in bins {
        let name = std::path::Path::new(&path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let size = std::fs::metadata(&path)?.len();
        let mut done = Vec::new();
        for i in 0..runs {
            done.push(once(&path, event_for(&name, i).as_ref(), &env, &proxy).await?);
        }
        let init = Summary::new(done.iter().map(|r| r.init).collect());
        let rss = done.iter().map(|r| r.peak_rss_kb).max().unwrap_or(0);
        let handled: Vec<&Run> = done.iter().filter(|r| r.first_event.is_some()).collect();
        let event = if handled.is_empty() {
            "no event (initialisation only) | |".to_owned()
        } else {
            let first = Summary::new(handled.iter().filter_map(|r| r.first_event).collect());
            let store = Summary::new(handled.iter().map(|r| r.store).collect());
            let own = Summary::new(
                handled
                    .iter()
                    .filter_map(|r| r.first_event.map(|f| f.saturating_sub(r.store)))
                    .collect(),
            );
            format!(
                "{} / {} | {} | {} / {}",
                ms(first.pct(50.0)),
                ms(first.max()),
                ms(store.pct(50.0)),
                ms(own.pct(50.0)),
                ms(own.max())
            )
        };
        println!(
            "| {name} | {:.2} MB | {} / {} | {event} | {:.1} |",
            size as f64 / 1_048_576.0,
            ms(init.pct(50.0)),
            ms(init.max()),
            rss as f64 / 1024.0,
        );
    }
    Ok(())
}
