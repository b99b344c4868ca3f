//! A deduct priced from a feature: once per key, as [`CreditService::deduct`].

use chrono::{DateTime, Utc};

use super::{Answer, CreditService, Deduct, Once, Refused, ServiceError};
use crate::account::UserId;
use crate::rules::Change;
use crate::rules::prices::{Priced, deduct_priced};

impl CreditService {
    /// Spends `priced`'s amount (`cmd.amount`) once per key; its ledger entries record the
    /// feature, quantity and unit price.
    pub async fn deduct_priced(
        &self,
        user: &UserId,
        priced: &Priced,
        cmd: &Deduct<'_>,
        now: DateTime<Utc>,
        respond: impl Fn(&Change) -> String,
    ) -> Result<Answer, ServiceError> {
        debug_assert_eq!(cmd.amount, priced.amount());
        let cause = format!("idem:{}", cmd.key);
        let once = Once {
            key: cmd.key,
            request: cmd.request,
        };
        self.once(user, &once, now, 200, respond, |current| {
            deduct_priced(current, user, priced, &cause, cmd.reason, now).map_err(Refused::from)
        })
        .await
    }
}
