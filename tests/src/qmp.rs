//! A minimal QMP client (JSON lines over a Unix socket) that shares no code with maqet.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const READ_SLICE: Duration = Duration::from_millis(50);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A raw QMP connection for tests that check QEMU itself, independent of `maqet-qmp`.
#[derive(Debug)]
pub struct QmpTestClient {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    pending: Vec<u8>,
    events: Vec<Value>,
}

impl QmpTestClient {
    /// Connects (retrying until `timeout` while QEMU creates the socket) and negotiates capabilities.
    pub fn connect(socket: &Path, timeout: Duration) -> Result<Self, String> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(stream) => break stream,
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!(
                        "cannot connect to QMP at {}: {e}",
                        socket.display()
                    ));
                }
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
        };
        stream
            .set_read_timeout(Some(READ_SLICE))
            .map_err(|e| format!("cannot set a read timeout on the QMP socket: {e}"))?;
        let writer = stream
            .try_clone()
            .map_err(|e| format!("cannot clone the QMP socket: {e}"))?;
        let mut client = Self {
            reader: BufReader::new(stream),
            writer,
            pending: Vec::new(),
            events: Vec::new(),
        };
        let greeting = client.read_message(deadline.max(Instant::now() + READ_SLICE))?;
        if greeting.get("QMP").is_none() {
            return Err(format!("expected a QMP greeting, got {greeting}"));
        }
        client.execute("qmp_capabilities", None)?;
        Ok(client)
    }

    /// Runs `command` and returns its `return` value; a QMP `error` becomes `Err`.
    ///
    /// Events that arrive meanwhile are kept for [`QmpTestClient::wait_for_event`].
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, String> {
        let mut request = json!({ "execute": command });
        if let Some(arguments) = arguments {
            request["arguments"] = arguments;
        }
        let line = format!("{request}\n");
        self.writer
            .write_all(line.as_bytes())
            .map_err(|e| format!("cannot send {command} to QMP: {e}"))?;
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            let message = self.read_message(deadline)?;
            if let Some(value) = message.get("return") {
                return Ok(value.clone());
            }
            if let Some(error) = message.get("error") {
                return Err(format!("QMP {command} failed: {error}"));
            }
            self.events.push(message);
        }
    }

    /// Returns the first event named `name` (already received or arriving within `timeout`),
    /// removing it from the kept events.
    pub fn wait_for_event(&mut self, name: &str, timeout: Duration) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(index) = self.events.iter().position(|e| e["event"] == name) {
                return Ok(self.events.remove(index));
            }
            let message = self
                .read_message(deadline)
                .map_err(|e| format!("waiting for event {name}: {e}"))?;
            self.events.push(message);
        }
    }

    /// Events received so far and not yet taken by [`QmpTestClient::wait_for_event`].
    pub fn events(&self) -> &[Value] {
        &self.events
    }

    /// Reads one JSON line, giving up at `deadline` or when QEMU closes the socket.
    fn read_message(&mut self, deadline: Instant) -> Result<Value, String> {
        loop {
            match self.reader.read_until(b'\n', &mut self.pending) {
                Ok(0) => return Err("QMP connection closed by QEMU".to_owned()),
                Ok(_) if self.pending.ends_with(b"\n") => {
                    let line = std::mem::take(&mut self.pending);
                    return serde_json::from_slice(&line).map_err(|e| {
                        format!(
                            "QMP sent invalid JSON {:?}: {e}",
                            String::from_utf8_lossy(&line)
                        )
                    });
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if Instant::now() >= deadline {
                        return Err("timed out waiting for QMP".to_owned());
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("cannot read from QMP: {e}")),
            }
        }
    }
}
