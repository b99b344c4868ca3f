//! The local stack's pieces (feature `local`, never in a Lambda): the table and parameters made
//! from the very definitions in `infra/template.yaml`, and HS256 tokens like the local
//! authorizer's.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use serde_json::Value as Json;
use serde_norway::Value;

/// The deployment template: the one source of the table and parameter definitions.
pub const TEMPLATE: &str = include_str!("../../infra/template.yaml");

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("infra/template.yaml: {0}")]
    Template(String),
    #[error("{operation}: {message}")]
    Aws {
        operation: &'static str,
        message: String,
    },
}

fn template_error(msg: impl Into<String>) -> ProvisionError {
    ProvisionError::Template(msg.into())
}

fn aws_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    operation: &'static str,
) -> impl FnOnce(aws_sdk_dynamodb::error::SdkError<E, R>) -> ProvisionError {
    move |e| ProvisionError::Aws {
        operation,
        message: aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
    }
}

/// The table as the template defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDefinition {
    /// (name, type) of each key attribute.
    pub attributes: Vec<(String, String)>,
    /// (name, HASH|RANGE).
    pub keys: Vec<(String, String)>,
    pub ttl_attribute: Option<String>,
}

/// A parameter as the template defines it, its name relative to the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterDefinition {
    pub suffix: String,
    pub value: String,
}

/// The template's `Resources`, by logical id.
pub fn resources() -> Result<BTreeMap<String, Value>, ProvisionError> {
    let doc: Value = serde_norway::from_str(TEMPLATE).map_err(|e| template_error(e.to_string()))?;
    let resources = doc
        .get("Resources")
        .cloned()
        .ok_or_else(|| template_error("no Resources"))?;
    serde_norway::from_value(resources).map_err(|e| template_error(e.to_string()))
}

fn of_type(resources: &BTreeMap<String, Value>, ty: &str) -> Vec<Value> {
    resources
        .values()
        .filter(|r| r.get("Type").and_then(Value::as_str) == Some(ty))
        .filter_map(|r| r.get("Properties").cloned())
        .collect()
}

fn str_at<'v>(v: &'v Value, key: &str) -> Result<&'v str, ProvisionError> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| template_error(format!("{key} is not a string")))
}

pub fn table_definition() -> Result<TableDefinition, ProvisionError> {
    let tables = of_type(&resources()?, "AWS::DynamoDB::Table");
    let [table] = tables.as_slice() else {
        return Err(template_error("expected exactly one AWS::DynamoDB::Table"));
    };
    let list = |key: &str, a: &str, b: &str| -> Result<Vec<(String, String)>, ProvisionError> {
        table
            .get(key)
            .and_then(Value::as_sequence)
            .ok_or_else(|| template_error(format!("{key} is not a list")))?
            .iter()
            .map(|e| Ok((str_at(e, a)?.to_owned(), str_at(e, b)?.to_owned())))
            .collect()
    };
    Ok(TableDefinition {
        attributes: list("AttributeDefinitions", "AttributeName", "AttributeType")?,
        keys: list("KeySchema", "AttributeName", "KeyType")?,
        ttl_attribute: table
            .get("TimeToLiveSpecification")
            .map(|t| str_at(t, "AttributeName").map(str::to_owned))
            .transpose()?,
    })
}

pub fn parameter_definitions() -> Result<Vec<ParameterDefinition>, ProvisionError> {
    of_type(&resources()?, "AWS::SSM::Parameter")
        .iter()
        .map(|p| {
            // Name: !Sub "${ParameterPrefix}/system-version"
            let name = match p.get("Name") {
                Some(Value::Tagged(t)) => t.value.as_str(),
                Some(v) => v.as_str(),
                None => None,
            }
            .ok_or_else(|| template_error("a parameter has no Name"))?;
            let suffix = name.strip_prefix("${ParameterPrefix}").ok_or_else(|| {
                template_error(format!("{name} is not under ${{ParameterPrefix}}"))
            })?;
            Ok(ParameterDefinition {
                suffix: suffix.to_owned(),
                value: str_at(p, "Value")?.to_owned(),
            })
        })
        .collect()
}

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
pub fn http_routes() -> Result<Vec<HttpRoute>, ProvisionError> {
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

/// Creates the table as the template defines it, unless it exists.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<(), ProvisionError> {
    let def = table_definition()?;
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for (attr, ty) in &def.attributes {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attr)
                .attribute_type(ScalarAttributeType::from(ty.as_str()))
                .build()
                .map_err(|e| template_error(e.to_string()))?,
        );
    }
    for (attr, ty) in &def.keys {
        req = req.key_schema(
            KeySchemaElement::builder()
                .attribute_name(attr)
                .key_type(KeyType::from(ty.as_str()))
                .build()
                .map_err(|e| template_error(e.to_string()))?,
        );
    }
    match req.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            return Ok(());
        }
        Err(e) => return Err(aws_error("CreateTable")(e)),
    }
    if let Some(attr) = def.ttl_attribute {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attr)
                    .enabled(true)
                    .build()
                    .map_err(|e| template_error(e.to_string()))?,
            )
            .send()
            .await
            .map_err(aws_error("UpdateTimeToLive"))?;
    }
    Ok(())
}

