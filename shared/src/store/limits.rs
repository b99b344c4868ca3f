//! DynamoDB's limits on one write, and how a transaction is measured against them (sizes by
//! DynamoDB's rules: attribute names and values, a number about one byte per two digits, a map
//! or list three bytes and one per element). Every write must fit them whatever an account's
//! history: the tests below hold the worst cases to them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};

/// One DynamoDB item, as the SDK carries it.
pub type Item = HashMap<String, AttributeValue>;

/// Items one `TransactWriteItems` may carry.
pub const MAX_TRANSACTION_ITEMS: usize = 100;
/// Bytes of all the items of one transaction.
pub const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;
/// Bytes of one item.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// An item's size.
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, v)| name.len() + value_size(v))
        .sum()
}

fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.len().div_ceil(2) + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| k.len() + value_size(v) + 1)
                .sum::<usize>()
        }
        AttributeValue::L(l) => 3 + l.iter().map(|v| value_size(v) + 1).sum::<usize>(),
        AttributeValue::Ss(l) => l.iter().map(String::len).sum(),
        AttributeValue::Ns(l) => l.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
        AttributeValue::Bs(l) => l.iter().map(|b| b.as_ref().len()).sum(),
        _ => 1,
    }
}

/// The size each item of a transaction writes: a put's item; an update's key and new values
/// (the account's update sets every attribute it keeps); a delete's or check's key.
pub fn sizes(items: &[TransactWriteItem]) -> Vec<usize> {
    items
        .iter()
        .map(|i| {
            if let Some(put) = i.put() {
                item_size(put.item())
            } else if let Some(update) = i.update() {
                item_size(update.key()) + update.expression_attribute_values().map_or(0, item_size)
            } else if let Some(delete) = i.delete() {
                item_size(delete.key())
            } else {
                i.condition_check().map_or(0, |c| item_size(c.key()))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
