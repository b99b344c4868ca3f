//! Stripe deliveries as Stripe sends them: its published example objects with only the fields
//! a history needs changed, in an event envelope.

use credits_e2e::stripe_event as event;
use serde_json::{Value, json};

use crate::generator::{Flow, Pay, Purchase, SubKind};
use crate::spec::{Event, Plan, Price};

/// The price the deployment does not know until a history configures it.
pub const UNCONFIGURED: &str = "price_model_pack";

pub fn name(u: usize) -> String {
    format!("u{u}")
}

fn fixture(name: &str) -> Value {
    let text = match name {
        "checkout.session" => include_str!(
            "../../../functions/webhook/tests/fixtures/2026-07-29.dahlia/checkout.session.json"
        ),
        "subscription" => include_str!(
            "../../../functions/webhook/tests/fixtures/2026-07-29.dahlia/subscription.json"
        ),
        _ => {
            include_str!("../../../functions/webhook/tests/fixtures/2026-07-29.dahlia/charge.json")
        }
    };
    serde_json::from_str(text).expect("Stripe's example object parses")
}

pub fn customer(user: usize) -> String {
    format!("cus_u{user}")
}

/// `checkout.session.completed` of a subscription checkout: links the customer to the user.
pub fn link(id: &str, created: i64, user: &str, customer: &str) -> String {
    let mut c = fixture("checkout.session");
    c["mode"] = json!("subscription");
    c["status"] = json!("complete");
    c["payment_status"] = json!("paid");
    c["client_reference_id"] = json!(user);
    c["customer"] = json!(customer);
    c["subscription"] = json!("sub_linked");
    c["payment_intent"] = Value::Null;
    event(id, "checkout.session.completed", created, c)
}

pub struct Sub<'a> {
    pub kind: &'a str,
    pub sub: &'a str,
    pub customer: &'a str,
    pub user: Option<&'a str>,
    pub status: &'a str,
    pub price: &'a str,
    /// An add-on item (a price that is no plan) listed before the plan's.
    pub addon: bool,
}

pub fn subscription(id: &str, created: i64, s: &Sub<'_>) -> String {
    let mut o = fixture("subscription");
    o["id"] = json!(s.sub);
    o["customer"] = json!(s.customer);
    o["status"] = json!(s.status);
    o["cancel_at_period_end"] = json!(false);
    o["metadata"] = s.user.map_or(json!({}), |u| json!({"user_id": u}));
    let mut item = o["items"]["data"][0].clone();
    item["price"]["id"] = json!(s.price);
    let mut items = vec![item.clone()];
    if s.addon {
        item["id"] = json!("si_addon");
        item["price"]["id"] = json!("price_addon_seats");
        items.insert(0, item);
    }
    o["items"]["data"] = json!(items);
    event(id, s.kind, created, o)
}

pub struct Checkout<'a> {
    pub kind: &'a str,
    pub session: &'a str,
    pub user: Option<&'a str>,
    pub customer: &'a str,
    pub price: &'a str,
    pub payment_intent: &'a str,
    pub amount: i64,
    pub payment_status: &'a str,
}

/// A checkout in mode `payment`: Lifetime or a package, by `metadata.price_id`.
pub fn checkout(id: &str, created: i64, c: &Checkout<'_>) -> String {
    let mut o = fixture("checkout.session");
    o["id"] = json!(c.session);
    o["mode"] = json!("payment");
    o["status"] = json!("complete");
    o["payment_status"] = json!(c.payment_status);
    o["client_reference_id"] = json!(c.user);
    o["customer"] = json!(c.customer);
    o["subscription"] = Value::Null;
    o["metadata"] = match c.user {
        Some(u) => json!({"user_id": u, "price_id": c.price}),
        None => json!({"price_id": c.price}),
    };
    o["payment_intent"] = json!(c.payment_intent);
    o["amount_total"] = json!(c.amount);
    event(id, c.kind, created, o)
}

