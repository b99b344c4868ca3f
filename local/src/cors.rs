//! CORS as API Gateway applies an HTTP API's `CorsConfiguration`: it answers every preflight
//! itself (before the authorizer) and adds the headers to every answer from an allowed origin,
//! errors included. The methods, headers and max age are read from `infra/template.yaml`, so the
//! local gateway and a deployment cannot differ; the origins are the template's
//! `CorsAllowedOrigins` parameter on AWS and `CREDITS_CORS_ALLOWED_ORIGINS` here.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD,
    HeaderMap, HeaderValue, ORIGIN, VARY,
};
use hyper::{Method, Response, StatusCode};
use serde_norway::Value;

/// The variable that names the origins the local gateway allows.
pub const ORIGINS_VAR: &str = "CREDITS_CORS_ALLOWED_ORIGINS";
/// The local default: the gateway's own page and any local dev server, on any port.
pub const LOCAL_ORIGINS: &str = "http://localhost:*,http://127.0.0.1:*";

/// The template's `CorsConfiguration`, less its origins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsRules {
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age: u64,
}

impl CorsRules {
    /// From the template's one `AWS::Serverless::HttpApi`.
    pub fn from_template() -> Result<Self, String> {
        let resources = credits_testkit::resources().map_err(|e| e.to_string())?;
        let config = resources
            .values()
            .find(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::HttpApi"))
            .and_then(|api| api.get("Properties")?.get("CorsConfiguration"))
            .ok_or("infra/template.yaml: the HttpApi has no CorsConfiguration")?;
        let list = |key: &str| -> Result<Vec<String>, String> {
            config
                .get(key)
                .and_then(Value::as_sequence)
                .ok_or(format!("CorsConfiguration.{key} is not a list"))?
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or(format!("CorsConfiguration.{key} holds a non-string"))
                })
                .collect()
        };
        Ok(Self {
            allow_methods: list("AllowMethods")?,
            allow_headers: list("AllowHeaders")?,
            expose_headers: list("ExposeHeaders")?,
            max_age: config
                .get("MaxAge")
                .and_then(Value::as_u64)
                .ok_or("CorsConfiguration.MaxAge is not a number")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AllowedOrigin {
    Any,
    Exact(String),
    /// `scheme://host` on any port (written `scheme://host:*`).
    AnyPort(String),
}

impl AllowedOrigin {
    fn parse(entry: &str) -> Result<Self, String> {
        let entry = entry.trim().trim_end_matches('/').to_ascii_lowercase();
        if entry == "*" {
            return Ok(Self::Any);
        }
        let host = entry
            .strip_prefix("http://")
            .or_else(|| entry.strip_prefix("https://"))
            .filter(|h| !h.is_empty() && !h.contains('/'))
            .ok_or(format!(
                "{ORIGINS_VAR}: expected *, scheme://host[:port] or scheme://host:*, got {entry:?}"
            ))?;
        Ok(match host.strip_suffix(":*") {
            Some(_) => Self::AnyPort(entry[..entry.len() - 2].to_owned()),
            None => Self::Exact(entry),
        })
    }

    fn allows(&self, origin: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(o) => *o == origin,
            Self::AnyPort(base) => origin.strip_prefix(base.as_str()).is_some_and(|rest| {
                rest.is_empty()
                    || rest
                        .strip_prefix(':')
                        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            }),
        }
    }
}

/// The allowed origins and the template's rules.
#[derive(Debug, Clone)]
pub struct Cors {
    /// As configured, for people to read.
    listed: String,
    origins: Vec<AllowedOrigin>,
    rules: CorsRules,
}

impl Cors {
    /// `origins` is a comma-separated list (the format of `CREDITS_CORS_ALLOWED_ORIGINS`), with
    /// the template's rules.
    pub fn new(origins: &str) -> Result<Self, String> {
        Self::with_rules(origins, CorsRules::from_template()?)
    }

    /// `origins` as in [`Cors::new`], with `rules` already read.
    pub fn with_rules(origins: &str, rules: CorsRules) -> Result<Self, String> {
        Ok(Self {
            listed: origins.trim().to_owned(),
            origins: origins
                .split(',')
                .filter(|o| !o.trim().is_empty())
                .map(AllowedOrigin::parse)
                .collect::<Result<_, _>>()?,
            rules,
        })
    }

    /// The allowed origins as configured.
    pub fn listed(&self) -> &str {
        &self.listed
    }

    pub fn allows(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        self.origins.iter().any(|o| o.allows(&origin))
    }

    fn allowed_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let origin = headers.get(ORIGIN)?;
        self.allows(origin.to_str().ok()?).then(|| origin.clone())
    }

    /// The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`), on any
    /// path; `None` when the request is not one. An origin or method not allowed gets a 204
    /// without CORS headers, which the browser reads as a refusal.
    pub fn preflight(&self, method: &Method, headers: &HeaderMap) -> Option<Response<Full<Bytes>>> {
        if method != Method::OPTIONS {
            return None;
        }
        let requested = headers.get(ACCESS_CONTROL_REQUEST_METHOD)?.to_str().ok()?;
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::NO_CONTENT;
        let method_allowed = self
            .rules
            .allow_methods
            .iter()
            .any(|m| m.eq_ignore_ascii_case(requested.trim()));
        if let Some(origin) = self.allowed_origin(headers).filter(|_| method_allowed) {
            let out = response.headers_mut();
            out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            out.insert(
                ACCESS_CONTROL_ALLOW_METHODS,
                joined(&self.rules.allow_methods),
            );
            out.insert(
                ACCESS_CONTROL_ALLOW_HEADERS,
                joined(&self.rules.allow_headers),
            );
            out.insert(
                ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from(self.rules.max_age),
            );
            out.insert(VARY, HeaderValue::from_static("Origin"));
        }
        Some(response)
    }

    /// Adds the headers an allowed origin needs to read `response` (its status, body and the
    /// exposed headers); anything else is left as it is.
    pub fn decorate(&self, request: &HeaderMap, response: &mut Response<Full<Bytes>>) {
        let Some(origin) = self.allowed_origin(request) else {
            return;
        };
        let out = response.headers_mut();
        out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        out.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            joined(&self.rules.expose_headers),
        );
        out.insert(VARY, HeaderValue::from_static("Origin"));
    }
}

