//! What a support adjustment answers.

use serde::Serialize;

use super::{BalanceView, EntryView};

/// An adjustment's answer: its ledger entry and the balance view after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Adjusted {
    pub entry: EntryView,
    pub account: BalanceView,
}
