//! Inputs found by the `qmp_decode` fuzz target (`fuzz/`), kept so the bugs stay fixed.

use maqet_qmp::wire::{LineDecoder, ServerMessage};

/// Every line (or error text) the decoder yields after each push of `chunks`.
fn decode(max_len: usize, chunks: &[&[u8]]) -> Vec<Result<Vec<u8>, String>> {
    let mut decoder = LineDecoder::with_max_len(max_len);
    let mut out = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        while let Some(line) = decoder.next_line() {
            out.push(line.map_err(|e| e.to_string()));
        }
    }
    out
}

/// A 64-byte QMP reply: exactly the limit used below.
const REPLY_AT_LIMIT: &[u8] =
    br#"{"return": {"status": "running", "pad": "xxxxxxxxxxxxxxxxxxxx"}}"#;

#[test]
fn a_line_of_exactly_the_limit_is_accepted_when_a_read_ends_between_cr_and_lf() {
    assert_eq!(REPLY_AT_LIMIT.len(), 64);
    let mut with_cr = REPLY_AT_LIMIT.to_vec();
    with_cr.push(b'\r');
    // The peer's "\r\n" arrives in two reads: the decoder must wait for the "\n", not count
    // the "\r" it will strip against the limit.
    let got = decode(64, &[&with_cr, b"\n"]);
    assert_eq!(got, vec![Ok(REPLY_AT_LIMIT.to_vec())]);
    let message = ServerMessage::parse(got[0].as_ref().unwrap()).unwrap();
    assert_eq!(message.kind(), "return");
}

#[test]
fn where_reads_end_never_changes_which_lines_come_out() {
    // The minimised fuzz input: a line at the limit with CRLF between two ordinary lines.
    let mut stream = b"{\"a\":1}\r\n".to_vec();
    stream.extend_from_slice(REPLY_AT_LIMIT);
    stream.extend_from_slice(b"\r\n{\"b\":2}\n");
    let whole = decode(64, &[&stream]);
    assert_eq!(whole.len(), 3, "{whole:?}");
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
fn a_line_one_byte_over_the_limit_is_still_rejected_however_it_arrives() {
    let mut over = REPLY_AT_LIMIT.to_vec();
    over.insert(1, b' ');
    for split in 0..=over.len() + 2 {
        let mut stream = over.clone();
        stream.extend_from_slice(b"\r\n{}\n");
        let (head, tail) = stream.split_at(split);
        let got = decode(64, &[head, tail]);
        assert_eq!(got.len(), 2, "split at {split}: {got:?}");
        assert!(
            got[0]
                .as_ref()
                .unwrap_err()
                .contains("longer than 64 bytes"),
            "split at {split}: {got:?}"
        );
        assert_eq!(got[1], Ok(b"{}".to_vec()), "split at {split}");
    }
}
