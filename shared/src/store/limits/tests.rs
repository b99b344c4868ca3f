//! Every write the service makes fits DynamoDB's limits in the worst cases an account can
//! reach: the most open holds, each drawing from both buckets, all expiring across a month's
//! end, the longest ids, then a command with an idempotency key or a Stripe event.

use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;

use super::*;
use crate::account::{Account, Hold, UserId};
use crate::flags::{Flags, Version};
use crate::period::Period;
use crate::plan::{Credits, Plan};
use crate::rules::{self, Change, MAX_OPEN_HOLDS};
use crate::store::outbox::OUTBOX_PREFIX;
use crate::store::{IdempotencyRecord, Store};
use crate::stripe::decide::{Facts, StripeContext, decide};
use crate::stripe::records::{ParkedRefund, Payment, Purchase, StripeState, SubscriptionState};
use crate::stripe::{Buy, Command, PriceMap, Status, StripeEvent, Subscription};

/// A store that is never called: it only builds transactions.
fn store() -> Store {
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .build();
    Store::new(aws_sdk_dynamodb::Client::from_conf(conf), "credits")
}

/// `n` characters starting with `prefix`: the longest ids and keys there are.
fn long(prefix: &str, n: usize) -> String {
    format!("{prefix}{}", "x".repeat(n - prefix.len()))
}

fn user() -> UserId {
    UserId::parse(long("u", UserId::MAX_LEN)).unwrap()
}

/// Just after midnight on the 1st: last month's holds have all expired, the reset is due.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 30).unwrap()
}

/// A Lifetime account of last month with `holds` open, each `(monthly, purchased, due)`.
fn account(holds: &[(Credits, Credits, bool)]) -> Account {
    let nov = Utc.with_ymd_and_hms(2026, 11, 30, 23, 0, 0).unwrap();
    let mut a = rules::touch(None, &user(), nov).account;
    a.plan = Plan::Lifetime;
    a.monthly = 7;
    a.purchased = 1_000_000;
    a.seq = 999_999_999;
    for (i, (monthly, purchased, due)) in holds.iter().enumerate() {
        let expires = if *due { nov } else { now() } + chrono::Duration::minutes(30);
        let expires_at = if *due {
            expires - chrono::Duration::hours(1)
        } else {
            expires
        };
        a.holds.insert(
            rules::hold_id(1_000_000 + i as u64),
            Hold {
                amount: monthly + purchased,
                monthly: *monthly,
                period: Period::containing(nov),
                purchased: *purchased,
                expires_at,
                created_at: nov,
            },
        );
        a.held += monthly + purchased;
    }
    a
}

/// Every hold draws from both buckets and all have expired.
fn worst() -> Account {
    account(&vec![(3, 3, true); MAX_OPEN_HOLDS])
}

fn check(items: &[aws_sdk_dynamodb::types::TransactWriteItem]) -> Result<usize, TestCaseError> {
    prop_assert!(
        items.len() <= MAX_TRANSACTION_ITEMS,
        "{} items in one transaction",
        items.len()
    );
    let sizes = sizes(items);
    prop_assert!(sizes.iter().all(|s| *s < MAX_ITEM_BYTES), "{sizes:?}");
    prop_assert!(sizes.iter().sum::<usize>() < MAX_TRANSACTION_BYTES);
    // The outbox: at most one item per write, its events one PutEvents call.
    let outbox: Vec<_> = items
        .iter()
        .filter_map(|i| i.put())
        .filter(|p| {
            p.item()["pk"]
                .as_s()
                .is_ok_and(|pk| pk.starts_with(OUTBOX_PREFIX))
        })
        .collect();
    prop_assert!(outbox.len() <= 1);
    for put in outbox {
        let events = put.item()["events"].as_s().map_or(0, String::len);
        prop_assert!(events < MAX_PUT_EVENTS_BYTES, "{events} bytes of events");
    }
    Ok(items.len())
}

/// The catch-up batches the service writes before a command, each checked: the account they
/// leave and their item counts.
fn caught_up(account: Account) -> Result<(Account, Vec<usize>), TestCaseError> {
    let mut counts = Vec::new();
    let mut current = account;
    while let Some(batch) = rules::catch_up(Some(&current), now()) {
        counts.push(check(
            &store().write_items(Some(7), &batch, None, now())?.0,
        )?);
        current = batch.account;
    }
    Ok((current, counts))
}

