//! Subscription events: plans by status and price, their order, and their attribution.

use super::*;

#[tokio::test]
async fn a_subscription_upgrades_changes_plan_and_cancels_by_the_specs_arithmetic() {
    for version in [DAHLIA, BASIL] {
        let app = isolated_app("wh-sub").await;
        let t = now() - 100;
        let link = checkout_subscription(version, "ana", "cus_ana", "sub_ana");
        expect(
            &app,
            &event(version, "evt_link", "checkout.session.completed", t, link),
            "applied",
        )
        .await;
        let monthly = subscription(
            version,
            "sub_ana",
            "cus_ana",
            None,
            "active",
            "price_pro_monthly",
        );
        expect(
            &app,
            &event(
                version,
                "evt_c",
                "customer.subscription.created",
                t + 1,
                monthly,
            ),
            "applied",
        )
        .await;
        let up = extra(Plan::Free, Plan::ProMonthly);
        let (plan, m, _, ledger) = state(&app, "ana").await;
        assert_eq!((plan, m), (Plan::ProMonthly, 5 + up), "{version}");
        assert_eq!(ledger, [entry("grant", 5), entry("adjust", up)]);

        let yearly = subscription(
            version,
            "sub_ana",
            "cus_ana",
            None,
            "active",
            "price_pro_yearly",
        );
        expect(
            &app,
            &event(
                version,
                "evt_u",
                "customer.subscription.updated",
                t + 2,
                yearly,
            ),
            "applied",
        )
        .await;
        let up2 = extra(Plan::ProMonthly, Plan::ProYearly);
        assert_eq!(state(&app, "ana").await.0, Plan::ProYearly);
        assert_eq!(state(&app, "ana").await.1, 5 + up + up2);

        // invoice.paid grants nothing: the allowance comes with the monthly reset.
        let mut invoice = fixture(version, "invoice");
        invoice["customer"] = json!("cus_ana");
        invoice["status"] = json!("paid");
        expect(
            &app,
            &event(version, "evt_inv", "invoice.paid", t + 3, invoice),
            "ignored",
        )
        .await;
        assert_eq!(state(&app, "ana").await.1, 5 + up + up2);

        // Downgrade caps the monthly bucket at the new allowance (which bites when the
        // upgrades came early in the month).
        let capped = (5 + up + up2).min(Plan::ProMonthly.monthly_credits());
        let back = subscription(
            version,
            "sub_ana",
            "cus_ana",
            None,
            "active",
            "price_pro_monthly",
        );
        expect(
            &app,
            &event(
                version,
                "evt_d",
                "customer.subscription.updated",
                t + 4,
                back,
            ),
            "applied",
        )
        .await;
        assert_eq!(state(&app, "ana").await.1, capped);
        let canceled = subscription(
            version,
            "sub_ana",
            "cus_ana",
            None,
            "canceled",
            "price_pro_monthly",
        );
        expect(
            &app,
            &event(
                version,
                "evt_x",
                "customer.subscription.deleted",
                t + 5,
                canceled,
            ),
            "applied",
        )
        .await;
        let (plan, m, _, ledger) = state(&app, "ana").await;
        assert_eq!((plan, m), (Plan::Free, 5));
        assert_eq!(ledger.last(), Some(&entry("adjust", 5 - capped)));
    }
}

