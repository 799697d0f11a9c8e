//! The error messages of docs/errors.md, one snapshot per row (same order, named after the
//! row), each produced by driving the CLI into that error. Rows that need root, a full disk,
//! a guest agent, a missing qemu-img or libvirt are left to the tests the row names; see the
//! list at the end of this file.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use maqet_tests::cli::{maqet_json, no_os_config, status};
use maqet_tests::snapshot::Filters;
use maqet_tests::sqlite::HeldDatabase;
use maqet_tests::{MaqetHome, maqet_snapshot};

/// Snapshots `maqet ARGS` (named after the calling test) and checks its documented exit code.
macro_rules! error_snapshot {
    ($home:expr, $args:expr, $code:expr) => {
        error_snapshot!(filters = Filters::for_home(&$home), $home, $args, $code)
    };
    (filters = $filters:expr, $home:expr, $args:expr, $code:expr) => {{
        let out: Output = maqet_snapshot!(filters = $filters, $home, $args);
        assert_eq!(
            out.status.code(),
            Some($code),
            "exit code of maqet {:?}",
            $args
        );
        out
    }};
}

/// Writes `configs/<name>.yaml` holding `yaml` and returns its path relative to the home (the
/// directory `maqet` runs in), as a user would type it.
fn config(home: &MaqetHome, name: &str, yaml: &str) -> String {
    home.write_config(name, yaml);
    format!("configs/{name}.yaml")
}

fn vm(name: &str, extra: &str) -> String {
    no_os_config(name, extra)
}

fn add(home: &MaqetHome, name: &str, extra: &str) {
    let file = config(home, name, &vm(name, extra));
    maqet_json(home, &["add", &file]);
}

/// Adds and starts `name` (no OS, TCG).
fn running(home: &MaqetHome, name: &str, extra: &str) {
    add(home, name, extra);
    maqet_json(home, &["start", name]);
}

#[test]
fn yaml_syntax() {
    let home = MaqetHome::new();
    let file = config(&home, "bad", "name: bad\nmemory: [1\n");
    error_snapshot!(home, &["add", &file], 3);
}

#[test]
fn unknown_key() {
    let home = MaqetHome::new();
    let file = config(&home, "bad", "name: bad\nmemroy: 1G\n");
    error_snapshot!(home, &["add", &file], 3);
}

#[test]
fn unknown_key_in_a_drive() {
    let home = MaqetHome::new();
    let file = config(
        &home,
        "bad",
        "name: bad\nmemory: 64M\nstorage: [{name: hdd, sise: 1G}]\n",
    );
    error_snapshot!(home, &["add", &file], 3);
}

#[test]
fn wrong_type() {
    let home = MaqetHome::new();
    let file = config(&home, "bad", "name: bad\ncpu: two\n");
    error_snapshot!(home, &["add", &file], 3);
}

#[test]
fn wrong_type_option() {
    let home = MaqetHome::new();
    error_snapshot!(home, &["add", "--name", "bad", "--cpu", "two"], 3);
}

#[test]
fn bad_size() {
    let home = MaqetHome::new();
    let file = config(&home, "bad", "name: bad\nmemory: 12X\n");
    error_snapshot!(home, &["add", &file], 3);
}

#[test]
fn bad_drive_size() {
    let home = MaqetHome::new();
    let file = config(
        &home,
        "bad",
        "name: bad\nmemory: 64M\nstorage: [{name: hdd, type: qcow2, size: 10Q}]\n",
    );
    error_snapshot!(home, &["add", &file], 3);
}

#[test]
fn bad_name_in_a_file() {
    let home = MaqetHome::new();
    let file = config(&home, "bad", "name: ../x\n");
    error_snapshot!(home, &["add", &file], 3);
}

#[test]
fn bad_name_as_an_option() {
    let home = MaqetHome::new();
    error_snapshot!(home, &["add", "--name", "../x", "--empty"], 3);
}

#[test]
fn bad_name_to_apply() {
    let home = MaqetHome::new();
    error_snapshot!(home, &["apply", "../x"], 3);
}

