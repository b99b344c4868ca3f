//! Every sample in `events/`, sent as `cargo lambda invoke --data-file` (or, for the two that
//! depend on the moment, `--data-ascii "$(credits-local event FILE)"`) sends it: parsed as the
//! runtime parses it and handled by its function, in any order and again, each answered 2xx.

use std::path::PathBuf;
use std::time::Instant;

use credits::app::App;
use credits_local::gateway::invoke;
use credits_local::samples::{Preparation, preparation, prepare};
use credits_testkit::{http_routes, response_json};
use serde_json::Value;

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// The samples' file names (not `events/stripe/`: bodies to sign, not events).
fn samples() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

fn sample(name: &str) -> String {
    let path = events_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn local_webhook() -> webhook::Webhook {
    webhook::Webhook {
        secret: webhook::SigningSecret::new(webhook::LOCAL_SECRET),
        prices: credits::stripe::PriceMap::default(),
        line_items: None,
    }
}

/// Sends `text` to the function it is for, as the Lambda runtime would hand it over; returns
/// the status (200 for the scheduler's event, which has no HTTP answer) and the body.
async fn send(app: &App, name: &str, text: &str) -> (u16, Value) {
    let event: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let Some(key) = event["routeKey"].as_str() else {
        // The scheduler's event, run as `cargo lambda watch` runs it: in process (the local
        // fan-out), the deadline reported as no time left.
        let event: monthly_reset::Event =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let reset = monthly_reset::Reset::new(
            app,
            credits::reset::ResetSettings::default(),
            monthly_reset::Fanout::local(),
        );
        let out = monthly_reset::handle(&reset, event, Instant::now()).await;
        return (200, out.unwrap_or_else(|e| panic!("{name}: {e}")));
    };
    let req = lambda_http::request::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    if key == "$default" {
        return response_json(webhook::handle(app, &local_webhook(), req).await);
    }
    let routes = http_routes().unwrap();
    let route = routes
        .iter()
        .find(|r| r.key() == key)
        .unwrap_or_else(|| panic!("{name}: {key} is not a route of the template"));
    let admin = monthly_reset::config::AdminSettings::default();
    response_json(invoke(app, &admin, &route.function, req).await)
}

#[tokio::test]
async fn every_sample_answers_2xx_in_any_order_and_again() {
    let app = credits_testkit::isolated_app("events").await;
    let names = samples();
    assert!(names.len() >= 10, "{names:?}");
    let mut reversed = names.clone();
    reversed.reverse();
    for (round, order) in [&reversed, &names, &reversed].into_iter().enumerate() {
        for name in order {
            let event: Value = serde_json::from_str(&sample(name)).unwrap();
            let ready = prepare(event, webhook::LOCAL_SECRET, &app).await.unwrap();
            let (status, body) = send(&app, name, &ready.to_string()).await;
            assert!(
                (200..300).contains(&status),
                "round {round}, {name}: {status} {body}"
            );
            if name == "monthly-reset.json" {
                assert_eq!(body["status"], "done", "{body}");
            }
        }
    }
}

#[tokio::test]
async fn only_the_webhook_and_hold_samples_need_preparing() {
    let needs: Vec<(String, Preparation)> = samples()
        .into_iter()
        .map(|n| {
            let event: Value = serde_json::from_str(&sample(&n)).unwrap();
            let p = preparation(&event);
            (n, p)
        })
        .filter(|(_, p)| *p != Preparation::None)
        .collect();
    assert_eq!(
        needs,
        [
            ("release-hold.json".to_owned(), Preparation::OpenHold),
            ("webhook.json".to_owned(), Preparation::Sign)
        ]
    );
}

/// As the README says: sent as shipped, the release names a hold nobody opened (404), and the
/// webhook's signature has expired (400). `credits-local event` fixes both.
#[tokio::test]
async fn the_two_samples_sent_unprepared_answer_as_documented() {
    let app = credits_testkit::isolated_app("events-raw").await;
    let (status, body) = send(&app, "release-hold.json", &sample("release-hold.json")).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &Value::from("hold_not_found"))
    );
    let (status, body) = send(&app, "webhook.json", &sample("webhook.json")).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &Value::from("invalid_signature"))
    );
}

#[test]
fn the_scheduler_sample_is_the_start_event() {
    let event: monthly_reset::Event = serde_json::from_str(&sample("monthly-reset.json")).unwrap();
    assert_eq!(event, monthly_reset::Event::Start);
}
