//! The allow-list: QMP commands known to be safe for a raw client, and which of their
//! arguments name host paths (checked by [`super::paths`]).
//!
//! Anything QEMU knows that is not listed here needs the dangerous-commands opt-in.

/// How a host path argument is used by QEMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathUse {
    /// QEMU creates or writes the file.
    Write,
    /// QEMU reads the file (and may show it to the guest).
    Read,
}

/// What the gate checks before letting an allow-listed command through.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    /// Nothing: the command names no host resource.
    None,
    /// These arguments (dotted paths into `arguments`) are host paths.
    Paths(&'static [(&'static str, PathUse)]),
    /// `uri` of `migrate`: only `unix:` and `file:` with a checked path.
    MigrateUri,
    /// `protocol` of `dump-guest-memory`: `file:` with a checked path, or `fd:`.
    DumpProtocol,
    /// `backend` of `chardev-change`: `file` and unix `socket` paths checked, `null`,
    /// `ringbuf`, `memory` fine, every other backend needs the opt-in.
    ChardevBackend,
    /// An image QEMU opens: the path, then every file the image names (backing chain, data
    /// file), read with qemu-img ([`super::images`]).
    Image(ImageArg),
    /// `device_add`: the driver and every property that names a host resource, as
    /// `host_properties.txt` classifies them ([`super::devices`]).
    DeviceAdd,
    /// `transaction`: every action is checked as the command of the same name.
    Transaction,
}

/// When QEMU opens an existing image named by an argument (rather than creating a new one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opens {
    /// Always: the image must exist.
    Always,
    /// Only when the argument `mode` is `existing`; otherwise QEMU creates the file.
    WhenModeExisting,
}

/// An argument naming an image, and the argument naming its format.
#[derive(Debug, Clone, Copy)]
pub struct ImageArg {
    /// The argument with the image's path.
    pub path: &'static str,
    /// The argument with the image's format (QEMU probes the format when it is absent).
    pub format: &'static str,
    /// How QEMU uses the image.
    pub usage: PathUse,
    /// When QEMU opens an existing file.
    pub opens: Opens,
}

/// One allow-list row: a command name (or a `prefix*`), its check, and why it is safe.
#[derive(Debug, Clone, Copy)]
pub struct Allowed {
    /// The command, or a prefix ending in `*`.
    pub name: &'static str,
    /// What is checked first.
    pub check: Check,
    /// Why it is on the list (shown in docs/qmp-security.md).
    pub why: &'static str,
}

const fn safe(name: &'static str, why: &'static str) -> Allowed {
    Allowed {
        name,
        check: Check::None,
        why,
    }
}

const fn checked(name: &'static str, check: Check, why: &'static str) -> Allowed {
    Allowed { name, check, why }
}

