//! The image cache through the `maqet` CLI: `image pull` from a local HTTP server (a cache hit
//! the second time, a wrong digest, a 404, a download cut short and then resumed, a local
//! path, a SHA256SUMS file), `image ls`, `image rm`, `image prune`, and the `from:` checks of
//! `maqet add`. Nothing is downloaded from anywhere but the test's own loopback server.
//!
//! Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use maqet_tests::cli::{add, fails_with, maqet, maqet_json};
use maqet_tests::{
    MaqetHome, TestHttpServer, names_in, pseudo_random_bytes, sha256_of_bytes, sha256_of_file,
};
use serde_json::Value;

fn pull(home: &MaqetHome, args: &[&str]) -> Value {
    let mut all = vec!["image", "pull"];
    all.extend_from_slice(args);
    maqet_json(home, &all)
}

#[test]
fn pull_downloads_checks_and_caches_then_hits_the_cache() {
    let server = TestHttpServer::start();
    let data = pseudo_random_bytes(3 << 20, 1);
    let digest = sha256_of_bytes(&data);
    server.serve_bytes("/img.qcow2", data);
    let home = MaqetHome::new();
    let url = server.url("/img.qcow2");

    let first = pull(&home, &[&url, "--sha256", &digest]);
    assert_eq!(first["digest"], digest.as_str(), "{first}");
    assert_eq!(first["fetched"], true, "{first}");
    let cached = home.image_cache_dir().join("sha256").join(&digest);
    assert_eq!(first["path"], cached.to_string_lossy().as_ref(), "{first}");
    assert_eq!(sha256_of_file(&cached), digest);
    assert!(
        std::fs::metadata(&cached).unwrap().permissions().readonly(),
        "cached images are read-only"
    );
    assert_eq!(
        names_in(&home.image_cache_dir().join("tmp")),
        Vec::<String>::new()
    );

    // Again, with the digest and without: no new request reaches the server.
    let second = pull(&home, &[&url, "--sha256", &digest]);
    assert_eq!(second["fetched"], false, "{second}");
    let third = pull(&home, &[&url]);
    assert_eq!(third["fetched"], false, "{third}");
    assert_eq!(third["digest"], digest.as_str());
    assert_eq!(server.requests_for("/img.qcow2").len(), 1);
}

#[test]
fn a_wrong_digest_is_refused_and_leaves_nothing() {
    let server = TestHttpServer::start();
    server.serve_bytes("/img.qcow2", pseudo_random_bytes(1 << 20, 2));
    let home = MaqetHome::new();
    let wrong = "0".repeat(64);
    let err = fails_with(
        &home,
        &[
            "image",
            "pull",
            &server.url("/img.qcow2"),
            "--sha256",
            &wrong,
        ],
        1,
    );
    assert!(err.contains(&format!("not the expected {wrong}")), "{err}");
    assert_eq!(
        names_in(&home.image_cache_dir().join("sha256")),
        Vec::<String>::new()
    );
    assert_eq!(
        names_in(&home.image_cache_dir().join("tmp")),
        Vec::<String>::new()
    );

    let err = fails_with(
        &home,
        &[
            "image",
            "pull",
            &server.url("/img.qcow2"),
            "--sha256",
            "abc",
        ],
        3,
    );
    assert!(err.contains("is not a SHA-256 digest"), "{err}");
}

#[test]
fn a_missing_url_is_a_clear_not_found() {
    let server = TestHttpServer::start();
    let home = MaqetHome::new();
    let url = server.url("/nothing.qcow2");
    let err = fails_with(&home, &["image", "pull", &url], 3);
    assert!(
        err.contains(&format!("{url} was not found on the server (HTTP 404)")),
        "{err}"
    );
    assert_eq!(
        names_in(&home.image_cache_dir().join("sha256")),
        Vec::<String>::new()
    );
    assert_eq!(
        names_in(&home.image_cache_dir().join("tmp")),
        Vec::<String>::new()
    );
}

