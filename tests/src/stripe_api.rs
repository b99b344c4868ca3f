//! The Stripe API stand-in (`credits_local::stripe_api`) on a free port, for one test.

use std::sync::Arc;

use credits_local::stripe_api::{StripeApi, serve};

/// The key the stand-in accepts.
pub const KEY: &str = "sk_test_stand_in";

/// A running stand-in; it stops when dropped.
pub struct StandIn {
    pub api: Arc<StripeApi>,
    /// `STRIPE_API_BASE` for it.
    pub base: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl StandIn {
    pub async fn start() -> Self {
        let api = Arc::new(StripeApi::new(KEY));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, api.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            api,
            base,
            _stop: stop,
        }
    }

    /// A client of this stand-in with `key`.
    pub fn client(&self, key: &str) -> webhook::LineItems {
        let key = webhook::ApiKey::parse(key).expect("a key's shape");
        webhook::LineItems::new(&key, Some(&self.base)).expect("a client")
    }

    /// A webhook signing with `secret`, the default prices, and this stand-in for line items.
    pub fn webhook(&self, secret: &str) -> webhook::Webhook {
        webhook::Webhook {
            secret: webhook::SigningSecret::new(secret),
            prices: credits::stripe::PriceMap::default(),
            line_items: Some(self.client(KEY)),
        }
    }
}
