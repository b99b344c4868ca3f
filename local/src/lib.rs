//! The local stack: everything that exists only to run the product on one machine. The gateway
//! in front of the functions (routes and authorizer from the template, CORS, the reference page,
//! a Stripe API stand-in), its configuration, provisioning of the emulator, local tokens and the
//! `events/` samples made ready to send. Modules depend downwards only: `gateway` on
//! `local_routes`, `stripe_api`, `cors`, `config` and `http`; none of those on `gateway`.

pub mod config;
pub mod cors;
pub mod error;
pub mod gateway;
pub mod http;
pub mod local_routes;
pub mod samples;
pub mod stripe_api;

pub use error::LocalError;
