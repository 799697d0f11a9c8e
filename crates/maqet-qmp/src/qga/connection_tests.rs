//! [`AgentConnection`] against a scripted fake agent on a Unix socket (protocol only).

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

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
