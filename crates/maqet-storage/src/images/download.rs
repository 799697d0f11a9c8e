//! HTTP(S) downloads into a partial file, resuming it with a `Range` request.
//!
//! Every read waits at most the stall limit (see [`super::timeouts`]), so a server that stops
//! sending ends the download with [`ImageError::Stalled`] instead of holding it forever.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

use std::path::Path;

use super::ImageError;
use super::timeouts::CONNECT_TIMEOUT;

/// Longest a `SHA256SUMS` file may be.
pub(crate) const MAX_SUMS_BYTES: u64 = 4 << 20;

fn agent(stall: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(Duration::from_secs(60).max(stall)))
        .timeout_per_read(Some(stall))
        .user_agent(concat!("maqet/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// The error for a failed request or read: [`ImageError::Stalled`] when a read waited the whole
/// stall limit (`received` bytes are in the partial file), else [`ImageError::Network`].
fn failed(url: &str, source: ureq::Error, received: u64, stall: Duration) -> ImageError {
    if matches!(source, ureq::Error::Timeout(ureq::Timeout::PerRead)) {
        return ImageError::Stalled {
            url: url.to_owned(),
            received,
            waited: stall,
        };
    }
    network(url, source)
}

/// A body reader's error as the ureq error it wraps (a timeout), or as an I/O error; a socket
/// read timeout counts as a stall.
fn from_read(error: std::io::Error) -> ureq::Error {
    match ureq::Error::from(error) {
        ureq::Error::Io(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) =>
        {
            ureq::Error::Timeout(ureq::Timeout::PerRead)
        }
        other => other,
    }
}

fn network(url: &str, source: ureq::Error) -> ImageError {
    ImageError::Network {
        url: url.to_owned(),
        source: Box::new(source),
    }
}

fn status_error(url: &str, status: u16) -> ImageError {
    if status == 404 || status == 410 {
        ImageError::NotFoundAtUrl {
            url: url.to_owned(),
            status,
        }
    } else {
        ImageError::HttpStatus {
            url: url.to_owned(),
            status,
        }
    }
}

fn header_u64(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<u64> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// The first byte and the total of a `Content-Range: bytes A-B/T` (or `bytes */T`) header.
fn content_range(response: &ureq::http::Response<ureq::Body>) -> (Option<u64>, Option<u64>) {
    let Some(value) = response
        .headers()
        .get("content-range")
        .and_then(|v| v.to_str().ok())
    else {
        return (None, None);
    };
    let rest = value.trim().strip_prefix("bytes ").unwrap_or(value);
    let (range, total) = rest.split_once('/').unwrap_or((rest, ""));
    let start = range.split_once('-').and_then(|(a, _)| a.parse().ok());
    (start, total.parse().ok())
}

/// Downloads `url` into `part` (already open and locked), continuing after the bytes it holds
/// when the server honours `Range`, else starting over. `progress` gets (bytes, total).
/// Gives up when nothing arrives for `stall`. Returns the file's final length.
pub(crate) fn download(
    url: &str,
    part: &mut File,
    part_path: &Path,
    stall: Duration,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<u64, ImageError> {
    let agent = agent(stall);
    let mut offset = part
        .metadata()
        .map_err(|e| ImageError::io("read the size of", part_path, e))?
        .len();
    let mut tries = 0;
    let response = loop {
        tries += 1;
        let mut request = agent.get(url);
        if offset > 0 {
            request = request.header("Range", format!("bytes={offset}-"));
        }
        let response = request.call().map_err(|e| failed(url, e, offset, stall))?;
        let status = response.status().as_u16();
        match status {
            200 => {
                offset = 0;
                break response;
            }
            206 => {
                if content_range(&response).0 == Some(offset) {
                    break response;
                }
            }
            416 if offset > 0 => {
                // Nothing after `offset`: the partial file may already be whole.
                if content_range(&response).1 == Some(offset) {
                    return Ok(offset);
                }
            }
            _ => return Err(status_error(url, status)),
        }
        // A range the server did not honour as asked: start over without one.
        offset = 0;
        if tries > 1 {
            return Err(status_error(url, status));
        }
    };
    part.set_len(offset)
        .and_then(|()| part.seek(SeekFrom::Start(offset)).map(drop))
        .map_err(|e| ImageError::io("truncate", part_path, e))?;
    let total = header_u64(&response, "content-length").map(|len| len + offset);
    let mut reader = response
        .into_body()
        .into_with_config()
        .limit(u64::MAX)
        .reader();
    let mut buffer = vec![0u8; 1 << 20];
    let mut received = offset;
    progress(received, total);
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => match (from_read(e), total) {
                (ureq::Error::Timeout(timeout), _) => {
                    part.sync_all().ok();
                    return Err(failed(url, ureq::Error::Timeout(timeout), received, stall));
                }
                (_, Some(expected)) => {
                    part.sync_all().ok();
                    return Err(ImageError::Truncated {
                        url: url.to_owned(),
                        received,
                        expected,
                    });
                }
                (e, None) => return Err(network(url, e)),
            },
        };
        if n == 0 {
            break;
        }
        part.write_all(&buffer[..n])
            .map_err(|e| ImageError::io("write", part_path, e))?;
        received += n as u64;
        progress(received, total);
    }
    part.sync_all()
        .map_err(|e| ImageError::io("write", part_path, e))?;
    if let Some(expected) = total
        && received != expected
    {
        return Err(ImageError::Truncated {
            url: url.to_owned(),
            received,
            expected,
        });
    }
    Ok(received)
}

/// Fetches a small text file (a `SHA256SUMS`) over HTTP(S), giving up after `stall` of silence.
pub(crate) fn fetch_text(url: &str, stall: Duration) -> Result<String, ImageError> {
    let response = agent(stall)
        .get(url)
        .call()
        .map_err(|e| failed(url, e, 0, stall))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(status_error(url, status));
    }
    let mut bytes = Vec::new();
    response
        .into_body()
        .into_with_config()
        .limit(u64::MAX)
        .reader()
        .take(MAX_SUMS_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| failed(url, from_read(e), 0, stall))?;
    if bytes.len() as u64 > MAX_SUMS_BYTES {
        return Err(ImageError::ChecksumsTooLarge {
            checksums: url.to_owned(),
            limit: MAX_SUMS_BYTES,
        });
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