#[test]
fn a_cut_download_is_reported_and_the_next_pull_resumes_it() {
    let server = TestHttpServer::start();
    let data = pseudo_random_bytes(4 << 20, 3);
    let total = data.len();
    let digest = sha256_of_bytes(&data);
    server.serve_bytes("/img.qcow2", data);
    server.cut_next_response("/img.qcow2", 1 << 20);
    let home = MaqetHome::new();
    let url = server.url("/img.qcow2");

    let err = fails_with(&home, &["image", "pull", &url, "--sha256", &digest], 1);
    assert!(
        err.contains(&format!("stopped after {} of {total} bytes", 1 << 20)),
        "{err}"
    );
    assert_eq!(
        names_in(&home.image_cache_dir().join("sha256")),
        Vec::<String>::new()
    );
    let listing = maqet_json(&home, &["image", "ls"]);
    assert_eq!(listing["partial"][0]["size"], 1 << 20, "{listing}");

    let done = pull(&home, &[&url, "--sha256", &digest]);
    assert_eq!(done["fetched"], true, "{done}");
    assert_eq!(done["size"], total, "{done}");
    assert_eq!(
        server.last_range_for("/img.qcow2"),
        Some(format!("bytes={}-", 1 << 20)),
        "the second pull asks only for the rest"
    );
    assert_eq!(
        names_in(&home.image_cache_dir().join("tmp")),
        Vec::<String>::new()
    );
}

#[test]
fn a_local_path_is_copied_into_the_cache() {
    let home = MaqetHome::new();
    let data = pseudo_random_bytes(2 << 20, 4);
    let digest = sha256_of_bytes(&data);
    std::fs::write(home.path().join("base.img"), &data).unwrap();
    // Relative to the current directory (the home's root).
    let pulled = pull(&home, &["base.img"]);
    assert_eq!(pulled["digest"], digest.as_str(), "{pulled}");
    assert_eq!(
        pulled["source"],
        home.path().join("base.img").to_string_lossy().as_ref()
    );
    assert!(
        home.image_cache_dir()
            .join("sha256")
            .join(&digest)
            .is_file()
    );

    let err = fails_with(&home, &["image", "pull", "missing.img"], 3);
    assert!(err.contains("missing.img does not exist"), "{err}");
}

#[test]
fn a_sha256sums_file_gives_the_digest() {
    let server = TestHttpServer::start();
    let data = pseudo_random_bytes(1 << 20, 5);
    let digest = sha256_of_bytes(&data);
    server.serve_bytes("/images/disk.qcow2", data);
    server.serve_bytes(
        "/images/SHA256SUMS",
        format!("{}  other.qcow2\n{digest}  disk.qcow2\n", "1".repeat(64)).into_bytes(),
    );
    server.serve_bytes(
        "/images/BADSUMS",
        format!("{}  disk.qcow2\n", "2".repeat(64)).into_bytes(),
    );
    let home = MaqetHome::new();
    let url = server.url("/images/disk.qcow2");

    let err = fails_with(
        &home,
        &[
            "image",
            "pull",
            &server.url("/images/disk.qcow2"),
            "--checksums",
            &server.url("/images/OTHERSUMS"),
        ],
        3,
    );
    assert!(err.contains("was not found on the server"), "{err}");
    let err = fails_with(
        &home,
        &[
            "image",
            "pull",
            &url,
            "--checksums",
            &server.url("/images/BADSUMS"),
        ],
        1,
    );
    assert!(err.contains("not the expected"), "{err}");

    let pulled = pull(
        &home,
        &[&url, "--checksums", &server.url("/images/SHA256SUMS")],
    );
    assert_eq!(pulled["digest"], digest.as_str(), "{pulled}");

    server.serve_bytes("/images/EMPTYSUMS", b"\n".to_vec());
    let home = MaqetHome::new();
    let err = fails_with(
        &home,
        &[
            "image",
            "pull",
            &url,
            "--checksums",
            &server.url("/images/EMPTYSUMS"),
        ],
        1,
    );
    assert!(
        err.contains("lists no SHA-256 digest for `disk.qcow2`"),
        "{err}"
    );
}

