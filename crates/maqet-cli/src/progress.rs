//! A spinner on stderr for long waits, and streamed output lines.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use maqet_core::Maqet;

use crate::output::Format;

/// Wires the core's progress and line hooks to the terminal. The spinner appears only on a
/// terminal and never with `--format json`/`yaml`.
pub fn attach(maqet: &Maqet, format: Format) -> Option<ProgressBar> {
    maqet.set_line_hook(Some(Box::new(|line: &str| {
        let mut out = std::io::stdout().lock();
        if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            // Nobody reads the stream any more: stop the command instead of following forever.
            std::process::exit(crate::report::error(&crate::output_error(e)));
        }
    })));
    if format.is_document() || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::hidden();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let handle = bar.clone();
    maqet.set_progress_hook(Some(Box::new(move |message: &str| {
        if handle.is_hidden() {
            handle.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            handle.enable_steady_tick(Duration::from_millis(100));
        }
        handle.set_message(message.to_string());
    })));
    Some(bar)
}
