//! Loading message history from untrusted JSON: typed errors, never a panic; what loads
//! writes back and loads again to the same messages.
#![no_main]
use libfuzzer_sys::fuzz_target;
use verity::messages::{messages_from_json, messages_to_json};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(messages) = messages_from_json(text) {
        let written = messages_to_json(&messages).expect("loaded messages serialize");
        let again = messages_from_json(&written).expect("written messages load");
        assert_eq!(messages, again);
    }
});
