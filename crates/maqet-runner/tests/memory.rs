//! Runner memory with a running VM (run by hand: `cargo test --release -p maqet-runner --test
//! memory -- --ignored --nocapture`); the target is at most 4 MiB PSS per runner.

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
    drop(client);
    let opts = maqet_runner::StopOptions {
        force: true,
        timeout: Duration::from_secs(5),
    };
    maqet_runner::stop(&started.qmp_socket, &started.qemu, Some(&started.runner), &opts, &mut |_| {}).unwrap();
    if !cfg!(debug_assertions) {
        assert!(pss <= 4 * 1024, "runner PSS {pss} KiB is over the 4 MiB target");
    }
}
