//! Issue N's "what it must show", in one pass on the real Debian 12 guest
//! (`tests/guest/build-debian.sh`) under TCG, from a fresh maqet home:
//!
//! 1. a five-line config whose disk comes `from:` the image on a loopback HTTP server (checked
//!    against its SHA-256, cached, a 4 GiB overlay on the cached copy), `add` and `start`;
//! 2. `stop` right after `start` powers the guest off gracefully (ACPI or agent, not forced);
//! 3. the next start: `wait --ssh`, cloud-init made the user with the user's key, the host name
//!    is the VM's name, the host keys came from the serial console, `ssh-config` works for the
//!    system `ssh`;
//! 4. the same VM deployed to the test libvirtd boots with its network on the interface it had
//!    under maqet, and its sshd answers through the forward, on 127.0.0.1 only;
//! 5. a clone boots next to its source with its own host name, port, cloud-init instance,
//!    machine id and SSH host keys;
//! 6. `rm --all --force --clean-storage` leaves no file of either VM, and `image prune` then
//!    empties the image cache.
//!
//! Five Debian boots (the first cut short by the stop, the last two side by side); the
//! plugins are the ones built next to `maqet`, as after `cargo build`. Needs root (libvirtd) and
//! the binaries: `cargo build --workspace`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use maqet_tests::cli::{describe, maqet_long, maqet_long_json};
use maqet_tests::guest_checks::{
    DomainCleanup, assert_loopback_only, files_under, host_keys_on_console,
    interface_with_slirp_address, unique_name, user_key, wait_for_ssh_banner,
};
use maqet_tests::libvirtd::{TestPool, agent_sh, libvirtd, wait_for_agent, wait_for_domstate};
use maqet_tests::{
    DEBIAN_LOGIN_PROMPT, MaqetHome, TestHttpServer, debian_guest, sha256_of_file,
    wait_for_file_text,
};

/// Seconds one Debian boot may take under TCG on a loaded 2-core machine (about 80 s there,
/// under a minute on a quiet one): a guard, not a timing.
const BOOT_SECS: u64 = 900;

