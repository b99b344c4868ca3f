//! Everything that exists only to run Credits on one machine or to test it, never in a Lambda:
//! the deployment template read for its table, parameters and routes; provisioning from it;
//! the local identity provider's tokens; API Gateway events; tables of a test's own; seeding;
//! and the probe that counts each DynamoDB request.
//!
//! Depends on the core crate `credits` only, never on a function, so every function's tests
//! can use it.

mod api_call;
mod isolated;
pub mod probe;
mod provision;
mod routes;
mod state;
mod template;
mod tokens;

pub use api_call::{ApiCall, response_json};
pub use isolated::{isolated, isolated_app, isolated_app_with, isolated_with};
pub use provision::{ProvisionError, create_table, put_parameters};
pub use routes::{HttpRoute, http_routes};
pub use state::{account_and_ledger, seed, set_version};
pub use template::{
    ParameterDefinition, TEMPLATE, TableDefinition, TemplateError, parameter_definitions,
    resources, table_definition,
};
pub use tokens::{sign_token, user_token, verify_token};