/// Puts each parameter with the template's value; `overwrite` resets values already there.
pub async fn put_parameters(
    ssm: &aws_sdk_ssm::Client,
    prefix: &str,
    overwrite: bool,
) -> Result<(), ProvisionError> {
    for p in parameter_definitions()? {
        let result = ssm
            .put_parameter()
            .name(format!("{prefix}{}", p.suffix))
            .value(&p.value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(overwrite)
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(e)
                if !overwrite
                    && e.as_service_error()
                        .is_some_and(|s| s.is_parameter_already_exists()) => {}
            Err(e) => {
                return Err(ProvisionError::Aws {
                    operation: "PutParameter",
                    message: aws_sdk_ssm::error::DisplayErrorContext(e).to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Signs an HS256 token as the local identity provider would.
pub fn sign_token(secret: &str, claims: &Json) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("a JSON object signs")
}

/// A token for `sub`, valid for `ttl_seconds`, with the given `cognito:groups`.
pub fn user_token(secret: &str, sub: &str, groups: &[&str], ttl_seconds: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = serde_json::json!({"sub": sub, "iat": now, "exp": now + ttl_seconds});
    if !groups.is_empty() {
        claims["cognito:groups"] = serde_json::json!(groups);
    }
    sign_token(secret, &claims)
}

/// Verifies an HS256 token (signature, algorithm, `exp`) and returns its claims as API
/// Gateway's JWT authorizer passes them to a function: every value a string, arrays written
/// as `[a b]`.
pub fn verify_token(secret: &str, token: &str) -> Result<BTreeMap<String, String>, String> {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_aud = false;
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub"]);
    let data = jsonwebtoken::decode::<BTreeMap<String, Json>>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map_err(|e| e.to_string())?;
    Ok(data
        .claims
        .into_iter()
        .map(|(k, v)| (k, claim_string(&v)))
        .collect())
}

fn claim_string(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Array(items) => format!(
            "[{}]",
            items.iter().map(claim_string).collect::<Vec<_>>().join(" ")
        ),
        other => other.to_string(),
    }
}

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

/// For tests: the account as of now (opened or reset if due) and its latest 100 ledger
/// entries, newest first, straight from the store.
pub async fn account_and_ledger(
    app: &crate::app::App,
    user: &str,
) -> (crate::account::Account, Vec<crate::ledger::Entry>) {
    let user = crate::account::UserId::parse(user).expect("a valid user id");
    let account = app
        .service
        .account(&user, app.clock.now())
        .await
        .expect("the account reads");
    let page = app
        .service
        .store()
        .entries(&user, 100, None)
        .await
        .expect("the ledger reads");
    (account, page.entries)
}

/// For tests: sets the app's `system-version` parameter, as an operator's put-parameter would.
pub async fn set_version(app: &crate::app::App, version: &str) {
    aws_sdk_ssm::Client::new(&crate::config::aws_for_tools().await)
        .put_parameter()
        .name(format!("{}/system-version", app.config.parameter_prefix))
        .value(version)
        .overwrite(true)
        .send()
        .await
        .expect("put the version parameter");
}

/// For tests: an [`App`](crate::app::App) on a table and parameter prefix of its own, made from
/// the template in the emulator at `AWS_ENDPOINT_URL` (the emulator's state is shared by every
/// test, so nothing else sees them). Panics when no emulator is configured: the tests must
/// never reach a real account.
pub async fn isolated_app(tag: &str) -> crate::app::App {
    isolated_app_with(tag, |_| {}).await
}

/// [`isolated_app`] with its configuration adjusted first (a short flag cache time, say).
pub async fn isolated_app_with(
    tag: &str,
    adjust: impl FnOnce(&mut crate::config::Config),
) -> crate::app::App {
    let (sdk, config) = isolated_with(tag, adjust).await;
    crate::app::App::new(&sdk, config)
}

/// The SDK configuration and a [`Config`](crate::config::Config) naming a fresh table and
/// parameter prefix, provisioned from the template: for an App built with other clients.
pub async fn isolated(tag: &str) -> (aws_config::SdkConfig, crate::config::Config) {
    isolated_with(tag, |_| {}).await
}

/// [`isolated`] with the configuration adjusted first.
pub async fn isolated_with(
    tag: &str,
    adjust: impl FnOnce(&mut crate::config::Config),
) -> (aws_config::SdkConfig, crate::config::Config) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "integration tests need the local emulator: run them with scripts/test"
    );
    let unique = format!(
        "{tag}-{}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        chrono::Utc::now().timestamp_micros() % 1_000_000_000
    );
    let mut config = crate::config::Config {
        table: format!("t-{unique}"),
        parameter_prefix: format!("/t-{unique}"),
        ..crate::config::Config::from_lookup(|_| None).expect("defaults are valid")
    };
    adjust(&mut config);
    let sdk = crate::config::aws_for_tools().await;
    create_table(&aws_sdk_dynamodb::Client::new(&sdk), &config.table)
        .await
        .expect("create the test table");
    put_parameters(
        &aws_sdk_ssm::Client::new(&sdk),
        &config.parameter_prefix,
        true,
    )
    .await
    .expect("put the test parameters");
    (sdk, config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_defines_the_table_the_store_uses() {
        let t = table_definition().unwrap();
        let keys: Vec<_> = t
            .keys
            .iter()
            .map(|(n, k)| (n.as_str(), k.as_str()))
            .collect();
        assert_eq!(
            keys,
            [(crate::store::PK, "HASH"), (crate::store::SK, "RANGE")]
        );
        assert_eq!(
            t.ttl_attribute.as_deref(),
            Some(crate::store::TTL_ATTRIBUTE)
        );
    }

    #[test]
    fn the_template_defines_the_parameters_with_phase_one_values() {
        let mut p: Vec<_> = parameter_definitions()
            .unwrap()
            .into_iter()
            .map(|p| (p.suffix, p.value))
            .collect();
        p.sort();
        assert_eq!(
            p,
            [
                ("/enable-purchases".to_owned(), "true".to_owned()),
                (
                    "/feature-prices".to_owned(),
                    r#"{"ai_generation": 10, "pdf_export": 3}"#.to_owned()
                ),
                ("/system-version".to_owned(), "v1".to_owned())
            ]
        );
        let names = crate::flags::parameter_names("");
        assert!(names.iter().all(|n| p.iter().any(|(s, _)| s == n)));
        assert_eq!(crate::prices::parameter_name(""), "/feature-prices");
        let prices = &p[1].1;
        assert_eq!(
            crate::rules::prices::parse_price_list(prices).map(|l| l.len()),
            Ok(2)
        );
    }

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

    #[test]
    fn tokens_verify_and_carry_claims_as_api_gateway_passes_them() {
        let t = user_token("s3cret", "alice", &["admin", "users"], 60);
        let claims = verify_token("s3cret", &t).unwrap();
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["cognito:groups"], "[admin users]");
        assert!(verify_token("other", &t).is_err());
        let expired = user_token("s3cret", "alice", &[], -5);
        assert!(verify_token("s3cret", &expired).is_err());
    }

    #[test]
    fn unsigned_and_foreign_algorithm_tokens_are_refused() {
        use base64::Engine;
        let b64 = |v: &Json| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let exp = chrono::Utc::now().timestamp() + 60;
        let claims = serde_json::json!({"sub": "mallory", "exp": exp});
        let none = format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg": "none", "typ": "JWT"})),
            b64(&claims)
        );
        assert!(verify_token("s3cret", &none).is_err());
        let hs512 = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        assert!(verify_token("s3cret", &hs512).is_err());
    }
}
