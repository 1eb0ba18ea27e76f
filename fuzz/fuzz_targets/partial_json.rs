//! The partial-JSON parser on arbitrary text, with and without an open code fence:
//! never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use verity::internals::{parse_partial, strip_open_fence};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = parse_partial(text);
    let _ = parse_partial(strip_open_fence(text));
});
