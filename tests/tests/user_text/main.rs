//! Snapshots of maqet's user-facing text, reviewed as diffs: the `--help` of every command,
//! the `ls`/`status`/`info` tables, and the error messages of docs/errors.md.
//!
//! Each snapshot holds the exit code, stdout and stderr of one `maqet` run with the paths, ids,
//! timestamps, PIDs and durations replaced by placeholders (see `maqet_tests::snapshot`).
//! When a change to the text is intended, accept it with
//! `INSTA_UPDATE=always cargo test -p maqet-tests --test user_text` and review `git diff`
//! (docs/testing.md). VMs that run here have no OS and use `accel: tcg`.
//!
//! Build the binaries first: `cargo build --workspace`.

mod errors;
mod help;
mod tables;
