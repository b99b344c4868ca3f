//! The operator's tools for a deployment: the OpenAPI document, the phased rollout (switch,
//! backup, migrate, verify, rollback), the purchases to refund, the parked Stripe events, and
//! the smoke test of a deployed stack. Nothing here serves or provisions the local stack
//! (that is `credits-local`).

pub mod error;
pub mod openapi;
pub mod rollout;
pub mod smoke;

pub use error::OpsError;
