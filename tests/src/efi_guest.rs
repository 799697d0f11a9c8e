//! The test guest for UEFI firmware: its initrd with the Debian kernel as the compressed
//! `vmlinuz` (an EFI application), which OVMF boots through QEMU's `-kernel`. The cached test
//! guest keeps the uncompressed `vmlinux` instead (QEMU's PVH entry, faster under SeaBIOS),
//! which UEFI firmware cannot start; so the same kernel package's `vmlinuz` is fetched with
//! `apt-get download` once and cached beside it, in `<cache>/test-guest-efi/<guest key>/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::guest::{GUEST_KERNEL_APPEND, TestGuest, test_guest};

/// The test guest with a kernel UEFI firmware boots; built and cached on first use.
///
/// # Panics
/// When the kernel package cannot be downloaded or unpacked (the message says which step).
pub fn efi_test_guest() -> TestGuest {
    static GUEST: OnceLock<Result<TestGuest, String>> = OnceLock::new();
    match GUEST.get_or_init(|| efi_kernel(&test_guest())) {
        Ok(guest) => guest.clone(),
        Err(message) => panic!("{message}"),
    }
}

/// A maqet VM config (YAML) booting [`efi_test_guest`] (as [`crate::guest_config_yaml`] does
/// for the plain one), with `extra` appended as top-level YAML.
pub fn efi_guest_config_yaml(name: &str, extra: &str) -> String {
    let guest = efi_test_guest();
    let quote = |text: &str| serde_json::Value::from(text).to_string();
    let mut yaml = format!(
        "name: {}\nbinary: qemu-system-x86_64\nmemory: 256M\ncpu: 1\naccel: tcg\ndisplay: none\n\
         arguments:\n  - kernel: {}\n  - initrd: {}\n  - append: {}\n  - no-reboot: null\n",
        quote(name),
        quote(&guest.kernel.to_string_lossy()),
        quote(&guest.initrd.to_string_lossy()),
        quote(GUEST_KERNEL_APPEND),
    );
    yaml.push_str(extra);
    if !extra.ends_with('\n') {
        yaml.push('\n');
    }
    yaml
}

fn efi_kernel(guest: &TestGuest) -> Result<TestGuest, String> {
    if guest.kernel.file_name().is_some_and(|n| n == "vmlinuz") {
        return Ok(guest.clone());
    }
    let guest_dir = guest
        .initrd
        .parent()
        .ok_or("the test guest's initrd has no directory")?;
    let version = std::fs::read_to_string(guest_dir.join("VERSION"))
        .map_err(|e| format!("cannot read the test guest's VERSION: {e}"))?;
    let package = version
        .lines()
        .find_map(|l| l.strip_prefix("kernel_package="))
        .ok_or("the test guest's VERSION names no kernel_package")?;
    let (name, pkg_version) = package
        .split_once(' ')
        .ok_or_else(|| format!("kernel_package `{package}` is not `NAME VERSION`"))?;
    let release = name.trim_start_matches("linux-image-");
    let cache = guest_dir
        .parent()
        .and_then(Path::parent)
        .ok_or("the test guest cache has no parent directory")?
        .join("test-guest-efi")
        .join(guest_dir.file_name().unwrap_or_default());
    let kernel = cache.join("vmlinuz");
    if !kernel.is_file() {
        fetch_vmlinuz(name, pkg_version, release, &cache, &kernel)?;
    }
    Ok(TestGuest {
        kernel,
        initrd: guest.initrd.clone(),
    })
}

fn fetch_vmlinuz(
    name: &str,
    version: &str,
    release: &str,
    cache: &Path,
    kernel: &Path,
) -> Result<(), String> {
    let work = cache.join(format!("tmp-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let run = |cmd: &mut Command, what: &str| -> Result<(), String> {
        let out = cmd
            .output()
            .map_err(|e| format!("{what} did not run: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{what} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    let result = (|| {
        run(
            Command::new("apt-get")
                .current_dir(&work)
                .args(["download", "-q", "-o", "APT::Sandbox::User=root"])
                .arg(format!("{name}={version}")),
            "apt-get download of the test guest's kernel (needs root and Debian's apt lists)",
        )?;
        let deb: PathBuf = std::fs::read_dir(&work)
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "deb"))
            .ok_or("apt-get download left no .deb")?;
        run(
            Command::new("sh").current_dir(&work).arg("-c").arg(format!(
                "dpkg-deb --fsys-tarfile '{}' | tar -x ./boot/vmlinuz-{release}",
                deb.display()
            )),
            "unpacking vmlinuz from the kernel package",
        )?;
        std::fs::rename(work.join(format!("boot/vmlinuz-{release}")), kernel)
            .map_err(|e| format!("cannot move vmlinuz into {}: {e}", cache.display()))
    })();
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// The raw bytes of maqet's qcow2 NVRAM `nvram`, converted by `qemu-img` into `scratch`
/// (readable while the VM runs: `-U`).
pub fn nvram_raw_bytes(nvram: &Path, scratch: &Path) -> Vec<u8> {
    let raw = scratch.join("vars-check.raw");
    let _ = std::fs::remove_file(&raw);
    let out = Command::new("qemu-img")
        .args(["convert", "-U", "-O", "raw"])
        .arg(nvram)
        .arg(&raw)
        .output()
        .expect("qemu-img runs");
    assert!(out.status.success(), "qemu-img convert: {out:?}");
    std::fs::read(&raw).expect("the converted NVRAM")
}
