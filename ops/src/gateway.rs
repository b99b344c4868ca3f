//! The local gateway: the HTTP API's routes (read from the template) and its JWT authorizer,
//! in front of the real function handlers called in process with the very event API Gateway
//! would send them.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use credits::api::ApiError;
use credits::app::App;
use credits::local::{ApiCall, HttpRoute};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use lambda_http::Body;
use tokio::net::TcpListener;

use crate::cors::{Cors, LOCAL_ORIGINS};
use crate::local_only::{self, LocalRoute};
use crate::stripe_api::{LOCAL_PREFIX, StripeApi};

/// API Gateway's own payload limit.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

pub struct Gateway {
    app: App,
    secret: String,
    routes: Vec<HttpRoute>,
    webhook: webhook::Webhook,
    stripe_api: StripeApi,
    cors: Cors,
}

/// The webhook's Function URL, served beside the HTTP API's routes.
pub const WEBHOOK_PATH: &str = "/webhook/stripe";

impl Gateway {
    /// Fails when the template declares a route whose function is not mounted here. Allows
    /// the local origins ([`LOCAL_ORIGINS`]); see [`Gateway::with_cors`].
    pub fn new(app: App, secret: String) -> Result<Self, String> {
        let webhook = webhook::Webhook::from_local_env().map_err(|e| e.to_string())?;
        Self::with_webhook(app, secret, webhook)
    }

    /// A gateway whose webhook is `webhook` (a test's, with its own Stripe API stand-in).
    pub fn with_webhook(
        app: App,
        secret: String,
        webhook: webhook::Webhook,
    ) -> Result<Self, String> {
        let routes = credits::local::http_routes().map_err(|e| e.to_string())?;
        if let Some(r) = routes
            .iter()
            .find(|r| !FUNCTIONS.contains(&r.function.as_str()))
        {
            return Err(format!(
                "{} names function {:?}, which the gateway does not mount",
                r.key(),
                r.function
            ));
        }
        Ok(Self {
            app,
            secret,
            routes,
            webhook,
            stripe_api: StripeApi::local(),
            cors: Cors::new(LOCAL_ORIGINS)?,
        })
    }

    /// The browsers' origins it allows (`CREDITS_CORS_ALLOWED_ORIGINS`).
    pub fn with_cors(mut self, cors: Cors) -> Self {
        self.cors = cors;
        self
    }

    pub fn routes(&self) -> &[HttpRoute] {
        &self.routes
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    pub fn webhook(&self) -> &webhook::Webhook {
        &self.webhook
    }
}

/// The functions mounted in process, by binary name.
const FUNCTIONS: &[&str] = &["balance", "deduct", "status", "admin-reset"];

/// Calls a mounted function's handler, as Lambda would, by binary name.
pub async fn invoke(
    app: &App,
    function: &str,
    req: lambda_http::Request,
) -> lambda_http::Response<Body> {
    match function {
        "balance" => balance::handle(app, req).await,
        "deduct" => deduct::handle(app, req).await,
        "status" => status::handle(app, req).await,
        "admin-reset" => admin_reset(app, req).await,
        other => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
            format!("function {other} is not mounted"),
        )
        .into_response(),
    }
}

/// The admin function: support's routes, and the reset trigger with its segments run in
/// process (a deployment fans out to Lambda instead).
async fn admin_reset(app: &App, req: lambda_http::Request) -> lambda_http::Response<Body> {
    let settings = credits::reset::ResetSettings::from_env().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "using the default reset settings");
        credits::reset::ResetSettings::default()
    });
    let job = credits::reset::ResetJob::new(app.service.clone(), settings, app.clock.clone());
    monthly_reset::admin::serve(app, &job, &monthly_reset::Fanout::local(), req).await
}

/// Serves until `shutdown` completes; connections in flight are dropped with the task.
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with(listener, shutdown, move |req| {
        let gateway = gateway.clone();
        async move { handle(&gateway, req).await }
    })
    .await
}

