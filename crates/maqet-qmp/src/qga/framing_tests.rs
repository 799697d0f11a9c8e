//! Unit tests of [`super::FrameBuffer`]: splitting, delimiters, and the cap on one reply.

use super::*;
use serde_json::json;

fn frames(input: &[u8]) -> Vec<Frame> {
    let mut buffer = FrameBuffer::new();
    buffer.extend(input);
    std::iter::from_fn(|| buffer.next_frame()).collect()
}

/// Feeds `input` in reads of `chunk` bytes, collecting frames as a connection would.
fn feed(buffer: &mut FrameBuffer, input: &[u8], chunk: usize, max_held: &mut usize) -> Vec<Frame> {
    let mut got = Vec::new();
    for piece in input.chunks(chunk) {
        buffer.extend(piece);
        while let Some(frame) = buffer.next_frame() {
            got.push(frame);
        }
        *max_held = (*max_held).max(buffer.buffered());
    }
    got
}

#[test]
fn objects_split_by_structure_with_or_without_newlines() {
    let got =
        frames(b"{\"return\": {}}{\"return\": \"a}b{\\\"\"}\n{\"return\": [1, {\"x\": 2}]}\n");
    assert_eq!(
        got,
        vec![
            Frame::Object(json!({"return": {}})),
            Frame::Object(json!({"return": "a}b{\""})),
            Frame::Object(json!({"return": [1, {"x": 2}]})),
        ]
    );
}

#[test]
fn the_delimiter_is_a_frame_and_garbage_is_skipped_and_counted() {
    let mut buffer = FrameBuffer::new();
    buffer.extend(b"garbage\n\xff{\"return\": 42}\n");
    let got: Vec<Frame> = std::iter::from_fn(|| buffer.next_frame()).collect();
    assert_eq!(
        got,
        vec![Frame::Delimiter, Frame::Object(json!({"return": 42}))]
    );
    assert_eq!(buffer.take_dropped(), 7, "`garbage`, not the newlines");
    assert_eq!(buffer.take_dropped(), 0);
}

#[test]
fn a_torn_object_ends_at_the_delimiter() {
    let got = frames(b"{\"return\": \"half\xff{\"return\": 7}");
    assert!(matches!(got[0], Frame::Invalid(_)), "{got:?}");
    assert_eq!(
        got[1..],
        [Frame::Delimiter, Frame::Object(json!({"return": 7}))]
    );
}

#[test]
fn incomplete_objects_wait_for_more_bytes() {
    let mut buffer = FrameBuffer::new();
    buffer.extend(b"{\"return\": {\"a\"");
    assert_eq!(buffer.next_frame(), None);
    buffer.extend(b": 1}}");
    assert_eq!(
        buffer.next_frame(),
        Some(Frame::Object(json!({"return": {"a": 1}})))
    );
}

#[test]
fn an_unterminated_reply_stops_at_the_limit_and_the_rest_is_skipped_to_the_delimiter() {
    let mut buffer = FrameBuffer::with_limit(1000);
    let mut input = b"{\"return\": \"".to_vec();
    input.extend(std::iter::repeat_n(b'A', 50_000));
    input.extend(b"\"}\n{\"return\": \"late\"}\n\xff{\"return\": 5}\n");
    let mut held = 0;
    let got = feed(&mut buffer, &input, 64, &mut held);
    assert_eq!(
        got,
        vec![
            Frame::TooLarge,
            Frame::Delimiter,
            Frame::Object(json!({"return": 5}))
        ],
        "the rest of the big reply and the late one are dropped"
    );
    assert!(held <= 1000 + 64, "held {held} bytes");
    assert!(buffer.take_dropped() > 50_000);
}

#[test]
fn a_complete_object_over_the_limit_is_too_large() {
    let mut buffer = FrameBuffer::with_limit(100);
    let mut input = b"{\"return\": \"".to_vec();
    input.extend([b'B'; 200]);
    input.extend(b"\"}\xff{\"return\": 1}");
    buffer.extend(&input);
    assert_eq!(buffer.next_frame(), Some(Frame::TooLarge));
    assert!(buffer.is_skipping());
    // The delimiter in the same read was dropped with the rest: only a new one ends the skip.
    assert_eq!(buffer.next_frame(), None);
    buffer.extend(b"\xff{\"return\": 2}");
    assert_eq!(buffer.next_frame(), Some(Frame::Delimiter));
    assert_eq!(
        buffer.next_frame(),
        Some(Frame::Object(json!({"return": 2})))
    );
}

#[test]
fn bytes_without_objects_are_never_held() {
    let mut buffer = FrameBuffer::with_limit(1000);
    let flood = vec![b'A'; 100_000];
    let mut held = 0;
    let got = feed(&mut buffer, &flood, 4096, &mut held);
    assert!(got.is_empty());
    assert!(held <= 4096, "held {held}");
    assert_eq!(buffer.take_dropped(), 100_000);
}

#[test]
fn a_buffer_grown_for_a_large_reply_is_given_back() {
    let mut buffer = FrameBuffer::new();
    let mut reply = b"{\"return\": \"".to_vec();
    reply.extend(std::iter::repeat_n(b'C', 3 * IDLE_CAPACITY));
    reply.extend(b"\"}");
    let mut held = 0;
    let got = feed(&mut buffer, &reply, 64 * 1024, &mut held);
    assert!(matches!(&got[..], [Frame::Object(_)]), "one reply");
    assert!(
        buffer.capacity() <= IDLE_CAPACITY,
        "capacity {} after the reply",
        buffer.capacity()
    );
}

#[test]
fn the_cap_fits_the_largest_reply_of_a_working_agent() {
    // guest-exec-status with both streams at qemu-ga's 16 MiB limit, base64.
    let stream = (16usize << 20).div_ceil(3) * 4;
    assert!(2 * stream + 1024 < MAX_REPLY_BYTES);
}
