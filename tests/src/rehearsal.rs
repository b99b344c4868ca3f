//! The accounts of the rollout tests: twelve v1 users, some with packages bought, some with
//! credits spent.

use chrono::{DateTime, Utc};
use credits::account::{Account, UserId};
use credits::app::App;
use credits::plan::Package;
use credits::rules;
use credits::service::Deduct;

pub const USERS: usize = 12;

/// `user-000`, `user-001`, ...
pub fn user(i: usize) -> UserId {
    UserId::parse(format!("user-{i:03}")).expect("a valid user id")
}

/// Opens the [`USERS`] accounts on v1: the i-th buys `i % 3` packages of `Package::ALL[i % 4]`,
/// and the even ones spend 3 credits.
pub async fn open_v1(app: &App, now: DateTime<Utc>) {
    for i in 0..USERS {
        let u = user(i);
        app.service.touch_account(&u, now).await.expect("opened");
        for _ in 0..(i % 3) {
            let package = Package::ALL[i % 4];
            app.service
                .apply(&u, now, |cur| {
                    Ok(rules::purchase(cur, &u, package, &format!("evt_{i}"), now))
                })
                .await
                .expect("bought");
        }
        if i % 2 == 0 {
            spend(app, &u, 3, "v1-spend", now).await;
        }
    }
}

/// A deduct of `amount` (idempotency key `key`) that must succeed.
pub async fn spend(app: &App, user: &UserId, amount: i64, key: &str, now: DateTime<Utc>) {
    let cmd = Deduct {
        amount,
        priced: None,
        reason: None,
        key,
        request: key,
    };
    let flags = app.flags.read().await.flags;
    app.service
        .deduct(user, &cmd, &flags, now)
        .await
        .expect("spent");
}

/// The account as stored (no reset or expiry applied on the way).
pub async fn stored(app: &App, user: &str) -> Account {
    let user = UserId::parse(user).expect("a valid user id");
    app.service
        .store()
        .read_account(&user)
        .await
        .expect("the account reads")
        .expect("the account exists")
        .account
}
