//! Runner memory with a running VM (run by hand: `cargo test --release -p maqet-runner --test
//! memory -- --ignored --nocapture`); the target is at most 4 MiB PSS per runner.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::{RawClient, TestVm};

/// `Pss:` and `Rss:` of a process in KiB, from `/proc/PID/smaps_rollup`.
fn pss_rss_kib(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("Pss:"), field("Rss:"))
}

#[test]
#[ignore = "measurement; run by hand in release mode"]
fn runner_pss_with_a_running_vm() {
    let vm = TestVm::new("memory");
    let started = vm.start();
    // Exercise the multiplexer and the event path before measuring.
    let mut client = RawClient::negotiated(&started.qmp_socket);
    for id in 0..50 {
        client.send(&format!(r#"{{"execute": "query-status", "id": {id}}}"#));
        client.read_until(|m| m.get("return").is_some());
    }
    client.send(r#"{"execute": "stop"}"#);
    client.send(r#"{"execute": "cont"}"#);
    client.read_until(|m| m["event"] == "RESUME");
    std::thread::sleep(Duration::from_millis(300));
    let (pss, rss) = pss_rss_kib(started.runner.pid);
    println!(
        "runner pid {}: PSS {pss} KiB ({:.2} MiB), RSS {rss} KiB ({:.2} MiB)",
        started.runner.pid,
        pss as f64 / 1024.0,
        rss as f64 / 1024.0
    );
    print_biggest_mappings(started.runner.pid);
    drop(client);
    let opts = maqet_runner::StopOptions {
        force: true,
        timeout: Duration::from_secs(5),
        ..Default::default()
    };
    support::stop(
        &started.qmp_socket,
        &started.qemu,
        Some(&started.runner),
        &opts,
        &mut |_| {},
    )
    .unwrap();
    if !cfg!(debug_assertions) {
        assert!(
            pss <= 4 * 1024,
            "runner PSS {pss} KiB is over the 4 MiB target"
        );
    }
}

/// The mappings with the most PSS, to see where the memory goes.
fn print_biggest_mappings(pid: u32) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut mappings: Vec<(u64, String)> = Vec::new();
    let mut name = String::new();
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            name = line
                .split_whitespace()
                .skip(5)
                .collect::<Vec<_>>()
                .join(" ");
            let range = first.to_owned();
            name = format!("{range} {name}");
        } else if let Some(rest) = line.strip_prefix("Pss:") {
            let kib = rest
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            mappings.push((kib, name.clone()));
        }
    }
    mappings.sort_by_key(|m| std::cmp::Reverse(m.0));
    for (kib, name) in mappings.iter().take(8) {
        println!("  {kib:>6} KiB  {name}");
    }
}
