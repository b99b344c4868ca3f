//! The Credits core: the rules (pure), the ledger, the DynamoDB store, the feature flags and the
//! configuration shared by every function.

pub mod account;
pub mod ledger;
pub mod period;
pub mod plan;
pub mod rules;
pub mod config;
pub mod flags;
pub mod store;
pub mod service;
pub mod api;
pub mod app;
pub mod views;
#[cfg(feature = "local")]
pub mod local;
