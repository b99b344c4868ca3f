//! A fault-injecting proxy between the SDK and the emulator: every request passes through it,
//! and a fault planned for an operation (`GetItem`, `TransactWriteItems`, ...) is applied to
//! its next request: delay it, cut the connection before it reaches the store, cut it after
//! the store applied it (the response is lost), answer a throttling error, or be down
//! altogether.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward it.
    Pass,
    /// Forward it after a while (it reaches the store even if the client gave up).
    Delay(Duration),
    /// Cut the connection before the request reaches the store.
    Reset,
    /// Forward it, let the store apply it, then cut the connection: the response is lost.
    DropResponse,
    /// Answer DynamoDB's `ThrottlingException` (400) without forwarding.
    Throttle,
    /// Answer `ProvisionedThroughputExceededException` (400) without forwarding.
    ThroughputExceeded,
}

#[derive(Default)]
struct State {
    /// Faults for the next requests of an operation, in order.
    planned: VecDeque<(String, Fault)>,
    /// Applied to any request with no planned fault (`None`: forward).
    standing: Option<Fault>,
    /// The operation of every request seen, in order.
    seen: Vec<String>,
    /// Time spent waiting on the store for forwarded requests, in all.
    upstream: Duration,
}

/// The proxy; it serves until dropped.
pub struct FaultProxy {
    url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// A proxy on a free loopback port in front of `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let state = Arc::new(Mutex::new(State::default()));
        let upstream = Arc::new(upstream.trim_end_matches('/').to_owned());
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (state, upstream, client) = (shared.clone(), upstream.clone(), client.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let (state, upstream, client) =
                            (state.clone(), upstream.clone(), client.clone());
                        relay(state, upstream, client, req)
                    });
                    // A cut connection ends here with an error: that is the point.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, state, task }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Applies `fault` to the next request of `operation` (after those already planned).
    pub fn plan(&self, operation: &str, fault: Fault) {
        self.with(|s| s.planned.push_back((operation.to_owned(), fault)));
    }

    /// Forgets the faults planned and not applied yet (their operation was never sent).
    pub fn clear(&self) {
        self.with(|s| s.planned.clear());
    }

    /// Applies `fault` to every request without a planned one (`Fault::Reset`: the store is
    /// down; `Fault::Pass`: it is back).
    pub fn standing(&self, fault: Fault) {
        self.with(|s| s.standing = Some(fault));
    }

    /// How many requests of `operation` reached the proxy so far.
    pub fn seen(&self, operation: &str) -> usize {
        self.with(|s| s.seen.iter().filter(|o| *o == operation).count())
    }

    /// The time the store took on the requests forwarded since the last call (from the
    /// request in full to the response in full), and forgets it.
    pub fn take_upstream_time(&self) -> Duration {
        self.with(|s| std::mem::take(&mut s.upstream))
    }

    /// Every operation seen, in order, and forgets them.
    pub fn take_seen(&self) -> Vec<String> {
        self.with(|s| std::mem::take(&mut s.seen))
    }
}

/// `X-Amz-Target: DynamoDB_20120810.GetItem` names the operation (SSM: `AmazonSSM.GetParameters`).
fn operation(req: &Request<Incoming>) -> String {
    req.headers()
        .get("x-amz-target")
        .and_then(|t| t.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or("?")
        .to_owned()
}

async fn relay(
    state: Arc<Mutex<State>>,
    upstream: Arc<String>,
    client: Client<HttpConnector, Full<Bytes>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, BoxError> {
    let op = operation(&req);
    let fault = {
        let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
        s.seen.push(op.clone());
        match s.planned.iter().position(|(o, _)| *o == op) {
            Some(i) => s.planned.remove(i).map(|(_, f)| f),
            None => s.standing,
        }
        .unwrap_or(Fault::Pass)
    };
    match fault {
        Fault::Reset => return Err("reset by the fault proxy".into()),
        Fault::Throttle => return Ok(throttled("ThrottlingException")),
        Fault::ThroughputExceeded => {
            return Ok(throttled("ProvisionedThroughputExceededException"));
        }
        Fault::Pass | Fault::Delay(_) | Fault::DropResponse => {}
    }
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(boxed)?.to_bytes();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut forward = Request::builder()
        .method(parts.method)
        .uri(format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        forward = forward.header(name, value);
    }
    let forward = forward.body(Full::new(body)).map_err(boxed)?;
    // In its own task: the store gets the request even when the client has given up meanwhile.
    let timing = state.clone();
    let sent = tokio::spawn(async move {
        if let Fault::Delay(d) = fault {
            tokio::time::sleep(d).await;
        }
        let start = std::time::Instant::now();
        let response = client.request(forward).await.map_err(boxed)?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(boxed)?.to_bytes();
        timing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .upstream += start.elapsed();
        Ok::<_, BoxError>(Response::from_parts(parts, Full::new(body)))
    });
    let response = sent.await.map_err(boxed)??;
    if fault == Fault::DropResponse {
        return Err("response dropped by the fault proxy".into());
    }
    Ok(response)
}

fn boxed(e: impl std::error::Error + Send + Sync + 'static) -> BoxError {
    Box::new(e)
}

fn throttled(code: &str) -> Response<Full<Bytes>> {
    let body = format!(
        r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"Rate exceeded (fault proxy)"}}"#
    );
    Response::builder()
        .status(400)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-errortype", code)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// An App on a fresh table whose clients reach the store through `proxy`, with the product's
/// own timeouts and retries ([`credits::app::clients`]): what a deployment would do is what the
/// fault tests see.
pub async fn app_through(proxy: &FaultProxy, tag: &str) -> credits::app::App {
    let (sdk, config) = credits_testkit::isolated(tag).await;
    let (dynamodb, ssm) = credits::app::clients(&sdk, Some(proxy.url()));
    credits::app::App::with_clients(dynamodb, ssm, config)
}
