//! Comparing what the product did with what the model says: an answer, a ledger, and every
//! transaction against DynamoDB's limits.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::types::AttributeValue;
use credits::ledger::Entry;
use serde_json::{Value, json};

use crate::spec::{Cause, Expect, Model};

/// An answer as the caller got it.
#[derive(Clone, Debug)]
pub struct Got {
    pub status: u16,
    pub replayed: bool,
    pub retry_after: Option<String>,
    pub json: Value,
}

/// What differs between the answer expected and the one got, if anything.
pub fn answer(exp: &Expect, got: &Got, holds: &BTreeMap<usize, String>) -> Option<String> {
    let mut wrong = Vec::new();
    if got.status != exp.status {
        wrong.push(format!("status {} (expected {})", got.status, exp.status));
    }
    if let Some(code) = exp.code
        && got.json.pointer("/error/code") != Some(&json!(code))
    {
        wrong.push(format!(
            "error code {} (expected {code})",
            got.json["error"]["code"]
        ));
    }
    for (pointer, want) in &exp.fields {
        let have = got.json.pointer(pointer).unwrap_or(&Value::Null);
        if have != want {
            wrong.push(format!("{pointer} {have} (expected {want})"));
        }
    }
    if exp.status < 300 && got.replayed != exp.replayed {
        wrong.push(format!(
            "replayed {} (expected {})",
            got.replayed, exp.replayed
        ));
    }
    if exp.status == 503 && got.retry_after.as_deref() != Some("1") {
        wrong.push("no Retry-After: 1".into());
    }
    if let Some(n) = exp.hold {
        let id = &got.json["hold_id"];
        match holds.get(&n) {
            Some(known) if id != &json!(known) => {
                wrong.push(format!("hold_id {id} (expected {known})"))
            }
            None if !id.is_string() => wrong.push("no hold_id".into()),
            _ => {}
        }
    }
    (!wrong.is_empty()).then(|| wrong.join("; "))
}

fn cause_name(cause: &Cause, holds: &BTreeMap<usize, String>) -> Option<String> {
    Some(match cause {
        Cause::Key(k) => format!("idem:{k}"),
        Cause::Hold(n) => format!("hold:{}", holds.get(n)?),
        Cause::Stripe(id) => format!("stripe:{id}"),
    })
}

/// The kinds of entry each cause may write (SPEC's ledger).
const KINDS: [(&str, &[&str]); 3] = [
    ("idem:", &["deduct", "hold"]),
    ("hold:", &["deduct", "release", "expire"]),
    ("stripe:", &["adjust", "purchase", "revoke"]),
];

/// A user's whole ledger against the model: it adds up to what the user owns, its last entry
/// shows the balance, and each cause the model follows moved exactly what the model says.
pub fn ledger(
    entries: &BTreeMap<u64, Entry>,
    model: &Model,
    u: usize,
    holds: &BTreeMap<usize, String>,
) -> Result<(), String> {
    let a = &model.users[u];
    let (balance, held) = (a.monthly + a.purchased, model.held(u));
    let sum: i64 = entries.values().map(|e| e.amount).sum();
    if sum != balance + held {
        return Err(format!(
            "the ledger adds up to {sum}, the user owns {}",
            balance + held
        ));
    }
    if let Some(last) = entries.values().last()
        && (last.balance_after, last.held_after) != (balance, held)
    {
        return Err(format!(
            "the last entry shows {}+{} held, the user has {balance}+{held}",
            last.balance_after, last.held_after
        ));
    }
    for e in entries.values() {
        if let Some((_, kinds)) = KINDS.iter().find(|(p, _)| e.cause.starts_with(p))
            && !kinds.contains(&e.kind.as_str())
        {
            return Err(format!("a {} entry caused by {}", e.kind.as_str(), e.cause));
        }
    }
    for ((user, cause), want) in &model.causes {
        let Some(name) = cause_name(cause, holds).filter(|_| *user == u) else {
            continue;
        };
        let have: i64 = entries
            .values()
            .filter(|e| e.cause == name)
            .map(|e| e.amount)
            .sum();
        if have != *want {
            return Err(format!(
                "entries caused by {name} add up to {have} (expected {want})"
            ));
        }
    }
    Ok(())
}

/// An item's size as DynamoDB counts it: names and values.
fn size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::L(l) => 3 + l.iter().map(|x| 1 + size(x)).sum::<usize>(),
        AttributeValue::M(m) => 3 + m.iter().map(|(k, x)| 1 + k.len() + size(x)).sum::<usize>(),
        AttributeValue::Ss(s) | AttributeValue::Ns(s) => s.iter().map(String::len).sum(),
        AttributeValue::Bs(b) => b.iter().map(|x| x.as_ref().len()).sum(),
        _ => 1,
    }
}

fn map_size(m: &std::collections::HashMap<String, AttributeValue>) -> usize {
    m.iter().map(|(k, v)| k.len() + size(v)).sum()
}

/// Every transaction fits DynamoDB's limits: at most 100 items, under 4 MB, each item under
/// 400 KB (an update counted as its key and every value it sets).
pub fn limits(tx: &TransactWriteItemsInput) -> Result<(), String> {
    let items = tx.transact_items();
    if items.len() > 100 {
        return Err(format!(
            "a transaction of {} items (DynamoDB takes 100)",
            items.len()
        ));
    }
    let mut total = 0;
    for item in items {
        let bytes = if let Some(p) = item.put() {
            map_size(p.item())
        } else if let Some(u) = item.update() {
            map_size(u.key()) + u.expression_attribute_values().map_or(0, map_size)
        } else if let Some(c) = item.condition_check() {
            map_size(c.key())
        } else {
            item.delete().map_or(0, |d| map_size(d.key()))
        };
        if bytes >= 400 * 1024 {
            return Err(format!("an item of {bytes} bytes (DynamoDB takes 400 KB)"));
        }
        total += bytes;
    }
    match total < 4 * 1024 * 1024 {
        true => Ok(()),
        false => Err(format!(
            "a transaction of {total} bytes (DynamoDB takes 4 MB)"
        )),
    }
}
