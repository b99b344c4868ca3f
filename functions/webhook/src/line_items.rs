//! The one Stripe API call the webhook makes. A paid `payment` checkout names what was bought
//! in `metadata.price_id`; where that is missing, SPEC has the deployment list the session's
//! line items (`GET /v1/checkout/sessions/{id}/line_items`). The request is async-stripe 1.0's
//! (`ListLineItemsCheckoutSession`, sent through its `StripeClient` trait); the client under it
//! is the small one below, on the hyper and rustls stack the AWS SDK already links (Cargo.toml
//! says why not async-stripe's own). Only the webhook links this.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use credits::stripe::PriceMap;
use http_body_util::{BodyExt, Empty};
use hyper::header::{AUTHORIZATION, HeaderValue, USER_AGENT};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use stripe_checkout::checkout_session::ListLineItemsCheckoutSession;
use stripe_client_core::{
    CustomizedStripeRequest, StripeClient, StripeClientErr, StripeMethod, StripeRequest,
};

/// The whole call (connection, request, answer), tried once: the store's work follows inside
/// the function's 10 s timeout, and a failed lookup costs only a retry (Stripe redelivers).
pub const TIMEOUT: Duration = Duration::from_secs(3);
/// Stripe allows at most 100 line items in a `payment` session: one page holds them all.
const PAGE: i64 = 100;

/// A Stripe secret (`sk_`) or restricted (`rk_`) key. Never printed.
#[derive(Clone)]
pub struct ApiKey(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Stripe secret (sk_...) or restricted (rk_...) key")]
pub struct InvalidKey;

impl ApiKey {
    pub fn parse(key: impl Into<String>) -> Result<Self, InvalidKey> {
        let key = key.into();
        let shaped = (key.starts_with("sk_") || key.starts_with("rk_"))
            && key.len() > 3
            && key.bytes().all(|b| b.is_ascii_graphic());
        if shaped {
            Ok(Self(key))
        } else {
            Err(InvalidKey)
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// The Stripe API client, built once per cold start.
#[derive(Clone)]
pub struct LineItems {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    /// `https://api.stripe.com/` or `STRIPE_API_BASE`, ending in `/`.
    base: String,
    /// `Bearer <key>`, marked sensitive.
    authorization: HeaderValue,
}

impl fmt::Debug for LineItems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineItems")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Why the line items could not be read: the event is answered 503 and Stripe retries it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// Stripe answered with an error (401 for a bad key, 404 for a session it does not know
    /// under this key, 5xx for its own faults).
    #[error("the Stripe API answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("the Stripe API did not answer within {0:?}")]
    Timeout(Duration),
    /// Not reached, or its answer could not be read.
    #[error("the Stripe API could not be reached or read: {0}")]
    Transport(String),
}

impl StripeClientErr for LookupError {
    fn deserialize_err(msg: impl fmt::Display) -> Self {
        Self::Transport(format!("unreadable answer: {msg}"))
    }
}

/// What a session's line items say was bought.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Choice {
    /// The price to grant: the first line item, in Stripe's order, whose price the map sells.
    pub price: Option<String>,
    /// What the map sells beyond that one unit, as (price, quantity): never granted, because a
    /// payment buys one product (its purchase record, refunds included, is keyed by the payment
    /// intent). Logged at error for an operator to settle by hand.
    pub ungranted: Vec<(String, u64)>,
}

/// Picks the price to grant among line items given as (price id, quantity), in Stripe's order.
pub fn choose<'a>(prices: &PriceMap, items: impl IntoIterator<Item = (&'a str, u64)>) -> Choice {
    let mut choice = Choice::default();
    for (price, quantity) in items {
        if prices.get(price).is_none() {
            continue;
        }
        let extra = if choice.price.is_none() {
            choice.price = Some(price.to_owned());
            quantity.saturating_sub(1)
        } else {
            quantity
        };
        if extra > 0 {
            choice.ungranted.push((price.to_owned(), extra));
        }
    }
    choice
}

impl LineItems {
    /// A client for `key`; `base` (`STRIPE_API_BASE`) replaces `https://api.stripe.com/`.
    pub fn new(key: &ApiKey, base: Option<&str>) -> Result<Self, String> {
        let base = match base {
            Some(b) if b.starts_with("http://") || b.starts_with("https://") => {
                format!("{}/", b.trim_end_matches('/'))
            }
            Some(b) => return Err(format!("expected an http(s) URL, got {b:?}")),
            None => "https://api.stripe.com/".to_owned(),
        };
        let mut authorization = HeaderValue::try_from(format!("Bearer {}", key.0))
            .map_err(|_| "the key is not a header value".to_owned())?;
        authorization.set_sensitive(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| format!("no TLS root certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(https),
            base,
            authorization,
        })
    }

    /// The session's line items, and the price among them to grant.
    pub async fn choose(&self, session: &str, prices: &PriceMap) -> Result<Choice, LookupError> {
        let page: Page = ListLineItemsCheckoutSession::new(session)
            .limit(PAGE)
            .build()
            .customize()
            .send(self)
            .await?;
        if page.has_more {
            tracing::warn!(
                session,
                "more than {PAGE} line items: only the first page was read"
            );
        }
        Ok(choose(
            prices,
            page.data.iter().filter_map(|item| {
                let price = item.price.as_ref()?;
                Some((price.id.as_str(), item.quantity.unwrap_or(1)))
            }),
        ))
    }

