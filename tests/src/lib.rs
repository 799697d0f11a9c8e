//! Shared support for maqet's end-to-end tests.
//!
//! End-to-end tests drive the real `maqet` binary (or the Rust API) against real QEMU running
//! the tiny Linux test guest built by `tests/guest/build-guest.sh`. This crate keeps the set-up
//! out of the tests so they read as what they check:
//!
//! - [`test_guest`] builds (once, cached on disk) and returns the guest's kernel and initrd;
//!   [`guest_config_yaml`] turns it into a maqet VM config.
//! - [`MaqetHome`] is a throw-away maqet home (data, config, runtime dirs) whose
//!   [`MaqetHome::cmd`] runs the `maqet` binary against it; dropping it kills any QEMU or
//!   runner left behind, even when the test panicked.
//! - [`wait_for_file_text`] waits for text such as the guest's `MAQET-GUEST READY` banner in
//!   a serial log; [`QemuProcessGuard`] kills a QEMU the test started itself;
//!   [`QmpTestClient`] talks raw QMP without any maqet crate.
//! - [`maqet_snapshot!`] snapshots what a `maqet` command prints (filters in [`snapshot`]).
//! - [`sqlite`] edits and holds the state database (rusqlite) behind maqet's back.
//! - [`guest_checks`]: slow `maqet` commands, forwarded ports (loopback only, sshd's
//!   banner), the guest's slirp interface and libvirt domains removed after a test.
//! - [`libvirtd`] runs a libvirtd for the tests (configured for this container, put back
//!   after); [`TestSshd`] is a loopback-only sshd for `qemu+ssh://` tests.
//!
//! The guest prints, on its serial console (ttyS0) and on the VGA console (tty1):
//! `MAQET-GUEST BLOCK: <devices>`, `MAQET-GUEST CDROM <label>: <files>` for each ISO 9660
//! medium, `MAQET-GUEST 9P: <tags>` (and `MAQET-GUEST 9P <tag>: <files>`) for 9p shares, then
//! [`READY_BANNER`]. It powers off at once on an ACPI power-button press unless the kernel
//! command line has [`IGNORE_ACPI_PARAM`]. Shells run on tty1 (interactive, prompt `# `) and
//! on ttyS0 (non-interactive: commands written to the serial port run, output comes back).
//! With [`evil_agent_append`]'s command line a hostile stand-in for qemu-ga serves the agent
//! port (floods, oversized replies, wrong sync ids, crafted exit codes and listings).
//!
//! ```no_run
//! use maqet_tests::{MaqetHome, guest_config_yaml, test_guest};
//!
//! let guest = test_guest();
//! assert!(guest.kernel.exists());
//!
//! let home = MaqetHome::new();
//! let config = home.write_config("vm1", &guest_config_yaml("vm1", ""));
//! home.cmd().arg("add").arg(&config).assert().success();
//! ```

// This crate is test support: a failed set-up step (no sshd, a port taken, a file that cannot
// be written) must fail the test at once with the reason, which is what `expect` does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod binaries;
mod debian;
mod efi_guest;
mod files;
mod guest;
mod home;
mod http_server;
mod process;
mod qmp;
mod sshd;

pub mod snapshot;
pub mod sqlite;

pub mod libvirtd;

pub mod guest_checks;

pub mod cli;

pub use binaries::{maqet_binary, maqet_runner_binary};
pub use debian::{DEBIAN_KERNEL_CMDLINE, DEBIAN_LOGIN_PROMPT, debian_efi_guest, debian_guest};
pub use efi_guest::{efi_guest_config_yaml, efi_test_guest, nvram_raw_bytes};
pub use files::{
    names_in, paths_below, pseudo_random_bytes, qemu_img, sha256_of_bytes, sha256_of_file,
    sizes_in, wait_for_file_text,
};
pub use guest::{
    EVIL_AGENT_PARAM, GUEST_KERNEL_APPEND, IGNORE_ACPI_PARAM, READY_BANNER, TestGuest,
    evil_agent_append, guest_config_yaml, guest_config_yaml_with_append, plain_qemu_command,
    test_guest,
};
pub use home::MaqetHome;
pub use http_server::{LoggedRequest, TestHttpServer};
pub use process::{QemuProcessGuard, kill_processes_mentioning, qemu_pids_mentioning};
pub use qmp::QmpTestClient;
pub use sshd::TestSshd;
