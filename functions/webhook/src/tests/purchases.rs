//! Paid checkouts (Lifetime, v1 packages, v2 rejections), refunds, and parked events.

use super::*;

#[tokio::test]
async fn lifetime_is_bought_survives_subscription_events_and_a_full_refund_ends_it() {
    for version in [DAHLIA, BASIL] {
        let app = isolated_app("wh-life").await;
        let t = now() - 100;
        let buy = checkout_payment(version, "lu", "price_lifetime", "pi_life", 29_900);
        expect(
            &app,
            &event(version, "evt_buy", "checkout.session.completed", t, buy),
            "applied",
        )
        .await;
        let up = extra(Plan::Free, Plan::Lifetime);
        assert_eq!(state(&app, "lu").await.0, Plan::Lifetime);
        assert_eq!(state(&app, "lu").await.1, 5 + up);
        // An unrelated subscription of the same user ends: Lifetime stays.
        let old = subscription(
            version,
            "sub_old",
            "cus_lu",
            Some("lu"),
            "canceled",
            "price_pro_monthly",
        );
        expect(
            &app,
            &event(
                version,
                "evt_old",
                "customer.subscription.deleted",
                t + 1,
                old,
            ),
            "applied",
        )
        .await;
        assert_eq!(state(&app, "lu").await.0, Plan::Lifetime);
        // A partial refund keeps the plan; the full one downgrades to Free, capping monthly.
        let partial = refunded(version, "evt_r1", t + 2, "pi_life", 29_900, 10_000);
        expect(&app, &partial, "ignored").await;
        assert_eq!(state(&app, "lu").await.0, Plan::Lifetime);
        let full = refunded(version, "evt_r2", t + 3, "pi_life", 29_900, 29_900);
        expect(&app, &full, "applied").await;
        let (plan, m, _, ledger) = state(&app, "lu").await;
        assert_eq!((plan, m), (Plan::Free, 5), "{version}");
        assert_eq!(ledger.last(), Some(&entry("adjust", -up)));
        expect(&app, &full, "duplicate").await;
        // A refund of a payment with no purchase recorded is parked: its purchase may come.
        let other = refunded(version, "evt_r3", t + 4, "pi_unknown", 500, 500);
        expect(&app, &other, "parked").await;
    }
}