    /// One GET, tried once within [`TIMEOUT`] (connection and body included): Stripe's
    /// redelivery of the event is the retry.
    async fn get(&self, path: &str, query: Option<&str>) -> Result<Bytes, LookupError> {
        let uri = match query {
            Some(q) => format!("{}v1{path}?{q}", self.base),
            None => format!("{}v1{path}", self.base),
        };
        let request = hyper::Request::get(uri)
            .header(AUTHORIZATION, self.authorization.clone())
            .header("stripe-version", stripe_client_core::VERSION.as_str())
            .header(
                USER_AGENT,
                concat!("credits-webhook/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::new())
            .map_err(|e| LookupError::Transport(e.to_string()))?;
        let attempt = async {
            let response = self.client.request(request).await.map_err(|e| {
                LookupError::Transport(
                    std::error::Error::source(&e)
                        .map_or_else(|| e.to_string(), |s| format!("{e}: {s}")),
                )
            })?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| LookupError::Transport(e.to_string()))?
                .to_bytes();
            Ok((status, body))
        };
        let (status, body) = tokio::time::timeout(TIMEOUT, attempt)
            .await
            .map_err(|_| LookupError::Timeout(TIMEOUT))??;
        if status.is_success() {
            return Ok(body);
        }
        // Stripe's error shape: {"error": {"type", "message", "code", ...}}.
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_default();
        Err(LookupError::Status {
            status: status.as_u16(),
            message,
        })
    }
}

impl StripeClient for LineItems {
    type Err = LookupError;

    async fn execute(&self, req: CustomizedStripeRequest) -> Result<Bytes, LookupError> {
        let (req, _) = req.into_pieces();
        match req.method {
            StripeMethod::Get => self.get(&req.path, req.query.as_deref()).await,
            // Only the line items are ever asked for.
            StripeMethod::Post | StripeMethod::Delete => {
                Err(LookupError::Transport("only GET requests are sent".into()))
            }
        }
    }
}

/// The fields read from a page of line items. Not the generated `CheckoutSessionItem`: its
/// parser reaches most of Stripe's object types (discounts -> customer -> subscriptions, ...),
/// megabytes of code in a Lambda binary, for two fields.
#[derive(miniserde::Deserialize)]
struct Page {
    data: Vec<Item>,
    has_more: bool,
}

#[derive(miniserde::Deserialize)]
struct Item {
    price: Option<Price>,
    quantity: Option<u64>,
}

#[derive(miniserde::Deserialize)]
struct Price {
    id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choice(items: &[(&str, u64)]) -> Choice {
        choose(&PriceMap::default(), items.iter().copied())
    }

    fn ungranted(items: &[(&str, u64)]) -> Vec<(String, u64)> {
        items.iter().map(|(p, q)| (p.to_string(), *q)).collect()
    }

    #[test]
    fn the_first_configured_price_in_stripes_order_is_granted() {
        let c = choice(&[("price_other", 1), ("price_lifetime", 1)]);
        assert_eq!(c.price.as_deref(), Some("price_lifetime"));
        assert!(c.ungranted.is_empty());
        let c = choice(&[("price_credits_500", 1), ("price_lifetime", 1)]);
        assert_eq!(c.price.as_deref(), Some("price_credits_500"));
    }

    #[test]
    fn what_the_map_sells_beyond_one_unit_is_reported_never_granted() {
        let c = choice(&[
            ("price_credits_100", 2),
            ("price_other", 3),
            ("price_lifetime", 1),
        ]);
        assert_eq!(c.price.as_deref(), Some("price_credits_100"));
        assert_eq!(
            c.ungranted,
            ungranted(&[("price_credits_100", 1), ("price_lifetime", 1)])
        );
    }

    #[test]
    fn no_configured_price_chooses_nothing() {
        assert_eq!(
            choice(&[("price_other", 1), ("price_x", 2)]),
            Choice::default()
        );
        assert_eq!(choice(&[]), Choice::default());
    }

    #[test]
    fn keys_are_secret_or_restricted_and_never_printed() {
        assert!(ApiKey::parse("sk_test_123").is_ok());
        assert!(ApiKey::parse("rk_live_123").is_ok());
        for bad in ["pk_test_123", "", "sk_", "sk_test 123", "whsec_1"] {
            assert_eq!(ApiKey::parse(bad).unwrap_err(), InvalidKey, "{bad:?}");
        }
        let key = ApiKey::parse("sk_test_very_secret").unwrap();
        assert!(!format!("{key:?}").contains("very_secret"));
        let client = LineItems::new(&key, Some("http://127.0.0.1:9")).unwrap();
        let shown = format!("{client:?}");
        assert!(!shown.contains("very_secret"), "{shown}");
        assert!(shown.contains("http://127.0.0.1:9/"), "{shown}");
    }

    #[test]
    fn the_base_must_be_an_http_url() {
        let key = ApiKey::parse("sk_test_1").unwrap();
        assert!(LineItems::new(&key, Some("127.0.0.1:9")).is_err());
        assert!(LineItems::new(&key, Some("https://api.stripe.com")).is_ok());
        assert!(LineItems::new(&key, None).is_ok());
    }
}
