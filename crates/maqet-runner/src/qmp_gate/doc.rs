//! docs/qmp-security.md, rendered from the allow-list so the page cannot go stale.

use std::fmt::Write;

use super::list::{ALLOW_LIST, Check, PASS_THROUGH_DRIVERS, PathUse};
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
         `/run/user/UID`).\n\n\
         ## The allow-list\n\n\
         | Command | Checked | Why it is allowed |\n|---|---|---|\n",
        SYSTEM_DIRS
            .iter()
            .map(|d| format!("`{d}`"))
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
    doc.push_str(
        "\nEverything else QEMU offers — for example `human-monitor-command`, `quit`, `inject-nmi`,\n\
         `getfd`, `add-fd`, `object-add`, `chardev-add`, `netdev_add`, `blockdev-add`,\n\
         `blockdev-create`, `drive-mirror`, `blockdev-mirror`, `blockdev-backup`, `block-commit`,\n\
         `migrate-incoming`, `nbd-server-start`, `qom-set`, `x-exit-preconfig` — needs the opt-in.\n\n\
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
        Check::DeviceAdd => format!(
            "`romfile` (read); drivers {} need the opt-in",
            PASS_THROUGH_DRIVERS
                .iter()
                .map(|d| format!("`{d}{}`", if d.ends_with('-') { "*" } else { "" }))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Check::Transaction => "each action as its own command".into(),
    }
}