#[tokio::test]
async fn a_v1_package_is_credited_and_refunds_revoke_the_cumulative_share() {
    let app = isolated_app("wh-pkg").await;
    let t = now() - 100;
    let buy = checkout_payment(DAHLIA, "pat", "price_credits_100", "pi_pkg", 1_000);
    expect(
        &app,
        &event(DAHLIA, "evt_p", "checkout.session.completed", t, buy),
        "applied",
    )
    .await;
    assert_eq!(state(&app, "pat").await.2, 100);
    // 30% refunded: floor(100 * 300 / 1000) = 30.
    expect(
        &app,
        &refunded(DAHLIA, "evt_r1", t + 1, "pi_pkg", 1_000, 300),
        "applied",
    )
    .await;
    assert_eq!(state(&app, "pat").await.2, 70);
    // Cumulative 33.3%: 33 in total, 3 more.
    expect(
        &app,
        &refunded(BASIL, "evt_r2", t + 2, "pi_pkg", 1_000, 333),
        "applied",
    )
    .await;
    assert_eq!(state(&app, "pat").await.2, 67);
    // Spend 5 monthly and 60 purchased, then a full refund: 67 owed, 7 left to take.
    let user = UserId::parse("pat").unwrap();
    let cmd = credits::service::Deduct {
        amount: 65,
        priced: None,
        reason: None,
        key: "k",
        request: "{}",
    };
    app.service
        .deduct(&user, &cmd, &app.flags.read().await.flags, Utc::now())
        .await
        .unwrap();
    assert_eq!(state(&app, "pat").await.2, 7);
    expect(
        &app,
        &refunded(DAHLIA, "evt_r3", t + 3, "pi_pkg", 1_000, 1_000),
        "applied",
    )
    .await;
    let (_, m, p, ledger) = state(&app, "pat").await;
    assert_eq!((m, p), (0, 0));
    assert_eq!(
        ledger
            .iter()
            .filter(|(k, _)| k == "revoke")
            .map(|(_, n)| *n)
            .collect::<Vec<_>>(),
        [-30, -3, -7]
    );
    let page = app.service.store().entries(&user, 1, None).await.unwrap();
    assert!(
        page.entries[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("60 already spent"),
        "{:?}",
        page.entries[0]
    );
}

#[tokio::test]
async fn a_v2_package_purchase_is_rejected_and_listed_for_refund() {
    let app = isolated_app("wh-v2").await;
    credits_testkit::set_version(&app, "v2").await;
    let buy = checkout_payment(DAHLIA, "val", "price_credits_500", "pi_v2", 4_900);
    expect(
        &app,
        &event(
            DAHLIA,
            "evt_v2",
            "checkout.session.completed",
            now(),
            buy.clone(),
        ),
        "rejected",
    )
    .await;
    expect(
        &app,
        &event(DAHLIA, "evt_v2", "checkout.session.completed", now(), buy),
        "duplicate",
    )
    .await;
    assert!(
        app.service
            .store()
            .read_account(&UserId::parse("val").unwrap())
            .await
            .unwrap()
            .is_none(),
        "no credits"
    );
    let rejected = app.service.store().rejected_purchases().await.unwrap();
    assert_eq!(rejected.len(), 1);
    let r = &rejected[0];
    assert_eq!(
        (
            r.user_id.as_str(),
            r.product.as_str(),
            r.amount,
            r.payment_intent.as_deref()
        ),
        ("val", "premium", 4_900, Some("pi_v2"))
    );
    // Its refund is not a purchase of ours: nothing to revoke.
    expect(
        &app,
        &refunded(DAHLIA, "evt_v2r", now(), "pi_v2", 4_900, 4_900),
        "ignored",
    )
    .await;
}

#[tokio::test]
async fn a_package_purchase_with_unknown_flags_or_a_broken_store_is_retried() {
    let base = isolated_app("wh-fault").await;
    let sdk = credits::config::aws().await;
    // Parameter Store never answered (no such parameters): the version is unknown.
    let blind = App::new(
        &sdk,
        credits::config::Config {
            parameter_prefix: "/no-such-prefix".into(),
            ..base.config.clone()
        },
    );
    let buy = event(
        DAHLIA,
        "evt_f",
        "checkout.session.completed",
        now(),
        checkout_payment(DAHLIA, "fay", "price_credits_100", "pi_f", 1_000),
    );
    let (status, _) = deliver(&blind, &buy).await;
    assert_eq!(status, 503);
    assert!(
        blind
            .service
            .store()
            .stripe_event("evt_f")
            .await
            .unwrap()
            .is_none()
    );
    // The table is gone: 503, and Stripe retries.
    let broken = App::new(
        &sdk,
        credits::config::Config {
            table: "no-such-table".into(),
            ..base.config.clone()
        },
    );
    let (status, answer) = deliver(&broken, &buy).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (503, Some("service_unavailable")),
        "{answer}"
    );
    // The same event applies once the faults are gone.
    expect(&base, &buy, "applied").await;
}

/// A delivery of `body` to a webhook whose price map also maps `price_new` to `basic`.
async fn deliver_with_new_price(app: &App, body: &str) -> (u16, Value) {
    let prices = format!("{},price_new=basic", PriceMap::DEFAULT);
    let hook = Webhook {
        prices: PriceMap::parse(&prices).unwrap(),
        ..hook()
    };
    let call = signed(body, &sign(SECRET, app.clock.now().timestamp(), body));
    response_json(handle(app, &hook, call.request()).await)
}

/// A paid checkout whose price the deployment does not know is parked (200:
/// another product sold on the same Stripe account must not be retried for three days), listed,
/// and not recorded, so that Stripe's resend applies it once the price map knows the price.
#[tokio::test]
async fn a_checkout_for_an_unknown_price_is_parked_and_applies_when_resent_after_the_fix() {
    let app = isolated_app("wh-parked").await;
    let buy = checkout_payment(DAHLIA, "pam", "price_new", "pi_new", 1_000);
    let body = event(DAHLIA, "evt_new", "checkout.session.completed", now(), buy);
    expect(&app, &body, "parked").await;
    expect(&app, &body, "parked").await;
    let store = app.service.store();
    assert!(store.stripe_event("evt_new").await.unwrap().is_none());
    assert!(
        store
            .read_account(&UserId::parse("pam").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let parked = store.parked_events().await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(
        (parked[0].event_id.as_str(), parked[0].price.as_deref()),
        ("evt_new", Some("price_new"))
    );
    assert!(!store.parked_applied(&parked[0]).await.unwrap());

    // STRIPE_PRICES is fixed; the operator resends the event from the dashboard.
    let (status, answer) = deliver_with_new_price(&app, &body).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("applied")));
    assert_eq!(state(&app, "pam").await.2, 100);
    assert!(store.parked_applied(&parked[0]).await.unwrap());
    let (_, answer) = deliver_with_new_price(&app, &body).await;
    assert_eq!(answer["outcome"], "duplicate");
    store.forget_parked("evt_new").await.unwrap();
    assert!(store.parked_events().await.unwrap().is_empty());
}

