//! One [`EXEC_AND_WAIT`] request on the runner's `agent.sock` without an async runtime.
//!
//! `maqet exec` spends most of its life waiting for one reply: building a tokio runtime (and
//! its I/O thread, with a thread hand-off on each send and receive) for that is a measurable
//! part of a short command's wall time. This is the same exchange as
//! [`AgentClient::exec_and_wait`](crate::agent_client::AgentClient::exec_and_wait) on a plain
//! blocking socket, with the same bounds: the reply line is capped at [`MAX_REPLY_LINE`] bytes
//! and the whole exchange at the request's timeout plus a margin.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::agent_client::{
    AgentCallError, AgentRequest, EXEC_AND_WAIT, ExecWaitError, MAX_REPLY_LINE, REPLY_MARGIN,
    exec_wait_outcome, no_answer_within, reply_from_line,
};

/// Connects to a runner's `agent.sock`.
pub fn connect(path: &Path) -> Result<UnixStream, AgentCallError> {
    UnixStream::connect(path).map_err(|source| AgentCallError::Connect {
        path: path.to_path_buf(),
        source,
    })
}

/// Runs `arguments` with `guest-exec` and lets the runner wait for the command's end, as
/// [`AgentClient::exec_and_wait`](crate::agent_client::AgentClient::exec_and_wait) does.
pub fn exec_and_wait(
    stream: &mut UnixStream,
    arguments: Value,
    timeout: Duration,
) -> Result<Value, ExecWaitError> {
    let request = AgentRequest::new(EXEC_AND_WAIT, Some(arguments), timeout);
    exec_wait_outcome(exchange(stream, &request))
}

fn exchange(
    stream: &mut UnixStream,
    request: &AgentRequest,
) -> Result<crate::agent_client::AgentReply, AgentCallError> {
    let wait = Duration::from_millis(request.timeout_ms).saturating_add(REPLY_MARGIN);
    let deadline = Instant::now() + wait;
    let mut line =
        serde_json::to_vec(request).map_err(|e| AgentCallError::Protocol(e.to_string()))?;
    line.push(b'\n');
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| no_answer_within(wait))
    };
    stream
        .set_write_timeout(Some(left()?))
        .and_then(|()| stream.write_all(&line))
        .map_err(|e| timed_out_or_io(e, wait))?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 8192];
    while !answer.ends_with(b"\n") && answer.len() < MAX_REPLY_LINE {
        stream
            .set_read_timeout(Some(left()?))
            .map_err(AgentCallError::Io)?;
        let room = (MAX_REPLY_LINE - answer.len()).min(chunk.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(timed_out_or_io(e, wait)),
        }
    }
    // Only the first line is the reply (the runner answers in order; nothing else was asked).
    if let Some(end) = answer.iter().position(|b| *b == b'\n') {
        answer.truncate(end + 1);
    }
    let read = answer.len();
    let text = String::from_utf8(answer).map_err(|e| AgentCallError::Protocol(e.to_string()))?;
    reply_from_line(read, &text)
}

/// A read or write that ran into the socket timeout is the runner not answering in time.
fn timed_out_or_io(err: std::io::Error, wait: Duration) -> AgentCallError {
    match err.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => no_answer_within(wait),
        _ => AgentCallError::Io(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::os::unix::net::UnixListener;

    /// A fake runner that reads one request line and answers with `answer`; returns the
    /// request it read through the join handle.
    fn one_answer(answer: Vec<u8>) -> (UnixStream, std::thread::JoinHandle<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let _dir = dir;
            let (stream, _) = listener.accept().unwrap();
            let mut request = String::new();
            BufReader::new(&stream).read_line(&mut request).unwrap();
            let _ = (&stream).write_all(&answer);
            request
        });
        let client = connect(&path).unwrap();
        (client, server)
    }

    #[test]
    fn the_request_is_exec_and_wait_and_the_status_comes_back() {
        let (mut client, server) =
            one_answer(b"{\"return\":{\"exited\":true,\"exitcode\":0,\"pid\":7}}\n".to_vec());
        let status = exec_and_wait(
            &mut client,
            serde_json::json!({"path": "/bin/true"}),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(status["pid"], 7);
        let request: AgentRequest = serde_json::from_str(&server.join().unwrap()).unwrap();
        assert_eq!(request.execute, EXEC_AND_WAIT);
        assert_eq!(request.timeout_ms, 5000);
    }

    #[test]
    fn errors_name_the_agent_command_and_a_closed_runner_is_a_protocol_error() {
        let reply =
            b"{\"error\":{\"command\":\"guest-exec-status\",\"class\":\"AgentTimeout\",\"desc\":\"x\"}}\n";
        let (mut client, _server) = one_answer(reply.to_vec());
        let err = exec_and_wait(&mut client, Value::Null, Duration::from_secs(5)).unwrap_err();
        assert_eq!(err.command, "guest-exec-status");
        assert!(err.error.is_timeout(), "{:?}", err.error);

        let (mut client, _server) = one_answer(Vec::new());
        let err = exec_and_wait(&mut client, Value::Null, Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err.error, AgentCallError::Protocol(_)), "{err:?}");
    }

    #[test]
    fn a_reply_line_past_the_cap_is_refused() {
        let mut huge = b"{\"return\": \"".to_vec();
        huge.resize(MAX_REPLY_LINE + 4096, b'A');
        let (mut client, _server) = one_answer(huge);
        let err = exec_and_wait(&mut client, Value::Null, Duration::from_secs(5)).unwrap_err();
        assert!(
            matches!(&err.error, AgentCallError::Protocol(text) if text.contains("MiB")),
            "{err:?}"
        );
    }
}
