//! A libvirtd (and virtlogd) started for the tests, configured so QEMU runs in a container.
//!
//! [`libvirtd`] starts the daemons on first use, appending to `/etc/libvirt/qemu.conf`: QEMU
//! runs as root, with no cgroup controllers, no namespaces and no security driver. The last
//! [`Libvirtd`] handle dropped stops the daemons it started and puts `qemu.conf` back byte for
//! byte. Needs root and Debian's `libvirt-daemon-system` (installed by `scripts/setup.sh`); a
//! libvirtd that is already running is refused rather than reconfigured under its feet.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

const QEMU_CONF: &str = "/etc/libvirt/qemu.conf";
const LIBVIRTD_PID: &str = "/run/libvirtd.pid";
const VIRTLOGD_PID: &str = "/run/virtlogd.pid";
/// What the tests add to `qemu.conf`.
const TEST_SETTINGS: &str = "\n# added by maqet's tests (removed when they finish)\n\
user = \"root\"\ngroup = \"root\"\ndynamic_ownership = 0\ncgroup_controllers = [ ]\n\
namespaces = [ ]\nsecurity_driver = \"none\"\n";

/// The system libvirt URI the daemon serves.
pub const SYSTEM_URI: &str = "qemu:///system";

/// A running test libvirtd; see the module docs.
#[derive(Debug)]
pub struct Libvirtd {
    original_conf: Vec<u8>,
    libvirtd_pid: u32,
    virtlogd_pid: Option<u32>,
}

static SHARED: Mutex<Weak<Libvirtd>> = Mutex::new(Weak::new());

/// The test libvirtd, started if no test holds it.
///
/// # Panics
/// When libvirtd is not installed, another libvirtd already runs, or it does not come up.
pub fn libvirtd() -> Arc<Libvirtd> {
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(daemon) = shared.upgrade() {
        return daemon;
    }
    let daemon = Arc::new(Libvirtd::start());
    *shared = Arc::downgrade(&daemon);
    daemon
}

fn pid_alive(pidfile: &str) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

impl Libvirtd {
    fn start() -> Self {
        for tool in ["/usr/sbin/libvirtd", "/usr/sbin/virtlogd", "/usr/bin/virsh"] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: run scripts/setup.sh (apt-get install libvirt-daemon-system \
                 libvirt-daemon-driver-qemu libvirt-clients)"
            );
        }
        assert!(
            pid_alive(LIBVIRTD_PID).is_none(),
            "a libvirtd is already running (see {LIBVIRTD_PID}); stop it so the tests can start \
             their own"
        );
        let original_conf = std::fs::read(QEMU_CONF)
            .unwrap_or_else(|e| panic!("cannot read {QEMU_CONF} (the tests need root): {e}"));
        let mut conf = original_conf.clone();
        conf.extend_from_slice(TEST_SETTINGS.as_bytes());
        std::fs::write(QEMU_CONF, &conf)
            .unwrap_or_else(|e| panic!("cannot write {QEMU_CONF} (the tests need root): {e}"));
        let virtlogd_pid = match pid_alive(VIRTLOGD_PID) {
            Some(_) => None,
            None => {
                run_ok(Command::new("/usr/sbin/virtlogd").arg("-d"));
                Some(wait_for_pid(VIRTLOGD_PID))
            }
        };
        run_ok(Command::new("/usr/sbin/libvirtd").arg("-d"));
        let daemon = Self {
            original_conf,
            libvirtd_pid: wait_for_pid(LIBVIRTD_PID),
            virtlogd_pid,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !virsh(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "libvirtd did not answer within 60 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        daemon
    }
}

impl Drop for Libvirtd {
    fn drop(&mut self) {
        stop(self.libvirtd_pid);
        if let Some(pid) = self.virtlogd_pid {
            stop(pid);
        }
        let _ = std::fs::write(QEMU_CONF, &self.original_conf);
    }
}

