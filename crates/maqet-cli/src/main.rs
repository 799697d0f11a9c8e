//! The `maqet` binary: a thin wrapper around [`maqet_cli::run`].
//!
//! It starts from C's `main` (`#![no_main]`) rather than through std's runtime start, which
//! on Linux reads and parses `/proc/self/maps` to find the main thread's stack guard and
//! installs an alternate signal stack: about a tenth of the process's start (issue Q; see
//! docs/decisions/2026-12-07-bin-link-options.md). What that start does that maqet relies on is
//! done here: `SIGPIPE` is ignored (a closed stdout is a write error, exit 1, not a silent
//! death) and a closed stdin, stdout or stderr is reopened on `/dev/null` (so that no file
//! maqet opens can take fd 1 or 2 and receive its output). A panic still ends the process
//! with exit code 101, after std's panic message. Arguments come from std as before (glibc
//! hands them to std at load time).

#![no_main]

use std::ffi::{c_char, c_int};

#[unsafe(no_mangle)]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    process_start();
    let code =
        std::panic::catch_unwind(|| maqet_cli::run(std::env::args_os().collect())).unwrap_or(101);
    std::process::exit(code)
}

/// What std's runtime start would have done that maqet depends on.
fn process_start() {
    // SAFETY: setting a signal's disposition to ignore, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is a valid array of three pollfd for the length given; a zero timeout.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    if polled < 0 {
        return;
    }
    for pollfd in fds {
        if pollfd.revents & libc::POLLNVAL != 0 {
            // SAFETY: a NUL-terminated path; open() takes the lowest free fd, which is this
            // closed one, as the fds below it are open or were reopened just before.
            unsafe {
                libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            }
        }
    }
}