/// The writes the service makes: catch-up batches, then the command's change (with its
/// idempotency record, if any), each checked. Returns the account after and the item counts.
fn writes(
    account: Account,
    command: impl Fn(&Account) -> Change,
    idempotency: Option<(&str, &IdempotencyRecord)>,
) -> Result<(Account, Vec<usize>), TestCaseError> {
    let (current, mut counts) = caught_up(account)?;
    let change = command(&current);
    let (items, _) = store().write_items(Some(7), &change, idempotency, now())?;
    counts.push(check(&items)?);
    Ok((change.account, counts))
}

/// The Stripe path: catch-up batches, then the event's decision written with its items.
fn stripe_writes(
    account: Account,
    event: &StripeEvent,
    state: StripeState,
    payment: Option<Payment>,
) -> Result<Vec<usize>, TestCaseError> {
    let (current, mut counts) = caught_up(account)?;
    let prices = PriceMap::default();
    let ctx = StripeContext {
        prices: &prices,
        flags: Some(Flags {
            version: Version::V1,
            enable_purchases: true,
        }),
    };
    let facts = Facts {
        user: Some(user()),
        account: Some(current),
        state,
        payment,
    };
    let decision =
        decide(event, &facts, &ctx, now()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let (items, _) = store().stripe_items(Some(7), &decision.write, now())?;
    counts.push(check(&items)?);
    Ok(counts)
}

fn deduct_record() -> IdempotencyRecord {
    IdempotencyRecord {
        request: long("{", 300),
        response: long("{", 4_096),
        expires_at: i64::MAX / 2,
    }
}

fn stripe_event(command: Command) -> StripeEvent {
    StripeEvent {
        id: long("evt_", 255),
        kind: "checkout.session.completed".into(),
        created: now().timestamp(),
        command,
    }
}

fn purchase_event() -> StripeEvent {
    stripe_event(Command::Buy(Buy {
        session: long("cs_", 255),
        user: Some(user()),
        customer: Some(long("cus_", 255)),
        price: Some("price_credits_1000".into()),
        payment_intent: Some(long("pi_", 255)),
        amount: 10_000,
    }))
}

fn parked_refund() -> Option<Payment> {
    Some(Payment {
        user_id: None,
        parked_refund: Some(ParkedRefund {
            event_id: long("evt_", 255),
            amount: 10_000,
            amount_refunded: 9_999,
            at: now(),
        }),
    })
}

/// 100 holds, each from both buckets, all expired across a
/// month's end. One change closing them all would carry 301 items.
#[test]
fn the_worst_account_is_brought_current_in_writes_that_fit() {
    let key = long("k", 255);
    let reason = long("r", 200);
    let record = deduct_record();
    let deduct = |a: &Account| {
        rules::deduct(
            Some(a),
            &user(),
            1,
            &format!("idem:{key}"),
            Some(&reason),
            now(),
        )
        .unwrap()
        .0
    };
    let (after, counts) = writes(worst(), deduct, Some((&key, &record))).unwrap();
    // Three batches of 25 (two entries and a record each, and the account), then the last 25
    // with the reset (expire, grant), the deduct's entry, the idempotency record and the
    // outbox item (the reset's grant).
    assert_eq!(counts, [76, 76, 76, 81]);
    assert!(after.holds.is_empty());
    let counts = stripe_writes(
        worst(),
        &purchase_event(),
        StripeState::default(),
        parked_refund(),
    )
    .unwrap();
    // The last: record, account, 75 + reset 2 + purchase + revoke, customer, payment, purchase,
    // outbox.
    assert_eq!(counts, [76, 76, 76, 85]);
}

/// The account item itself, with every hold open and the longest ids: well under 400 KB.
#[test]
fn the_account_item_with_the_most_holds_fits_an_item() {
    let store = store();
    let a = account(&vec![(999_999, 999_999, false); MAX_OPEN_HOLDS]);
    let change = rules::touch(Some(&a), &user(), now());
    let (items, _) = store
        .write_items(Some(u64::MAX - 1), &change, None, now())
        .unwrap();
    let size = sizes(&items)[0];
    assert!(size < MAX_ITEM_BYTES / 10, "{size} bytes");
}

fn holds() -> impl Strategy<Value = Vec<(Credits, Credits, bool)>> {
    prop::collection::vec(
        ((0..4i64), (0..4i64), prop::bool::weighted(0.8))
            .prop_filter("a hold holds something", |(m, p, _)| m + p > 0),
        0..=MAX_OPEN_HOLDS,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_command_on_any_account_writes_transactions_that_fit(holds in holds(), pick in 0..4usize, amount in 1..=2_000i64) {
        let key = long("k", 255);
        let record = deduct_record();
        let a = account(&holds);
        let id = a.holds.keys().nth(pick % a.holds.len().max(1)).cloned().unwrap_or_default();
        type Decide<'a> = Box<dyn Fn(&Account) -> Change + 'a>;
        let commands: Vec<(Decide, bool)> = vec![
            (Box::new(|a| rules::touch(Some(a), &user(), now())), false),
            (Box::new(|a| rules::deduct(Some(a), &user(), amount, &key, Some(&key), now()).map(|(c, _)| c).unwrap_or_else(|e| *e.touched)), true),
            (Box::new(|a| rules::hold(Some(a), &user(), amount, 60, &key, now()).map(|(c, _)| c).unwrap_or_else(|e| e.touched().clone())), true),
            (Box::new(|a| rules::commit_hold(Some(a), &user(), &id, Some(1), now()).map(|(c, _)| c).unwrap_or_else(|e| e.touched().clone())), false),
            (Box::new(|a| rules::change_plan(Some(a), &user(), Plan::Free, "evt", now())), false),
            (Box::new(|a| rules::revoke(Some(a), &user(), amount, "evt", "refund", now()).0), false),
            (Box::new(|a| rules::migrate(a, "v2", now()).unwrap_or_else(|| rules::touch(Some(a), &user(), now()))), false),
        ];
        for (command, keyed) in &commands {
            let idem = keyed.then_some((key.as_str(), &record));
            writes(a.clone(), command, idem)?;
        }
        // A support adjustment: the longest admin, key and reason, its record's key the longest.
        let (cause, adjust_key) = (rules::adjustment_cause(user().as_str(), &key), crate::service::adjustment_key(&user(), &key));
        prop_assert!(adjust_key.len() + "IDEM#".len() <= 1024, "a sort key is at most 1 KB");
        let adjustment = rules::Adjustment { amount: -amount, bucket: crate::ledger::Bucket::Purchased, cause: &cause, reason: &long("r", 200) };
        writes(a.clone(), |a| rules::adjust(a, &adjustment, now()).unwrap_or_else(|e| *e.touched), Some((&adjust_key, &record)))?;
        let purchase = Purchase {
            key: long("pi_", 255),
            session: long("cs_", 255),
            product: "enterprise".into(),
            credits: 1_000,
            amount: 10_000,
            amount_refunded: 0,
            revoked: 0,
            refunded: false,
            event_id: long("evt_", 255),
        };
        let refund = stripe_event(Command::Refund { payment_intent: purchase.key.clone(), amount: 10_000, amount_refunded: 10_000 });
        let owner = Some(Payment { user_id: Some(user()), parked_refund: None });
        let state = StripeState { subscriptions: vec![], purchases: vec![purchase] };
        stripe_writes(a.clone(), &refund, state, owner)?;
        stripe_writes(a.clone(), &purchase_event(), StripeState::default(), parked_refund())?;
        let sub = stripe_event(Command::Subscription(Subscription {
            id: long("sub_", 255),
            customer: Some(long("cus_", 255)),
            user: Some(user()),
            status: Status::Canceled,
            prices: vec![long("price_", 255); 20],
            deleted: true,
        }));
        let before = SubscriptionState {
            subscription: long("sub_", 255),
            status: "active".into(),
            deleted: false,
            price: Some(long("price_", 255)),
            plan: Some(Plan::ProYearly),
            event_created: 0,
            event_id: long("evt_", 255),
        };
        stripe_writes(a, &sub, StripeState { subscriptions: vec![before], purchases: vec![] }, None)?;
    }
}