#[test]
fn name_too_long() {
    let home = MaqetHome::new();
    let long = "a".repeat(65);
    error_snapshot!(home, &["add", "--name", &long, "--empty"], 3);
}

#[test]
fn name_already_taken() {
    let home = MaqetHome::new();
    maqet_json(&home, &["add", "--name", "web", "--empty"]);
    error_snapshot!(home, &["add", "--name", "web", "--empty"], 3);
}

#[test]
fn unknown_vm() {
    let home = MaqetHome::new();
    error_snapshot!(home, &["info", "ghost"], 3);
}

#[test]
fn missing_config_file() {
    let home = MaqetHome::new();
    error_snapshot!(home, &["add", "configs/missing.yaml"], 3);
}

#[test]
fn config_file_that_is_a_directory() {
    let home = MaqetHome::new();
    error_snapshot!(home, &["add", "configs"], 3);
}

#[test]
fn config_file_that_is_a_fifo_or_a_device() {
    let home = MaqetHome::new();
    let fifo = home.configs_dir().join("fifo.yaml");
    let c_path = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("no NUL");
    // SAFETY: mkfifo(3) with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    maqet_snapshot!(
        name = "config_file_that_is_a_fifo",
        home,
        &["add", "configs/fifo.yaml", "--name", "f"]
    );
    let out = maqet_snapshot!(
        name = "config_file_that_is_a_device",
        home,
        &["add", "/dev/zero", "--name", "z"]
    );
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn config_file_over_one_mib() {
    let home = MaqetHome::new();
    let mut text = String::from("# padding\n");
    while text.len() <= 1024 * 1024 {
        text.push_str("# .............................................................\n");
    }
    let file = config(&home, "big", &text);
    error_snapshot!(home, &["add", &file, "--name", "b"], 3);
}

#[test]
fn memory_below_the_minimum_or_off_its_step() {
    let home = MaqetHome::new();
    let file = config(&home, "tiny", "name: tiny\nmemory: 1024B\n");
    maqet_snapshot!(name = "memory_below_the_minimum", home, &["add", &file]);
    let file = config(&home, "odd", "name: odd\nmemory: 12K\n");
    error_snapshot!(home, &["add", &file], 3);
}

#[test]
fn disk_size_not_whole_sectors() {
    let home = MaqetHome::new();
    let file = config(
        &home,
        "bad",
        "name: bad\nmemory: 64M\nstorage: [{name: hdd, type: qcow2, size: 1000B}]\n",
    );
    error_snapshot!(home, &["add", &file], 3);
}

#[test]
fn out_of_range_timeout() {
    let home = MaqetHome::new();
    add(&home, "vm1", "");
    maqet_snapshot!(
        name = "out_of_range_timeout_too_large",
        home,
        &["stop", "vm1", "--timeout", "1e300"]
    );
    error_snapshot!(home, &["stop", "vm1", "--timeout", "NaN"], 3);
}

