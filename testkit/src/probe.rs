//! An SDK interceptor that records every DynamoDB request a client makes:
//! the operation, the items it reads or writes, the bytes sent, and the capacity the store
//! reports. Tests assert the per-operation cost with it; the benchmarks report it.
//!
//! It asks for `ReturnConsumedCapacity::Total` on every request, so that a real table reports
//! the capacity it charged. The emulator answers fixed stand-ins (or nothing, for
//! TransactWriteItems), so [`Call::estimated_capacity`] also prices each call by DynamoDB's own
//! rule from the item count and the request size.

use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
    BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::{
    batch_write_item::{BatchWriteItemInput, BatchWriteItemOutput},
    get_item::{GetItemInput, GetItemOutput},
    put_item::{PutItemInput, PutItemOutput},
    query::{QueryInput, QueryOutput},
    scan::{ScanInput, ScanOutput},
    transact_write_items::{TransactWriteItemsInput, TransactWriteItemsOutput},
    update_item::{UpdateItemInput, UpdateItemOutput},
};
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};

/// One HTTP request to DynamoDB (a retry by the SDK is another one).
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// Such as `GetItem`, `TransactWriteItems`.
    pub operation: String,
    /// Items the request names: keys to get, items to write (a query or scan: 0).
    pub items: usize,
    /// The request body's size.
    pub bytes: usize,
    /// What the store reported, if anything.
    pub capacity: Option<f64>,
    /// Whether consistent reads were asked for (GetItem, Query).
    pub consistent: bool,
}

impl Call {
    /// Capacity units by DynamoDB's pricing rule, each item taken as large as its share of the
    /// request (the request also carries names and conditions: an upper bound): a strongly
    /// consistent read is 1 RCU per 4 KB (eventually consistent half that), a write 1 WCU per
    /// 1 KB, a transactional write twice that.
    pub fn estimated_capacity(&self) -> f64 {
        let items = self.items.max(1);
        let per_item = |unit: usize| self.bytes.div_ceil(items).div_ceil(unit).max(1) as f64;
        match self.operation.as_str() {
            "GetItem" | "Query" | "Scan" => {
                per_item(4096) * if self.consistent { 1.0 } else { 0.5 }
            }
            "TransactWriteItems" => 2.0 * per_item(1024) * items as f64,
            "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" => {
                per_item(1024) * items as f64
            }
            _ => 0.0,
        }
    }
}

/// Shared by the client (through the interceptor) and whoever reads the calls.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    calls: Arc<Mutex<Vec<Call>>>,
    /// Every transaction's input as sent, for a benchmark to replay the very same writes.
    transactions: Arc<Mutex<Vec<TransactWriteItemsInput>>>,
}

impl Probe {
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything recorded so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets what was recorded (between the set-up and the operation measured).
    pub fn reset(&self) -> Vec<Call> {
        self.take_transactions();
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The transactions sent since the last call, in order, and forgets them.
    pub fn take_transactions(&self) -> Vec<TransactWriteItemsInput> {
        std::mem::take(
            &mut *self
                .transactions
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// The operations recorded, in order.
    pub fn operations(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.operation).collect()
    }

    /// A DynamoDB client with this probe on the given configuration.
    pub fn client(&self, sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
        let (product, _) = credits::app::clients(sdk, None);
        let config = product
            .config()
            .to_builder()
            .interceptor(self.clone())
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    fn with(&self, f: impl FnOnce(&mut Vec<Call>)) {
        f(&mut self.calls.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// Items named and consistency asked for, read from the serialised request.
fn named(body: &[u8]) -> (usize, bool) {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (0, false);
    };
    let items = if let Some(t) = json.get("TransactItems").and_then(|t| t.as_array()) {
        t.len()
    } else if let Some(r) = json.get("RequestItems").and_then(|r| r.as_object()) {
        r.values().filter_map(|v| v.as_array()).map(Vec::len).sum()
    } else if json.get("Key").is_some() || json.get("Item").is_some() {
        1
    } else {
        0
    };
    let consistent = json.get("ConsistentRead") == Some(&serde_json::Value::Bool(true))
        || json.get("TransactItems").is_some();
    (items, consistent)
}

fn total(capacity: Option<&ConsumedCapacity>) -> Option<f64> {
    capacity.and_then(ConsumedCapacity::capacity_units)
}

fn sum(capacity: Option<&Vec<ConsumedCapacity>>) -> Option<f64> {
    capacity
        .filter(|c| !c.is_empty())
        .map(|c| c.iter().filter_map(ConsumedCapacity::capacity_units).sum())
}

impl Intercept for Probe {
    fn name(&self) -> &'static str {
        "credits-probe"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input_mut();
        let total = Some(ReturnConsumedCapacity::Total);
        if let Some(i) = input.downcast_mut::<GetItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<TransactWriteItemsInput>() {
            i.return_consumed_capacity = total;
            self.transactions
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(i.clone());
        } else if let Some(i) = input.downcast_mut::<QueryInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<ScanInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<PutItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<UpdateItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<BatchWriteItemInput>() {
            i.return_consumed_capacity = total;
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        // `X-Amz-Target: DynamoDB_20120810.GetItem`
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("?")
            .to_owned();
        let body = request.body().bytes().unwrap_or_default();
        let (items, consistent) = named(body);
        self.with(|calls| {
            calls.push(Call {
                operation,
                items,
                bytes: body.len(),
                capacity: None,
                consistent,
            })
        });
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        let (operation, capacity) = if let Some(o) = output.downcast_ref::<GetItemOutput>() {
            ("GetItem", total(o.consumed_capacity.as_ref()))
        } else if let Some(o) = output.downcast_ref::<TransactWriteItemsOutput>() {
            ("TransactWriteItems", sum(o.consumed_capacity.as_ref()))
        } else if let Some(o) = output.downcast_ref::<QueryOutput>() {
            ("Query", total(o.consumed_capacity.as_ref()))
        } else if let Some(o) = output.downcast_ref::<ScanOutput>() {
            ("Scan", total(o.consumed_capacity.as_ref()))
        } else if let Some(o) = output.downcast_ref::<PutItemOutput>() {
            ("PutItem", total(o.consumed_capacity.as_ref()))
        } else if let Some(o) = output.downcast_ref::<UpdateItemOutput>() {
            ("UpdateItem", total(o.consumed_capacity.as_ref()))
        } else if let Some(o) = output.downcast_ref::<BatchWriteItemOutput>() {
            ("BatchWriteItem", sum(o.consumed_capacity.as_ref()))
        } else {
            return Ok(());
        };
        // The latest call of this operation still without an answer (calls made concurrently
        // may be matched out of order: their counts stay right, capacities may swap).
        self.with(|calls| {
            if let Some(call) = calls
                .iter_mut()
                .rev()
                .find(|c| c.operation == operation && c.capacity.is_none())
            {
                call.capacity = capacity;
            }
        });
        Ok(())
    }
}
