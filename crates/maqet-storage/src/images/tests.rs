//! Unit tests of the image cache on local files, and of a download from a loopback socket that
//! goes quiet (the full download paths are tested end to end in `tests/tests/image_*.rs`).

use super::*;

#[test]
fn sources_are_urls_or_paths() {
    assert_eq!(
        ImageSource::parse("HTTPS://h/d/x.qcow2?sig=1").ok(),
        Some(ImageSource::Url("HTTPS://h/d/x.qcow2?sig=1".into()))
    );
    assert_eq!(
        ImageSource::parse("./x.img").ok(),
        Some(ImageSource::Path("./x.img".into()))
    );
    assert!(matches!(
        ImageSource::parse("ftp://h/x.img"),
        Err(ImageError::UnsupportedScheme { .. })
    ));
    let url = ImageSource::Url("https://h/d/debian.qcow2?sig=1#frag".into());
    assert_eq!(url.file_name(), "debian.qcow2");
    assert_eq!(ImageSource::Path("/a/b.img".into()).file_name(), "b.img");
}

#[test]
fn a_local_image_is_cached_once_and_a_wrong_digest_leaves_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = dir.path().join("base.img");
    std::fs::write(&source, b"image bytes").expect("write");
    let cache = ImageCache::new(dir.path().join("cache"));
    let src = ImageSource::Path(source.clone());
    let wrong = Expected::Sha256("0".repeat(64));
    let err = cache.fetch(&src, &wrong, &mut |_| {}).err();
    assert!(
        matches!(err, Some(ImageError::DigestMismatch { .. })),
        "{err:?}"
    );
    assert_eq!(cache.list().ok(), Some(ImageListing::default()));

    let first = cache
        .fetch(&src, &Expected::Any, &mut |_| {})
        .expect("fetch");
    assert!(first.fetched);
    assert_eq!(
        std::fs::read(&first.path).ok().as_deref(),
        Some(&b"image bytes"[..])
    );
    let again = cache
        .fetch(&src, &Expected::Sha256(first.digest.clone()), &mut |_| {})
        .expect("fetch again");
    assert!(!again.fetched);
    assert_eq!(again.path, first.path);

    let overlay = dir.path().join("hdd.qcow2");
    std::fs::write(&overlay, b"").expect("write");
    cache.record_user(&first.digest, &overlay).expect("record");
    assert!(matches!(
        cache.remove(&first.digest, false),
        Err(ImageError::InUse { .. })
    ));
    assert_eq!(cache.prune().ok(), Some(RemovedImages::default()));
    std::fs::remove_file(&overlay).expect("remove overlay");
    let pruned = cache.prune().expect("prune");
    assert_eq!(pruned.digests, vec![first.digest]);
}

/// A one-connection loopback server that answers with `head` (status line and headers, or
/// nothing) and `body`, then keeps the connection open and silent until the test ends.
fn silent_server(head: &'static str, body: &'static [u8]) -> (String, std::sync::mpsc::Sender<()>) {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let url = format!(
        "http://{}/quiet.img",
        listener.local_addr().expect("local address")
    );
    let (done, wait) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream.try_clone().expect("clone the socket"));
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
            line.clear();
        }
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
        let _ = stream.flush();
        let _ = wait.recv();
    });
    (url, done)
}

#[test]
fn a_download_that_goes_quiet_stops_at_the_stall_limit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = ImageCache::new(dir.path().join("cache"))
        .with_stall_timeout(std::time::Duration::from_millis(300));

    // Headers and 10 of 100 bytes, then silence: the 10 bytes stay for a resume.
    let head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
    let (url, _hold) = silent_server(head, b"0123456789");
    let started = std::time::Instant::now();
    let err = cache
        .fetch(&ImageSource::Url(url.clone()), &Expected::Any, &mut |_| {})
        .err();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    match &err {
        Some(e @ ImageError::Stalled { received: 10, .. }) => {
            let text = e.to_string();
            assert!(text.contains(&url), "{text}");
            assert!(text.contains("300ms"), "{text}");
            assert_eq!(e.kind(), crate::ErrorKind::Network);
        }
        other => panic!("expected a stall after 10 bytes, got {other:?}"),
    }
    let listing = cache.list().expect("list");
    assert!(listing.images.is_empty(), "{listing:?}");
    assert_eq!(
        listing.partial.iter().map(|p| p.size).collect::<Vec<_>>(),
        vec![10]
    );

    // A server that accepts and never answers: nothing is kept.
    let other = ImageCache::new(dir.path().join("other"))
        .with_stall_timeout(std::time::Duration::from_millis(300));
    let (url, _hold) = silent_server("", b"");
    let err = other
        .fetch(&ImageSource::Url(url), &Expected::Any, &mut |_| {})
        .err();
    assert!(
        matches!(err, Some(ImageError::Stalled { received: 0, .. })),
        "{err:?}"
    );
    assert_eq!(other.list().ok(), Some(ImageListing::default()));
}
