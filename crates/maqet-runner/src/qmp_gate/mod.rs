//! The raw-QMP gate: an allow-list of commands known to be safe, with the host paths they
//! name checked, applied by the runner to every client of a VM's `qmp.sock` (and by the CLI
//! before it sends anything).
//!
//! A command QEMU knows that is not on [`ALLOW_LIST`] is refused unless the client opted in
//! to dangerous commands: `maqet qmp --allow-dangerous`, or, on the socket itself,
//! `{"execute": "qmp_capabilities", "arguments": {"enable": ["x-maqet-allow-dangerous"]}}`
//! from the user who owns the VM. Commands QEMU does not know are not refused here; QEMU
//! answers them with its own `CommandNotFound`. docs/qmp-security.md is generated from this
//! module ([`security_doc`]).

mod devices;
mod doc;
mod images;
mod list;
mod paths;

use serde_json::Value;

pub use devices::{HostProperty, HostUse, host_properties, looks_like_host_resource};
pub use doc::security_doc;
pub use images::{CHECKED_FORMATS, check_image};
pub use list::{ALLOW_LIST, Allowed, Check, ImageArg, Opens, PathUse, find};
pub use paths::{AllowedDirs, SYSTEM_DIRS, protocol_prefix};

/// The maqet extension capability that opts a QMP session in to dangerous commands.
pub const ALLOW_DANGEROUS_CAPABILITY: &str = "x-maqet-allow-dangerous";

/// How every refusal's description starts (so callers can tell a gate refusal from QEMU's).
pub const REFUSAL_PREFIX: &str = "maqet refused ";

/// Why the gate refused a command; [`Refusal::desc`] is the text sent to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The command refused.
    pub command: String,
    /// Why, without the way out.
    pub reason: String,
}

impl Refusal {
    /// The QEMU-style error description: what was refused, why, and how to run it anyway.
    pub fn desc(&self) -> String {
        format!(
            "{REFUSAL_PREFIX}'{}': {}; to run it anyway use `maqet qmp VM {} --allow-dangerous`, or enable the capability '{ALLOW_DANGEROUS_CAPABILITY}' in qmp_capabilities (see docs/qmp-security.md)",
            self.command, self.reason, self.command
        )
    }
}

/// Checks one command from a client that did not opt in to dangerous commands.
pub fn check(command: &str, arguments: Option<&Value>, dirs: &AllowedDirs) -> Result<(), Refusal> {
    let refuse = |reason: String| Refusal {
        command: command.to_owned(),
        reason,
    };
    let Some(row) = find(command) else {
        return Err(refuse(
            "it is not on the list of QMP commands known to be safe (it can take over the host or the guest, or end the VM behind maqet's back)".into(),
        ));
    };
    let empty = Value::Object(Default::default());
    let args = arguments.unwrap_or(&empty);
    check_arguments(row.check, args, dirs).map_err(refuse)
}

/// Whether checking `command` may run qemu-img (so a caller on an async thread should run
/// [`check`] as blocking work): commands that open images, and transactions.
pub fn may_read_images(command: &str) -> bool {
    matches!(
        find(command).map(|row| row.check),
        Some(Check::Image(_) | Check::Transaction)
    )
}

fn text_at<'a>(args: &'a Value, dotted: &str) -> Option<&'a str> {
    dotted
        .split('.')
        .try_fold(args, |value, key| value.get(key))
        .and_then(Value::as_str)
}

fn check_path(dirs: &AllowedDirs, name: &str, path: &str, usage: PathUse) -> Result<(), String> {
    dirs.check(path, usage)
        .map_err(|why| format!("argument '{name}' is not a path it may use: {why}"))
}

fn check_arguments(rule: Check, args: &Value, dirs: &AllowedDirs) -> Result<(), String> {
    match rule {
        Check::None => Ok(()),
        Check::Paths(paths) => {
            for (name, usage) in paths {
                if let Some(path) = text_at(args, name) {
                    check_path(dirs, name, path, *usage)?;
                }
            }
            Ok(())
        }
        Check::MigrateUri => {
            let uri = text_at(args, "uri").unwrap_or_default();
            match uri.split_once(':') {
                Some(("unix" | "file", path)) => check_path(dirs, "uri", path, PathUse::Write),
                _ => Err(format!(
                    "migrate to '{uri}' would send guest memory off the host or run a command; only 'unix:PATH' and 'file:PATH' are allowed"
                )),
            }
        }
        Check::DumpProtocol => {
            let protocol = text_at(args, "protocol").unwrap_or_default();
            match protocol.split_once(':') {
                Some(("file", path)) => check_path(dirs, "protocol", path, PathUse::Write),
                Some(("fd", _)) => Ok(()),
                _ => Err(format!(
                    "'{protocol}' is not a 'file:PATH' or 'fd:NAME' protocol"
                )),
            }
        }
        Check::ChardevBackend => {
            let kind = text_at(args, "backend.type").unwrap_or_default();
            match kind {
                "null" | "ringbuf" | "memory" => Ok(()),
                "file" => {
                    for (name, usage) in [("out", PathUse::Write), ("in", PathUse::Read)] {
                        let dotted = format!("backend.data.{name}");
                        if let Some(path) = text_at(args, &dotted) {
                            check_path(dirs, &dotted, path, usage)?;
                        }
                    }
                    Ok(())
                }
                "socket" if text_at(args, "backend.data.addr.type") == Some("unix") => {
                    let dotted = "backend.data.addr.data.path";
                    let path = text_at(args, dotted).unwrap_or_default();
                    check_path(dirs, dotted, path, PathUse::Write)
                }
                other => Err(format!(
                    "a '{other}' character device backend reaches host devices, programs or the network"
                )),
            }
        }
        Check::Image(image) => {
            let Some(path) = text_at(args, image.path) else {
                return Ok(());
            };
            let opens_existing = match image.opens {
                Opens::Always => true,
                Opens::WhenModeExisting => text_at(args, "mode") == Some("existing"),
            };
            if opens_existing {
                let format = text_at(args, image.format);
                check_image(dirs, image.path, path, format, image.usage)
            } else {
                check_path(dirs, image.path, path, image.usage)
            }
        }
        Check::DeviceAdd => devices::check_device_add(args, dirs),
        Check::Transaction => {
            let actions = args.get("actions").and_then(Value::as_array);
            for action in actions.into_iter().flatten() {
                let kind = text_at(action, "type").unwrap_or_default();
                let data = action.get("data");
                check(kind, data, dirs).map_err(|refusal| {
                    format!("its action '{kind}' is refused: {}", refusal.reason)
                })?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod walk_tests;
