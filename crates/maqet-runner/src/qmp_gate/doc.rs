//! docs/qmp-security.md, rendered from the allow-list so the page cannot go stale.

use std::fmt::Write;

use super::devices::{HOST_NAME_PARTS, HostUse, host_properties};
use super::images::{CHECKED_FORMATS, MAX_CHAIN};
use super::list::{ALLOW_LIST, Check, ImageArg, Opens, PathUse};
use super::paths::SYSTEM_DIRS;
use super::{ALLOW_DANGEROUS_CAPABILITY, REFUSAL_PREFIX};

const INTRO: &str = "# Raw QMP: what is allowed\n\n\
<!-- Generated from crates/maqet-runner/src/qmp_gate by `MAQET_UPDATE_DOCS=1 cargo test -p maqet-runner qmp_security_doc`; do not edit by hand. -->\n\n\
Raw QMP reaches QEMU two ways: `maqet qmp VM COMMAND` (and `qmp run`, and `Maqet::qmp_execute`),\n\
and any client of the VM's `qmp.sock` (see [qmp.md](qmp.md)). Both go through the same gate in\n\
the VM's runner, an **allow-list**: a command QEMU knows is refused unless it is listed below,\n\
and the listed commands that name host paths have those paths checked first. A command QEMU\n\
does not know is passed on, so QEMU answers it with its own `CommandNotFound`.\n\n\
A refusal is a QEMU-style `GenericError` whose `desc` starts with `maqet refused` and says why\n\
and how to go ahead; the CLI exits with status 3.\n\n\
## Opting in to dangerous commands\n\n";

