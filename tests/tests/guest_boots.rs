//! The test guest itself: it boots under plain QEMU (TCG), reports ready on the serial console,
//! powers off on the ACPI power button, and ignores the button when told to.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use maqet_tests::{
    GUEST_KERNEL_APPEND, IGNORE_ACPI_PARAM, QemuProcessGuard, QmpTestClient, READY_BANNER,
    plain_qemu_command, test_guest, wait_for_file_text,
};
use tempfile::TempDir;

const BOOT_TIMEOUT: Duration = Duration::from_secs(60);

struct BootedGuest {
    qemu: QemuProcessGuard,
    qmp: QmpTestClient,
    serial_log: PathBuf,
    boot_time: Duration,
    _dir: TempDir,
}

fn boot_guest(append: &str) -> BootedGuest {
    let guest = test_guest();
    let dir = tempfile::Builder::new()
        .prefix("maqet-guest-")
        .tempdir()
        .unwrap();
    let serial_log = dir.path().join("serial.log");
    let qmp_socket = dir.path().join("q.sock");
    let started = Instant::now();
    let child = plain_qemu_command(&guest, append, &serial_log, &qmp_socket)
        .stdin(Stdio::null())
        .spawn()
        .expect("qemu-system-x86_64 must be installed");
    let qemu = QemuProcessGuard::new(child);
    let qmp = QmpTestClient::connect(&qmp_socket, Duration::from_secs(10)).unwrap();
    wait_for_file_text(&serial_log, READY_BANNER, BOOT_TIMEOUT).unwrap();
    let boot_time = started.elapsed();
    eprintln!("guest ready after {boot_time:?}");
    BootedGuest {
        qemu,
        qmp,
        serial_log,
        boot_time,
        _dir: dir,
    }
}

#[test]
fn guest_powers_off_on_the_acpi_power_button() {
    let mut vm = boot_guest(GUEST_KERNEL_APPEND);
    let block = wait_for_file_text(&vm.serial_log, r"MAQET-GUEST BLOCK:[^\r\n]*", BOOT_TIMEOUT);
    assert!(
        block.unwrap().contains("sr0"),
        "the default pc machine has an IDE cdrom"
    );

    let pressed = Instant::now();
    vm.qmp.execute("system_powerdown", None).unwrap();
    let shutdown = vm
        .qmp
        .wait_for_event("SHUTDOWN", Duration::from_secs(30))
        .unwrap();
    let latency = pressed.elapsed();
    assert_eq!(shutdown["data"]["reason"], "guest-shutdown", "{shutdown}");
    let status = vm.qemu.wait_for_exit(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "QEMU must exit by itself after the guest powered off (-no-reboot): {status:?}"
    );
    eprintln!(
        "boot {:?}, power button to SHUTDOWN {latency:?}",
        vm.boot_time
    );
}

#[test]
fn guest_ignores_the_power_button_when_told_to() {
    let append = format!("{GUEST_KERNEL_APPEND} {IGNORE_ACPI_PARAM}");
    let mut vm = boot_guest(&append);
    vm.qmp.execute("system_powerdown", None).unwrap();
    vm.qmp
        .wait_for_event("POWERDOWN", Duration::from_secs(10))
        .unwrap();
    assert!(
        vm.qemu.wait_for_exit(Duration::from_secs(2)).is_none(),
        "the guest must keep running after the power button with {IGNORE_ACPI_PARAM}"
    );
    assert!(
        vm.qmp.events().iter().all(|e| e["event"] != "SHUTDOWN"),
        "no SHUTDOWN expected: {:?}",
        vm.qmp.events()
    );
}

#[test]
fn guest_runs_commands_typed_on_its_serial_console() {
    let guest = test_guest();
    let dir = tempfile::tempdir().unwrap();
    let serial_socket = dir.path().join("serial.sock");
    let console_log = dir.path().join("console.log");
    let child = std::process::Command::new("qemu-system-x86_64")
        .args([
            "-accel",
            "tcg",
            "-m",
            "256M",
            "-display",
            "none",
            "-no-reboot",
        ])
        .arg("-kernel")
        .arg(&guest.kernel)
        .arg("-initrd")
        .arg(&guest.initrd)
        .args(["-append", GUEST_KERNEL_APPEND])
        .arg("-chardev")
        .arg(format!(
            "socket,id=s0,path={},server=on,wait=off,logfile={}",
            serial_socket.display(),
            console_log.display()
        ))
        .args(["-serial", "chardev:s0"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let _qemu = QemuProcessGuard::new(child);
    wait_for_file_text(&console_log, READY_BANNER, BOOT_TIMEOUT).unwrap();

    let mut serial = connect_with_retry(&serial_socket);
    use std::io::Write;
    serial.write_all(b"echo sum=$((40 + 2))\n").unwrap();
    let answer = wait_for_file_text(&console_log, r"sum=42", Duration::from_secs(30));
    assert_eq!(answer.unwrap(), "sum=42");
}

fn connect_with_retry(path: &std::path::Path) -> std::os::unix::net::UnixStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(stream) => return stream,
            Err(e) if Instant::now() >= deadline => panic!("{}: {e}", path.display()),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}
