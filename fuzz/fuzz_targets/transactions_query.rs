//! GET /credits/transactions with any user and query string (`limit`, `cursor`, repeats,
//! broken escapes).
//! Input: `user\nquery` (bytes a URI cannot hold are percent-encoded, as a client must).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ([user], query) = credits_fuzz::split(data);
    let query = credits_fuzz::encode_query(query);
    let mut call = credits_fuzz::call("GET", &format!("/credits/transactions?{query}"), user);
    call.route_key = "GET /credits/transactions".into();
    credits_fuzz::api(&call);
});