#[test]
fn socket_path_too_long() {
    let home = MaqetHome::new();
    add(&home, "deep", "");
    // `home.cmd()` names the home's own runtime dir; this command names a deep one instead.
    let long = home.path().join("r".repeat(70));
    std::fs::create_dir_all(&long).expect("mkdir the deep runtime dir");
    let mut command = std::process::Command::new(maqet_tests::maqet_binary());
    command
        .current_dir(home.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("MAQET_RUNNER", maqet_tests::maqet_runner_binary())
        .arg("--maqet-data-dir")
        .arg(home.data_dir())
        .arg("--maqet-config-dir")
        .arg(home.config_dir())
        .arg("--maqet-runtime-dir")
        .arg(&long);
    // The length depends on where the temporary home is (`TMPDIR`).
    let filters = Filters::for_home(&home).regex(r"is \d+ bytes, over", "is [LENGTH] bytes, over");
    let out = maqet_snapshot!(
        filters = filters,
        command = assert_cmd::Command::from_std(command),
        &["start", "deep"]
    );
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn maqet_conf_others_could_change() {
    let home = MaqetHome::new();
    let conf = home.config_dir().join("maqet.conf");
    std::fs::write(&conf, "").expect("write maqet.conf");
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    error_snapshot!(home, &["ls"], 4);
}

#[test]
fn vm_config_setting_binary_others_could_change() {
    let home = MaqetHome::new();
    let file = config(
        &home,
        "open",
        "name: open\nbinary: /usr/bin/qemu-system-x86_64\nmemory: 64M\n",
    );
    std::fs::set_permissions(
        home.configs_dir().join("open.yaml"),
        std::fs::Permissions::from_mode(0o664),
    )
    .expect("chmod");
    error_snapshot!(home, &["add", &file], 4);
}

#[test]
fn qemu_binary_missing() {
    let home = MaqetHome::new();
    let file = config(
        &home,
        "nobin",
        "name: nobin\nbinary: /nonexistent/qemu\naccel: tcg\ndisplay: none\nmemory: 64M\n",
    );
    maqet_json(&home, &["add", &file]);
    error_snapshot!(home, &["start", "nobin"], 1);
}

#[test]
fn qemu_img_missing() {
    let home = MaqetHome::new();
    // QEMU itself is found by its absolute path; qemu-img is looked up on the empty PATH.
    let qemu = ["/usr/bin", "/usr/local/bin"]
        .iter()
        .map(|dir| std::path::Path::new(dir).join("qemu-system-x86_64"))
        .find(|path| path.is_file())
        .expect("qemu-system-x86_64 must be installed (scripts/setup.sh)");
    let file = config(
        &home,
        "noimg",
        &vm(
            "noimg",
            "storage:\n  - {name: hdd, type: qcow2, size: 1G}\n",
        )
        .replace(
            "binary: qemu-system-x86_64",
            &format!("binary: {}", qemu.display()),
        ),
    );
    maqet_json(&home, &["add", &file]);
    let empty = home.path().join("empty-bin");
    std::fs::create_dir(&empty).expect("mkdir empty-bin");
    let mut command = home.cmd();
    command.current_dir(home.path()).env("PATH", &empty);
    let out = maqet_snapshot!(
        filters = Filters::for_home(&home),
        command = command,
        &["start", "noimg"]
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn qemu_refusing_an_argument() {
    let home = MaqetHome::new();
    add(&home, "bogus", "arguments: [{bogus-option: null}]");
    error_snapshot!(home, &["start", "bogus"], 1);
}

#[test]
fn qmp_error() {
    let home = MaqetHome::new();
    running(&home, "qmperr", "");
    error_snapshot!(home, &["qmp", "qmperr", "no-such-command"], 1);
}

#[test]
fn raw_qmp_not_on_the_allow_list() {
    let home = MaqetHome::new();
    running(&home, "gated", "");
    error_snapshot!(home, &["qmp", "gated", "quit"], 3);
    assert_eq!(status(&home, "gated")["status"], "running");
}

#[test]
fn snapshot_of_a_non_qcow2_drive() {
    let home = MaqetHome::new();
    let raw = home.path().join("disk.raw");
    std::fs::write(&raw, vec![0; 1 << 20]).expect("write the raw disk");
    add(
        &home,
        "rawvm",
        &format!(
            "storage:\n  - {{name: rawd, type: raw, file: {}}}\n",
            raw.display()
        ),
    );
    error_snapshot!(home, &["snapshot", "rawvm", "create", "rawd", "s1"], 3);
}

#[test]
fn snapshot_load_on_a_running_vm() {
    let home = MaqetHome::new();
    running(
        &home,
        "web",
        "storage:\n  - {name: hdd, type: qcow2, size: 64M}\n",
    );
    error_snapshot!(home, &["snapshot", "web", "load", "hdd", "s1"], 3);
}

#[test]
fn database_locked_too_long() {
    let home = MaqetHome::new();
    maqet_json(&home, &["add", "--name", "before", "--empty"]);
    let lock = HeldDatabase::hold(&home.data_dir().join("maqet.db"), "BEGIN EXCLUSIVE");
    error_snapshot!(home, &["add", "--name", "blocked", "--empty"], 2);
    drop(lock);
}

#[test]
fn database_file_is_not_sqlite() {
    let home = MaqetHome::new();
    std::fs::write(
        home.data_dir().join("maqet.db"),
        "not a database\n".repeat(400),
    )
    .expect("write maqet.db");
    error_snapshot!(home, &["ls"], 1);
}

#[test]
fn database_damaged() {
    let home = MaqetHome::new();
    add(&home, "vm1", "");
    let db = home.data_dir().join("maqet.db");
    maqet_tests::sqlite::checkpoint(&db);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .expect("open maqet.db");
    use std::io::{Seek, SeekFrom, Write};
    file.seek(SeekFrom::Start(4096)).expect("seek");
    file.write_all(&[0xA5; 3 * 4096]).expect("write garbage");
    file.sync_all().expect("sync");
    error_snapshot!(home, &["ls"], 1);
}

#[test]
fn name_that_looks_like_an_id() {
    let home = MaqetHome::new();
    error_snapshot!(
        home,
        &[
            "add",
            "--empty",
            "--name",
            "0b6e3c1a-5f1e-4c8e-9d2a-7a1b2c3d4e5f"
        ],
        3
    );
}

#[test]
fn port_forwarded_twice() {
    let home = MaqetHome::new();
    let file = config(
        &home,
        "twice",
        &vm(
            "twice",
            "ports: [{host: 7001, guest: 22}, {host: 7001, guest: 23}]",
        ),
    );
    error_snapshot!(home, &["add", &file], 3);
}

#[test]
fn forwarded_host_port_taken() {
    let home = MaqetHome::new();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    add(
        &home,
        "taken",
        &format!("ports: [{{host: {port}, guest: 22}}]"),
    );
    let me = std::process::id().to_string();
    // The listener is this test binary: `(user_text-<hash>)`, its name as the kernel keeps it.
    let filters = Filters::for_home(&home)
        .word(&port.to_string(), "[PORT]")
        .word(&me, "[PID]")
        .regex(r"\(user_text-[0-9a-f]*\)", "([TEST])");
    error_snapshot!(filters = filters, home, &["start", "taken"], 3);
    drop(listener);
}

#[test]
fn host_port_another_vm_forwards() {
    let home = MaqetHome::new();
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    add(&home, "a", &format!("ports: [{{host: {port}, guest: 22}}]"));
    let file = config(
        &home,
        "b",
        &vm("b", &format!("ports: [{{host: {port}, guest: 80}}]")),
    );
    let filters = Filters::for_home(&home).word(&port.to_string(), "[PORT]");
    error_snapshot!(filters = filters, home, &["add", &file], 3);
}

#[test]
fn guest_command_on_a_vm_without_the_agent() {
    let home = MaqetHome::new();
    running(&home, "plain", "");
    error_snapshot!(home, &["exec", "plain", "--", "true"], 3);
}

#[test]
fn guest_agent_not_answering() {
    let home = MaqetHome::new();
    running(&home, "silent", "guest_agent: true");
    error_snapshot!(home, &["exec", "silent", "--timeout", "3", "--", "true"], 2);
}

// Rows of docs/errors.md not snapshotted here, and where they are tested instead:
// - OS permission error, unreadable mode-000 file (`inputs.rs`, `bad_input.rs`): need
//   `setpriv` to drop root; `maqet.conf`/QEMU binary/plugin owned by another uid
//   (`security.rs`): need `chown`;
// - output cannot be written, live snapshot whose QEMU died (`outcomes.rs`): need stdout on
//   /dev/full or a QEMU killed mid-command;
// - full disk (`bad_input.rs`): needs a tmpfs (root);
// - database deleted or truncated (`state_recovery.rs`, not an error); orphan QEMU, disk held by another
//   QEMU (`crash_safety.rs`);
// - guest command too slow, agent command disabled, `cp` onto an existing file
//   (`guest_agent.rs`): need the test guest's agent;
// - the libvirt rows (`libvirt.rs`): need libvirtd;
// - the saved-state rows (`managed_save.rs`): need the test guest saved and restored.
