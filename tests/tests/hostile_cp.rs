//! Issue P, guest side: a guest that is root inside the VM (it replaces `find`, turns files into
//! endless streams) must not be able to write anywhere on the host through `maqet cp`, and
//! `maqet exec` reports only honest exit codes. Real QEMU (TCG), the test guest and its real
//! qemu-ga; the attacks are set up with `maqet exec` as root in the guest.
//!
//! Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use maqet_tests::MaqetHome;
use maqet_tests::cli::{describe, fails_with, guest_sh, maqet, maqet_ok, start_agent_guest};

fn arg(path: &Path) -> &str {
    path.to_str().expect("UTF-8 test path")
}

/// Every path below `dir` (not following links), sorted.
fn tree(dir: &Path) -> Vec<PathBuf> {
    maqet_tests::paths_below(dir, false)
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .expect("the copied file")
        .permissions()
        .mode()
        & 0o7777
}

/// `maqet ARGS` in `home` as a child process whose pid the test can signal. Its `cp` writes
/// named partial files (`MAQET_TEST_NAMED_PARTIALS=1`, the fallback for file systems without
/// `O_TMPFILE`), so these tests see and check them; `cp_sigkill.rs` checks the unnamed ones.
fn spawn_maqet(home: &MaqetHome, args: &[&str]) -> Child {
    home.std_cmd()
        .env("MAQET_TEST_NAMED_PARTIALS", "1")
        .args(args)
        .current_dir(home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the maqet binary must run")
}

/// Waits until a `.NAME.maqet-partial-PID` file appears in `dir` and returns it.
fn wait_for_partial(dir: &Path, child: &mut Child) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let found = std::fs::read_dir(dir)
            .expect("list the destination")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().contains(".maqet-partial-"));
        if let Some(partial) = found {
            return partial;
        }
        if let Some(status) = child.try_wait().expect("poll the copy") {
            panic!("the copy ended ({status}) before its partial file was seen");
        }
        assert!(
            Instant::now() < deadline,
            "no partial file appeared in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_hostile_guest_cannot_make_cp_write_outside_the_destination_or_fill_the_disk() {
    let home = MaqetHome::new();
    start_agent_guest(&home, "hc");
    let out = home.path().join("out");
    std::fs::create_dir(&out).unwrap();

    // The real find: a name with a newline arrives whole; permission bits come along, but
    // never setuid.
    guest_sh(
        &home,
        "hc",
        "mkdir -p /tmp/d/sub && printf 'one\\n' > /tmp/d/a.txt && chmod 640 /tmp/d/a.txt \
         && printf 'two' > '/tmp/d/new\nline' && printf 'x' > /tmp/d/sub/tool \
         && chmod 4755 /tmp/d/sub/tool",
    );
    let copy = out.join("copy");
    maqet_ok(&home, &["cp", "-r", "hc:/tmp/d", arg(&copy)]);
    assert_eq!(std::fs::read(copy.join("a.txt")).unwrap(), b"one\n");
    assert_eq!(std::fs::read(copy.join("new\nline")).unwrap(), b"two");
    assert_eq!(mode(&copy.join("a.txt")), 0o640);
    assert_eq!(
        mode(&copy.join("sub/tool")),
        0o755,
        "setuid must not reach the host"
    );
    assert!(!copy.join("new").exists() && !copy.join("line").exists());

    // A guest `find` that lists entries outside the directory asked for.
    let before = tree(home.path());
    guest_sh(
        &home,
        "hc",
        r#"mv /bin/find /tmp/find.real && cat > /bin/find <<'END'
#!/bin/sh
printf '%s\0' "$1/a.txt" "$1/../../escape" /etc/escape-abs "$1/x
/../../escape-nl"
END
chmod 755 /bin/find"#,
    );
    // (Through the agent, as maqet runs it: busybox sh would run its own applet instead.)
    let listing = maqet_ok(&home, &["exec", "hc", "--", "find", "/tmp/d"]).stdout;
    assert!(
        listing.contains(&0),
        "the fake find is in place: {listing:?}"
    );
    for dest in ["evil", "evil2/"] {
        let target = out.join(dest);
        if dest.ends_with('/') {
            std::fs::create_dir(&target).unwrap();
        }
        let err = fails_with(&home, &["cp", "-r", "hc:/tmp/d", arg(&target)], 1);
        assert!(
            err.contains("../../escape"),
            "the error names the entry: {err}"
        );
        assert!(err.contains("not to be trusted"), "{err}");
    }
    let escaped: Vec<PathBuf> = tree(home.path())
        .into_iter()
        .filter(|p| !before.contains(p))
        .filter(|p| !p.starts_with(&out) && !p.starts_with(home.path().join("xdg")))
        .filter(|p| !p.starts_with(home.data_dir()) && !p.starts_with(home.runtime_dir()))
        .collect();
    assert!(
        escaped.is_empty(),
        "written outside the destination: {escaped:?}"
    );
    assert!(!home.path().join("escape").exists() && !out.join("escape").exists());
    assert!(
        tree(&out)
            .iter()
            .all(|p| !p.to_string_lossy().contains("escape"))
    );
    guest_sh(&home, "hc", "mv /tmp/find.real /bin/find");

    // A file turned into an endless stream: a device or a FIFO is refused for what it is, and
    // when the guest's `stat` lies about it, the copy stops at the size it reported; either
    // way nothing is left on the host.
    guest_sh(
        &home,
        "hc",
        "ln -s /dev/zero /tmp/zero && head -c 3145728 /dev/urandom > /tmp/three && mkfifo /tmp/fifo \
         && { sh -c 'yes > /tmp/fifo' </dev/null >/dev/null 2>&1 & }",
    );
    let streams = home.path().join("streams");
    std::fs::create_dir(&streams).unwrap();
    for src in ["hc:/tmp/zero", "hc:/tmp/fifo"] {
        let err = fails_with(&home, &["cp", src, arg(&streams)], 3);
        assert!(err.contains("is not a regular file in the guest"), "{err}");
        assert!(tree(&streams).is_empty(), "{:?}", tree(&streams));
    }
    guest_sh(
        &home,
        "hc",
        r#"mv /bin/stat /tmp/stat.real && cat > /bin/stat <<'END'
#!/bin/sh
for a; do case "$a" in -*|%*) ;; *) echo "0 81a4";; esac; done
END
chmod 755 /bin/stat"#,
    );
    let err = fails_with(&home, &["cp", "hc:/tmp/zero", arg(&streams)], 1);
    assert!(err.contains("grew beyond the 0 bytes"), "{err}");
    assert!(tree(&streams).is_empty(), "{:?}", tree(&streams));
    guest_sh(&home, "hc", "mv /tmp/stat.real /bin/stat");
    // --max-bytes bounds what one copy may write, before anything is written.
    let err = fails_with(
        &home,
        &["cp", "--max-bytes", "1M", "hc:/tmp/three", arg(&streams)],
        1,
    );
    assert!(err.contains("--max-bytes"), "{err}");
    assert!(tree(&streams).is_empty(), "{:?}", tree(&streams));
    let err = fails_with(
        &home,
        &["cp", "--max-bytes", "ten", "hc:/tmp/three", arg(&streams)],
        3,
    );
    assert!(err.contains("--max-bytes ten"), "{err}");
    // The bound is for the whole copy, across files.
    guest_sh(
        &home,
        "hc",
        "mkdir /tmp/two && head -c 1048576 /dev/urandom > /tmp/two/a && cp /tmp/two/a /tmp/two/b",
    );
    let two = streams.join("two");
    let err = fails_with(
        &home,
        &["cp", "-r", "--max-bytes", "1536K", "hc:/tmp/two", arg(&two)],
        1,
    );
    assert!(err.contains("`--max-bytes` still allows"), "{err}");
    assert_eq!(
        std::fs::read_dir(&two).unwrap().count(),
        1,
        "{:?}",
        tree(&two)
    );
    std::fs::remove_dir_all(&two).unwrap();
    maqet_ok(
        &home,
        &["cp", "--max-bytes", "3M", "hc:/tmp/three", arg(&streams)],
    );
    assert_eq!(
        std::fs::metadata(streams.join("three")).unwrap().len(),
        3 << 20
    );
}

