//! The webhook with any `Stripe-Signature` header and any body bytes.
//! Input: `header\nbody`; without a `\n`, no header at all and the input is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let header = credits_fuzz::text(&data[..i]);
            credits_fuzz::deliver(Some(&header), &data[i + 1..]);
        }
        None => credits_fuzz::deliver(None, data),
    }
});
