//! The local stack and the operators' tooling.

pub mod gateway;
pub mod local_only;
pub mod openapi;
pub mod rollout;
pub mod smoke;
pub mod stripe_api;