/// SIGTERM, then SIGKILL after 30 s, for a daemon this module started.
fn stop(pid: u32) {
    let Ok(pid_t) = i32::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) on a PID this module started; no memory is involved.
    unsafe { libc::kill(pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if Path::new(&format!("/proc/{pid}")).exists() {
        // SAFETY: as above.
        unsafe { libc::kill(pid_t, libc::SIGKILL) };
    }
}

fn wait_for_pid(pidfile: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(pid) = pid_alive(pidfile) {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "{pidfile} did not appear within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn run_ok(command: &mut Command) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `virsh -c qemu:///system ARGS`.
pub fn virsh(args: &[&str]) -> std::process::Output {
    Command::new("virsh")
        .args(["-q", "-c", SYSTEM_URI])
        .args(args)
        .output()
        .expect("virsh must run")
}

/// Runs `virsh ARGS`, asserts success and returns stdout.
///
/// # Panics
/// When virsh fails.
pub fn virsh_ok(args: &[&str]) -> String {
    let out = virsh(args);
    assert!(
        out.status.success(),
        "virsh {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A transient directory storage pool for one test, destroyed on drop.
#[derive(Debug)]
pub struct TestPool {
    /// The pool's name.
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl TestPool {
    /// Creates pool `name` in a new temporary directory.
    pub fn new(name: &str) -> Self {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let dir = tmp.path().to_path_buf();
        let target = dir.to_string_lossy().into_owned();
        virsh_ok(&["pool-create-as", name, "dir", "--target", &target]);
        Self {
            name: name.to_owned(),
            dir,
            _tmp: tmp,
        }
    }

    /// The files in the pool's directory.
    pub fn files(&self) -> Vec<String> {
        crate::names_in(&self.dir)
    }

    /// The volumes libvirt lists in the pool.
    pub fn volumes(&self) -> Vec<String> {
        let _ = virsh(&["pool-refresh", &self.name]);
        virsh_ok(&["vol-list", &self.name])
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect()
    }
}

impl Drop for TestPool {
    fn drop(&mut self) {
        let _ = virsh(&["pool-destroy", &self.name]);
    }
}

/// Waits until `virsh domstate NAME` says `state` (a failing test's guard, not a timing check).
pub fn wait_for_domstate(name: &str, state: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let out = virsh(&["domstate", name]);
        let now = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if now == state {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "domain {name} is `{now}`, not `{state}`, after {timeout:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Removes domain `name` if it exists (stopping it first): a test's clean-up.
pub fn remove_domain(name: &str) {
    let _ = virsh(&["destroy", name]);
    let _ = virsh(&["undefine", name, "--nvram"]);
}

/// Waits until the guest agent of domain `name` answers `guest-ping`.
pub fn wait_for_agent(name: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let out = virsh(&["qemu-agent-command", name, r#"{"execute":"guest-ping"}"#]);
        if out.status.success() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the guest agent of domain {name} did not answer within {timeout:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Runs `sh -c SCRIPT` in domain `name` through its guest agent and returns its stdout.
///
/// # Panics
/// When the agent refuses or the command does not finish within 60 s.
pub fn agent_sh(name: &str, script: &str) -> String {
    let request = serde_json::json!({"execute": "guest-exec", "arguments": {
        "path": "/bin/sh", "arg": ["-c", script], "capture-output": true}});
    let started: serde_json::Value = serde_json::from_str(&virsh_ok(&[
        "qemu-agent-command",
        name,
        &request.to_string(),
    ]))
    .expect("guest-exec answers JSON");
    let pid = started["return"]["pid"].as_i64().expect("guest-exec pid");
    let status_request =
        serde_json::json!({"execute": "guest-exec-status", "arguments": {"pid": pid}});
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status: serde_json::Value = serde_json::from_str(&virsh_ok(&[
            "qemu-agent-command",
            name,
            &status_request.to_string(),
        ]))
        .expect("guest-exec-status answers JSON");
        if status["return"]["exited"] == true {
            let data = status["return"]["out-data"].as_str().unwrap_or_default();
            let bytes = base64_decode(data);
            return String::from_utf8_lossy(&bytes).into_owned();
        }
        assert!(
            Instant::now() < deadline,
            "`{script}` did not finish in the guest"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Standard base64 (what qemu-ga sends), without a crate for one call.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for sextet in text.bytes().filter_map(value) {
        buffer = (buffer << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// The local addresses listening on TCP `port` (`ss -ltnH`), like `127.0.0.1:2222`.
pub fn tcp_listeners(port: u16) -> Vec<String> {
    let out = Command::new("ss")
        .args(["-ltnH"])
        .output()
        .expect("ss (iproute2) must run");
    let suffix = format!(":{port}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3).map(str::to_owned))
        .filter(|local| local.ends_with(&suffix))
        .collect()
}

/// Removes the storage pool `default` for one test and puts back what was there on drop (a
/// fresh libvirt host has none; deploy must create it).
#[derive(Debug)]
pub struct NoDefaultPool {
    saved: Option<(String, bool, bool)>,
}

impl NoDefaultPool {
    /// Takes the `default` pool away (remembering its definition, state and autostart).
    pub fn new() -> Self {
        let saved = virsh(&["pool-dumpxml", "default"])
            .status
            .success()
            .then(|| {
                let xml = virsh_ok(&["pool-dumpxml", "default"]);
                let info = virsh_ok(&["pool-info", "default"]);
                let active = info
                    .lines()
                    .any(|l| l.starts_with("State:") && l.contains("running"));
                let autostart = info
                    .lines()
                    .any(|l| l.starts_with("Autostart:") && l.contains("yes"));
                let _ = virsh(&["pool-destroy", "default"]);
                virsh_ok(&["pool-undefine", "default"]);
                (xml, active, autostart)
            });
        Self { saved }
    }
}

impl Default for NoDefaultPool {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NoDefaultPool {
    fn drop(&mut self) {
        let _ = virsh(&["pool-destroy", "default"]);
        let _ = virsh(&["pool-undefine", "default"]);
        if let Some((xml, active, autostart)) = &self.saved {
            let Ok(file) = tempfile::NamedTempFile::new() else {
                return;
            };
            if std::fs::write(file.path(), xml).is_ok() {
                let _ = virsh(&["pool-define", &file.path().to_string_lossy()]);
                if *active {
                    let _ = virsh(&["pool-start", "default"]);
                }
                if *autostart {
                    let _ = virsh(&["pool-autostart", "default"]);
                }
            }
        }
    }
}
