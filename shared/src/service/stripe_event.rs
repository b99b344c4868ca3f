//! Applying a verified Stripe event: read what the decision needs, decide with the pure
//! [`crate::stripe::decide`], write the decision in one transaction. A lost race reads and
//! decides again; a second delivery is refused on the event's record and changes nothing.

use chrono::{DateTime, Utc};

use super::{Attempt, CreditService, retry};
use crate::store::StoreError;
use crate::store::stripe_items::StripeWriteError;
use crate::stripe::decide::{self, Facts, Refusal, Who};
pub use crate::stripe::decide::{EventOutcome, StripeContext};
use crate::stripe::{Command, StripeEvent};

#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// Not decidable yet (no user linked, flags never read): Stripe retries.
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("the account is too busy; retry")]
    Contention,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<super::ServiceError> for StripeError {
    fn from(e: super::ServiceError) -> Self {
        match e {
            super::ServiceError::Store(e) => StripeError::Store(e),
            // `retry` only ever gives up with Contention, or returns a store fault.
            _ => StripeError::Contention,
        }
    }
}

/// An attempt's failure that is not a lost race.
enum Stop {
    Duplicate,
    Fail(StripeError),
}

type Step<T> = Result<T, Result<Stop, Attempt>>;

fn fault(e: StoreError) -> Result<Stop, Attempt> {
    Ok(Stop::Fail(e.into()))
}

impl CreditService {
    /// Applies `event` at most once, whatever the number and order of its deliveries.
    pub async fn apply_stripe_event(
        &self,
        event: &StripeEvent,
        ctx: &StripeContext<'_>,
        now: DateTime<Utc>,
    ) -> Result<EventOutcome, StripeError> {
        if let Command::Ignore(_) = event.command {
            return Ok(EventOutcome::Ignored);
        }
        let result = retry(|| async {
            match self.attempt(event, ctx, now).await {
                Ok(outcome) => Ok(Ok(outcome)),
                Err(Ok(stop)) => Ok(Err(stop)),
                Err(Err(attempt)) => Err(attempt),
            }
        })
        .await?;
        match result {
            Ok(outcome) => Ok(outcome),
            Err(Stop::Duplicate) => Ok(EventOutcome::Duplicate),
            Err(Stop::Fail(e)) => Err(e),
        }
    }

    /// Reads, decides, writes. The event's record is not read first: the write is conditioned
    /// on it, so a second delivery is refused there (`Duplicate`), and a first one, the usual
    /// case, costs one round trip less.
    async fn attempt(
        &self,
        event: &StripeEvent,
        ctx: &StripeContext<'_>,
        now: DateTime<Utc>,
    ) -> Step<EventOutcome> {
        let store = self.store();
        let needs = decide::needs(event, ctx);
        let payment = match &needs.payment {
            Some(key) => store.payment(key).await.map_err(fault)?,
            None => None,
        };
        let user = match needs.who {
            Who::Nobody => None,
            Who::Named {
                user: Some(user), ..
            } => Some(user),
            Who::Named {
                user: None,
                customer: Some(customer),
            } => store.customer_user(&customer).await.map_err(fault)?,
            Who::Named { .. } => None,
            Who::Payer => payment.as_ref().and_then(|p| p.user_id.clone()),
        };
        // The account first, then the Stripe items: they are written only with the account,
        // so anything written in between bumps its revision and fails this decision's write.
        let stored = match (&user, needs.account) {
            (Some(user), true) => self.current(user, now).await.map_err(Err)?,
            _ => None,
        };
        let state = match (&user, needs.stripe_state) {
            (Some(user), true) => store.stripe_state(user).await.map_err(fault)?,
            _ => Default::default(),
        };
        let facts = Facts {
            user,
            account: stored.as_ref().map(|s| s.account.clone()),
            state,
            payment,
        };
        let decision =
            decide::decide(event, &facts, ctx, now).map_err(|r| Ok(Stop::Fail(r.into())))?;
        if let Some(note) = &decision.note {
            tracing::warn!(event_id = %event.id, outcome = decision.outcome.as_str(), note = %note, "stripe event");
        }
        let rev = stored.map(|s| s.rev);
        match store.write_stripe_decision(rev, &decision.write, now).await {
            Ok(()) => Ok(decision.outcome),
            Err(StripeWriteError::Duplicate) => Err(Ok(Stop::Duplicate)),
            Err(StripeWriteError::Conflict) => Err(Err(Attempt::Again)),
            Err(StripeWriteError::Store(e)) => Err(fault(e)),
        }
    }
}
