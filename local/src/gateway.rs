//! The local gateway: the HTTP API's routes (read from the template) and its JWT authorizer,
//! in front of the real function handlers called in process with the very event API Gateway
//! would send them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use credits::api::{ApiError, ErrorCode};
use credits::app::App;
use credits_testkit::{ApiCall, HttpRoute};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use lambda_http::Body;
use monthly_reset::config::AdminSettings;
use tokio::net::TcpListener;

use crate::config::GatewaySettings;
use crate::error::LocalError;
use crate::http::{serve_with, to_hyper};
use crate::local_routes::{self, LocalRoute};
use crate::stripe_api::{LOCAL_PREFIX, StripeApi};

/// API Gateway's own payload limit.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

pub struct Gateway {
    app: App,
    settings: GatewaySettings,
    routes: Vec<HttpRoute>,
    stripe_api: StripeApi,
}

/// The webhook's Function URL, served beside the HTTP API's routes.
pub const WEBHOOK_PATH: &str = "/webhook/stripe";

impl Gateway {
    /// Fails when the template declares a route whose function is not mounted here.
    pub fn new(app: App, settings: GatewaySettings) -> Result<Self, LocalError> {
        let routes =
            credits_testkit::http_routes().map_err(|e| LocalError::Template(e.to_string()))?;
        if let Some(r) = routes
            .iter()
            .find(|r| !FUNCTIONS.contains(&r.function.as_str()))
        {
            return Err(LocalError::Template(format!(
                "{} names function {:?}, which the gateway does not mount",
                r.key(),
                r.function
            )));
        }
        Ok(Self {
            app,
            settings,
            routes,
            stripe_api: StripeApi::local(),
        })
    }

    pub fn routes(&self) -> &[HttpRoute] {
        &self.routes
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    pub fn webhook(&self) -> &webhook::Webhook {
        &self.settings.webhook
    }
}

/// The functions mounted in process, by binary name.
const FUNCTIONS: &[&str] = &["balance", "deduct", "status", "admin-reset"];

/// Calls a mounted function's handler, as Lambda would, by binary name.
pub async fn invoke(
    app: &App,
    admin: &AdminSettings,
    function: &str,
    req: lambda_http::Request,
) -> lambda_http::Response<Body> {
    match function {
        "balance" => balance::handle(app, req).await,
        "deduct" => deduct::handle(app, req).await,
        "status" => status::handle(app, req).await,
        "admin-reset" => admin_reset(app, admin, req).await,
        other => ApiError::new(
            ErrorCode::BadGateway,
            format!("function {other} is not mounted"),
        )
        .into_response(),
    }
}

/// The admin function: support's routes, and the reset trigger with its segments run in
/// process (a deployment fans out to Lambda instead).
async fn admin_reset(
    app: &App,
    settings: &AdminSettings,
    req: lambda_http::Request,
) -> lambda_http::Response<Body> {
    let admin =
        monthly_reset::admin::Admin::new(app, settings.clone(), monthly_reset::Fanout::local());
    monthly_reset::admin::serve(app, &admin, req).await
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

async fn handle(gateway: &Gateway, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let request_headers = req.headers().clone();
    // The webhook is a Function URL, not the HTTP API: no CORS there, as deployed.
    let cors = (path != WEBHOOK_PATH).then_some(&gateway.settings.cors);
    let stand_in = path
        .strip_prefix(LOCAL_PREFIX)
        .filter(|p| p.starts_with('/'));
    let mut response = match cors.and_then(|c| c.preflight(req.method(), &request_headers)) {
        Some(preflight) => preflight,
        None => match (LocalRoute::of(req.method(), &path), stand_in) {
            (Some(local), _) => {
                local_routes::answer(local, &gateway.settings.jwt_secret, req).await
            }
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
        match authorize(&gateway.settings.jwt_secret, &req) {
            Some(claims) => Some(claims),
            None => return to_hyper(ApiError::unauthorized().into_response()),
        }
    } else {
        // An optional user on a public route (status): a valid token's claims are passed on,
        // anything else is ignored. API Gateway passes none here; see functions/status.
        authorize(&gateway.settings.jwt_secret, &req)
    };
    let mut call = match read_call(req).await {
        Ok(call) => call,
        Err(too_large) => return too_large,
    };
    call.route_key = route.key();
    call.path_parameters = params;
    call.claims = claims;
    to_hyper(
        invoke(
            &gateway.app,
            &gateway.settings.admin,
            &route.function,
            call.request(),
        )
        .await,
    )
}

/// The webhook's Function URL: the payload 2.0 event a Function URL sends (route key
/// `$default`, no authorizer).
async fn function_url(gateway: &Gateway, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let mut call = match read_call(req).await {
        Ok(call) => call,
        Err(too_large) => return too_large,
    };
    call.route_key = "$default".into();
    to_hyper(webhook::handle(&gateway.app, &gateway.settings.webhook, call.request()).await)
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
                ErrorCode::PayloadTooLarge,
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
    credits_testkit::verify_token(secret, token.trim()).ok()
}
