//! POST /credits/holds/{id}/commit with any user, hold id and body.
//! Input: `user\nid\nbody`; the id `@` is a hold opened for the user just before.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ([user, id], body) = credits_fuzz::split(data);
    if let Some(call) = credits_fuzz::on_hold("POST", user, id, "/commit") {
        credits_fuzz::api(&call.body(body));
    }
});
