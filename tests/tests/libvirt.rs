//! maqet VMs on a real libvirtd: `maqet export --to libvirt` run by `virsh`, and
//! `maqet deploy`/`undeploy` to `qemu:///system` and, through a loopback-only test sshd, to
//! `qemu+ssh://root@127.0.0.1:PORT/system` (the remote path: disks travel over libvirt's
//! stream API, no shared filesystem).
//!
//! The tests start their own libvirtd (see `maqet_tests::libvirtd`) and need root. QEMU runs
//! the test guest under TCG (`type='qemu'`).

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use maqet_tests::cli::{describe, fails_with, maqet, maqet_stdout};
use maqet_tests::libvirtd::{
    TestPool, libvirtd, remove_domain, virsh, virsh_ok, wait_for_domstate,
};
use maqet_tests::{MaqetHome, READY_BANNER, TestSshd, guest_config_yaml, wait_for_file_text};
use serde_json::Value;

/// Generous guards for a TCG boot on a loaded 2-core machine (failure guards, not timings).
const BOOT_GUARD: Duration = Duration::from_secs(240);
const STATE_GUARD: Duration = Duration::from_secs(120);

/// The plugin directory cargo built the plugin libraries into.
fn plugin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    let profile = deps.parent().expect("profile dir");
    for lib in ["libmaqet_export.so", "libmaqet_libvirt.so"] {
        assert!(
            profile.join(lib).exists(),
            "{lib} was not built in {}; run `cargo build --workspace`",
            profile.display()
        );
    }
    profile.to_path_buf()
}

/// A home with the export and libvirt plugins installed.
fn home_with_plugins() -> MaqetHome {
    let home = MaqetHome::new();
    let dir = home.data_dir().join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    for lib in ["libmaqet_export.so", "libmaqet_libvirt.so"] {
        std::fs::copy(plugin_dir().join(lib), dir.join(lib)).unwrap();
    }
    home
}

fn unique(name: &str) -> String {
    format!("mqt-{name}-{}", std::process::id())
}

fn ok_json(home: &MaqetHome, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    serde_json::from_str(&maqet_stdout(home, &all)).expect("JSON result")
}

/// Adds the test guest as `name`, with a 64M qcow2 disk that maqet has not created yet.
fn add_guest(home: &MaqetHome, name: &str, extra: &str) {
    let yaml = guest_config_yaml(name, extra);
    let config = home.write_config(name, &yaml);
    maqet_stdout(home, &["add", &config.to_string_lossy()]);
}

/// The serial log path libvirt writes for a domain deployed without `--serial-log`.
fn default_serial_log(name: &str) -> PathBuf {
    PathBuf::from(format!("/var/log/libvirt/qemu/{name}-serial.log"))
}

/// Removes the domain on drop, so a failing test leaves no domain behind.
struct DomainCleanup(String);

impl Drop for DomainCleanup {
    fn drop(&mut self) {
        remove_domain(&self.0);
        let _ = std::fs::remove_file(default_serial_log(&self.0));
    }
}

