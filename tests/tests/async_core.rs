//! The Rust API from async code: one `Maqet` cloned into tokio tasks on a multi-thread runtime
//! adds, starts, queries and stops VMs with `.await`, without a panic and without blocking the
//! runtime; `.send()` works on plain, `spawn_blocking` and worker threads; hooks are per call.

// Test helpers outside #[test] functions: a failure is the test's failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use maqet_core::{ConfigKeySetters, Maqet, MaqetError, VmStatus};
use maqet_tests::{MaqetHome, guest_config_yaml, maqet_runner_binary, qemu_pids_mentioning};

/// `Maqet` goes into `Arc`s, tasks and web servers' state; its builders' futures into
/// `tokio::spawn`. Checked by the compiler: this test fails to build when either stops holding.
const _: () = {
    const fn clone_send_sync<T: Clone + Send + Sync + 'static>() {}
    clone_send_sync::<Maqet>();
};

fn send<T: Send>(_: &T) {}

#[test]
fn builder_futures_are_send() {
    let home = MaqetHome::new();
    let maqet = handle(&home);
    send(&maqet.start("web").into_future());
    send(&maqet.qmp("web", "query-status").into_future());
    send(&maqet.stop("web").force(true).into_future());
    send(&maqet.add().memory("4G").cpu(2).into_future());
    send(&maqet.ls().into_future());
}

fn handle(home: &MaqetHome) -> Maqet {
    Maqet::builder()
        .data_dir(home.data_dir())
        .config_dir(home.config_dir())
        .runtime_dir(home.runtime_dir())
        .runner_path(maqet_runner_binary())
        .build()
        .unwrap()
}

/// Ticks every 20 ms until `done`; returns the longest gap between two ticks (what a task
/// waiting on this runtime would have waited beyond its time).
async fn heartbeat(done: Arc<AtomicBool>) -> Duration {
    let mut longest = Duration::ZERO;
    let mut last = Instant::now();
    while !done.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = Instant::now();
        longest = longest.max(now - last);
        last = now;
    }
    longest
}

/// One task's life of a VM: add, start, query over QMP, stop, remove.
async fn vm_life(maqet: Maqet, config: std::path::PathBuf) -> Result<String, MaqetError> {
    let vm_id = maqet.add().config(&config).await?.into_vm_id();
    let started = maqet.start(&vm_id).await?;
    assert_eq!(started.vm.status, VmStatus::Running);
    let reply = maqet.qmp(&vm_id, "query-status").await?;
    assert_eq!(reply.0["status"], "running", "{reply:?}");
    let stopped = maqet.stop(&vm_id).force(true).await?;
    assert_eq!(stopped.vm.status, VmStatus::Stopped);
    maqet.rm().vm(&vm_id).force(true).await?;
    Ok(vm_id)
}

#[test]
fn eight_tasks_share_one_handle_without_blocking_the_runtime() {
    let home = MaqetHome::new();
    let maqet = handle(&home);
    let configs: Vec<_> = (0..8)
        .map(|n| {
            let name = format!("task-{n}");
            home.write_config(&name, &guest_config_yaml(&name, ""))
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (mut ids, longest_gap) = runtime.block_on(async {
        let done = Arc::new(AtomicBool::new(false));
        let beat = tokio::spawn(heartbeat(done.clone()));
        let tasks: Vec<_> = configs
            .into_iter()
            .map(|config| tokio::spawn(vm_life(maqet.clone(), config)))
            .collect();
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(
                task.await
                    .expect("a task panicked")
                    .expect("a VM's life failed"),
            );
        }
        done.store(true, Ordering::Relaxed);
        (ids, beat.await.unwrap())
    });
    drop(runtime);

    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8, "eight distinct VMs: {ids:?}");
    // The commands ran on the blocking pool: the runtime's own tasks kept their pace.
    assert!(
        longest_gap < Duration::from_millis(500),
        "a 20 ms timer on the runtime waited {longest_gap:?} while the VMs started and stopped"
    );
    assert!(maqet.ls().send().unwrap().0.is_empty());
    assert!(qemu_pids_mentioning(home.path()).is_empty());
}

#[test]
fn send_works_on_plain_and_spawn_blocking_threads_and_inside_a_runtime() {
    let home = MaqetHome::new();
    let maqet = handle(&home);
    let cfg = home.write_config("threads", &guest_config_yaml("threads", ""));
    let vm_id = maqet.add().config(cfg).send().unwrap().into_vm_id();

    // A plain thread.
    let on_thread = maqet.clone();
    let id = vm_id.clone();
    std::thread::spawn(move || on_thread.start(&id).send().unwrap())
        .join()
        .unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // A `spawn_blocking` thread: `.send()` there runs the QMP step on maqet's own runtime.
        let m = maqet.clone();
        let id = vm_id.clone();
        let reply = tokio::task::spawn_blocking(move || m.qmp(&id, "query-status").send())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reply.0["status"], "running");
        // On a runtime worker (inside a task) `.send()` does not panic ("Cannot start a
        // runtime from within a runtime") or deadlock: it blocks in place.
        let m = maqet.clone();
        let id = vm_id.clone();
        let reply = tokio::spawn(async move { m.qmp(&id, "query-status").send() })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reply.0["status"], "running");
        maqet.stop(&vm_id).force(true).await.unwrap();
    });
    drop(runtime);
    assert_eq!(
        maqet.status(&vm_id).send().unwrap().status,
        VmStatus::Stopped
    );
}

#[test]
fn progress_hooks_belong_to_the_call() {
    let home = MaqetHome::new();
    let maqet = handle(&home);
    let cfg = home.write_config("hooked", &guest_config_yaml("hooked", ""));
    let vm_id = maqet.add().config(cfg).send().unwrap().into_vm_id();
    let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = lines.clone();
    maqet
        .start(&vm_id)
        .on_progress(move |line| seen.lock().unwrap().push(line.to_string()))
        .send()
        .unwrap();
    let got = lines.lock().unwrap().clone();
    assert!(
        got.iter().any(|l| l.contains("starting VM `hooked`")),
        "the call's hook saw {got:?}"
    );
    // A later call without a hook reports nowhere; the handle kept no hook.
    lines.lock().unwrap().clear();
    maqet.stop(&vm_id).force(true).send().unwrap();
    assert!(lines.lock().unwrap().is_empty());
}

#[test]
fn a_current_thread_runtime_awaits_and_sends_too() {
    let home = MaqetHome::new();
    let maqet = handle(&home);
    let cfg = home.write_config("single", &guest_config_yaml("single", ""));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let vm_id = maqet.add().config(cfg).await.unwrap().into_vm_id();
        maqet.start(&vm_id).await.unwrap();
        let reply = maqet.qmp(&vm_id, "query-status").await.unwrap();
        assert_eq!(reply.0["status"], "running");
        // `.send()` on the runtime's only thread blocks it for the call, but the QMP step is
        // driven by maqet's own runtime: no panic, no deadlock.
        let reply = maqet.qmp(&vm_id, "query-status").send().unwrap();
        assert_eq!(reply.0["status"], "running");
        maqet.stop(&vm_id).force(true).await.unwrap();
    });
}
