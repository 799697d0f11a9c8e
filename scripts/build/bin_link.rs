//! Build-script helper shared by the binary crates (`maqet`, `maqet-runner`): link options
//! that make each start of their binaries cheaper, kept position-independent (issue Q; why:
//! docs/decisions/2026-12-07-bin-link-options.md). Only the crate's own binaries get them
//! (`rustc-link-arg-bins`, which reaches neither dependents nor the cdylibs: the Python
//! module and the plugins link as before), and only on a native Linux/glibc build whose
//! toolchain passes a probe link; otherwise the link is left as it was.
//!
//! - **Static unwinder.** std asks the linker for `-lgcc_s` (its `_Unwind_*` calls). A
//!   one-line linker script named `libgcc_s.so` in `OUT_DIR/static-unwinder` stands for GCC's
//!   `libgcc_eh.a`, and that directory goes first on the binaries' library path (`-L` holds
//!   for every `-l`, wherever it stands). The binary carries the unwinder (about 40 KiB) and
//!   the loader opens, maps and relocates one library less, and runs no `libgcc_s`
//!   constructor, per start.
//! - **Packed relative relocations** (`-z pack-relative-relocs`, DT_RELR; binutils 2.38,
//!   glibc 2.36): the ~27,000 relative relocations of `maqet` take 8 KiB instead of 640 KiB,
//!   which the loader no longer reads (and the kernel no longer maps and unmaps) each start.
//!
//! `MAQET_PLAIN_LINK=1` at build time turns both off.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Applies the link options the toolchain supports to this crate's binaries.
pub fn apply_to_bins() {
    println!("cargo:rerun-if-env-changed=MAQET_PLAIN_LINK");
    if std::env::var_os("MAQET_PLAIN_LINK").is_some_and(|v| v == "1") {
        return;
    }
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    if target != host || !target.ends_with("-linux-gnu") {
        return;
    }
    if let Some(dir) = static_unwinder_dir(&out)
        && probe_link(&out, &[format!("-L{}", dir.display()), "-lgcc_s".into()])
    {
        println!("cargo:rustc-link-arg-bins=-L{}", dir.display());
    }
    let relr = "-Wl,-z,pack-relative-relocs";
    if probe_link(&out, &["-pie".into(), "-fPIE".into(), relr.into()]) {
        println!("cargo:rustc-link-arg-bins={relr}");
    }
}

/// Writes the `libgcc_s.so` linker script that names `libgcc_eh.a`; its directory.
fn static_unwinder_dir(out: &Path) -> Option<PathBuf> {
    let archive = gcc_file("libgcc_eh.a")?;
    let dir = out.join("static-unwinder");
    std::fs::create_dir_all(&dir).ok()?;
    std::fs::write(
        dir.join("libgcc_s.so"),
        format!("INPUT({})\n", archive.display()),
    )
    .ok()?;
    Some(dir)
}

/// The absolute path GCC (the linker driver, `cc`) gives for one of its own files, if it has it.
fn gcc_file(name: &str) -> Option<PathBuf> {
    let output = Command::new("cc")
        .arg(format!("-print-file-name={name}"))
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    (output.status.success() && path.is_absolute() && path.is_file()).then_some(path)
}

/// Whether `cc` links a tiny C program with these extra arguments (warnings count as failure).
fn probe_link(out: &Path, extra: &[String]) -> bool {
    let source = out.join("link-probe.c");
    let binary = out.join("link-probe");
    if std::fs::write(&source, "int main(void) { return 0; }\n").is_err() {
        return false;
    }
    Command::new("cc")
        .arg(&source)
        .arg("-o")
        .arg(&binary)
        .args(extra)
        .arg("-Wl,--fatal-warnings")
        .output()
        .is_ok_and(|o| o.status.success())
}
