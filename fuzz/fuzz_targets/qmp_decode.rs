//! QMP bytes → `JsonDecoder` (fed in fuzzer-chosen chunks) → `ServerMessage` / `ClientCommand`.
//!
//! Checks, besides "never panics": the decoder yields exactly the messages (and QEMU-style
//! errors) that one push of the same bytes gives — where reads end must never change the
//! framing — and every message that interprets re-serialises to a line that decodes back to
//! the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use maqet_qmp::wire::{ClientCommand, JsonDecoder, ServerMessage};
use serde_json::Value;

/// A small size limit so the "JSON token size limit exceeded" path is reached too.
const MAX_MESSAGE: usize = 64;

fn drain(decoder: &mut JsonDecoder, out: &mut Vec<Result<Value, String>>) {
    while let Some(message) = decoder.next_message() {
        out.push(message.map_err(|e| e.to_string()));
    }
}

fuzz_target!(|data: &[u8]| {
    // Byte 0 seeds the chunk sizes; the rest is the stream.
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };

    // The stream fed in chunks of 1..=16 bytes, sizes from a tiny LCG seeded by byte 0.
    let mut decoder = JsonDecoder::with_max_len(MAX_MESSAGE);
    let mut chunked = Vec::new();
    let mut state = u32::from(seed) | 1;
    let mut rest = stream;
    while !rest.is_empty() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let size = (((state >> 16) % 16) as usize + 1).min(rest.len());
        let (chunk, tail) = rest.split_at(size);
        decoder.push(chunk);
        rest = tail;
        drain(&mut decoder, &mut chunked);
    }

    let mut whole = JsonDecoder::with_max_len(MAX_MESSAGE);
    whole.push(stream);
    let mut reference = Vec::new();
    drain(&mut whole, &mut reference);
    assert_eq!(chunked, reference, "chunking changed the framing");

    for value in chunked.into_iter().flatten() {
        check_value(value);
    }
});

fn decode_one(line: &str) -> Value {
    let mut decoder = JsonDecoder::new();
    decoder.push(line.as_bytes());
    decoder
        .next_message()
        .expect("a serialised message is complete")
        .expect("a serialised message decodes")
}

fn check_value(value: Value) {
    if let Ok(message) = ServerMessage::from_value(value.clone()) {
        let _ = message.kind();
        let text = message.to_line();
        assert!(text.ends_with("\r\n"));
        let again = ServerMessage::from_value(decode_one(&text))
            .expect("a serialised server message interprets again");
        assert_eq!(again.to_line(), text, "server message round trip");
    }
    if let Ok(command) = ClientCommand::from_request(value) {
        let text = command.to_line();
        let again = ClientCommand::from_request(decode_one(&text))
            .expect("a serialised client command is a valid request");
        assert_eq!(again, command, "client command round trip");
    }
}
