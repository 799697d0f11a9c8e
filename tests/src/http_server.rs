//! A tiny HTTP/1.1 file server on loopback for the image-download tests: serves files from
//! disk or memory, honours `Range: bytes=N-`, answers 404 for unknown paths, and can cut a
//! response short or stall it (stop sending, connection held open) on purpose. It records
//! each request so tests can see what was asked.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Longest a stalled response holds its connection when the server is not dropped first.
const STALL_HOLD: Duration = Duration::from_secs(300);

/// What the server serves at one path.
#[derive(Debug, Clone)]
enum Body {
    Bytes(Arc<Vec<u8>>),
    File(PathBuf),
}

/// One request the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// Request path.
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    files: HashMap<String, Body>,
    /// Path → how many body bytes the next response sends before closing the connection.
    cut_next: HashMap<String, u64>,
    /// Path → how many body bytes the next response sends before going silent.
    stall_next: HashMap<String, u64>,
    log: Vec<LoggedRequest>,
}

/// The running server; dropping it stops it.
#[derive(Debug)]
pub struct TestHttpServer {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl TestHttpServer {
    /// Starts a server on an ephemeral loopback port.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("a bound address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (state2, stop2) = (state.clone(), stop.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let state = state2.clone();
                let stop = stop2.clone();
                thread::spawn(move || {
                    let _ = serve(stream, &state, &stop);
                });
            }
        });
        Self { port, state, stop }
    }

    /// The URL of `path` (which starts with `/`) on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Serves `bytes` at `path`.
    pub fn serve_bytes(&self, path: &str, bytes: Vec<u8>) {
        self.lock()
            .files
            .insert(path.to_owned(), Body::Bytes(Arc::new(bytes)));
    }

    /// Serves the file `file` (read at each request) at `path`.
    pub fn serve_file(&self, path: &str, file: impl Into<PathBuf>) {
        self.lock()
            .files
            .insert(path.to_owned(), Body::File(file.into()));
    }

    /// The next response for `path` announces its full length but closes the connection after
    /// `bytes` bytes of the body.
    pub fn cut_next_response(&self, path: &str, bytes: u64) {
        self.lock().cut_next.insert(path.to_owned(), bytes);
    }

    /// The next response for `path` announces its full length, sends `bytes` bytes of the body
    /// and then nothing more, holding the connection open until the server is dropped.
    pub fn stall_next_response(&self, path: &str, bytes: u64) {
        self.lock().stall_next.insert(path.to_owned(), bytes);
    }

    /// The requests received so far for `path`.
    pub fn requests_for(&self, path: &str) -> Vec<LoggedRequest> {
        self.lock()
            .log
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// The `Range` header of the last request for `path` (`bytes=N-` when a pull resumed).
    pub fn last_range_for(&self, path: &str) -> Option<String> {
        self.requests_for(path).last().and_then(|r| r.range.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for TestHttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>, stop: &AtomicBool) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut stream = stream;
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_owned());
        }
    }
    let (body, cut, stall) = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        state.log.push(LoggedRequest {
            path: path.clone(),
            range: range.clone(),
        });
        let cut = state.cut_next.remove(&path);
        let stall = state.stall_next.remove(&path);
        (state.files.get(&path).cloned(), cut, stall)
    };
    let Some(body) = body else {
        let text = "not found\n";
        write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        )?;
        return Ok(());
    };
    let len = match &body {
        Body::Bytes(bytes) => bytes.len() as u64,
        Body::File(path) => std::fs::metadata(path)?.len(),
    };
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<u64>().ok());
    let (status, start) = match start {
        Some(start) if start >= len => {
            write!(
                stream,
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
            return Ok(());
        }
        Some(start) => ("206 Partial Content", start),
        None => ("200 OK", 0),
    };
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\
         Accept-Ranges: bytes\r\nConnection: close\r\n",
        len - start
    );
    if start > 0 {
        head.push_str(&format!(
            "Content-Range: bytes {start}-{}/{len}\r\n",
            len - 1
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    let limit = stall.or(cut).unwrap_or(u64::MAX);
    match body {
        Body::Bytes(bytes) => {
            let end = len.min(start.saturating_add(limit)) as usize;
            stream.write_all(&bytes[start as usize..end])?;
        }
        Body::File(path) => {
            let mut file = File::open(path)?;
            file.seek(SeekFrom::Start(start))?;
            std::io::copy(&mut file.take(limit), &mut stream)?;
        }
    }
    stream.flush()?;
    if stall.is_some() {
        let since = Instant::now();
        while !stop.load(Ordering::SeqCst) && since.elapsed() < STALL_HOLD {
            thread::sleep(Duration::from_millis(20));
        }
    }
    // Closing here, short of Content-Length when cut, is the "truncated download".
    Ok(())
}
