//! The Credits core: the rules (pure), the ledger, the DynamoDB store, the feature flags and the
//! configuration shared by every function.

pub mod account;
pub mod api;
pub mod app;
pub mod cached;
pub mod clock;
pub mod config;
pub mod flags;
pub mod ledger;
pub mod metrics;
pub mod period;
pub mod plan;
pub mod prices;
pub mod reset;
pub mod rules;
pub mod service;
pub mod store;
pub mod stripe;
pub mod views;
