//! Link options of the `maqet` binary (start-up cost, issue J).
//!
//! `-z pack-relative-relocs` stores the binary's ~21,000 relative relocations as a compact
//! bitmap (DT_RELR) that the loader applies in a tight loop instead of 24-byte RELA entries:
//! fewer instructions and fewer page faults on every run. It needs GNU ld 2.38+ or lld 15+
//! to build (older linkers warn and ignore it) and glibc 2.36+ to run; it applies to Linux
//! with the GNU toolchain only.

fn main() {
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let gnu = std::env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|env| env == "gnu");
    if linux && gnu {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