#[tokio::test]
async fn statuses_past_due_incomplete_and_cancel_at_period_end_keep_the_plan() {
    let app = isolated_app("wh-status").await;
    let t = now() - 100;
    let sub = |status: &str| {
        subscription(
            DAHLIA,
            "sub_b",
            "cus_b",
            Some("bo"),
            status,
            "price_pro_monthly",
        )
    };
    expect(
        &app,
        &event(
            DAHLIA,
            "evt_1",
            "customer.subscription.created",
            t,
            sub("incomplete"),
        ),
        "applied",
    )
    .await;
    assert_eq!(
        state(&app, "bo").await.0,
        Plan::Free,
        "incomplete changes nothing"
    );
    expect(
        &app,
        &event(
            DAHLIA,
            "evt_2",
            "customer.subscription.updated",
            t + 1,
            sub("active"),
        ),
        "applied",
    )
    .await;
    expect(
        &app,
        &event(
            DAHLIA,
            "evt_3",
            "customer.subscription.updated",
            t + 2,
            sub("past_due"),
        ),
        "applied",
    )
    .await;
    assert_eq!(
        state(&app, "bo").await.0,
        Plan::ProMonthly,
        "past_due keeps the plan"
    );
    let mut ending = sub("active");
    ending["cancel_at_period_end"] = json!(true);
    expect(
        &app,
        &event(
            DAHLIA,
            "evt_4",
            "customer.subscription.updated",
            t + 3,
            ending,
        ),
        "applied",
    )
    .await;
    assert_eq!(
        state(&app, "bo").await.0,
        Plan::ProMonthly,
        "cancel_at_period_end waits for the end"
    );
    expect(
        &app,
        &event(
            DAHLIA,
            "evt_5",
            "customer.subscription.updated",
            t + 4,
            sub("unpaid"),
        ),
        "applied",
    )
    .await;
    assert_eq!(state(&app, "bo").await.0, Plan::Free, "unpaid gives Free");
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for i in 0..=p.len() {
            let mut q = p.clone();
            q.insert(i, n - 1);
            out.push(q);
        }
    }
    out
}

#[tokio::test]
async fn every_order_of_created_updated_deleted_ends_in_the_newest_state() {
    let app = isolated_app("wh-order").await;
    let t = now() - 100;
    let orders = permutations(3);
    assert_eq!(orders.len(), 6);
    for (n, order) in orders.iter().enumerate() {
        let user = format!("u{n}");
        let sub_id = format!("sub_{n}");
        let sub = |status: &str, price: &str| {
            subscription(
                BASIL,
                &sub_id,
                &format!("cus_{n}"),
                Some(&user),
                status,
                price,
            )
        };
        let events = [
            event(
                BASIL,
                &format!("evt_{n}_c"),
                "customer.subscription.created",
                t,
                sub("active", "price_pro_monthly"),
            ),
            event(
                BASIL,
                &format!("evt_{n}_u"),
                "customer.subscription.updated",
                t + 1,
                sub("active", "price_pro_yearly"),
            ),
            event(
                BASIL,
                &format!("evt_{n}_d"),
                "customer.subscription.deleted",
                t + 2,
                sub("canceled", "price_pro_yearly"),
            ),
        ];
        let mut newest = -1;
        for &i in order {
            let want = if (i as i64) > newest {
                "applied"
            } else {
                "stale"
            };
            newest = newest.max(i as i64);
            expect(&app, &events[i], want).await;
        }
        let (plan, m, _, _) = state(&app, &user).await;
        assert_eq!((plan, m), (Plan::Free, 5), "order {order:?}");
        let subs = app
            .service
            .store()
            .stripe_state(&UserId::parse(&user).unwrap())
            .await
            .unwrap()
            .subscriptions;
        assert_eq!(
            (subs[0].status.as_str(), subs[0].event_id.clone()),
            ("canceled", format!("evt_{n}_d"))
        );
    }
    // Without the deletion, every order ends on the update's plan.
    for (n, order) in permutations(2).iter().enumerate() {
        let user = format!("v{n}");
        let sub = |price: &str| {
            subscription(
                DAHLIA,
                &format!("sub_v{n}"),
                "cus_v",
                Some(&user),
                "active",
                price,
            )
        };
        let events = [
            event(
                DAHLIA,
                &format!("evt_v{n}_c"),
                "customer.subscription.created",
                t,
                sub("price_pro_yearly"),
            ),
            event(
                DAHLIA,
                &format!("evt_v{n}_u"),
                "customer.subscription.updated",
                t + 1,
                sub("price_pro_monthly"),
            ),
        ];
        for &i in order {
            deliver(&app, &events[i]).await;
        }
        assert_eq!(
            state(&app, &user).await.0,
            Plan::ProMonthly,
            "order {order:?}"
        );
    }
}

