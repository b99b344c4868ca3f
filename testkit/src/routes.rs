//! The HTTP API's routes as the template declares them on its functions, and how a request's
//! path matches one.

use std::collections::BTreeMap;

use serde_norway::Value;

use crate::template::{TemplateError, resources, str_at, template_error};

/// A route of the HTTP API as the template declares it on a function's `HttpApi` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    pub method: String,
    /// With `{name}` segments for path parameters.
    pub path: String,
    /// The function's binary (`Metadata.BuildProperties.Binary`).
    pub function: String,
    /// Whether the JWT authorizer guards it (`Auth.Authorizer: NONE` turns it off).
    pub authorized: bool,
}

impl HttpRoute {
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The path parameters if `path` matches this route's pattern.
    pub fn matches(&self, method: &str, path: &str) -> Option<BTreeMap<String, String>> {
        if !self.method.eq_ignore_ascii_case(method) {
            return None;
        }
        let pattern: Vec<&str> = self.path.split('/').collect();
        let actual: Vec<&str> = path.split('/').collect();
        if pattern.len() != actual.len() {
            return None;
        }
        let mut params = BTreeMap::new();
        for (p, a) in pattern.iter().zip(&actual) {
            match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if !a.is_empty() => {
                    params.insert(name.to_owned(), (*a).to_owned());
                }
                Some(_) => return None,
                None if p == a => {}
                None => return None,
            }
        }
        Some(params)
    }
}

/// Every route of the HTTP API in the template, so the local gateway serves exactly those.
pub fn http_routes() -> Result<Vec<HttpRoute>, TemplateError> {
    let resources = resources()?;
    let mut routes = Vec::new();
    for resource in resources.values() {
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let function = resource
            .get("Metadata")
            .and_then(|m| m.get("BuildProperties"))
            .map(|b| str_at(b, "Binary"))
            .transpose()?;
        let events = resource
            .get("Properties")
            .and_then(|p| p.get("Events"))
            .and_then(Value::as_mapping);
        for event in events.into_iter().flat_map(|m| m.values()) {
            if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                continue;
            }
            let props = event
                .get("Properties")
                .ok_or_else(|| template_error("an HttpApi event has no Properties"))?;
            let authorizer = props
                .get("Auth")
                .and_then(|a| a.get("Authorizer"))
                .and_then(Value::as_str);
            routes.push(HttpRoute {
                method: str_at(props, "Method")?.to_ascii_uppercase(),
                path: str_at(props, "Path")?.to_owned(),
                function: function
                    .ok_or_else(|| template_error("a function has no BuildProperties.Binary"))?
                    .to_owned(),
                authorized: authorizer != Some("NONE"),
            });
        }
    }
    routes.sort_by_key(HttpRoute::key);
    Ok(routes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_come_from_the_template_with_their_authorizer() {
        let routes = http_routes().unwrap();
        let find = |key: &str| routes.iter().find(|r| r.key() == key).cloned();
        let balance = find("GET /credits/balance").unwrap();
        assert_eq!(
            (balance.function.as_str(), balance.authorized),
            ("balance", true)
        );
        assert!(!find("GET /credits/plans").unwrap().authorized);
        assert_eq!(find("POST /credits/deduct").unwrap().function, "deduct");
    }

    #[test]
    fn route_patterns_bind_path_parameters() {
        let r = HttpRoute {
            method: "POST".into(),
            path: "/credits/holds/{id}/commit".into(),
            function: "deduct".into(),
            authorized: true,
        };
        let p = r.matches("POST", "/credits/holds/h_1/commit").unwrap();
        assert_eq!(p["id"], "h_1");
        assert!(r.matches("GET", "/credits/holds/h_1/commit").is_none());
        assert!(r.matches("POST", "/credits/holds//commit").is_none());
        assert!(r.matches("POST", "/credits/holds/h_1").is_none());
    }
}