pub fn security_doc() -> String {
    let mut doc = String::from(INTRO);
    let _ = write!(
        doc,
        "- CLI: `maqet qmp VM COMMAND --allow-dangerous` (Rust: `allow_dangerous = true`).\n\
         - Socket: negotiate with `{{\"execute\": \"qmp_capabilities\", \"arguments\": {{\"enable\": [\"{ALLOW_DANGEROUS_CAPABILITY}\"]}}}}`.\n  \
         The capability is a maqet extension; it is not advertised in the greeting (so clients that\n  \
         enable every offered capability do not get it by accident) and is honoured only for a peer\n  \
         running as the user who owns the VM (for root it answers `Capability {ALLOW_DANGEROUS_CAPABILITY} not available`).\n\
         - maqet's own commands (`stop`, `snapshot`, `storage attach`, ...) build their QMP themselves\n  \
         and always negotiate the capability.\n\n\
         Refusals start with `{REFUSAL_PREFIX}'COMMAND'`.\n\n\
         ## Path checks\n\n\
         A path argument must be absolute and free of `..`. Symlinks in it are resolved first; the\n\
         result must lie under one of the user's directories — `$HOME`, `$TMPDIR`, `$XDG_RUNTIME_DIR`,\n\
         `/tmp`, `/var/tmp`, the VM's data and runtime directories — and never in a system directory\n\
         ({}), except where one of the user's directories lies inside it (such as\n\
         `/run/user/UID`). A name QEMU would read as a protocol or option string (`json:{{...}}`,\n\
         `nbd:`, `file:`, anything with a `:` before its first `/`) is refused.\n\n\
         ## Images and the files they open\n\n\
         Where a command makes QEMU open an existing image, the gate checks every file QEMU\n\
         would open through it, one image at a time and each before qemu-img reads it\n\
         (`qemu-img info -U --output=json`, at most 5 s an image and 10 s a chain):\n\n\
         - the image, its backing file, that file's backing file, and so on (at most {MAX_CHAIN} deep,\n  \
         no loops), and a qcow2 image's external data file, must each pass the path checks above\n  \
         (the refusal names the file that failed);\n\
         - each must be a regular file owned by the VM's user or root, in directories owned by\n  \
         that user or root and not writable by everyone (unless sticky, like `/tmp`): another\n  \
         user could otherwise change which files the image names after the check;\n\
         - backing and data file names that are protocols or `json:` strings are refused;\n\
         - the format, given or probed, must be one whose references maqet reads ({}); VMDK\n  \
         (whose extent files qemu-img opens even to describe the image) is refused;\n\
         - if qemu-img cannot read the image in time, the command is refused.\n\n\
         With `format: raw` an image names no other file, so only its own checks apply. A file\n\
         QEMU creates (`mode` other than `existing`) is checked as a written path.\n\n\
         ## The allow-list\n\n\
         | Command | Checked | Why it is allowed |\n|---|---|---|\n",
        SYSTEM_DIRS
            .iter()
            .map(|d| format!("`{d}`"))
            .collect::<Vec<_>>()
            .join(", "),
        CHECKED_FORMATS
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for row in ALLOW_LIST {
        let _ = writeln!(
            doc,
            "| `{}` | {} | {} |",
            row.name,
            checked(row.check),
            row.why
        );
    }
    device_section(&mut doc);
    doc.push_str(
        "\n## Everything else\n\n\
         Everything else QEMU offers needs the opt-in — for example `human-monitor-command`\n\
         (which could run `drive_add`), `quit`, `inject-nmi`, `getfd`, `add-fd`, `object-add`\n\
         (`memory-backend-file` `mem-path`, secrets and TLS files), `chardev-add` (host devices,\n\
         files, sockets, programs), `netdev_add`, `blockdev-add` and `blockdev-create` (a node graph\n\
         of nested `file`/`backing`/`data-file` nodes and network protocols), `drive-mirror`,\n\
         `blockdev-mirror`, `blockdev-backup`, `block-commit`, `x-blockdev-amend` (a new\n\
         `data-file`), `migrate-incoming`, `nbd-server-start`, `qom-set`, `x-exit-preconfig`.\n\n\
         The socket itself accepts only the user who started the VM and root (peer credentials are\n\
         checked), and its directory is private (0700, socket 0600).\n",
    );
    doc
}

fn checked(check: Check) -> String {
    let usage = |u: PathUse| match u {
        PathUse::Write => "written",
        PathUse::Read => "read",
    };
    match check {
        Check::None => "—".into(),
        Check::Paths(paths) => paths
            .iter()
            .map(|(name, u)| format!("`{name}` ({})", usage(*u)))
            .collect::<Vec<_>>()
            .join(", "),
        Check::MigrateUri => "`uri`: only `unix:PATH`, `file:PATH` (written)".into(),
        Check::DumpProtocol => "`protocol`: `file:PATH` (written) or `fd:NAME`".into(),
        Check::ChardevBackend => "`backend`: `file` paths, unix `socket` path; `null`, `ringbuf`, `memory` free; other backends need the opt-in".into(),
        Check::Image(image) => image_check(image),
        Check::DeviceAdd => "driver and properties, as the device table below says".into(),
        Check::Transaction => "each action as its own command".into(),
    }
}

fn image_check(image: ImageArg) -> String {
    let verb = match image.usage {
        PathUse::Write => "written",
        PathUse::Read => "read",
    };
    match image.opens {
        Opens::Always => format!(
            "`{}` ({verb}): the image and every file it opens, in `{}`",
            image.path, image.format
        ),
        Opens::WhenModeExisting => format!(
            "`{}` ({verb}); with `mode: existing`, the image and every file it opens, in `{}`",
            image.path, image.format
        ),
    }
}

fn device_section(doc: &mut String) {
    doc.push_str(
        "\n## Device properties that name host resources\n\n\
         `device_add` is checked against this table (kept in\n\
         `crates/maqet-runner/src/qmp_gate/host_properties.txt`). A driver marked `host` needs\n\
         the opt-in; a `read`, `write` or `dir` property must be a path the client may use; `none`\n\
         is the id of another QEMU object or a label. A property no row covers whose name contains\n\
         one of ",
    );
    let parts: Vec<String> = HOST_NAME_PARTS.iter().map(|p| format!("`{p}`")).collect();
    doc.push_str(&parts.join(", "));
    doc.push_str(
        " is refused, since maqet cannot tell whether it names a host file or device. A walk of\n\
         every device type of `qemu-system-x86_64` (`qom-list-types`, then\n\
         `device-list-properties`; `cargo test -p maqet-runner qemu_device_walk`)\n\
         fails when one of their text properties with such a name is missing here.\n\n\
         | Driver | Property | Use | Why |\n|---|---|---|---|\n",
    );
    for row in host_properties() {
        let property = if row.property == "*" {
            "(any)".to_owned()
        } else {
            format!("`{}`", row.property)
        };
        let usage = match row.usage {
            HostUse::Host => "needs the opt-in",
            HostUse::Read => "read path",
            HostUse::Write => "written path",
            HostUse::Dir => "shared directory (checked as written)",
            HostUse::None => "not a host resource",
        };
        let _ = writeln!(
            doc,
            "| `{}` | {property} | {usage} | {} |",
            row.driver, row.why
        );
    }
}
