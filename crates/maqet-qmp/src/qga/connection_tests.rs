//! [`AgentConnection`] against a scripted fake agent on a Unix socket (protocol only).

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::framing::MAX_REPLY_BYTES;
use super::{AgentConnection, AgentError};

/// Reads requests (skipping `0xFF` bytes) and answers each with `answer(request)`: bytes to
/// send back, or nothing (an agent that is not listening).
async fn fake_agent(stream: UnixStream, mut answer: impl FnMut(&Value) -> Option<Vec<u8>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).split(b'\n');
    while let Ok(Some(line)) = lines.next_segment().await {
        let text: Vec<u8> = line.into_iter().filter(|b| *b != 0xFF).collect();
        let Ok(request) = serde_json::from_slice::<Value>(&text) else {
            continue;
        };
        if let Some(bytes) = answer(&request)
            && write.write_all(&bytes).await.is_err()
        {
            return;
        }
    }
}

fn sync_reply(request: &Value) -> Vec<u8> {
    let id = &request["arguments"]["id"];
    let mut bytes = vec![0xFF];
    bytes.extend(json!({"return": id}).to_string().into_bytes());
    bytes.push(b'\n');
    bytes
}

async fn connected(
    answer: impl FnMut(&Value) -> Option<Vec<u8>> + Send + 'static,
) -> (AgentConnection, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qga.sock");
    let listener = UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        fake_agent(stream, answer).await;
    });
    (AgentConnection::connect(&path).await.unwrap(), dir)
}

#[tokio::test]
async fn commands_wait_for_a_sync_and_late_replies_are_dropped() {
    let mut syncs = 0;
    let (mut conn, _dir) = connected(move |request| match request["execute"].as_str() {
        Some("guest-sync-delimited") => {
            syncs += 1;
            match syncs {
                // The agent is not running yet: no answer at all.
                1 => None,
                // A late reply to something earlier comes before the delimiter.
                _ => {
                    let mut bytes = b"{\"return\": \"stale\"}\n".to_vec();
                    bytes.extend(sync_reply(request));
                    Some(bytes)
                }
            }
        }
        Some("guest-ping") => Some(b"{\"return\": {}}".to_vec()),
        Some("guest-info") => Some(b"{\"return\": {\"version\": \"7.2\"}}\n".to_vec()),
        _ => Some(b"{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"no\"}}\n".to_vec()),
    })
    .await;
    let err = conn
        .execute("guest-ping", None, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(!conn.is_synced());
    assert_eq!(
        conn.execute("guest-ping", None, Duration::from_secs(5))
            .await
            .unwrap(),
        json!({})
    );
    assert!(conn.is_synced());
    // Synced: the next command goes straight out.
    assert_eq!(
        conn.execute("guest-info", None, Duration::from_secs(5))
            .await
            .unwrap(),
        json!({"version": "7.2"})
    );
    let err = conn
        .execute("guest-bogus", None, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AgentError::Command { class, .. } if class == "CommandNotFound"),
        "{err}"
    );
}

#[tokio::test]
async fn a_command_without_a_success_reply_is_accepted_after_the_grace_time() {
    let (mut conn, _dir) = connected(|request| match request["execute"].as_str() {
        Some("guest-sync-delimited") => Some(sync_reply(request)),
        _ => None,
    })
    .await;
    conn.execute_no_reply(
        "guest-shutdown",
        None,
        Duration::from_secs(5),
        Duration::from_millis(100),
    )
    .await
    .unwrap();
    assert!(!conn.is_synced(), "the next command must resync");
}

/// A fake agent that answers syncs properly and `guest-ping` with `{}`, and every other
/// command with `hostile(request)`.
async fn hostile_after_sync(
    hostile: impl Fn(&Value) -> Option<Vec<u8>> + Send + 'static,
) -> (AgentConnection, tempfile::TempDir) {
    connected(move |request| match request["execute"].as_str() {
        Some("guest-sync-delimited") => Some(sync_reply(request)),
        Some("guest-ping") => Some(b"{\"return\": {}}\n".to_vec()),
        _ => hostile(request),
    })
    .await
}