/// A refund delivered before its purchase is parked on the payment; the
/// purchase applies it in its own transaction and keeps only the unrefunded share.
#[tokio::test]
async fn a_refund_before_its_purchase_leaves_only_the_unrefunded_share() {
    let app = isolated_app("wh-early-refund").await;
    let t = now() - 100;
    let early = refunded(DAHLIA, "evt_r", t, "pi_e", 1_000, 300);
    expect(&app, &early, "parked").await;
    let store = app.service.store();
    assert!(store.stripe_event("evt_r").await.unwrap().is_none());
    let parked = store.parked_events().await.unwrap();
    assert_eq!(parked[0].payment.as_deref(), Some("pi_e"));
    // Stripe's second refund (cumulative) arrives before the purchase too.
    let more = refunded(DAHLIA, "evt_r2", t + 1, "pi_e", 1_000, 500);
    expect(&app, &more, "parked").await;
    expect(&app, &early, "parked").await;

    let buy = checkout_payment(DAHLIA, "eli", "price_credits_100", "pi_e", 1_000);
    let purchase = event(DAHLIA, "evt_b", "checkout.session.completed", t + 2, buy);
    expect(&app, &purchase, "applied").await;
    let (_, m, p, ledger) = state(&app, "eli").await;
    assert_eq!((m, p), (5, 50));
    assert_eq!(
        ledger,
        [
            entry("grant", 5),
            entry("purchase", 100),
            entry("revoke", -50)
        ]
    );
    for parked in store.parked_events().await.unwrap() {
        assert!(store.parked_applied(&parked).await.unwrap(), "{parked:?}");
    }
    // Their redeliveries find the purchase: nothing more to take.
    expect(&app, &early, "ignored").await;
    expect(&app, &more, "ignored").await;
    assert_eq!(state(&app, "eli").await.2, 50);
    // A later refund applies as usual.
    expect(
        &app,
        &refunded(DAHLIA, "evt_r3", t + 3, "pi_e", 1_000, 1_000),
        "applied",
    )
    .await;
    assert_eq!(state(&app, "eli").await.2, 0);
}

/// A checkout paid later grants with its
/// `async_payment_succeeded`; one that needed no payment grants at once; a second event of one
/// payment grants nothing more.
#[tokio::test]
async fn delayed_and_free_checkouts_grant_once() {
    let app = isolated_app("wh-async").await;
    let mut pending = checkout_payment(DAHLIA, "ada", "price_credits_200", "pi_async", 2_000);
    pending["payment_status"] = json!("unpaid");
    let completed = event(
        DAHLIA,
        "evt_c",
        "checkout.session.completed",
        now(),
        pending.clone(),
    );
    expect(&app, &completed, "ignored").await;
    let mut paid = pending;
    paid["payment_status"] = json!("paid");
    let kind = "checkout.session.async_payment_succeeded";
    expect(
        &app,
        &event(DAHLIA, "evt_s", kind, now(), paid.clone()),
        "applied",
    )
    .await;
    assert_eq!(state(&app, "ada").await.2, 200);
    let again = event(DAHLIA, "evt_c2", "checkout.session.completed", now(), paid);
    expect(&app, &again, "ignored").await;
    assert_eq!(state(&app, "ada").await.2, 200);

    let mut free = checkout_payment(DAHLIA, "fio", "price_lifetime", "unused", 0);
    free["payment_status"] = json!("no_payment_required");
    free["payment_intent"] = Value::Null;
    let body = event(DAHLIA, "evt_f", "checkout.session.completed", now(), free);
    expect(&app, &body, "applied").await;
    assert_eq!(state(&app, "fio").await.0, Plan::Lifetime);
}
