//! Gate decisions, and the generated docs/qmp-security.md.

use serde_json::json;

use super::*;

fn dirs() -> AllowedDirs {
    AllowedDirs::new(["/tmp".into()])
}

fn refused(command: &str, args: serde_json::Value) -> String {
    check(command, Some(&args), &dirs())
        .expect_err("should be refused")
        .desc()
}

#[test]
fn listed_commands_pass_and_unlisted_ones_are_refused_with_the_way_out() {
    assert!(check("query-status", None, &dirs()).is_ok());
    assert!(check("x-query-roms", None, &dirs()).is_ok());
    assert!(check("job-cancel", Some(&json!({"id": "j"})), &dirs()).is_ok());
    let desc = refused("human-monitor-command", json!({"command-line": "info"}));
    assert!(desc.starts_with(REFUSAL_PREFIX), "{desc}");
    assert!(desc.contains("--allow-dangerous"), "{desc}");
    assert!(desc.contains(ALLOW_DANGEROUS_CAPABILITY), "{desc}");
    for command in [
        "quit",
        "getfd",
        "object-add",
        "blockdev-add",
        "inject-nmi",
        "qom-set",
    ] {
        assert!(check(command, None, &dirs()).is_err(), "{command}");
    }
}

#[test]
fn path_arguments_are_checked() {
    assert!(
        check(
            "screendump",
            Some(&json!({"filename": "/tmp/s.ppm"})),
            &dirs()
        )
        .is_ok()
    );
    let desc = refused("screendump", json!({"filename": "/etc/cron.d/x"}));
    assert!(desc.contains("system directory /etc"), "{desc}");
    assert!(desc.contains("'filename'"), "{desc}");
    refused(
        "blockdev-change-medium",
        json!({"id": "cd", "filename": "/etc/shadow"}),
    );
    refused(
        "drive-backup",
        json!({"device": "d", "target": "/usr/x", "sync": "full"}),
    );
    refused(
        "blockdev-snapshot-sync",
        json!({"device": "d", "snapshot-file": "rel.qcow2"}),
    );
    refused(
        "pmemsave",
        json!({"val": 0, "size": 1, "filename": "/proc/x"}),
    );
    // The backing file name block-stream writes into the image is opened at the next start.
    let desc = refused(
        "block-stream",
        json!({"device": "d", "backing-file": "/srv/secret"}),
    );
    assert!(desc.contains("'backing-file'"), "{desc}");
    refused(
        "block-stream",
        json!({"device": "d", "backing-file": "json:{\"driver\": \"nbd\"}"}),
    );
    assert!(check("block-stream", Some(&json!({"device": "d"})), &dirs()).is_ok());
}

#[test]
fn image_commands_read_the_image_only_when_qemu_opens_an_existing_one() {
    assert!(may_read_images("blockdev-change-medium") && may_read_images("transaction"));
    assert!(!may_read_images("query-status") && !may_read_images("screendump"));
    // A new overlay or backup target is created by QEMU: only its path is checked.
    let new = json!({"device": "d", "snapshot-file": "/tmp/maqet-gate-new-overlay.qcow2"});
    assert!(check("blockdev-snapshot-sync", Some(&new), &dirs()).is_ok());
    let new = json!({"device": "d", "target": "/tmp/maqet-gate-new.qcow2", "sync": "full"});
    assert!(check("drive-backup", Some(&new), &dirs()).is_ok());
    // With mode existing, or for a medium, the image must exist and be readable.
    let existing = json!({"device": "d", "target": "/tmp/maqet-gate-none.qcow2",
        "sync": "full", "mode": "existing"});
    let desc = refused("drive-backup", existing);
    assert!(desc.contains("maqet-gate-none.qcow2"), "{desc}");
    let desc = refused(
        "blockdev-change-medium",
        json!({"id": "cd", "filename": "json:{\"driver\": \"nbd\"}"}),
    );
    assert!(desc.contains("'json:'"), "{desc}");
    let in_transaction = json!({"actions": [{"type": "blockdev-snapshot-sync", "data":
        {"device": "d", "snapshot-file": "/tmp/maqet-gate-none.qcow2", "mode": "existing"}}]});
    refused("transaction", in_transaction);
}

#[test]
fn migrate_dump_chardev_and_device_add_check_their_targets() {
    assert!(
        check(
            "migrate",
            Some(&json!({"uri": "unix:/tmp/m.sock"})),
            &dirs()
        )
        .is_ok()
    );
    let desc = refused("migrate", json!({"uri": "exec:cat > /etc/x"}));
    assert!(desc.contains("exec:"), "{desc}");
    refused("migrate", json!({"uri": "tcp:10.0.0.1:4444"}));
    refused("migrate", json!({"uri": "file:/var/lib/x"}));
    assert!(
        check(
            "dump-guest-memory",
            Some(&json!({"paging": false, "protocol": "file:/tmp/d"})),
            &dirs()
        )
        .is_ok()
    );
    refused(
        "dump-guest-memory",
        json!({"paging": false, "protocol": "file:/etc/d"}),
    );
    let file = json!({"id": "c", "backend": {"type": "file", "data": {"out": "/etc/profile"}}});
    refused("chardev-change", file);
    refused(
        "chardev-change",
        json!({"id": "c", "backend": {"type": "pty", "data": {}}}),
    );
    assert!(
        check(
            "chardev-change",
            Some(&json!({"id": "c", "backend": {"type": "null", "data": {}}})),
            &dirs()
        )
        .is_ok()
    );
    refused(
        "device_add",
        json!({"driver": "vfio-pci", "host": "00:02.0"}),
    );
    refused(
        "device_add",
        json!({"driver": "e1000", "romfile": "/etc/shadow"}),
    );
    assert!(
        check(
            "device_add",
            Some(&json!({"driver": "virtio-rng-pci"})),
            &dirs()
        )
        .is_ok()
    );
}

#[test]
fn a_transaction_is_as_strict_as_its_actions() {
    let bad = json!({"actions": [
        {"type": "blockdev-snapshot-internal-sync", "data": {"device": "d", "name": "s"}},
        {"type": "drive-backup", "data": {"device": "d", "target": "/boot/x", "sync": "full"}}
    ]});
    let desc = refused("transaction", bad);
    assert!(desc.contains("drive-backup"), "{desc}");
    let worse = json!({"actions": [{"type": "blockdev-add", "data": {}}]});
    refused("transaction", worse);
}

/// docs/qmp-security.md must be what [`security_doc`] renders; `MAQET_UPDATE_DOCS=1` rewrites it.
#[test]
fn qmp_security_doc_is_generated_from_the_allow_list() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/qmp-security.md");
    let want = security_doc();
    if std::env::var_os("MAQET_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is stale; regenerate it with `MAQET_UPDATE_DOCS=1 cargo test -p maqet-runner qmp_security_doc`",
        path.display()
    );
}