#[test]
fn ls_rm_and_prune_manage_the_cache() {
    let server = TestHttpServer::start();
    let (a, b) = (
        pseudo_random_bytes(1 << 20, 6),
        pseudo_random_bytes(1 << 20, 7),
    );
    let (da, db) = (sha256_of_bytes(&a), sha256_of_bytes(&b));
    server.serve_bytes("/a.qcow2", a);
    server.serve_bytes("/b.qcow2", b);
    server.serve_bytes("/c.qcow2", pseudo_random_bytes(2 << 20, 8));
    let home = MaqetHome::new();
    pull(&home, &[&server.url("/a.qcow2")]);
    pull(&home, &[&server.url("/b.qcow2")]);
    server.cut_next_response("/c.qcow2", 4096);
    let out = maqet(&home, &["image", "pull", &server.url("/c.qcow2")]);
    assert!(!out.status.success());

    let listing = maqet_json(&home, &["image", "ls"]);
    let digests: Vec<&str> = listing["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["digest"].as_str().unwrap())
        .collect();
    let mut expected = vec![da.as_str(), db.as_str()];
    expected.sort();
    assert_eq!(digests, expected, "{listing}");
    assert_eq!(listing["partial"].as_array().unwrap().len(), 1, "{listing}");

    // By digest prefix, then by source.
    let removed = maqet_json(&home, &["image", "rm", &da[..12]]);
    assert_eq!(removed["digests"][0], da.as_str(), "{removed}");
    let err = fails_with(&home, &["image", "rm", &da[..12]], 3);
    assert!(err.contains("no cached image matches"), "{err}");
    let removed = maqet_json(&home, &["image", "rm", &server.url("/b.qcow2")]);
    assert_eq!(removed["digests"][0], db.as_str(), "{removed}");

    pull(&home, &[&server.url("/a.qcow2")]);
    let pruned = maqet_json(&home, &["image", "prune"]);
    assert_eq!(pruned["digests"][0], da.as_str(), "{pruned}");
    assert_eq!(pruned["partial"].as_array().unwrap().len(), 1, "{pruned}");
    let listing = maqet_json(&home, &["image", "ls"]);
    assert_eq!(listing["images"], serde_json::json!([]), "{listing}");
    assert_eq!(listing["partial"], serde_json::json!([]), "{listing}");
}

#[test]
fn from_needs_a_checked_qcow2_disk() {
    let home = MaqetHome::new();
    let base = "name: v\nbinary: qemu-system-x86_64\naccel: tcg\ndisplay: none\nstorage:\n";
    let cases = [
        (
            "  - {name: hdd, from: 'https://example.invalid/d.qcow2'}\n",
            "storage[0].from",
            "add `sha256:`",
        ),
        (
            "  - {name: hdd, type: raw, from: ./d.img}\n",
            "storage[0].from",
            "needs `type: qcow2`",
        ),
        (
            "  - {name: hdd, from: ./d.img, backing_file: ./e.img}\n",
            "storage[0].from",
            "keep one",
        ),
        (
            "  - {name: hdd, sha256: abc}\n",
            "storage[0].sha256",
            "add `from:`",
        ),
        (
            "  - {name: hdd, from: ./d.img, sha256: abc}\n",
            "storage[0].sha256",
            "is not a SHA-256 digest",
        ),
        (
            "  - {name: hdd, from: 'ftp://example.invalid/d.img', sha256: abc}\n",
            "storage[0].from",
            "only http:// and https://",
        ),
    ];
    for (drive, place, text) in cases {
        let config = home.write_config("v", &format!("{base}{drive}"));
        let err = fails_with(&home, &["add", config.to_str().unwrap()], 3);
        assert!(err.contains(place) && err.contains(text), "{drive}: {err}");
    }
    // A local source is fine without a digest.
    std::fs::write(home.configs_dir().join("d.img"), b"x").unwrap();
    add(
        &home,
        "v",
        &format!("{base}  - {{name: hdd, from: ./d.img}}\n"),
    );
}

/// A 1 MiB tmpfs mounted on a directory until dropped (needs root, as CI has).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path) -> Self {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        assert!(
            root,
            "simulating a full disk needs root to mount a tmpfs; run the tests as root, as CI does"
        );
        std::fs::create_dir_all(dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs"])
            .arg(dir)
            .status();
        assert!(
            matches!(status, Ok(s) if s.success()),
            "could not mount a tmpfs on {} ({status:?})",
            dir.display()
        );
        Self(dir.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_reported_and_the_partial_file_removed() {
    let server = TestHttpServer::start();
    server.serve_bytes("/big.qcow2", pseudo_random_bytes(3 << 20, 9));
    let home = MaqetHome::new();
    let _disk = SmallDisk::mount(&home.path().join("xdg/cache"));
    let err = fails_with(&home, &["image", "pull", &server.url("/big.qcow2")], 1);
    assert!(err.contains("no space left on the device holding"), "{err}");
    assert_eq!(
        names_in(&home.image_cache_dir().join("tmp")),
        Vec::<String>::new()
    );
    assert_eq!(
        names_in(&home.image_cache_dir().join("sha256")),
        Vec::<String>::new()
    );
}
