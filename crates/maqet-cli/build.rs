//! Link options of the `maqet` binary (start-up cost, issues J and Q).
//!
//! By default `maqet` is a PIE, like every hardened distribution binary. Building with
//! `MAQET_NO_PIE=1` links it position-dependent (`-no-pie`, Linux only): the loader then skips
//! ~21,000 relative relocations that copy every page of `.data.rel.ro` (384 KiB), and a run of
//! `maqet --version` takes 0.44 M instead of 0.72 M instructions and 99 instead of 193 page
//! faults, at the price of a fixed load address for the binary itself. Why that is not the
//! default: docs/decisions/2026-12-02-pie-by-default.md. Plugins (`cdylib`) and the other crates are unaffected.
//!
//! Whatever the PIE choice, the binary is linked with GCC's static unwinder and packed
//! relative relocations where the toolchain has them (issue Q): scripts/build/bin_link.rs,
//! docs/decisions/2026-12-07-bin-link-options.md. `-z pack-relative-relocs` saves no
//! instruction (glibc 2.36 walks the bitmap bit by bit) and no page fault, as the third round
//! of issue J found, but it spares reading 640 KiB of `.rela.dyn` per start: about 0.1 ms on
//! the bench machine.

#[path = "../../scripts/build/bin_link.rs"]
mod bin_link;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../../scripts/build/bin_link.rs");
    println!("cargo:rerun-if-env-changed=MAQET_NO_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let no_pie = std::env::var_os("MAQET_NO_PIE").is_some_and(|v| v == "1");
    if linux && no_pie {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    bin_link::apply_to_bins();
}
