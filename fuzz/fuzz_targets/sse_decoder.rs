//! The SSE decoder on arbitrary bytes, fed in arbitrary pieces: never panics, and
//! decoding in pieces gives the same events as decoding at once.
#![no_main]
use libfuzzer_sys::fuzz_target;
use verity::internals::SseDecoder;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else { return };
    let whole = {
        let mut d = SseDecoder::new(4096);
        let mut events = d.feed(bytes).map(|e| e.len());
        if let Ok(n) = &mut events {
            *n += usize::from(d.finish().ok().flatten().is_some());
        }
        events
    };
    let piece = usize::from(cut).max(1);
    let mut d = SseDecoder::new(4096);
    let mut count = Ok(0usize);
    for chunk in bytes.chunks(piece) {
        match d.feed(chunk) {
            Ok(e) => {
                if let Ok(n) = &mut count {
                    *n += e.len();
                }
            }
            Err(e) => {
                count = Err(e);
                break;
            }
        }
    }
    if let Ok(n) = &mut count {
        *n += usize::from(d.finish().ok().flatten().is_some());
    }
    if let (Ok(a), Ok(b)) = (&whole, &count) {
        assert_eq!(a, b, "piecewise decoding changed the events");
    }
});
