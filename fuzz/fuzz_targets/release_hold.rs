//! DELETE /credits/holds/{id} with any user, hold id and body (a body is not expected: it must
//! be ignored or refused, never a failure).
//! Input: `user\nid\nbody`; the id `@` is a hold opened for the user just before.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ([user, id], body) = credits_fuzz::split(data);
    if let Some(call) = credits_fuzz::on_hold("DELETE", user, id, "") {
        credits_fuzz::api(&call.body(body));
    }
});
