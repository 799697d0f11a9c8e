//! Issue P, the last edge: a `maqet cp` out of the guest killed with SIGKILL (which no handler
//! can catch) leaves nothing in the destination directory, because the copy is written to an
//! unnamed `O_TMPFILE` there and linked onto its name only when complete; a finished copy still
//! gets its name, also over an existing file with `--force`. Real QEMU (TCG), the test guest
//! and its real qemu-ga. (The named fallback for file systems without `O_TMPFILE` is checked
//! in `hostile_cp.rs`.)
//!
//! Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use maqet_tests::MaqetHome;
use maqet_tests::cli::{describe, guest_sh, maqet, maqet_ok, start_agent_guest};

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list the destination")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// `maqet ARGS` in `home` as a child process the test can kill.
fn spawn_maqet(home: &MaqetHome, args: &[&str]) -> Child {
    home.std_cmd()
        .args(args)
        .current_dir(home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the maqet binary must run")
}

/// Waits until `child` holds an unnamed file in `dir` (`/proc/PID/fd` shows it as
/// `DIR/#INODE (deleted)`) with bytes in it; returns its descriptor path and size.
fn wait_for_unnamed_copy(dir: &Path, child: &mut Child) -> (PathBuf, u64) {
    let prefix = format!("{}/#", dir.canonicalize().unwrap().display());
    let fds = PathBuf::from(format!("/proc/{}/fd", child.id()));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let found = std::fs::read_dir(&fds)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|fd| {
                        std::fs::read_link(fd)
                            .is_ok_and(|t| t.to_string_lossy().starts_with(&prefix))
                    })
                    .find_map(|fd| {
                        let len = std::fs::metadata(&fd).map(|m| m.len()).unwrap_or(0);
                        (len > 0).then_some((fd, len))
                    })
            })
            .unwrap_or_default();
        if let Some(found) = found {
            return found;
        }
        assert_eq!(
            names_in(dir),
            Vec::<String>::new(),
            "the copy in progress is visible in {}",
            dir.display()
        );
        if let Some(status) = child.try_wait().expect("poll the copy") {
            panic!(
                "the copy ended ({status}) before an unnamed file with data was seen in {}: \
                 does this file system support O_TMPFILE?",
                dir.display()
            );
        }
        assert!(
            Instant::now() < deadline,
            "no unnamed file appeared in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_sigkilled_copy_out_of_the_guest_leaves_nothing_in_the_destination() {
    let home = MaqetHome::new();
    start_agent_guest(&home, "ck");
    guest_sh(
        &home,
        "ck",
        "head -c 67108864 /dev/urandom > /tmp/big && printf small > /tmp/small",
    );
    let dest = home.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let dest_arg = dest.to_str().unwrap();

    // A finished copy gets its name; `--force` replaces an existing file.
    maqet_ok(&home, &["cp", "ck:/tmp/small", dest_arg]);
    assert_eq!(std::fs::read(dest.join("small")).unwrap(), b"small");
    std::fs::write(dest.join("small"), b"older").unwrap();
    let args = ["cp", "ck:/tmp/small", dest_arg];
    let out = maqet(&home, &args);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&args, &out));
    assert_eq!(std::fs::read(dest.join("small")).unwrap(), b"older");
    maqet_ok(&home, &["cp", "--force", "ck:/tmp/small", dest_arg]);
    assert_eq!(std::fs::read(dest.join("small")).unwrap(), b"small");
    assert_eq!(names_in(&dest), vec!["small"]);
    std::fs::remove_file(dest.join("small")).unwrap();

    // SIGKILL in the middle of the 64 MiB copy: nothing in the directory, no record to clean.
    let mut child = spawn_maqet(&home, &["cp", "ck:/tmp/big", dest_arg]);
    let pid = child.id();
    let (fd, written) = wait_for_unnamed_copy(&dest, &mut child);
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(
        written < 64 << 20,
        "the copy was cut in the middle ({written} bytes through {})",
        fd.display()
    );
    assert!(!status.success(), "{status}");
    assert_eq!(names_in(&dest), Vec::<String>::new());
    let record = home.data_dir().join("cp-partials").join(pid.to_string());
    assert!(!record.exists(), "{} was left", record.display());
    let out = maqet(&home, &["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("no partial files of interrupted `cp` runs"),
        "{text}"
    );

    // The VM is still usable and the next copy of the same file completes.
    maqet_ok(&home, &["cp", "ck:/tmp/big", dest_arg]);
    assert_eq!(std::fs::metadata(dest.join("big")).unwrap().len(), 64 << 20);
    assert_eq!(names_in(&dest), vec!["big"]);
    let out = maqet(&home, &["stop", "ck", "--force"]);
    assert!(out.status.success(), "{}", describe(&["stop"], &out));
}
