//! What stops an operator's command. Each command reports and exits, so any failure (the AWS
//! SDK's, a file's, a check that did not pass) is shown as it is, with its message.

pub type OpsError = Box<dyn std::error::Error + Send + Sync>;
