//! Running the `maqet` binary in a [`MaqetHome`] and reading what it printed.

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::MaqetHome;

/// Longest a single `maqet` command may take before a test gives up on it (a hang guard).
pub const COMMAND_GUARD: Duration = Duration::from_secs(120);

/// Runs `maqet ARGS` in `home` (with the home's root as the current directory).
pub fn maqet(home: &MaqetHome, args: &[&str]) -> Output {
    home.cmd()
        .current_dir(home.path())
        .args(args)
        .timeout(COMMAND_GUARD)
        .output()
        .expect("the maqet binary must run")
}

/// A readable account of a finished command, for assertion messages.
pub fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "maqet {args:?} -> {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `maqet ARGS`, asserts exit code `code` and an `error: ` report on stderr, and
/// returns stderr.
pub fn fails_with(home: &MaqetHome, args: &[&str], code: i32) -> String {
    let out = maqet(home, args);
    assert_eq!(out.status.code(), Some(code), "{}", describe(args, &out));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.contains("error: "), "{}", describe(args, &out));
    stderr
}

/// Runs `maqet ARGS` and asserts that it succeeded.
pub fn maqet_ok(home: &MaqetHome, args: &[&str]) -> Output {
    let out = maqet(home, args);
    assert!(out.status.success(), "{}", describe(args, &out));
    out
}

/// Runs `maqet ARGS`, asserts success and returns stdout.
pub fn maqet_stdout(home: &MaqetHome, args: &[&str]) -> String {
    String::from_utf8_lossy(&maqet_ok(home, args).stdout).into_owned()
}

/// Runs `maqet ARGS` (which ask for JSON themselves), asserts success and parses stdout.
pub fn json_of(home: &MaqetHome, args: &[&str]) -> Value {
    let out = maqet_ok(home, args);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not pure JSON ({e}): {}", describe(args, &out)))
}

/// A finished command's stdout as JSON.
pub fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Runs `maqet ARGS --format json`, asserts success and parses stdout.
pub fn maqet_json(home: &MaqetHome, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    json_of(home, &all)
}

/// Writes `yaml` as `<name>.yaml` in the home's configs and runs `maqet add` on it.
pub fn add(home: &MaqetHome, name: &str, yaml: &str) {
    let config = home.write_config(name, yaml);
    maqet_ok(
        home,
        &["add", config.to_str().expect("temp paths are UTF-8")],
    );
}

/// A plugin library cargo built for this test run (`lib<lib_name>.so`).
pub fn plugin_library(lib_name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    let file = format!("lib{lib_name}.so");
    [
        deps.join(&file),
        deps.parent().expect("profile dir").join(&file),
    ]
    .into_iter()
    .find(|p| p.exists())
    .unwrap_or_else(|| {
        panic!(
            "{file} was not built next to {}; run `cargo build --workspace`",
            deps.display()
        )
    })
}

/// `maqet status VM --format json`.
pub fn status(home: &MaqetHome, name: &str) -> Value {
    maqet_json(home, &["status", name])
}

/// The VM's id (from `maqet status`).
pub fn vm_id(home: &MaqetHome, name: &str) -> String {
    status(home, name)["vm_id"]
        .as_str()
        .unwrap_or_else(|| panic!("`maqet status {name}` has no vm_id"))
        .to_owned()
}

/// The VM's data directory (disks, logs, `vm.json`): `<data>/vms/<id>`.
pub fn vm_data_dir(home: &MaqetHome, name: &str) -> std::path::PathBuf {
    home.data_dir().join("vms").join(vm_id(home, name))
}

/// A VM with no kernel and no disk under TCG (SeaBIOS finds nothing to boot, so ACPI does
/// nothing); `extra` is appended as YAML, with 64M of memory unless `extra` sets it.
pub fn no_os_config(name: &str, extra: &str) -> String {
    let memory = if extra.contains("memory:") {
        ""
    } else {
        "memory: 64M\n"
    };
    let newline = if extra.is_empty() || extra.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    format!(
        "name: {name}\nbinary: qemu-system-x86_64\naccel: tcg\ndisplay: none\n{memory}{extra}{newline}"
    )
}

/// Whether a process exists and is not a zombie.
pub fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Waits up to `timeout` for a process to go away; true when it did.
pub fn wait_until_dead(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !is_alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !is_alive(pid)
}

/// Adds the test guest as `name` with its guest-agent channel, starts it and waits until the
/// agent answers (up to 240 s: the guest boots under TCG on a busy machine).
pub fn start_agent_guest(home: &MaqetHome, name: &str) {
    let yaml = crate::guest_config_yaml_with_append(
        name,
        crate::GUEST_KERNEL_APPEND,
        "guest_agent: true\n",
    );
    add(home, name, &yaml);
    maqet_ok(home, &["start", name]);
    maqet_ok(home, &["wait", name, "--agent", "--timeout", "240"]);
}

/// Runs `script` with `sh -c` in the guest (as root, through `maqet exec`); its stdout.
pub fn guest_sh(home: &MaqetHome, vm: &str, script: &str) -> String {
    let out = maqet_ok(
        home,
        &["exec", vm, "--timeout", "120", "--", "sh", "-c", script],
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `maqet ARGS` allowed `secs` seconds (a hang guard for slow work such as a whole Debian
/// boot), with the plugins built next to the binary (as after `cargo build`), and fails the
/// test when it fails.
pub fn maqet_long(home: &MaqetHome, args: &[&str], secs: u64) -> Output {
    let mut cmd = home.cmd();
    cmd.env_remove("MAQET_SHIPPED_PLUGINS");
    checked_with_guard(cmd, home, args, secs)
}

/// Runs `cmd ARGS` in the home's directory, allowed `secs` seconds and a minute of margin,
/// and fails the test when it fails.
pub(crate) fn checked_with_guard(
    mut cmd: assert_cmd::Command,
    home: &MaqetHome,
    args: &[&str],
    secs: u64,
) -> Output {
    let out = cmd
        .current_dir(home.path())
        .args(args)
        .timeout(Duration::from_secs(secs + 60))
        .output()
        .expect("the maqet binary must run");
    assert!(out.status.success(), "{}", describe(args, &out));
    out
}

/// [`maqet_long`] with `--format json`: the parsed result.
pub fn maqet_long_json(home: &MaqetHome, args: &[&str], secs: u64) -> Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let out = maqet_long(home, &all, secs);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(&all, &out)))
}

/// Holds VM `vm`'s copy-channel lock, as a running `maqet cp` does, until dropped.
pub fn hold_copy_channel(home: &MaqetHome, vm: &str) -> std::fs::File {
    use std::os::fd::AsRawFd;
    let lock = home
        .runtime_dir()
        .join("vms")
        .join(vm_id(home, vm))
        .join("copy.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .expect("open the VM's copy.lock");
    // SAFETY: flock on a descriptor this function owns.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(locked, 0, "the copy channel of VM `{vm}` is held already");
    file
}
