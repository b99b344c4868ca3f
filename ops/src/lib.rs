//! The local stack and the operators' tooling.

pub mod gateway;
pub mod rollout;