/// Serves HTTP/1 connections, each request answered by `answer`, until `shutdown` completes.
pub(crate) async fn serve_with<A, F>(
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
    answer: A,
) -> std::io::Result<()>
where
    A: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
    F: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => return Ok(()),
        };
        let answer = answer.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let answer = answer.clone();
                async move { Ok::<_, Infallible>(answer(req).await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection closed");
            }
        });
    }
}

async fn handle(gateway: &Gateway, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let request_headers = req.headers().clone();
    // The webhook is a Function URL, not the HTTP API: no CORS there, as deployed.
    let cors = (path != WEBHOOK_PATH).then_some(&gateway.cors);
    let stand_in = path
        .strip_prefix(LOCAL_PREFIX)
        .filter(|p| p.starts_with('/'));
    let mut response = match cors.and_then(|c| c.preflight(req.method(), &request_headers)) {
        Some(preflight) => preflight,
        None => match (LocalRoute::of(req.method(), &path), stand_in) {
            (Some(local), _) => local_only::answer(local, &gateway.secret, req).await,
            (None, Some(stripe_path)) => {
                let auth = req
                    .headers()
                    .get(hyper::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok());
                let answer =
                    gateway
                        .stripe_api
                        .answer(req.method(), stripe_path, req.uri().query(), auth);
                answer.await
            }
            (None, None) => route(gateway, req).await,
        },
    };
    if let Some(cors) = cors {
        cors.decorate(&request_headers, &mut response);
    }
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

async fn route(gateway: &Gateway, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    if method == "POST" && path == WEBHOOK_PATH {
        return function_url(gateway, req).await;
    }
    let Some((route, params)) = gateway
        .routes
        .iter()
        .find_map(|r| r.matches(&method, &path).map(|p| (r, p)))
    else {
        return to_hyper(ApiError::not_found().into_response());
    };
    let claims = if route.authorized {
        match authorize(&gateway.secret, &req) {
            Some(claims) => Some(claims),
            None => return to_hyper(ApiError::unauthorized().into_response()),
        }
    } else {
        // An optional user on a public route (status): a valid token's claims are passed on,
        // anything else is ignored. API Gateway passes none here; see functions/status.
        authorize(&gateway.secret, &req)
    };
    let mut call = match read_call(req).await {
        Ok(call) => call,
        Err(too_large) => return too_large,
    };
    call.route_key = route.key();
    call.path_parameters = params;
    call.claims = claims;
    to_hyper(invoke(&gateway.app, &route.function, call.request()).await)
}

/// The webhook's Function URL: the payload 2.0 event a Function URL sends (route key
/// `$default`, no authorizer).
async fn function_url(gateway: &Gateway, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let mut call = match read_call(req).await {
        Ok(call) => call,
        Err(too_large) => return too_large,
    };
    call.route_key = "$default".into();
    to_hyper(webhook::handle(&gateway.app, &gateway.webhook, call.request()).await)
}

/// The request as a function will see it: method, path and query, headers, and the body
/// (API Gateway's 10 MB limit).
async fn read_call(req: Request<Incoming>) -> Result<ApiCall, Response<Full<Bytes>>> {
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |pq| pq.as_str().to_owned());
    let mut call = ApiCall::new(req.method().as_str(), &target);
    call.headers = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    match Limited::new(req.into_body(), MAX_PAYLOAD).collect().await {
        Ok(body) => {
            call.body = body.to_bytes().to_vec();
            Ok(call)
        }
        Err(_) => Err(to_hyper(
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request is larger than 10 MB",
            )
            .into_response(),
        )),
    }
}

/// The JWT authorizer: a valid `Authorization: Bearer` HS256 token, or nothing.
fn authorize(secret: &str, req: &Request<Incoming>) -> Option<BTreeMap<String, String>> {
    let header = req
        .headers()
        .get(hyper::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))?;
    credits::local::verify_token(secret, token.trim()).ok()
}

pub(crate) fn to_hyper(response: lambda_http::Response<Body>) -> Response<Full<Bytes>> {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    Response::from_parts(parts, Full::new(bytes))
}
