//! The test guest: building it once and describing it to QEMU or maqet.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Kernel command line the tests boot the guest with.
pub const GUEST_KERNEL_APPEND: &str = "console=ttyS0 console=tty0 panic=-1 quiet";
/// Kernel parameter that makes the guest ignore the ACPI power button.
pub const IGNORE_ACPI_PARAM: &str = "maqet.ignore_acpi=1";
/// Line the guest prints on its consoles once it is fully set up.
pub const READY_BANNER: &str = "MAQET-GUEST READY";
/// Kernel parameter that replaces qemu-ga by the hostile stand-in (`maqet.evil_agent=MODE`).
pub const EVIL_AGENT_PARAM: &str = "maqet.evil_agent";

/// The test kernel command line with the hostile agent in `mode` (see the top of
/// `tests/guest/build-guest.sh` for the modes), plus `extra` parameters such as
/// `maqet.evil_times=1`, `maqet.evil_arg=80` or `maqet.evil_when=all`.
pub fn evil_agent_append(mode: &str, extra: &[&str]) -> String {
    let mut append = format!("{GUEST_KERNEL_APPEND} {EVIL_AGENT_PARAM}={mode}");
    for param in extra {
        append.push(' ');
        append.push_str(param);
    }
    append
}

/// The built test guest: a kernel and an initrd, both inside the on-disk cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestGuest {
    /// Kernel image for QEMU's `-kernel`.
    pub kernel: PathBuf,
    /// Initramfs for QEMU's `-initrd`.
    pub initrd: PathBuf,
}

/// Builds the test guest on first use in this process (cached on disk across runs) and returns it.
///
/// # Panics
/// When `tests/guest/build-guest.sh` fails; the message includes the script's output.
pub fn test_guest() -> TestGuest {
    static GUEST: OnceLock<Result<TestGuest, String>> = OnceLock::new();
    match GUEST.get_or_init(build_guest) {
        Ok(guest) => guest.clone(),
        Err(message) => panic!("{message}"),
    }
}

/// Runs one of the guest build scripts in `tests/guest/` and returns what it printed on stdout;
/// on failure, a message with its status, both outputs and `needs` (what the script requires).
pub(crate) fn run_build_script(name: &str, what: &str, needs: &str) -> Result<String, String> {
    run_build_script_with(name, &[], what, needs)
}

/// [`run_build_script`] with arguments for the script.
pub(crate) fn run_build_script_with(
    name: &str,
    args: &[&str],
    what: &str,
    needs: &str,
) -> Result<String, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("guest")
        .join(name);
    let output = Command::new("bash")
        .arg(&script)
        .args(args)
        .output()
        .map_err(|e| format!("could not run {}: {e}", script.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "building {what} failed ({}): {} ({needs})\n--- stdout\n{stdout}--- stderr\n{stderr}",
            output.status,
            script.display(),
        ));
    }
    Ok(stdout)
}

fn build_guest() -> Result<TestGuest, String> {
    let stdout = run_build_script(
        "build-guest.sh",
        "the test guest",
        "it needs Debian with apt-get and root to download packages",
    )?;
    parse_build_output(&stdout).ok_or_else(|| {
        format!("build-guest.sh succeeded but printed no KERNEL=/INITRD= lines:\n{stdout}")
    })
}

/// Reads the `KERNEL=` and `INITRD=` lines the build script prints.
fn parse_build_output(stdout: &str) -> Option<TestGuest> {
    let value = |key: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .map(|v| PathBuf::from(v.trim()))
    };
    Some(TestGuest {
        kernel: value("KERNEL=")?,
        initrd: value("INITRD=")?,
    })
}

/// A maqet VM config (YAML) that boots the test guest; `extra` is appended as top-level YAML.
///
/// `extra` must not repeat the keys written here (`name`, `binary`, `memory`, `cpu`, `accel`,
/// `display`, `arguments`). Builds the guest if needed.
pub fn guest_config_yaml(name: &str, extra: &str) -> String {
    guest_config_yaml_with_append(name, GUEST_KERNEL_APPEND, extra)
}

/// Like [`guest_config_yaml`] with a chosen kernel command line (e.g. adding [`IGNORE_ACPI_PARAM`]).
pub fn guest_config_yaml_with_append(name: &str, append: &str, extra: &str) -> String {
    let guest = test_guest();
    render_config(name, &guest, append, extra)
}

/// JSON strings are valid YAML double-quoted scalars, so this quotes any text safely.
fn yaml_quote(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

fn render_config(name: &str, guest: &TestGuest, append: &str, extra: &str) -> String {
    let mut yaml = format!(
        "name: {name}\n\
         binary: qemu-system-x86_64\n\
         memory: 256M\n\
         cpu: 1\n\
         accel: tcg\n\
         display: none\n\
         arguments:\n  \
         - kernel: {kernel}\n  \
         - initrd: {initrd}\n  \
         - append: {append}\n  \
         - no-reboot: null\n",
        name = yaml_quote(name),
        kernel = yaml_quote(&guest.kernel.to_string_lossy()),
        initrd = yaml_quote(&guest.initrd.to_string_lossy()),
        append = yaml_quote(append),
    );
    if !extra.is_empty() {
        yaml.push_str(extra);
        if !extra.ends_with('\n') {
            yaml.push('\n');
        }
    }
    yaml
}

/// A plain `qemu-system-x86_64` command (TCG, no display, no reboot) booting the test guest,
/// logging its serial console to `serial_log` and serving QMP on the Unix socket `qmp_socket`.
pub fn plain_qemu_command(
    guest: &TestGuest,
    append: &str,
    serial_log: &Path,
    qmp_socket: &Path,
) -> Command {
    let mut command = Command::new("qemu-system-x86_64");
    command
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
        .args(["-append", append])
        .arg("-serial")
        .arg(format!("file:{}", serial_log.display()))
        .arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", qmp_socket.display()));
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest() -> TestGuest {
        TestGuest {
            kernel: "/cache/k/vmlinux".into(),
            initrd: "/cache/k/initrd.img".into(),
        }
    }

    #[test]
    fn build_output_paths_are_parsed() {
        let out = "GUEST_DIR=/c/k\nKERNEL=/c/k/vmlinux\nINITRD=/c/k/initrd.img\n";
        assert_eq!(
            parse_build_output(out),
            Some(TestGuest {
                kernel: "/c/k/vmlinux".into(),
                initrd: "/c/k/initrd.img".into()
            })
        );
        assert_eq!(parse_build_output("KERNEL=/k\n"), None);
    }

    #[test]
    fn config_boots_the_guest_kernel_with_the_test_command_line() {
        let yaml = render_config("vm1", &guest(), GUEST_KERNEL_APPEND, "vga: std");
        assert_eq!(
            yaml,
            "name: \"vm1\"\nbinary: qemu-system-x86_64\nmemory: 256M\ncpu: 1\naccel: tcg\n\
             display: none\narguments:\n  - kernel: \"/cache/k/vmlinux\"\n  \
             - initrd: \"/cache/k/initrd.img\"\n  \
             - append: \"console=ttyS0 console=tty0 panic=-1 quiet\"\n  \
             - no-reboot: null\nvga: std\n"
        );
    }

    #[test]
    fn config_quotes_text_that_yaml_would_misread() {
        let yaml = render_config("a: b", &guest(), "x=\"1\"", "");
        assert!(yaml.starts_with("name: \"a: b\"\n"), "{yaml}");
        assert!(yaml.contains("- append: \"x=\\\"1\\\"\"\n"), "{yaml}");
    }
}