/// `charge.refunded`: `refunded` of `amount` (cumulative) paid through `payment_intent`.
pub fn refund(id: &str, created: i64, payment_intent: &str, amount: i64, refunded: i64) -> String {
    let mut o = fixture("charge");
    o["payment_intent"] = json!(payment_intent);
    o["amount"] = json!(amount);
    o["amount_captured"] = json!(amount);
    o["amount_refunded"] = json!(refunded);
    o["refunded"] = json!(refunded >= amount);
    event(id, "charge.refunded", created, o)
}

/// A new Stripe event: its id, the body Stripe sends, and what the model reads in it.
pub fn delivery(
    purchases: &[Purchase],
    step: usize,
    now: i64,
    pay: Pay,
) -> (String, String, Event) {
    // A payment's events have ids of their own: Stripe sends one checkout event per payment
    // (two for a payment that completes later), and a resend is the same event again.
    let id = match pay {
        Pay::Checkout {
            purchase,
            succeeded,
            ..
        } => {
            let later = succeeded && purchases[purchase].flow == Flow::Async;
            format!("evt_cs{purchase}{}", if later { "_paid" } else { "" })
        }
        _ => format!("evt_{step:03}"),
    };
    match pay {
        Pay::Link { user } => {
            let body = link(&id, now, &name(user), &customer(user));
            (
                id,
                body,
                Event::Link {
                    user,
                    customer: user,
                },
            )
        }
        Pay::Sub {
            sub,
            kind,
            status,
            yearly,
            named,
            addon,
            skew,
        } => {
            let user = sub % 2;
            let (plan, price) = match yearly {
                true => (Plan::ProYearly, "price_pro_yearly"),
                false => (Plan::ProMonthly, "price_pro_monthly"),
            };
            let kind_name = match kind {
                SubKind::Created => "customer.subscription.created",
                SubKind::Updated => "customer.subscription.updated",
                SubKind::Deleted => "customer.subscription.deleted",
            };
            let (sub_id, customer, user_name) = (format!("sub_{sub}"), customer(user), name(user));
            let s = Sub {
                kind: kind_name,
                sub: &sub_id,
                customer: &customer,
                user: named.then_some(user_name.as_str()),
                status: status.id(),
                price,
                addon,
            };
            let created = now - skew;
            let body = subscription(&id, created, &s);
            let deleted = kind == SubKind::Deleted;
            let event = Event::Sub {
                sub,
                user: named.then_some(user),
                customer: user,
                status,
                plan,
                deleted,
                created,
            };
            (id, body, event)
        }
        Pay::Checkout {
            purchase,
            succeeded,
        } => {
            let p = purchases[purchase];
            let named = p.named;
            let price = match p.price {
                Price::Lifetime => "price_lifetime".to_owned(),
                Price::Package(n) => format!("price_credits_{n}"),
                Price::Unconfigured => UNCONFIGURED.to_owned(),
            };
            let later = succeeded && p.flow == Flow::Async;
            let status = match (later, p.flow) {
                (true, _) | (_, Flow::Paid) => "paid",
                (_, Flow::NothingToPay) => "no_payment_required",
                (_, Flow::Async) => "unpaid",
            };
            let kind = match later {
                true => "checkout.session.async_payment_succeeded",
                false => "checkout.session.completed",
            };
            let (session, pi, user_name, customer) = (
                format!("cs_{purchase}"),
                format!("pi_{purchase}"),
                name(p.user),
                customer(p.user),
            );
            let c = Checkout {
                kind,
                session: &session,
                user: named.then_some(user_name.as_str()),
                customer: &customer,
                price: &price,
                payment_intent: &pi,
                amount: p.amount,
                payment_status: status,
            };
            let body = checkout(&id, now, &c);
            let paid = status != "unpaid";
            let event = Event::Checkout {
                purchase,
                user: named.then_some(p.user),
                customer: p.user,
                price: p.price,
                amount: p.amount,
                paid,
            };
            (id, body, event)
        }
        Pay::Refund { purchase, percent } => {
            let p = purchases[purchase];
            let refunded = (p.amount * percent / 100).max(1);
            let body = refund(&id, now, &format!("pi_{purchase}"), p.amount, refunded);
            (
                id,
                body,
                Event::Refund {
                    purchase,
                    amount: p.amount,
                    refunded,
                },
            )
        }
    }
}
