//! Shared set-up for the runner tests: a temp data/runtime dir with a real state DB, the real
//! runner binary, real QEMU under TCG, and guards that kill whatever a failed test left running.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use maqet_runner::layout::VmPaths;
use maqet_runner::process::{StopSignal, is_alive, send_signal};
use maqet_runner::{LaunchSpec, Started};
use maqet_state::{NewVm, ProcessIdentity, StateDb, VmRecord};
use serde_json::Value;

/// The runner binary built with these tests.
pub fn runner_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_maqet-runner"))
}

/// A VM registered in a fresh state DB inside a temp dir.
pub struct TestVm {
    pub tmp: tempfile::TempDir,
    pub db_path: PathBuf,
    pub id: String,
    pub name: String,
    pub paths: VmPaths,
    guard: ProcessGuard,
}

impl TestVm {
    pub fn new(name: &str) -> TestVm {
        let tmp = tempfile::tempdir().expect("temp dir");
        let db_path = tmp.path().join("state.db");
        let db = StateDb::open(&db_path).expect("state db");
        let vm = db
            .insert_vm(&NewVm {
                name: name.into(),
                config: serde_json::json!({}),
                config_paths: vec![],
            })
            .expect("insert vm");
        let paths = VmPaths::new(
            tmp.path().join("run/vms").join(&vm.id),
            tmp.path().join("data/vms").join(name),
        );
        TestVm {
            db_path,
            id: vm.id,
            name: name.into(),
            paths,
            tmp,
            guard: ProcessGuard::default(),
        }
    }

    /// A launch spec for a no-OS VM (BIOS spins forever, ignores ACPI power-down).
    pub fn spec(&self, extra: &[&str]) -> LaunchSpec {
        let mut argv: Vec<String> = [
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            "-m",
            "64M",
            "-display",
            "none",
            "-nodefaults",
            "-no-user-config",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        argv.extend(extra.iter().map(|s| s.to_string()));
        argv.extend(self.paths.control_args());
        LaunchSpec {
            vm_id: self.id.clone(),
            vm_name: self.name.clone(),
            db_path: self.db_path.clone(),
            paths: self.paths.clone(),
            qemu_argv: argv,
            swtpm: false,
        }
    }

    /// Starts the VM and registers its processes for cleanup.
    pub fn start(&self) -> Started {
        let started = maqet_runner::start(&runner_exe(), &self.spec(&[]), Duration::from_secs(30))
            .unwrap_or_else(|err| panic!("start failed: {}", chain(&err)));
        self.guard(&started);
        started
    }

    pub fn guard(&self, started: &Started) {
        self.guard.add(started.qemu);
        self.guard.add(started.runner);
    }

    pub fn record(&self) -> VmRecord {
        StateDb::open(&self.db_path)
            .and_then(|db| db.get_vm(&self.id))
            .expect("vm row")
    }

    /// Waits until the DB row satisfies `check` (up to 10 s); returns the last row.
    pub fn wait_record(&self, check: impl Fn(&VmRecord) -> bool) -> VmRecord {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let record = self.record();
            if check(&record) || Instant::now() > deadline {
                return record;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Kills every registered process that is still alive (identity-checked) when dropped.
#[derive(Default)]
pub struct ProcessGuard(std::sync::Mutex<Vec<ProcessIdentity>>);

impl ProcessGuard {
    pub fn add(&self, id: ProcessIdentity) {
        self.0.lock().unwrap().push(id);
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        for id in self.0.lock().unwrap().iter() {
            let _ = send_signal(id, StopSignal::Kill);
        }
    }
}

/// Waits until `cond` holds, up to `limit`; says whether it did.
pub fn wait_for(limit: Duration, cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    cond()
}

pub fn gone(id: &ProcessIdentity) -> bool {
    !is_alive(id)
}

/// An error with all its sources.
pub fn chain(err: &dyn std::error::Error) -> String {
    maqet_error_chain::join_chain(err, "\n  caused by: ")
}

/// A raw QMP client speaking JSON lines over a std Unix socket.
pub struct RawClient {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    pub greeting: Value,
}

impl RawClient {
    /// Connects and reads the greeting (without negotiating).
    pub fn connect(path: &Path) -> RawClient {
        let stream = UnixStream::connect(path).expect("connect qmp.sock");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let writer = stream.try_clone().unwrap();
        let mut client = RawClient {
            reader: BufReader::new(stream),
            writer,
            greeting: Value::Null,
        };
        client.greeting = client.read();
        client
    }

    /// Connects and negotiates capabilities.
    pub fn negotiated(path: &Path) -> RawClient {
        let mut client = RawClient::connect(path);
        client.send(r#"{"execute": "qmp_capabilities"}"#);
        let reply = client.read();
        assert_eq!(reply, serde_json::json!({"return": {}}));
        client
    }

    pub fn send(&mut self, line: &str) {
        self.writer.write_all(line.as_bytes()).unwrap();
        self.writer.write_all(b"\n").unwrap();
    }

    pub fn read(&mut self) -> Value {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .expect("read from qmp.sock");
        assert!(n > 0, "qmp.sock closed");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad JSON {line:?}: {e}"))
    }

    /// Reads messages until one satisfies `want`, returning it (events and others are skipped).
    pub fn read_until(&mut self, want: impl Fn(&Value) -> bool) -> Value {
        loop {
            let message = self.read();
            if want(&message) {
                return message;
            }
        }
    }
}

/// [`maqet_runner::stop`] driven to its end on a runtime of its own, for these blocking tests.
pub fn stop(
    qmp_socket: &Path,
    qemu: &ProcessIdentity,
    runner: Option<&ProcessIdentity>,
    opts: &maqet_runner::StopOptions,
    on_wait: &mut dyn FnMut(&str),
) -> Result<maqet_runner::StopOutcome, maqet_runner::RunnerError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime for the stop")
        .block_on(maqet_runner::stop(qmp_socket, qemu, runner, opts, on_wait))
}
