//! An app's state read or set around the handlers: accounts seeded as they are, an account and
//! its ledger read back, the version parameter set as an operator would.

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use chrono::{DateTime, Utc};
use credits::account::{Account, UserId};
use credits::app::App;
use credits::ledger::Entry;
use credits::rules::Change;
use credits::store::{Store, StoreError, new_account_items};

/// Writes accounts with their ledgers as they are, unconditionally, with BatchWriteItem: an
/// empty table prepared in one pass, where the rules would write each account in turn.
pub async fn seed(store: &Store, changes: &[Change], now: DateTime<Utc>) -> Result<(), StoreError> {
    let mut items = Vec::new();
    for change in changes {
        items.extend(new_account_items(change, now)?);
    }
    // BatchWriteItem takes at most 25 items.
    for chunk in items.chunks(25) {
        let mut pending = chunk
            .iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(item.clone()))
                    .build()
                    .map_err(|e| StoreError::Build(e.to_string()))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        while !pending.is_empty() {
            let out = store
                .client()
                .batch_write_item()
                .request_items(store.table(), pending)
                .send()
                .await
                .map_err(|e| StoreError::Unavailable {
                    operation: "BatchWriteItem",
                    message: aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
                })?;
            pending = out
                .unprocessed_items
                .and_then(|mut u| u.remove(store.table()))
                .unwrap_or_default();
        }
    }
    Ok(())
}

/// The account as of now (opened or reset if due) and its latest 100 ledger
/// entries, newest first, straight from the store.
pub async fn account_and_ledger(app: &App, user: &str) -> (Account, Vec<Entry>) {
    let user = UserId::parse(user).expect("a valid user id");
    let account = app
        .service
        .touch_account(&user, app.clock.now())
        .await
        .expect("the account reads");
    let page = app
        .service
        .store()
        .entries(&user, 100, None)
        .await
        .expect("the ledger reads");
    (account, page.entries)
}

/// Sets the app's `system-version` parameter, as an operator's put-parameter would.
pub async fn set_version(app: &App, version: &str) {
    aws_sdk_ssm::Client::new(&credits::config::aws_for_tools().await)
        .put_parameter()
        .name(format!("{}/system-version", app.config.parameter_prefix))
        .value(version)
        .overwrite(true)
        .send()
        .await
        .expect("put the version parameter");
}
