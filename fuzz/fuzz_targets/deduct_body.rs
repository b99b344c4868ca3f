//! POST /credits/deduct with any user, Idempotency-Key and body.
//! Input: `user\nkey\nbody` (an empty key sends no header).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ([user, key], body) = credits_fuzz::split(data);
    let mut call = credits_fuzz::call("POST", "/credits/deduct", user).body(body);
    if !key.is_empty() {
        call = call.header("idempotency-key", &credits_fuzz::text(key));
    }
    credits_fuzz::api(&call);
});
