//! What a run reads back after a step: the balance view and the ledger, the flags the App
//! reads, and the transactions the probe saw.

use std::time::Duration;

use credits::account::UserId;
use credits::ledger::TransactionId;
use credits::store::Page;
use credits_testkit::ApiCall;
use serde_json::json;

use super::{Call, Run};
use crate::check;
use crate::stripe::name;

impl Run<'_> {
    /// The balance view and the whole ledger of `u` against the model.
    pub(super) async fn observe(&mut self, u: usize) -> Result<(), String> {
        let call = ApiCall::new("GET", "/credits/balance").user(&name(u));
        let got = self.send(&Call::Api(call)).await;
        let mut exp = self.model.balance(u);
        exp.fields.push(("/user_id", json!(name(u))));
        if let Some(wrong) = check::answer(&exp, &got, &self.holds) {
            return Err(format!(
                "balance of {}: {wrong}\n    got {}",
                name(u),
                got.json
            ));
        }
        let user = UserId::parse(name(u)).map_err(|e| e.to_string())?;
        let known = self.ledgers[u].keys().last().copied().unwrap_or(0);
        let mut before: Option<TransactionId> = None;
        loop {
            let page = self.entries(&user, before).await?;
            let done = page.next.is_none() || page.entries.iter().any(|e| e.seq <= known);
            for e in page.entries {
                self.ledgers[u].insert(e.seq, e);
            }
            match (done, page.next) {
                (false, Some(next)) => before = Some(next),
                _ => break,
            }
        }
        check::ledger(&self.ledgers[u], &self.model, u, &self.holds)
            .map_err(|e| format!("ledger of {}: {e}", name(u)))
    }

    /// A page of the ledger, newest first. The test's own read: tried again when the busy
    /// emulator does not answer within the product's timeout.
    async fn entries(&self, user: &UserId, before: Option<TransactionId>) -> Result<Page, String> {
        let store = self.app.service.store();
        let mut tries = 0;
        loop {
            match store.entries(user, 100, before).await {
                Ok(page) => return Ok(page),
                Err(e) if tries == 3 => return Err(format!("the ledger cannot be read: {e}")),
                Err(_) => tries += 1,
            }
        }
    }

    /// Waits until the App has read the flags the model holds: a read that the busy emulator
    /// does not answer in time keeps the last value read (never read: v2 without purchases),
    /// which is the product's rule but not what a history means to test.
    pub(super) async fn flags_read(&self) -> Result<(), String> {
        for _ in 0..50 {
            let reading = self.app.flags.read().await;
            let f = reading.flags;
            let fresh = reading.source == credits::flags::FlagSource::ParameterStore;
            if fresh
                && (f.version == credits::flags::Version::V2, f.enable_purchases)
                    == (self.model.v2, self.model.purchases_on)
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("the flags set were never read".into())
    }

    /// Every transaction sent since the last check fits DynamoDB's limits.
    pub(super) fn limits(&self) -> Result<(), String> {
        let transactions = self.probe.take_transactions();
        self.probe.reset();
        transactions.iter().try_for_each(check::limits)
    }
}
