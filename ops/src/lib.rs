//! The local stack and the operators' tooling.

pub mod cors;
pub mod gateway;
pub mod local_only;
pub mod openapi;
pub mod rollout;
pub mod samples;
pub mod smoke;
pub mod stripe_api;
