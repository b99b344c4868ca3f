//! POST /credits/deduct with any user, Idempotency-Key and body.
//! Input: `user\nkey\nbody` (an empty key sends no header).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| credits_fuzz::keyed_post("/credits/deduct", data));