#[test]
fn an_interrupted_copy_leaves_no_partial_file_and_killed_ones_are_cleaned_later() {
    let home = MaqetHome::new();
    start_agent_guest(&home, "hs");
    guest_sh(&home, "hs", "head -c 67108864 /dev/urandom > /tmp/big");
    let dest = home.path().join("dest");
    std::fs::create_dir(&dest).unwrap();

    // SIGINT, SIGTERM and SIGHUP: the partial goes, and maqet ends by that signal (the shell
    // shows 130, 143, 129 as before).
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        let mut child = spawn_maqet(&home, &["cp", "hs:/tmp/big", arg(&dest)]);
        let partial = wait_for_partial(&dest, &mut child);
        let pid = i32::try_from(child.id()).unwrap();
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
        let status = child.wait().expect("wait for the copy");
        assert_eq!(status.signal(), Some(signal), "{status}");
        assert!(
            !partial.exists(),
            "{} stayed after signal {signal}",
            partial.display()
        );
        assert!(tree(&dest).is_empty(), "{:?}", tree(&dest));
    }

    // SIGKILL leaves the partial; the next cp into the directory removes it.
    let mut child = spawn_maqet(&home, &["cp", "hs:/tmp/big", arg(&dest)]);
    let partial = wait_for_partial(&dest, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        partial.exists(),
        "SIGKILL cannot be caught: the partial is still there"
    );
    guest_sh(&home, "hs", "printf small > /tmp/small");
    let args = ["cp", "hs:/tmp/small", arg(&dest)];
    let out = maqet_ok(&home, &args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("removed partial files"),
        "{}",
        describe(&args, &out)
    );
    assert!(!partial.exists());

    // ... and `maqet doctor` finds one left in a directory no later cp touched.
    let other = home.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let mut child = spawn_maqet(&home, &["cp", "hs:/tmp/big", arg(&other)]);
    let partial = wait_for_partial(&other, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    let out = maqet(&home, &["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("cp-partials") && text.contains("--fix"),
        "{text}"
    );
    assert!(partial.exists());
    let out = maqet(&home, &["doctor", "--fix"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("removed 1 partial file"), "{text}");
    assert!(!partial.exists());
    // A file that only looks like a partial of a dead pid but is a link is never touched.
    let decoy = other.join(".x.maqet-partial-999999999");
    std::os::unix::fs::symlink("/etc/hostname", &decoy).unwrap();
    maqet_ok(&home, &["cp", "--force", "hs:/tmp/small", arg(&other)]);
    assert!(decoy.symlink_metadata().unwrap().file_type().is_symlink());
}

#[test]
fn cp_into_the_guest_keeps_links_and_modes_and_exec_codes_are_honest() {
    let home = MaqetHome::new();
    start_agent_guest(&home, "he");

    // Host links are sent as links (a loop is just a link), modes are kept, setuid is not,
    // a FIFO is skipped and named.
    let src = home.path().join("tree");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("secret"), b"s").unwrap();
    std::fs::set_permissions(src.join("secret"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::write(src.join("sub/run"), b"#!/bin/sh\n").unwrap();
    std::fs::set_permissions(src.join("sub/run"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    std::os::unix::fs::symlink("loop", src.join("loop")).unwrap();
    std::os::unix::fs::symlink("/", src.join("root")).unwrap();
    let fifo = src.join("pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let args = ["cp", "-r", arg(&src), "he:/tmp/"];
    let out = maqet_ok(&home, &args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("skipped 1 entry") && text.contains("pipe"),
        "{}",
        describe(&args, &out)
    );
    let modes = guest_sh(
        &home,
        "he",
        "stat -c '%a %n' /tmp/tree/secret /tmp/tree/sub/run; readlink /tmp/tree/loop; readlink /tmp/tree/root; \
         test -e /tmp/tree/pipe || echo no-pipe",
    );
    assert_eq!(
        modes,
        "640 /tmp/tree/secret\n755 /tmp/tree/sub/run\nloop\n/\nno-pipe\n"
    );
    let single = home.path().join("single");
    std::fs::write(&single, b"1").unwrap();
    std::fs::set_permissions(&single, std::fs::Permissions::from_mode(0o600)).unwrap();
    maqet_ok(&home, &["cp", arg(&single), "he:/tmp/single"]);
    let err = fails_with(
        &home,
        &["cp", "--max-bytes", "1M", arg(&single), "he:/tmp/other"],
        3,
    );
    assert!(err.contains("from a guest"), "{err}");
    assert_eq!(guest_sh(&home, "he", "stat -c %a /tmp/single"), "600\n");

    // A program that does not exist exits 127, as in a shell.
    let out = maqet(&home, &["exec", "he", "--", "/no/such"]);
    assert_eq!(
        out.status.code(),
        Some(127),
        "{}",
        describe(&["exec"], &out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/no/such: no such program"), "{stderr}");
    let out = maqet(&home, &["exec", "he", "--", "/etc"]);
    assert_eq!(
        out.status.code(),
        Some(126),
        "{}",
        describe(&["exec"], &out)
    );
    // Output the agent cut at 16 MiB: a warning and a non-zero exit, not a silent success.
    let out = maqet(
        &home,
        &[
            "exec",
            "he",
            "--timeout",
            "300",
            "--",
            "head",
            "-c",
            "17000000",
            "/dev/zero",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("16 MiB"));
    assert_eq!(out.stdout.len(), 16 << 20);
}
