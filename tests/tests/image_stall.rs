//! A download server that stops sending no longer holds maqet forever: `image pull` and
//! `start` (of a VM with a `from:` drive) stop after the stall limit
//! (`$MAQET_DOWNLOAD_STALL_TIMEOUT`, 1 s here) with an error naming the URL, keep only what
//! the resume logic keeps (the bytes that arrived, in `tmp/`), and the next pull resumes.
//!
//! Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;
use std::time::{Duration, Instant};

use maqet_tests::cli::{COMMAND_GUARD, add, describe, maqet_json, no_os_config};
use maqet_tests::{MaqetHome, TestHttpServer, pseudo_random_bytes, sha256_of_bytes, sizes_in};

/// The stall limit the tests give maqet.
const STALL: &str = "1s";
/// Longer than a stalled command may take: the 1 s limit plus start-up, under load.
const STALL_BOUND: Duration = Duration::from_secs(20);

/// Runs `maqet ARGS` with the short stall limit; returns its output and how long it took.
fn maqet_stalling(home: &MaqetHome, args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let out = home
        .cmd()
        .current_dir(home.path())
        .env("MAQET_DOWNLOAD_STALL_TIMEOUT", STALL)
        .args(args)
        .timeout(COMMAND_GUARD)
        .output()
        .expect("the maqet binary must run");
    (out, started.elapsed())
}

/// Asserts that a command stopped on a stall within [`STALL_BOUND`], naming `url`.
fn assert_stalled(args: &[&str], out: &Output, took: Duration, url: &str, received: u64) {
    assert_eq!(out.status.code(), Some(1), "{}", describe(args, out));
    assert!(took < STALL_BOUND, "took {took:?}: {}", describe(args, out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "error: the download of {url} stalled: nothing arrived for 1s after {received} bytes. \
         Run the same pull again to resume it, or set MAQET_DOWNLOAD_STALL_TIMEOUT"
    );
    assert!(stderr.contains(&expected), "{}", describe(args, out));
}

#[test]
fn a_stalled_pull_stops_keeps_what_arrived_and_the_next_pull_resumes() {
    let server = TestHttpServer::start();
    let data = pseudo_random_bytes(3 << 20, 1);
    let digest = sha256_of_bytes(&data);
    server.serve_bytes("/img.qcow2", data);
    server.stall_next_response("/img.qcow2", 1 << 20);
    let home = MaqetHome::new();
    let url = server.url("/img.qcow2");

    let args = ["image", "pull", &url, "--sha256", &digest];
    let (out, took) = maqet_stalling(&home, &args);
    assert_stalled(&args, &out, took, &url, 1 << 20);
    assert_eq!(
        sizes_in(&home.image_cache_dir().join("sha256")),
        Vec::<u64>::new()
    );
    assert_eq!(sizes_in(&home.image_cache_dir().join("tmp")), vec![1 << 20]);

    let done = maqet_json(&home, &["image", "pull", &url, "--sha256", &digest]);
    assert_eq!(done["fetched"], true, "{done}");
    assert_eq!(done["digest"], digest.as_str(), "{done}");
    assert_eq!(
        server.last_range_for("/img.qcow2"),
        Some(format!("bytes={}-", 1 << 20)),
        "the second pull asks only for the rest"
    );
    assert_eq!(
        sizes_in(&home.image_cache_dir().join("tmp")),
        Vec::<u64>::new()
    );
}

#[test]
fn a_server_silent_after_its_headers_leaves_nothing_in_the_cache() {
    let server = TestHttpServer::start();
    server.serve_bytes("/img.qcow2", pseudo_random_bytes(1 << 20, 1));
    server.stall_next_response("/img.qcow2", 0);
    let home = MaqetHome::new();
    let url = server.url("/img.qcow2");

    let args = ["image", "pull", &url];
    let (out, took) = maqet_stalling(&home, &args);
    assert_stalled(&args, &out, took, &url, 0);
    assert_eq!(
        sizes_in(&home.image_cache_dir().join("sha256")),
        Vec::<u64>::new()
    );
    assert_eq!(
        sizes_in(&home.image_cache_dir().join("tmp")),
        Vec::<u64>::new()
    );
}

#[test]
fn start_of_a_vm_whose_image_stalls_stops_with_the_same_error() {
    let server = TestHttpServer::start();
    let data = pseudo_random_bytes(2 << 20, 1);
    let digest = sha256_of_bytes(&data);
    server.serve_bytes("/base.qcow2", data);
    server.stall_next_response("/base.qcow2", 4096);
    let home = MaqetHome::new();
    let url = server.url("/base.qcow2");
    let storage = format!(
        "storage:\n  - {{name: hdd, type: qcow2, size: 8M, from: \"{url}\", sha256: \"{digest}\"}}\n"
    );
    add(&home, "stall-vm", &no_os_config("stall-vm", &storage));

    let args = ["start", "stall-vm"];
    let (out, took) = maqet_stalling(&home, &args);
    assert_stalled(&args, &out, took, &url, 4096);
    let status = maqet_json(&home, &["status", "stall-vm"]);
    assert_ne!(status["status"], "running", "{status}");
}

#[test]
fn a_stall_limit_that_is_not_a_duration_is_refused() {
    let server = TestHttpServer::start();
    server.serve_bytes("/img.qcow2", pseudo_random_bytes(1024, 1));
    let home = MaqetHome::new();
    let url = server.url("/img.qcow2");
    let args = ["image", "pull", &url];
    let out = home
        .cmd()
        .current_dir(home.path())
        .env("MAQET_DOWNLOAD_STALL_TIMEOUT", "soon")
        .args(args)
        .timeout(COMMAND_GUARD)
        .output()
        .expect("the maqet binary must run");
    assert_eq!(out.status.code(), Some(3), "{}", describe(&args, &out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("MAQET_DOWNLOAD_STALL_TIMEOUT is `soon`, not a wait above zero"),
        "{stderr}"
    );
    assert!(server.requests_for("/img.qcow2").is_empty());
}
