//! API Gateway HTTP API events (payload format 2.0), built from a call as a client makes it, and
//! a function's answer read back.

use std::collections::BTreeMap;

use serde_json::Value as Json;

/// A request as it reaches a function behind the HTTP API: method, path with query, headers,
/// body, and the claims the JWT authorizer verified (`None` on a route without one).
#[derive(Debug, Clone, Default)]
pub struct ApiCall {
    pub method: String,
    /// Path and query, as the client sent them.
    pub target: String,
    /// The matched route, such as `GET /credits/balance`.
    pub route_key: String,
    pub path_parameters: BTreeMap<String, String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub claims: Option<BTreeMap<String, String>>,
    pub request_id: String,
}

impl ApiCall {
    pub fn new(method: &str, target: &str) -> Self {
        let path = target.split('?').next().unwrap_or(target);
        Self {
            method: method.to_owned(),
            target: target.to_owned(),
            route_key: format!("{method} {path}"),
            request_id: format!(
                "local-{}",
                chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
            ),
            ..Self::default()
        }
    }

    /// As the authorizer passes a verified token for `sub`.
    pub fn user(mut self, sub: &str) -> Self {
        self.claims = Some(BTreeMap::from([("sub".to_owned(), sub.to_owned())]));
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The API Gateway HTTP API (payload format 2.0) event for this call.
    pub fn event(&self) -> Json {
        use base64::Engine;
        let (path, query) = self.target.split_once('?').unwrap_or((&self.target, ""));
        // API Gateway joins repeated headers with commas and keeps cookies apart.
        let mut headers = serde_json::Map::new();
        let mut cookies = Vec::new();
        for (name, value) in &self.headers {
            if name == "cookie" {
                cookies.extend(value.split("; ").map(|c| Json::from(c.to_owned())));
                continue;
            }
            match headers.get_mut(name) {
                Some(Json::String(prev)) => {
                    prev.push(',');
                    prev.push_str(value);
                }
                _ => {
                    headers.insert(name.clone(), Json::from(value.clone()));
                }
            }
        }
        let (body, encoded) = match std::str::from_utf8(&self.body) {
            _ if self.body.is_empty() => (Json::Null, false),
            Ok(text) => (Json::from(text), false),
            Err(_) => (
                Json::from(base64::engine::general_purpose::STANDARD.encode(&self.body)),
                true,
            ),
        };
        let now = chrono::Utc::now();
        let mut context = serde_json::json!({
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "domainPrefix": "local",
            "http": {
                "method": self.method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent").cloned().unwrap_or(Json::from("")),
            },
            "requestId": self.request_id,
            "routeKey": self.route_key,
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        });
        if let Some(claims) = &self.claims {
            context["authorizer"] = serde_json::json!({"jwt": {"claims": claims, "scopes": null}});
        }
        let mut event = serde_json::json!({
            "version": "2.0",
            "routeKey": self.route_key,
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": context,
            "isBase64Encoded": encoded,
        });
        if !cookies.is_empty() {
            event["cookies"] = Json::from(cookies);
        }
        if !query.is_empty() {
            let mut params = serde_json::Map::new();
            for (k, v) in form_pairs(query) {
                match params.get_mut(&k) {
                    Some(Json::String(prev)) => {
                        prev.push(',');
                        prev.push_str(&v);
                    }
                    _ => {
                        params.insert(k, Json::from(v));
                    }
                }
            }
            event["queryStringParameters"] = Json::Object(params);
        }
        if !self.path_parameters.is_empty() {
            event["pathParameters"] = serde_json::json!(self.path_parameters);
        }
        if !body.is_null() {
            event["body"] = body;
        }
        event
    }

    /// The request a function receives for this call, parsed as the Lambda runtime parses it.
    pub fn request(&self) -> lambda_http::Request {
        lambda_http::request::from_str(&self.event().to_string())
            .expect("an API Gateway v2 event parses")
    }
}

fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// A function's response as status and parsed JSON body (`Null` for an empty or non-JSON one).
pub fn response_json(response: lambda_http::Response<lambda_http::Body>) -> (u16, Json) {
    let status = response.status().as_u16();
    let body = serde_json::from_slice(response.body().as_ref()).unwrap_or(Json::Null);
    (status, body)
}