/// Every command a raw QMP client may run without the opt-in, in documentation order.
pub const ALLOW_LIST: &[Allowed] = &[
    safe("qmp_capabilities", "protocol negotiation"),
    safe("query-*", "reads VM state"),
    safe("x-query-*", "reads VM state (text reports)"),
    safe("qom-list", "reads the object tree"),
    safe("qom-get", "reads an object property"),
    safe("qom-list-types", "reads the type list"),
    safe("qom-list-properties", "reads a type's properties"),
    safe("device-list-properties", "reads a device type's properties"),
    safe("stop", "pauses the guest CPUs"),
    safe("cont", "resumes the guest CPUs"),
    safe("system_reset", "resets the guest"),
    safe("system_powerdown", "ACPI power button"),
    safe("system_wakeup", "wakes a suspended guest"),
    safe("send-key", "guest keyboard input"),
    safe("input-send-event", "guest keyboard and mouse input"),
    safe("balloon", "guest memory balloon target"),
    safe("set_link", "guest NIC link state"),
    safe("announce-self", "guest NIC announcements"),
    safe("eject", "removes a medium from the VM's own drive"),
    safe("block_resize", "resizes one of the VM's own block nodes"),
    safe("block_set_io_throttle", "I/O limits on the VM's own drives"),
    safe("block-set-write-threshold", "an event threshold"),
    checked(
        "block-stream",
        Check::Paths(&[("backing-file", PathUse::Read)]),
        "merges a backing chain into the VM's own image (`backing-file` is the name written into it, which QEMU opens at the next start)",
    ),
    safe(
        "block-dirty-bitmap-*",
        "dirty bitmaps inside the VM's own images",
    ),
    safe("block-job-*", "controls running block jobs"),
    safe("job-*", "controls running jobs"),
    safe(
        "blockdev-snapshot",
        "makes an existing node an overlay (no host path)",
    ),
    safe(
        "blockdev-snapshot-internal-sync",
        "internal snapshot inside the VM's own image",
    ),
    safe(
        "blockdev-snapshot-delete-internal-sync",
        "deletes an internal snapshot",
    ),
    safe(
        "snapshot-save",
        "internal VM snapshot inside the VM's own images",
    ),
    safe("snapshot-load", "loads an internal VM snapshot"),
    safe("snapshot-delete", "deletes an internal VM snapshot"),
    safe("device_del", "hot-unplugs a guest device"),
    safe("blockdev-del", "removes a block node"),
    safe("chardev-remove", "removes a character device"),
    safe("netdev_del", "removes a network backend"),
    safe("object-del", "removes an object"),
    safe("closefd", "closes a descriptor QEMU holds"),
    safe("migrate_cancel", "cancels a migration"),
    safe("migrate-set-capabilities", "migration settings only"),
    safe("migrate-set-parameters", "migration settings only"),
    safe("watchdog-set-action", "what the guest watchdog does"),
    safe("set-action", "what guest events do"),
    safe("rtc-reset-reinjection", "guest clock"),
    safe("trace-event-set-state", "QEMU tracing on or off"),
    checked(
        "screendump",
        Check::Paths(&[("filename", PathUse::Write)]),
        "writes an image where the client says",
    ),
    checked(
        "blockdev-change-medium",
        Check::Image(ImageArg {
            path: "filename",
            format: "format",
            usage: PathUse::Read,
            opens: Opens::Always,
        }),
        "opens an image for the guest",
    ),
    checked(
        "blockdev-snapshot-sync",
        Check::Image(ImageArg {
            path: "snapshot-file",
            format: "format",
            usage: PathUse::Write,
            opens: Opens::WhenModeExisting,
        }),
        "creates an overlay file (or opens an existing one)",
    ),
    checked(
        "drive-backup",
        Check::Image(ImageArg {
            path: "target",
            format: "format",
            usage: PathUse::Write,
            opens: Opens::WhenModeExisting,
        }),
        "copies a disk to a new (or existing) image",
    ),
    checked(
        "pmemsave",
        Check::Paths(&[("filename", PathUse::Write)]),
        "writes guest physical memory to a file",
    ),
    checked(
        "memsave",
        Check::Paths(&[("filename", PathUse::Write)]),
        "writes guest virtual memory to a file",
    ),
    checked(
        "dump-guest-memory",
        Check::DumpProtocol,
        "writes a guest memory dump to a file",
    ),
    checked(
        "migrate",
        Check::MigrateUri,
        "saves the guest to a local file or socket",
    ),
    checked(
        "chardev-change",
        Check::ChardevBackend,
        "points a character device at a file or socket",
    ),
    checked(
        "device_add",
        Check::DeviceAdd,
        "hot-plugs an emulated guest device",
    ),
    checked(
        "transaction",
        Check::Transaction,
        "runs several of the commands above at once",
    ),
];

/// The allow-list row for `command`, if it has one.
pub fn find(command: &str) -> Option<&'static Allowed> {
    ALLOW_LIST
        .iter()
        .find(|row| match row.name.strip_suffix('*') {
            Some(prefix) => command.starts_with(prefix),
            None => command == row.name,
        })
}
