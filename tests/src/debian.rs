//! The Debian 12 guest: a whole distribution on a qcow2 disk (GRUB, systemd, cloud-init,
//! qemu-guest-agent, sshd), built once from Debian's packages by `tests/guest/build-debian.sh`
//! and cached on disk, for tests that need a real guest booting from its own disk. Its UEFI
//! variant ([`debian_efi_guest`], `build-debian.sh --efi`) boots through Debian's signed shim
//! and GRUB from an EFI system partition, for Secure Boot and TPM tests.

use std::path::PathBuf;
use std::sync::OnceLock;

/// Kernel command line baked into the image's GRUB config. The last `console=` is
/// `/dev/console`: ttyS0, so cloud-init's SSH host key block reaches the serial log.
pub const DEBIAN_KERNEL_CMDLINE: &str = "console=tty1 console=ttyS0,115200";
/// What the Debian guest prints on ttyS0 once it accepts logins.
pub const DEBIAN_LOGIN_PROMPT: &str = "login:";

/// Builds the Debian guest on first use in this process (cached on disk across runs) and
/// returns the path of its qcow2 image. Use it read-only: as a backing file or a `from:` source.
///
/// # Panics
/// When `tests/guest/build-debian.sh` fails (it needs Debian 12, root and Debian's package
/// mirrors); the message includes the script's output.
pub fn debian_guest() -> PathBuf {
    static IMAGE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match IMAGE.get_or_init(build_debian) {
        Ok(image) => image.clone(),
        Err(message) => panic!("{message}"),
    }
}

/// Like [`debian_guest`], the UEFI variant: a GPT disk with an EFI system partition holding
/// Debian's signed shim (`/EFI/BOOT/BOOTX64.EFI`) and GRUB, plus mokutil, efibootmgr and
/// tpm2-tools in the image. Cached apart from the BIOS image (`…/debian-guest-efi`).
///
/// # Panics
/// When `tests/guest/build-debian.sh --efi` fails; the message includes its output.
pub fn debian_efi_guest() -> PathBuf {
    static IMAGE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match IMAGE.get_or_init(|| build_variant(&["--efi"])) {
        Ok(image) => image.clone(),
        Err(message) => panic!("{message}"),
    }
}

fn build_debian() -> Result<PathBuf, String> {
    build_variant(&[])
}

fn build_variant(args: &[&str]) -> Result<PathBuf, String> {
    let stdout = crate::guest::run_build_script_with(
        "build-debian.sh",
        args,
        "the Debian guest",
        "it needs Debian 12, root, mmdebstrap and Debian's package mirrors",
    )?;
    let image = parse_build_output(&stdout).ok_or_else(|| {
        format!("build-debian.sh succeeded but printed no DEBIAN_IMAGE= line:\n{stdout}")
    })?;
    if !image.is_file() {
        return Err(format!(
            "build-debian.sh printed DEBIAN_IMAGE={} but there is no such file",
            image.display()
        ));
    }
    Ok(image)
}

/// Reads the `DEBIAN_IMAGE=` line the build script prints.
fn parse_build_output(stdout: &str) -> Option<PathBuf> {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("DEBIAN_IMAGE="))
        .map(|v| PathBuf::from(v.trim()))
        .filter(|p| !p.as_os_str().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_path_is_parsed() {
        let out = "DEBIAN_DIR=/c/k\nDEBIAN_IMAGE=/c/k/debian-12.qcow2\n";
        assert_eq!(
            parse_build_output(out),
            Some(PathBuf::from("/c/k/debian-12.qcow2"))
        );
        assert_eq!(parse_build_output("DEBIAN_DIR=/c/k\n"), None);
        assert_eq!(parse_build_output("DEBIAN_IMAGE=\n"), None);
    }
}
