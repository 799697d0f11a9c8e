//! A spinner on stderr for long waits, and streamed output lines.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use maqet_core::{CallHooks, Maqet};

use crate::output::Format;

/// Wires the call's progress and line hooks to the terminal: returns the handle to make the
/// call through, and the spinner, which appears only on a terminal and never with
/// `--format json`/`yaml`.
pub fn attach(maqet: &Maqet, format: Format) -> (Maqet, Option<ProgressBar>) {
    let hooks = CallHooks::new().on_line(|line: &str| {
        let mut out = std::io::stdout().lock();
        if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            // Nobody reads the stream any more: stop the command instead of following forever.
            std::process::exit(crate::report::error(&crate::output_error(e)));
        }
    });
    if format.is_document() || !std::io::stderr().is_terminal() {
        return (maqet.with_hooks(hooks), None);
    }
    let bar = ProgressBar::hidden();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let handle = bar.clone();
    let hooks = hooks.on_progress(move |message: &str| {
        if handle.is_hidden() {
            handle.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            handle.enable_steady_tick(Duration::from_millis(100));
        }
        handle.set_message(message.to_string());
    });
    (maqet.with_hooks(hooks), Some(bar))
}
