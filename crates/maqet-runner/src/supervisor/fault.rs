//! Test-only fault injection: kill the runner with `SIGKILL` at a named step of start-up.
//!
//! Set `MAQET_TEST_CRASH_AT` to one of [`STEPS`] and the runner kills itself there, exactly as
//! an outside `kill -9` would. Honoured only in debug builds (the ones the tests drive); a
//! release build ignores the variable.

/// The steps a crash can be injected at, in order.
pub const STEPS: [&str; 4] = ["before-spawn", "after-spawn", "before-ready", "after-ready"];

/// The environment variable naming the step.
#[cfg_attr(not(debug_assertions), allow(dead_code))]
pub const CRASH_ENV: &str = "MAQET_TEST_CRASH_AT";

/// Kills this process with `SIGKILL` if `MAQET_TEST_CRASH_AT` names `step` (debug builds only).
pub fn crash_point(step: &str) {
    debug_assert!(STEPS.contains(&step), "unknown crash step {step}");
    #[cfg(debug_assertions)]
    if std::env::var(CRASH_ENV).is_ok_and(|wanted| wanted == step) {
        super::log::log!("{CRASH_ENV}={step}: killing the runner with SIGKILL");
        // SAFETY: raise(2) has no memory-safety preconditions.
        unsafe {
            libc::raise(libc::SIGKILL);
        }
    }
}
