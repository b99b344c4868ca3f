//! The webhook with any body, signed correctly (now, with the endpoint's secret): past the
//! signature into the JSON, `credits::stripe::command` and the store.
//! Input: the body (read as UTF-8, invalid sequences replaced, since a signature covers text).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    let now = chrono::Utc::now().timestamp();
    let signature = webhook::sign(credits_fuzz::WEBHOOK_SECRET, now, &body);
    credits_fuzz::deliver(Some(&signature), body.as_bytes());
});