/// The user's config: what a user writes for a cloud image (README's "from nothing to a
/// shell"), with the test's image URL and digest. The test adds `--accel tcg` to `maqet add`,
/// as every test runs QEMU under TCG.
fn five_line_config(url: &str, digest: &str) -> String {
    format!(
        "memory: 1G\n\
         cloud_init: true\n\
         guest_agent: true\n\
         storage:\n  \
         - {{name: hdd, type: qcow2, size: 4G, sha256: \"{digest}\", from: \"{url}\"}}\n"
    )
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `maqet ssh VM -- ARGS`: the command's stdout, trimmed.
fn guest(home: &MaqetHome, vm: &str, args: &[&str]) -> String {
    let mut argv = vec!["ssh", vm, "--"];
    argv.extend_from_slice(args);
    text(&maqet_long(home, &argv, 120))
}

/// The VM's data directory (`info` says where it is).
fn data_dir(home: &MaqetHome, vm: &str) -> PathBuf {
    PathBuf::from(
        maqet_long_json(home, &["info", vm], 30)["data_dir"]
            .as_str()
            .unwrap(),
    )
}

/// `wait VM --ssh`; on a timeout, the tail of the serial log says how far the guest got.
fn wait_for_ssh(home: &MaqetHome, vm: &str) {
    let started = Instant::now();
    let timeout = BOOT_SECS.to_string();
    let args = ["wait", vm, "--ssh", "--timeout", &timeout];
    let out = home
        .cmd()
        .env_remove("MAQET_SHIPPED_PLUGINS")
        .current_dir(home.path())
        .args(args)
        .timeout(Duration::from_secs(BOOT_SECS + 60))
        .output()
        .unwrap();
    if !out.status.success() {
        let log = std::fs::read(data_dir(home, vm).join("serial.log")).unwrap_or_default();
        let tail = &log[log.len().saturating_sub(4000)..];
        panic!(
            "{}\n--- serial log tail\n{}",
            describe(&args, &out),
            String::from_utf8_lossy(tail)
        );
    }
    eprintln!(
        "debian_must_show: `wait {vm} --ssh` took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The VM's `known_hosts` was filled from the block cloud-init printed on ttyS0: every key in
/// it is one of the block's, and it holds more than the one ed25519 key the agent path reads.
fn assert_host_keys_came_from_the_serial_console(dir: &Path) {
    let log = String::from_utf8_lossy(&std::fs::read(dir.join("serial.log")).unwrap()).into_owned();
    let on_console = host_keys_on_console(&log);
    assert!(
        !on_console.is_empty(),
        "cloud-init printed no host key block on ttyS0 (the last `console=` must be ttyS0)"
    );
    let known = std::fs::read_to_string(dir.join("cloud-init/known_hosts")).unwrap();
    let known: Vec<String> = known
        .lines()
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert!(
        known.len() > 1 && known.iter().all(|k| on_console.contains(k)),
        "known_hosts {known:?} is not the console's block {on_console:?}"
    );
}

#[test]
fn a_debian_cloud_image_from_a_url_to_a_shell_a_libvirt_domain_and_a_clone() {
    let began = Instant::now();
    let image = debian_guest();
    let digest = sha256_of_file(&image);
    let server = TestHttpServer::start();
    server.serve_file("/debian-12.qcow2", &image);
    let home = MaqetHome::new();
    let key = user_key(&home);
    let config = home.path().join("deb.yaml");
    let yaml = five_line_config(&server.url("/debian-12.qcow2"), &digest);
    assert_eq!(yaml.lines().count(), 5, "{yaml}");
    std::fs::write(&config, yaml).unwrap();

    // 1-2. Add and start; a stop right away is still a graceful power-off.
    let config = config.to_string_lossy();
    maqet_long(
        &home,
        &["add", &config, "--name", "deb", "--accel", "tcg"],
        60,
    );
    let started = maqet_long_json(&home, &["start", "deb"], 600);
    let user = started["ssh"]["user"]
        .as_str()
        .expect("start reports the ssh user")
        .to_owned();
    let info = maqet_long_json(&home, &["info", "deb"], 30);
    let argv = info["qemu_argv"].to_string();
    assert!(argv.contains(r#""-accel","tcg""#), "{argv}");
    let stopping = Instant::now();
    let stopped = maqet_long_json(
        &home,
        &["stop", "deb", "--timeout", &BOOT_SECS.to_string()],
        BOOT_SECS,
    );
    eprintln!(
        "debian_must_show: stop right after start took {:.1} s: {stopped}",
        stopping.elapsed().as_secs_f64()
    );
    assert_eq!(stopped["forced"], false, "{stopped}");
    assert!(
        stopped["method"] == "acpi" || stopped["method"] == "agent",
        "{stopped}"
    );

    // The disk is a 4 GiB overlay on the cached download, which the cache knows is in use.
    let storage = maqet_long_json(&home, &["storage-info", "deb"], 30);
    let drive = &storage["drives"][0];
    let cached = home.image_cache_dir().join("sha256").join(&digest);
    assert_eq!(
        drive["backing_file"],
        cached.to_string_lossy().as_ref(),
        "{storage}"
    );
    assert_eq!(drive["virtual_size"], 4u64 << 30, "{storage}");
    let source_disk = PathBuf::from(drive["resolved_path"].as_str().unwrap());
    let listing = maqet_long_json(&home, &["image", "ls"], 30);
    assert_eq!(listing["images"][0]["digest"], digest.as_str(), "{listing}");
    assert_eq!(
        listing["images"][0]["used_by"][0], drive["resolved_path"],
        "{listing}"
    );
    let refused = home.cmd().args(["image", "rm", &digest]).output().unwrap();
    assert_eq!(
        refused.status.code(),
        Some(3),
        "{}",
        describe(&["image", "rm"], &refused)
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is the backing file of"));
    assert_eq!(server.requests_for("/debian-12.qcow2").len(), 1);

    // 3. A shell: the user with the key, the VM's name, host keys from the serial console.
    maqet_long(&home, &["start", "deb"], 600);
    wait_for_ssh(&home, "deb");
    assert_eq!(guest(&home, "deb", &["hostname"]), "deb");
    assert_eq!(guest(&home, "deb", &["id", "-un"]), user);
    let keys = guest(&home, "deb", &["cat", "~/.ssh/authorized_keys"]);
    assert!(keys.contains(&key), "{key} missing from\n{keys}");
    assert_eq!(guest(&home, "deb", &["sudo", "-n", "id", "-u"]), "0");
    let failed = home
        .cmd()
        .args(["ssh", "deb", "--", "exit", "7"])
        .output()
        .unwrap();
    assert_eq!(
        failed.status.code(),
        Some(7),
        "the guest's exit code is maqet's"
    );
    let deb_dir = data_dir(&home, "deb");
    assert_host_keys_came_from_the_serial_console(&deb_dir);
    // The agent works too: Debian 12, with a machine id of its own.
    let version = text(&maqet_long(
        &home,
        &["exec", "deb", "--", "cat", "/etc/debian_version"],
        60,
    ));
    assert!(version.starts_with("12."), "{version:?}");
    let identity = |vm: &str| {
        [
            ("machine id", "/etc/machine-id"),
            ("cloud-init instance", "/var/lib/cloud/data/instance-id"),
            ("host key", "/etc/ssh/ssh_host_ed25519_key.pub"),
        ]
        .map(|(what, file)| (what, guest(&home, vm, &["cat", file])))
    };
    let source_identity = identity("deb");
    assert_eq!(source_identity[0].1.len(), 32, "{source_identity:?}");
    let ip = text(&maqet_long(
        &home,
        &["exec", "deb", "--", "ip", "-o", "-4", "addr", "show"],
        60,
    ));
    let maqet_interface = interface_with_slirp_address(&ip)
        .unwrap_or_else(|| panic!("no 10.0.2.15 in the guest under maqet:\n{ip}"));
    // The user's own key logs in through `ssh-config`, as scp, VS Code or Ansible would.
    let ssh_config = home.path().join("ssh_config");
    std::fs::write(
        &ssh_config,
        maqet_long(&home, &["ssh-config", "deb"], 30).stdout,
    )
    .unwrap();
    let own = Command::new("ssh")
        .arg("-F")
        .arg(&ssh_config)
        .args(["-o", "BatchMode=yes", "-o"])
        .arg(format!(
            "IdentityFile={}",
            home.path().join(".ssh/id_ed25519").display()
        ))
        .args(["deb", "hostname"])
        .output()
        .unwrap();
    assert!(
        own.status.success(),
        "{}",
        String::from_utf8_lossy(&own.stderr)
    );
    assert_eq!(text(&own), "deb");
    let ssh_port = maqet_long_json(&home, &["status", "deb"], 30)["ssh"]["port"]
        .as_u64()
        .unwrap();
    maqet_long(&home, &["stop", "deb", "--timeout", "300"], 300);

    // 4. Deployed to libvirt: the same disk (flattened) boots with its network where it was,
    // and sshd answers through the forward on 127.0.0.1.
    {
        let _daemon = libvirtd();
        let domain = unique_name("must-show");
        let _cleanup = DomainCleanup(vec![domain.clone()]);
        let pool = TestPool::new(&unique_name("pool-must-show"));
        let deployed = maqet_long_json(
            &home,
            &[
                "deploy",
                "deb",
                "--name",
                &domain,
                "--connect",
                "qemu:///system",
                "--pool",
                &pool.name,
                "--start",
            ],
            600,
        );
        assert_eq!(
            deployed["flattened"],
            serde_json::json!(["hdd"]),
            "{deployed}"
        );
        wait_for_domstate(&domain, "running", Duration::from_secs(120)).unwrap();
        let serial = PathBuf::from(format!("/var/log/libvirt/qemu/{domain}-serial.log"));
        wait_for_file_text(&serial, DEBIAN_LOGIN_PROMPT, Duration::from_secs(BOOT_SECS))
            .unwrap_or_else(|e| panic!("the deployed Debian guest did not boot: {e}"));
        wait_for_agent(&domain, Duration::from_secs(300)).unwrap();
        let mut under_libvirt = String::new();
        for _ in 0..60 {
            under_libvirt = agent_sh(&domain, "ip -o -4 addr show");
            if under_libvirt.contains("10.0.2.15") {
                break;
            }
            std::thread::sleep(Duration::from_secs(2));
        }
        assert_eq!(
            interface_with_slirp_address(&under_libvirt).as_deref(),
            Some(maqet_interface.as_str()),
            "the guest's network is not on {maqet_interface} under libvirt:\n{under_libvirt}"
        );
        let port = u16::try_from(ssh_port).unwrap();
        assert_loopback_only(port);
        wait_for_ssh_banner(port);
        maqet_long_json(
            &home,
            &["undeploy", &domain, "--connect", "qemu:///system"],
            300,
        );
        let _ = std::fs::remove_file(&serial);
    }

    // 5. A clone boots next to its source as its own machine.
    maqet_long(&home, &["clone", "deb", "deb2"], 600);
    maqet_long(&home, &["start", "deb"], 600);
    maqet_long(&home, &["start", "deb2"], 600);
    wait_for_ssh(&home, "deb2");
    wait_for_ssh(&home, "deb");
    assert_eq!(guest(&home, "deb", &["hostname"]), "deb");
    assert_eq!(guest(&home, "deb2", &["hostname"]), "deb2");
    assert_eq!(
        identity("deb"),
        source_identity,
        "a restart keeps the source's identity"
    );
    let clone_identity = identity("deb2");
    for ((what, source), (_, clone)) in source_identity.iter().zip(&clone_identity) {
        assert_ne!(source, clone, "the clone has its source's {what}");
    }
    // The seed's once-per-instance step made the clone's id and noted it for the next instance;
    // the source's first instance kept the id systemd made and noted it too.
    let record = ["cat", "/var/lib/cloud/maqet-machine-id"];
    assert_eq!(guest(&home, "deb2", &record), clone_identity[0].1);
    assert_eq!(guest(&home, "deb", &record), source_identity[0].1);
    let clone_dir = data_dir(&home, "deb2");
    assert_host_keys_came_from_the_serial_console(&clone_dir);
    let ports: Vec<_> = ["deb", "deb2"]
        .map(|vm| maqet_long_json(&home, &["status", vm], 30)["ssh"]["port"].clone())
        .into();
    assert_ne!(ports[0], ports[1], "{ports:?}");
    let clone_disk = PathBuf::from(
        maqet_long_json(&home, &["storage-info", "deb2"], 30)["drives"][0]["resolved_path"]
            .as_str()
            .unwrap(),
    );

    // 6. Removing both with --clean-storage leaves no file of them; the image cache stays
    // until `maqet image prune`.
    let removed = maqet_long_json(&home, &["rm", "--all", "--force", "--clean-storage"], 300);
    assert_eq!(
        removed["removed"].as_array().map(Vec::len),
        Some(2),
        "{removed}"
    );
    for gone in [&deb_dir, &clone_dir, &source_disk, &clone_disk] {
        assert!(
            !gone.exists(),
            "{} was left behind: {removed}",
            gone.display()
        );
    }
    let left: Vec<PathBuf> = files_under(&home.data_dir().join("vms"))
        .into_iter()
        .filter(|f| !f.ends_with(".layout-by-id"))
        .collect();
    assert!(left.is_empty(), "files of removed VMs remain: {left:?}");
    assert!(cached.is_file(), "the cached image stays for the next VM");
    maqet_long(&home, &["image", "prune"], 60);
    assert!(
        !cached.exists(),
        "`image prune` removes an image no VM uses"
    );
    eprintln!(
        "debian_must_show: whole test {:.1} s",
        began.elapsed().as_secs_f64()
    );
}
