//! Inputs found by the `qmp_decode` fuzz target (`fuzz/`), kept so the bugs stay fixed.

use maqet_qmp::wire::{JsonDecoder, ServerMessage, WireError};
use serde_json::Value;

/// Every message (or QEMU's error text) the decoder yields after each push of `chunks`.
fn decode(max_len: usize, chunks: &[&[u8]]) -> Vec<Result<Value, String>> {
    let mut decoder = JsonDecoder::with_max_len(max_len);
    let mut out = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        while let Some(message) = decoder.next_message() {
            out.push(message.map_err(|e| match e {
                WireError::Json { desc } => desc,
                other => other.to_string(),
            }));
        }
    }
    out
}

/// A QMP reply whose tokens add up to just under the limit of 64 used below.
const REPLY_NEAR_LIMIT: &[u8] = br#"{"return": {"status": "running", "pad": "xxxxxxxxxxxx"}}"#;

#[test]
fn a_reply_near_the_limit_is_accepted_however_the_crlf_arrives() {
    let mut with_cr = REPLY_NEAR_LIMIT.to_vec();
    with_cr.push(b'\r');
    let got = decode(64, &[&with_cr, b"\n"]);
    assert_eq!(got.len(), 1, "{got:?}");
    let message = ServerMessage::from_value(got[0].clone().unwrap()).unwrap();
    assert_eq!(message.kind(), "return");
}

#[test]
fn where_reads_end_never_changes_which_messages_come_out() {
    let mut stream = b"{\"a\":1}\r\n".to_vec();
    stream.extend_from_slice(REPLY_NEAR_LIMIT);
    stream.extend_from_slice(b"\r\n{\"b\":2}{\"c\":[3]}");
    let whole = decode(64, &[&stream]);
    assert_eq!(whole.len(), 4, "{whole:?}");
    assert!(whole.iter().all(Result::is_ok), "{whole:?}");
    for split in 0..=stream.len() {
        let (head, tail) = stream.split_at(split);
        assert_eq!(
            decode(64, &[head, tail]),
            whole,
            "read split at byte {split}"
        );
    }
}

#[test]
fn a_message_over_the_limit_is_rejected_however_it_arrives() {
    let over = br#"{"return": {"status": "running", "pad": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}"#;
    for split in 0..=over.len() + 2 {
        let mut stream = over.to_vec();
        stream.extend_from_slice(b"\r\n{}");
        let (head, tail) = stream.split_at(split);
        let got = decode(64, &[head, tail]);
        assert_eq!(
            got.first(),
            Some(&Err("JSON token size limit exceeded".to_owned())),
            "split at {split}: {got:?}"
        );
        assert_eq!(
            got.last(),
            Some(&Ok(serde_json::json!({}))),
            "split at {split}"
        );
    }
}