#[tokio::test]
async fn an_unattributable_event_is_retried_until_its_link_arrives() {
    let app = isolated_app("wh-link").await;
    let t = now() - 100;
    let created = event(
        DAHLIA,
        "evt_early",
        "customer.subscription.created",
        t + 1,
        subscription(
            DAHLIA,
            "sub_d",
            "cus_d",
            None,
            "active",
            "price_pro_monthly",
        ),
    );
    let (status, answer) = deliver(&app, &created).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (503, Some("service_unavailable")),
        "{answer}"
    );
    let user = UserId::parse("dee").unwrap();
    assert!(
        app.service
            .store()
            .read_account(&user)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        app.service
            .store()
            .stripe_event("evt_early")
            .await
            .unwrap()
            .is_none()
    );
    let link = checkout_subscription(DAHLIA, "dee", "cus_d", "sub_d");
    expect(
        &app,
        &event(DAHLIA, "evt_link", "checkout.session.completed", t, link),
        "applied",
    )
    .await;
    expect(&app, &created, "applied").await;
    assert_eq!(state(&app, "dee").await.0, Plan::ProMonthly);
}

/// Found by the `webhook_signed` fuzz target: a verified subscription event with neither
/// `metadata.user_id` nor a customer was answered 503 (retry) for ever. Now `ignored`, nothing
/// written; a paid checkout with neither is ignored too.
#[tokio::test]
async fn an_event_naming_neither_user_nor_customer_is_ignored_not_retried() {
    let app = isolated_app("wh-noone").await;
    let mut sub = subscription(
        DAHLIA,
        "sub_n",
        "cus_n",
        Some("nobody"),
        "active",
        "price_pro_monthly",
    );
    sub.as_object_mut().unwrap().remove("customer");
    sub["maedtata"] = sub["metadata"].take();
    let body = event(
        DAHLIA,
        "evt_noone",
        "customer.subscription.updated",
        now(),
        sub,
    );
    expect(&app, &body, "ignored").await;
    let mut buy = checkout_payment(DAHLIA, "nobody", "price_credits_100", "pi_n", 999);
    buy["customer"] = Value::Null;
    buy["metadata"] = json!({"price_id": "price_credits_100"});
    buy["client_reference_id"] = Value::Null;
    let body = event(
        DAHLIA,
        "evt_noone_buy",
        "checkout.session.completed",
        now(),
        buy,
    );
    expect(&app, &body, "ignored").await;
    nothing_stored(&app, "nobody", "evt_noone").await;
}

/// `created` (incomplete) and `updated` (active, Pro Monthly) in the same
/// second leave the paying user on Pro Monthly, in either order of arrival.
#[tokio::test]
async fn an_incomplete_then_active_subscription_in_one_second_ends_on_its_plan() {
    let app = isolated_app("wh-second").await;
    let t = now() - 100;
    for (n, first) in ["created", "updated"].into_iter().enumerate() {
        let user = format!("sam{n}");
        let sub = |status: &str| {
            let id = format!("sub_s{n}");
            subscription(
                DAHLIA,
                &id,
                "cus_s",
                Some(&user),
                status,
                "price_pro_monthly",
            )
        };
        let created = event(
            DAHLIA,
            &format!("evt_c{n}"),
            "customer.subscription.created",
            t,
            sub("incomplete"),
        );
        let updated = event(
            DAHLIA,
            &format!("evt_u{n}"),
            "customer.subscription.updated",
            t,
            sub("active"),
        );
        let (a, b) = if first == "created" {
            (created, updated)
        } else {
            (updated, created)
        };
        expect(&app, &a, "applied").await;
        expect(
            &app,
            &b,
            if first == "created" {
                "applied"
            } else {
                "stale"
            },
        )
        .await;
        assert_eq!(
            state(&app, &user).await.0,
            Plan::ProMonthly,
            "{first} first"
        );
    }
}

/// An add-on item listed before the plan's must not make a
/// paying user Free.
#[tokio::test]
async fn an_add_on_item_before_the_plans_keeps_the_plan() {
    let app = isolated_app("wh-addon").await;
    let mut sub = subscription(
        DAHLIA,
        "sub_a",
        "cus_a",
        Some("ava"),
        "active",
        "price_pro_yearly",
    );
    let plan_item = sub["items"]["data"][0].clone();
    let mut addon = plan_item.clone();
    addon["price"]["id"] = json!("price_seats_addon");
    sub["items"]["data"] = json!([addon, plan_item]);
    let body = event(DAHLIA, "evt_a", "customer.subscription.created", now(), sub);
    expect(&app, &body, "applied").await;
    assert_eq!(state(&app, "ava").await.0, Plan::ProYearly);
}
