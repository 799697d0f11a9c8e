//! The runner's real multiplexer code, compiled into this fuzz target from its source file.
//!
//! `maqet-runner` keeps its supervisor inside the binary (not the library), so the fuzz target
//! includes `supervisor/mux.rs`, `supervisor/qmp_session.rs` and `supervisor/log.rs` by path. `mux.rs` also calls
//! `super::qemu::error_chain`, which lives in a file with process-spawning code; the same
//! ten lines are repeated here instead.

#[path = "../../crates/maqet-runner/src/supervisor/log.rs"]
#[allow(dead_code)]
pub mod log;

#[path = "../../crates/maqet-runner/src/supervisor/mux.rs"]
#[allow(dead_code)]
pub mod mux;

#[path = "../../crates/maqet-runner/src/supervisor/qmp_session.rs"]
#[allow(dead_code)]
pub mod qmp_session;

/// Stand-in for `supervisor/qemu.rs` (only `error_chain` is used by `mux.rs`).
pub mod qemu {
    /// An error and all its causes on one line, outermost first.
    pub fn error_chain(err: &dyn std::error::Error) -> String {
        let mut text = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}
