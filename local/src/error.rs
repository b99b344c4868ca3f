//! What can stop a local-stack command.

use credits::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// A variable of the environment is present but not a valid value.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `infra/template.yaml` does not describe what the local stack serves or provisions.
    #[error("infra/template.yaml: {0}")]
    Template(String),
    /// Creating the table or the parameters in the emulator failed.
    #[error("provisioning: {0}")]
    Provision(String),
    /// A sample of `events/` cannot be read or prepared.
    #[error("{0}")]
    Sample(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}