fn joined(items: &[String]) -> HeaderValue {
    HeaderValue::from_str(&items.join(", ")).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    hyper::header::HeaderName::from_static(k),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn the_template_allows_the_contract_headers() {
        let rules = CorsRules::from_template().unwrap();
        for h in ["Authorization", "Content-Type", "Idempotency-Key"] {
            assert!(rules.allow_headers.iter().any(|a| a == h), "{h}");
        }
        for h in ["Idempotent-Replayed", "Retry-After"] {
            assert!(rules.expose_headers.iter().any(|a| a == h), "{h}");
        }
        // Every method the template routes is allowed.
        for r in credits_testkit::http_routes().unwrap() {
            assert!(rules.allow_methods.contains(&r.method), "{}", r.key());
        }
    }

    #[test]
    fn local_origins_allow_any_port_of_localhost_only() {
        let cors = Cors::new(LOCAL_ORIGINS).unwrap();
        for ok in [
            "http://localhost:5173",
            "http://127.0.0.1:3000",
            "http://localhost",
            "HTTP://LOCALHOST:8080",
        ] {
            assert!(cors.allows(ok), "{ok}");
        }
        for no in [
            "https://localhost:5173",
            "http://localhost.evil.com",
            "http://localhost:80.evil.com",
            "http://127.0.0.1:",
            "http://127.0.0.10:3000",
            "null",
        ] {
            assert!(!cors.allows(no), "{no}");
        }
    }

    #[test]
    fn exact_and_any_origins_and_bad_entries() {
        let cors = Cors::new("https://app.example.com/, https://admin.example.com:8443").unwrap();
        assert!(cors.allows("https://app.example.com"));
        assert!(cors.allows("https://admin.example.com:8443"));
        assert!(!cors.allows("https://admin.example.com"));
        assert!(Cors::new("*").unwrap().allows("https://anything.example"));
        for bad in ["app.example.com", "ftp://x", "https://x/path", "https://"] {
            let e = Cors::new(bad).unwrap_err();
            assert!(e.contains(ORIGINS_VAR), "{bad}: {e}");
        }
    }

    #[test]
    fn a_preflight_from_an_allowed_origin_gets_the_rules() {
        let cors = Cors::new(LOCAL_ORIGINS).unwrap();
        let req = headers(&[
            ("origin", "http://localhost:5173"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization,content-type,idempotency-key",
            ),
        ]);
        let r = cors.preflight(&Method::OPTIONS, &req).unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let h = r.headers();
        assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "http://localhost:5173");
        assert_eq!(
            h[ACCESS_CONTROL_ALLOW_HEADERS],
            "Authorization, Content-Type, Idempotency-Key"
        );
        assert!(
            h[ACCESS_CONTROL_ALLOW_METHODS]
                .to_str()
                .unwrap()
                .contains("DELETE")
        );
        assert_eq!(h[ACCESS_CONTROL_MAX_AGE], "600");
    }

    #[test]
    fn a_refused_preflight_carries_no_cors_headers() {
        let cors = Cors::new(LOCAL_ORIGINS).unwrap();
        for req in [
            headers(&[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "POST"),
            ]),
            headers(&[
                ("origin", "http://localhost:5173"),
                ("access-control-request-method", "PUT"),
            ]),
        ] {
            let r = cors.preflight(&Method::OPTIONS, &req).unwrap();
            assert_eq!(r.status(), StatusCode::NO_CONTENT);
            assert!(r.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        }
        // Not a preflight: routed as usual.
        let plain = headers(&[("origin", "http://localhost:5173")]);
        assert!(cors.preflight(&Method::OPTIONS, &plain).is_none());
        let get = headers(&[("access-control-request-method", "GET")]);
        assert!(cors.preflight(&Method::GET, &get).is_none());
    }
}