fn unterminated(len: usize) -> Vec<u8> {
    let mut bytes = b"{\"return\": \"".to_vec();
    bytes.resize(bytes.len() + len, b'A');
    bytes
}

#[tokio::test]
async fn a_reply_past_the_cap_fails_at_once_and_the_next_command_resyncs() {
    let (mut conn, _dir) = hostile_after_sync(|_| Some(unterminated(MAX_REPLY_BYTES + 4096))).await;
    let started = std::time::Instant::now();
    let err = conn
        .execute("guest-info", None, Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AgentError::ReplyTooLarge { command, .. } if command == "guest-info"),
        "{err}"
    );
    assert!(err.to_string().contains("48 MiB"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "failed at the cap, not the deadline"
    );
    assert!(conn.buffered() <= 64 * 1024, "dropped: {}", conn.buffered());
    // The rest of the unterminated reply is skipped; the agent then answers the resync.
    assert_eq!(
        conn.execute("guest-ping", None, Duration::from_secs(10))
            .await
            .unwrap(),
        json!({})
    );
}

#[tokio::test]
async fn a_flood_without_objects_is_a_clear_error_at_the_deadline_and_holds_nothing() {
    let (mut conn, _dir) = hostile_after_sync(|_| Some(vec![b'A'; 8 << 20])).await;
    let err = conn
        .execute("guest-exec", None, Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::NoValidAnswer { .. }), "{err}");
    assert!(err.is_timeout());
    let text = err.to_string();
    assert!(
        text.contains("guest-exec") && text.contains("but not the answer"),
        "{text}"
    );
    assert!(conn.buffered() <= 64 * 1024, "held {}", conn.buffered());
}

#[tokio::test]
async fn unsolicited_replies_are_counted_in_the_error() {
    let (mut conn, _dir) =
        hostile_after_sync(|_| Some(b"{\"event\": \"x\"}\n".repeat(10_000))).await;
    let err = conn
        .execute("guest-exec", None, Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("10000 replies to nothing"),
        "{err}"
    );
}

#[tokio::test]
async fn a_sync_answered_with_a_wrong_id_says_so() {
    let (mut conn, _dir) = connected(|request| {
        let id = request["arguments"]["id"].as_u64()? + 1_000_000_000;
        let mut bytes = vec![0xFF];
        bytes.extend(json!({"return": id}).to_string().into_bytes());
        Some(bytes)
    })
    .await;
    let started = std::time::Instant::now();
    let err = conn
        .execute("guest-ping", None, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    let text = err.to_string();
    assert!(
        text.contains("answered the resync") && text.contains("guest-ping"),
        "{text}"
    );
}

#[tokio::test]
async fn silence_is_a_plain_timeout() {
    let (mut conn, _dir) = hostile_after_sync(|_| None).await;
    let err = conn
        .execute("guest-exec", None, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::Timeout { .. }), "{err}");
}

#[tokio::test]
async fn a_half_read_reply_is_freed_at_the_deadline() {
    let (mut conn, _dir) = hostile_after_sync(|_| Some(unterminated(8 << 20))).await;
    let err = conn
        .execute("guest-exec", None, Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(conn.buffered(), 0, "nothing kept after the deadline");
}

#[tokio::test]
async fn garbage_before_the_delimiter_is_dropped_unread() {
    let (mut conn, _dir) = connected(|request| match request["execute"].as_str() {
        Some("guest-sync-delimited") => {
            let mut bytes = unterminated(MAX_REPLY_BYTES * 2);
            bytes.extend(b"}garbage{{{\n");
            bytes.extend(sync_reply(request));
            Some(bytes)
        }
        _ => Some(b"{\"return\": {}}\n".to_vec()),
    })
    .await;
    assert_eq!(
        conn.execute("guest-ping", None, Duration::from_secs(30))
            .await
            .unwrap(),
        json!({})
    );
    assert!(conn.buffered() <= 64 * 1024);
}
