//! Link options of the `maqet-runner` binary: GCC's static unwinder instead of
//! `libgcc_s.so.1` and packed relative relocations, for a cheaper start (issue Q; see
//! scripts/build/bin_link.rs).

#[path = "../../scripts/build/bin_link.rs"]
mod bin_link;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../../scripts/build/bin_link.rs");
    bin_link::apply_to_bins();
}
