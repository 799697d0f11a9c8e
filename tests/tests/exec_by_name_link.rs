//! Issue Q §1 through real QEMU (TCG) and the test guest: `maqet exec NAME` reaches a running
//! VM's runner through the name link its runner leaves in the runtime dir, without the state
//! database; a link maqet did not write (a bogus id, or one in a directory others may write) is
//! not believed, and `rm` takes a removed VM's link away.
//!
//! Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::{PermissionsExt, symlink};

use maqet_tests::MaqetHome;
use maqet_tests::cli::{guest_sh, maqet, maqet_ok, start_agent_guest, vm_id};

#[test]
fn exec_by_name_needs_no_database_and_trusts_only_maqets_own_links() {
    let home = MaqetHome::new();
    start_agent_guest(&home, "linked");
    let names = home.runtime_dir().join("names");
    let link = names.join("linked");
    assert_eq!(
        std::fs::read_link(&link).unwrap().to_string_lossy(),
        vm_id(&home, "linked"),
        "the runner links the VM's name to its id"
    );

    // With the database moved away, exec by name still reaches the guest (and creates no new
    // database: it never opened one).
    let db = home.data_dir().join("maqet.db");
    let away = home.data_dir().join("maqet.db.away");
    std::fs::rename(&db, &away).unwrap();
    let out = maqet(&home, &["exec", "linked", "--", "echo", "no database"]);
    let created = db.exists();
    std::fs::rename(&away, &db).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "no database\n");
    assert!(!created, "exec by name opened (and so created) a database");

    // A link to an id that is no VM: the database lookup takes over and finds the VM.
    std::fs::remove_file(&link).unwrap();
    symlink("not-a-vm", &link).unwrap();
    assert_eq!(guest_sh(&home, "linked", "echo fallback"), "fallback\n");

    // A names directory others may write is not believed, even with a link to the right id
    // (`-vv` shows which way the VM was found).
    std::fs::remove_file(&link).unwrap();
    symlink(vm_id(&home, "linked"), &link).unwrap();
    let through_link = |home: &MaqetHome| {
        let out = maqet(home, &["-vv", "exec", "linked", "--", "true"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).contains("through the runtime name link")
    };
    assert!(through_link(&home), "maqet's own link is used");
    std::fs::set_permissions(&names, std::fs::Permissions::from_mode(0o777)).unwrap();
    let believed = through_link(&home);
    std::fs::set_permissions(&names, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(
        !believed,
        "exec trusted a link in a directory others may write"
    );

    // `rm` removes the VM's link.
    maqet_ok(&home, &["rm", "linked", "--force"]);
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "the link of a removed VM stays"
    );
}