#[test]
fn exported_domain_boots_takes_screenshots_and_shuts_down_by_acpi() {
    let _daemon = libvirtd();
    let home = home_with_plugins();
    let name = unique("export");
    let _cleanup = DomainCleanup(name.clone());
    add_guest(&home, &name, "");
    let xml_file = home.path().join("web.xml");
    let serial = home.path().join("serial.log");
    let args = [
        "export",
        &name,
        "--to",
        "libvirt",
        "--serial-log",
        &serial.to_string_lossy(),
        "--output",
        &xml_file.to_string_lossy(),
    ];
    let out = maqet(&home, &args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let xml = std::fs::read_to_string(&xml_file).unwrap();
    assert!(
        !xml.contains("qemu:commandline"),
        "everything of the test guest has a libvirt model:\n{xml}"
    );
    assert!(xml.contains(r#"<domain type="qemu">"#), "{xml}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("no model"),
        "no pass-through warning expected: {stderr}"
    );

    virsh_ok(&["define", &xml_file.to_string_lossy()]);
    virsh_ok(&["start", &name]);
    wait_for_domstate(&name, "running", STATE_GUARD).unwrap();
    wait_for_file_text(&serial, READY_BANNER, BOOT_GUARD)
        .unwrap_or_else(|e| panic!("the guest did not boot under libvirt: {e}"));

    let shot = home.path().join("screen.png");
    virsh_ok(&["screenshot", &name, &shot.to_string_lossy()]);
    let bytes = std::fs::read(&shot).unwrap();
    assert!(bytes.len() > 100, "the screenshot is empty");

    virsh_ok(&["shutdown", &name]);
    wait_for_domstate(&name, "shut off", STATE_GUARD)
        .unwrap_or_else(|e| panic!("ACPI shutdown did not power the guest off: {e}"));
    virsh_ok(&["undefine", &name]);
}

/// Deploys `name` to `uri` with `--start`, checks it runs from pool volumes, redeploys, and
/// undeploys; `pool` must be the pool on the host that `uri` reaches.
fn deploy_cycle(home: &MaqetHome, name: &str, uri: &str, pool: &TestPool) {
    let result = ok_json(
        home,
        &[
            "deploy",
            name,
            "--connect",
            uri,
            "--pool",
            &pool.name,
            "--start",
        ],
    );
    assert_eq!(result["domain"], name);
    assert_eq!(result["started"], true);
    wait_for_domstate(name, "running", STATE_GUARD).unwrap();
    wait_for_file_text(default_serial_log(name), READY_BANNER, BOOT_GUARD)
        .unwrap_or_else(|e| panic!("the deployed guest did not boot: {e}"));

    // Disk, kernel and initrd come from the pool, never from maqet's data dir.
    let xml = virsh_ok(&["dumpxml", name]);
    let data_dir = home.data_dir().to_string_lossy().into_owned();
    assert!(
        !xml.contains(&data_dir),
        "the domain still uses maqet's files:\n{xml}"
    );
    assert!(xml.contains(&format!("pool='{}'", pool.name)), "{xml}");
    let pool_dir = pool.dir.to_string_lossy().into_owned();
    assert!(xml.contains(&format!("<kernel>{pool_dir}/")), "{xml}");
    let volumes = pool.volumes();
    assert_eq!(volumes.len(), 3, "disk, kernel, initrd: {volumes:?}");
    let blk = virsh_ok(&["domblklist", name]);
    assert!(
        volumes.iter().any(|v| blk.contains(v.as_str())),
        "the disk is not a pool volume: {blk}"
    );
    // The QEMU libvirt started opens the disk from the pool's directory.
    let pid = std::fs::read_to_string(format!("/run/libvirt/qemu/{name}.pid")).unwrap();
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", pid.trim())).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(
        cmdline.contains(&format!("{pool_dir}/{name}-root-")),
        "QEMU does not run from the pool's disk: {cmdline}"
    );
    assert!(
        !cmdline.contains(&data_dir),
        "QEMU uses maqet's files: {cmdline}"
    );

    // Running: an update is refused without --restart and leaves the pool as it was.
    let stderr = fails_with(
        home,
        &["deploy", name, "--connect", uri, "--pool", &pool.name],
        3,
    );
    assert!(stderr.contains("--restart"), "{stderr}");
    assert_eq!(pool.volumes(), volumes);

    let again = ok_json(
        home,
        &[
            "deploy",
            name,
            "--connect",
            uri,
            "--pool",
            &pool.name,
            "--restart",
        ],
    );
    assert_eq!(again["updated"], true);
    wait_for_domstate(name, "running", STATE_GUARD).unwrap();
    let new_volumes = pool.volumes();
    assert_eq!(
        new_volumes.len(),
        3,
        "old volumes replaced: {new_volumes:?}"
    );
    assert!(
        new_volumes.iter().all(|v| !volumes.contains(v)),
        "{new_volumes:?}"
    );

    let removed = ok_json(home, &["undeploy", name, "--connect", uri]);
    assert_eq!(removed["deleted_volumes"].as_array().map(Vec::len), Some(3));
    assert!(
        !virsh(&["dominfo", name]).status.success(),
        "the domain is still defined"
    );
    assert!(
        pool.volumes().is_empty(),
        "volumes left: {:?}",
        pool.volumes()
    );
    assert!(pool.files().is_empty(), "files left: {:?}", pool.files());
}

#[test]
fn deploy_to_qemu_system_runs_from_pool_volumes_and_undeploy_removes_all() {
    let _daemon = libvirtd();
    let home = home_with_plugins();
    let name = unique("local");
    let _cleanup = DomainCleanup(name.clone());
    add_guest(
        &home,
        &name,
        "storage:\n  - {name: root, type: qcow2, size: 64M}\n",
    );
    let pool = TestPool::new(&unique("pool-local"));
    deploy_cycle(&home, &name, "qemu:///system", &pool);
}

/// The remote path over `qemu+ssh://` to a test-only sshd on 127.0.0.1 (sshd runs here, so
/// the `qemu+tcp://` fallback is not needed).
#[test]
fn deploy_over_qemu_ssh_to_a_loopback_sshd() {
    let _daemon = libvirtd();
    let sshd = TestSshd::start();
    let home = home_with_plugins();
    let name = unique("ssh");
    let _cleanup = DomainCleanup(name.clone());
    add_guest(
        &home,
        &name,
        "storage:\n  - {name: root, type: qcow2, size: 64M}\n",
    );
    let pool = TestPool::new(&unique("pool-ssh"));
    let uri = sshd.libvirt_uri();
    assert!(uri.starts_with("qemu+ssh://root@127.0.0.1:"), "{uri}");
    deploy_cycle(&home, &name, &uri, &pool);

    // A key the host does not accept: a refused login (exit 4), and nothing uploaded.
    let refused = sshd.libvirt_uri_with_key(&sshd.stranger_key());
    let stderr = fails_with(
        &home,
        &["deploy", &name, "--connect", &refused, "--pool", &pool.name],
        4,
    );
    assert!(stderr.contains("refused the login"), "{stderr}");
    assert!(
        pool.volumes().is_empty(),
        "volumes left: {:?}",
        pool.volumes()
    );
}

#[test]
fn failed_deploys_say_why_and_leave_nothing_behind() {
    let _daemon = libvirtd();
    let home = home_with_plugins();
    let name = unique("fail");
    let _cleanup = DomainCleanup(name.clone());
    add_guest(
        &home,
        &name,
        "storage:\n  - {name: root, type: qcow2, size: 64M}\n",
    );
    let pool = TestPool::new(&unique("pool-fail"));

    let stderr = fails_with(
        &home,
        &[
            "deploy",
            &name,
            "--connect",
            "qemu+tcp://127.0.0.1:1/system",
            "--pool",
            &pool.name,
        ],
        1,
    );
    assert!(
        stderr.contains("cannot reach libvirt at `qemu+tcp://127.0.0.1:1/system`"),
        "{stderr}"
    );

    let stderr = fails_with(
        &home,
        &[
            "deploy",
            &name,
            "--connect",
            "qemu:///system",
            "--pool",
            "no-such-pool",
        ],
        3,
    );
    assert!(
        stderr.contains("no storage pool `no-such-pool`"),
        "{stderr}"
    );
    assert!(stderr.contains("pool-define-as"), "{stderr}");

    // A domain of the same name that maqet did not deploy.
    let other = home.path().join("other.xml");
    std::fs::write(
        &other,
        format!(
            "<domain type='qemu'><name>{name}</name><memory unit='MiB'>32</memory>\
             <os><type arch='x86_64'>hvm</type></os></domain>"
        ),
    )
    .unwrap();
    virsh_ok(&["define", &other.to_string_lossy()]);
    let stderr = fails_with(
        &home,
        &[
            "deploy",
            &name,
            "--connect",
            "qemu:///system",
            "--pool",
            &pool.name,
        ],
        3,
    );
    assert!(stderr.contains("already has a domain"), "{stderr}");
    virsh_ok(&["undefine", &name]);

    // A kernel that is not a regular file: refused, and the volumes uploaded before it removed.
    let bad = unique("badkernel");
    let _cleanup_bad = DomainCleanup(bad.clone());
    let yaml = format!(
        "name: {bad}\nmemory: 64M\naccel: tcg\nstorage:\n  - {{name: root, type: qcow2, size: 64M}}\n\
         arguments:\n  - kernel: /dev/null\n"
    );
    let config = home.write_config(&bad, &yaml);
    maqet_stdout(&home, &["add", &config.to_string_lossy()]);
    let stderr = fails_with(
        &home,
        &[
            "deploy",
            &bad,
            "--connect",
            "qemu:///system",
            "--pool",
            &pool.name,
        ],
        3,
    );
    assert!(stderr.contains("is not a regular file"), "{stderr}");

    assert!(
        pool.volumes().is_empty(),
        "volumes left: {:?}",
        pool.volumes()
    );
    assert!(!virsh(&["dominfo", &name]).status.success());
    assert!(!virsh(&["dominfo", &bad]).status.success());
}
