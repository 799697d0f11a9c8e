//! Decoder cases; the expected error texts are what QEMU 7.2 answered to the same bytes.

use serde_json::{Value, json};

use super::*;

fn decode_all(decoder: &mut JsonDecoder) -> Vec<Result<Value, String>> {
    std::iter::from_fn(|| decoder.next_message())
        .map(|r| {
            r.map_err(|e| match e {
                WireError::Json { desc } => desc,
                other => other.to_string(),
            })
        })
        .collect()
}

fn decode(input: &[u8]) -> Vec<Result<Value, String>> {
    let mut decoder = JsonDecoder::new();
    decoder.push(input);
    decode_all(&mut decoder)
}

fn err(desc: &str) -> Result<Value, String> {
    Err(desc.to_owned())
}

#[test]
fn objects_need_no_newline_and_may_share_a_read() {
    assert_eq!(
        decode(br#"{"execute":"qmp_capabilities"}{"execute":"query-status","id":7}"#),
        vec![
            Ok(json!({"execute": "qmp_capabilities"})),
            Ok(json!({"execute": "query-status", "id": 7}))
        ]
    );
}

#[test]
fn whitespace_and_crlf_anywhere_between_tokens() {
    assert_eq!(
        decode(b"\r\n  {\r\n\"a\"\t:\n[ 1 ,\r\n2 ]\r\n}\r\n\r\n"),
        vec![Ok(json!({"a": [1, 2]}))]
    );
}

#[test]
fn every_split_point_gives_the_same_messages() {
    let input =
        br#"{"execute": "x", "id": "a\"}"} {'execute':'y','arguments':{"k":[1.5e3,-2,true,null]}}"#;
    let whole = decode(input);
    assert_eq!(whole.len(), 2);
    for cut in 0..=input.len() {
        let mut decoder = JsonDecoder::new();
        decoder.push(&input[..cut]);
        let mut got = decode_all(&mut decoder);
        decoder.push(&input[cut..]);
        got.extend(decode_all(&mut decoder));
        assert_eq!(got, whole, "split at byte {cut}");
    }
}

#[test]
fn malformed_input_gets_qemus_words_and_decoding_goes_on() {
    let got = decode(
        b"nonsense {\"a\" 1} } {\"a\":1] @@ {\"a\":1,\"a\":2} 01 {1:2} \"\\q\" [1 2] {\"ok\":1}",
    );
    assert_eq!(
        got,
        vec![
            err("JSON parse error, invalid keyword 'nonsense'"),
            err("JSON parse error, missing : in object pair"),
            err("JSON parse error, expecting value"),
            err("JSON parse error, expected separator in dict"),
            err("JSON parse error, stray '@'"),
            err("JSON parse error, duplicate key"),
            err("JSON parse error, stray '01'"),
            err("JSON parse error, key is not a string in object"),
            err("JSON parse error, invalid escape sequence in string"),
            err("JSON parse error, expected separator in list"),
            Ok(json!({"ok": 1})),
        ]
    );
}

#[test]
fn a_control_byte_in_a_string_is_a_stray_and_recovery_resumes_at_structure() {
    let got = decode(b"{\"id\":\"a\x01b\"}{\"ok\":2}");
    assert_eq!(
        got,
        vec![
            err("JSON parse error, stray '\"a\u{1}'"),
            err("JSON parse error, expecting value"),
            Ok(json!({"ok": 2}))
        ]
    );
}

#[test]
fn scalars_are_messages_too() {
    assert_eq!(
        decode(b"[1] 1 \"s\" true "),
        vec![
            Ok(json!([1])),
            Ok(json!(1)),
            Ok(json!("s")),
            Ok(json!(true))
        ]
    );
}

#[test]
fn a_keyword_split_across_reads_is_joined() {
    let mut decoder = JsonDecoder::new();
    decoder.push(b"tru");
    assert!(decode_all(&mut decoder).is_empty());
    decoder.push(b"e ");
    assert_eq!(decode_all(&mut decoder), vec![Ok(json!(true))]);
}

#[test]
fn an_overlong_message_is_refused_and_the_next_one_still_arrives() {
    let mut decoder = JsonDecoder::with_max_len(64);
    let long = format!("{{\"a\":[{}]}}", "1,".repeat(40) + "1");
    decoder.push(long.as_bytes());
    let got = decode_all(&mut decoder);
    assert_eq!(got[0], err("JSON token size limit exceeded"));
    decoder.push(b" {\"ok\":3}");
    let mut rest = decode_all(&mut decoder);
    assert_eq!(rest.pop(), Some(Ok(json!({"ok": 3}))));
}

#[test]
fn an_overlong_string_token_is_refused() {
    let mut decoder = JsonDecoder::with_max_len(16);
    decoder.push(format!("\"{}\"", "x".repeat(100)).as_bytes());
    let got = decode_all(&mut decoder);
    assert_eq!(got[0], err("JSON token size limit exceeded"));
}

#[test]
fn nesting_deeper_than_qemus_limit_is_refused() {
    let deep = "[".repeat(1100);
    let got = decode(deep.as_bytes());
    assert_eq!(got, vec![err("JSON nesting depth limit exceeded")]);
}

#[test]
fn many_small_pushes_keep_the_buffer_compact() {
    let mut decoder = JsonDecoder::new();
    for i in 0..1000 {
        decoder.push(format!("{{\"n\":{i}}}").as_bytes());
        assert_eq!(decode_all(&mut decoder), vec![Ok(json!({"n": i}))]);
    }
    assert_eq!(decoder.pending_len(), 0);
    assert!(decoder.input.len() < 64);
}

#[tokio::test]
async fn message_reader_returns_none_at_end_of_stream() {
    let data: &[u8] = b"{\"a\":1}{\"b\":";
    let mut reader = MessageReader::new(data);
    assert_eq!(
        reader.next_message().await.unwrap().unwrap().unwrap(),
        json!({"a": 1})
    );
    assert!(reader.next_message().await.unwrap().is_none());
}
