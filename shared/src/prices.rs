//! The feature price list, read from Parameter Store (`<prefix>/feature-prices`) and cached like
//! the flags, so that an operator's new prices take effect within the cache time, with no
//! redeploy. Its format and the pricing are in [`crate::rules::prices`].

use std::sync::Arc;
use std::time::Duration;

use crate::cached::{Cached, Reading};
use crate::rules::prices::{PriceList, parse_price_list};

/// The parameter's name under a prefix.
pub fn parameter_name(prefix: &str) -> String {
    format!("{prefix}/feature-prices")
}

pub type PriceReading = Reading<Arc<PriceList>>;

pub struct PriceReader {
    ssm: aws_sdk_ssm::Client,
    name: String,
    cache: Cached<Arc<PriceList>>,
}

impl PriceReader {
    pub fn new(ssm: aws_sdk_ssm::Client, prefix: &str, ttl: Duration) -> Self {
        Self {
            ssm,
            name: parameter_name(prefix),
            cache: Cached::new(ttl),
        }
    }

    /// The price list in force: `value` is `None` when none was ever read since the cold start
    /// (then a priced request cannot be priced: see the deduct function).
    pub async fn read(&self) -> PriceReading {
        self.cache.read(|| self.fetch()).await
    }

    /// `GetParameters` (not `GetParameter`), the action the functions may already call on the
    /// prefix; a missing parameter comes back among the invalid names.
    async fn fetch(&self) -> Result<Arc<PriceList>, String> {
        let out = crate::cached::get_parameters(&self.ssm, vec![self.name.clone()]).await?;
        let text = out
            .parameters()
            .iter()
            .find(|p| p.name() == Some(self.name.as_str()))
            .and_then(|p| p.value())
            .ok_or_else(|| format!("parameter {} not found", self.name))?;
        parse_price_list(text)
            .map(Arc::new)
            .map_err(|problem| format!("{problem} (in {})", self.name))
    }
}
