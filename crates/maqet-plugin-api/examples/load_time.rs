//! Measures what plugin loading adds to maqet's startup.
//!
//! `cargo run -p maqet-plugin-api --example load_time -- DIR...` loads every plugin in the
//! directories (as `maqet --help` does) and prints what was loaded and how long it took.

use std::path::PathBuf;
use std::time::Instant;

use maqet_plugin_api::host::{self, PluginFile};

fn main() {
    let dirs: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let started = Instant::now();
    let accept_all = |_: &std::path::Path| Ok(());
    let files = host::discover(&dirs, &accept_all);
    let elapsed = started.elapsed();
    for file in &files {
        match file {
            PluginFile::Loaded(p) => {
                println!(
                    "loaded   {} {} ({} commands)",
                    p.name(),
                    p.version(),
                    p.commands().len()
                )
            }
            PluginFile::Rejected(r) => println!("rejected {r}"),
        }
    }
    println!(
        "discover() of {} files took {:.2} ms",
        files.len(),
        elapsed.as_secs_f64() * 1000.0
    );
}
