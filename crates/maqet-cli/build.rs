//! Link options of the `maqet` binary (start-up cost, issue J).
//!
//! `maqet` links as a position-dependent executable (`-no-pie`): as a PIE, the loader first
//! applied ~21,000 relative relocations, which wrote to (and so copied) every page of
//! `.data.rel.ro`, 384 KiB. Without them a run of `maqet --version` takes 0.44 M instead of
//! 0.72 M instructions and 99 instead of 193 page faults. The cost: the binary itself is not
//! loaded at a random address (the libraries, heap and stack still are); see
//! docs/architecture.md. Plugins (`cdylib`) and the other crates are unaffected. Setting
//! `MAQET_PIE=1` at build time keeps the default PIE link.
//!
//! Tried and not kept: `-z pack-relative-relocs` (DT_RELR) cut `.rela.dyn` from 503 KiB to
//! 7 KiB but neither instructions (glibc 2.36 walks the bitmap bit by bit) nor page faults.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MAQET_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let pie_asked = std::env::var_os("MAQET_PIE").is_some_and(|v| v == "1");
    if linux && !pie_asked {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
