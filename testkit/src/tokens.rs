//! HS256 tokens like the local identity provider's, and their check as the local authorizer
//! makes it.

use std::collections::BTreeMap;

use serde_json::Value as Json;

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

#[cfg(test)]
mod tests {
    use super::*;

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
