//! An error and its causes as text: the one formatter of every maqet crate and plugin.
//!
//! Each crate keeps its errors typed (`thiserror` enums with the cause as `#[source]`); text is
//! made only where an error leaves Rust's types: the CLI's report, a plugin's `Err(String)`
//! across the plugin ABI, the runner's answers on its sockets, a Python exception. Those
//! places sit in crates that cannot see each other (the runner and the plugin API are below
//! the core and know no other maqet crate), so the formatter lives here, in a crate that
//! depends on nothing and that all of them may depend on.
//!
//! A message never repeats its source (the rule of docs/errors.md), so the chain is printed as
//! it is, with no de-duplication.
//!
//! ```
//! #[derive(Debug, thiserror::Error)]
//! #[error("cannot read the config")]
//! struct ReadConfig(#[source] std::io::Error);
//!
//! let err = ReadConfig(std::io::Error::other("disk on fire"));
//! assert_eq!(maqet_error_chain::error_chain(&err), "cannot read the config: disk on fire");
//! assert_eq!(
//!     maqet_error_chain::join_chain(&err, "\n  caused by: "),
//!     "cannot read the config\n  caused by: disk on fire"
//! );
//! assert_eq!(maqet_error_chain::root_cause(&err), "disk on fire");
//! ```

use std::error::Error;
use std::fmt::Write as _;

/// The error and its causes on one line: `error: cause: cause`.
pub fn error_chain(error: &dyn Error) -> String {
    join_chain(error, ": ")
}

/// The error and its causes, each after `separator` (for example `"\n  caused by: "`).
pub fn join_chain(error: &dyn Error, separator: &str) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, "{separator}{cause}");
        source = cause.source();
    }
    text
}

/// The innermost cause's message (a library's or the OS's own words, without maqet's advice).
pub fn root_cause(error: &dyn Error) -> String {
    let mut source = error.source();
    let mut innermost = error.to_string();
    while let Some(cause) = source {
        innermost = cause.to_string();
        source = cause.source();
    }
    innermost
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn Error + 'static))
        }
    }

    #[test]
    fn every_cause_is_printed_once_in_order() {
        let err = Layer(
            "outer",
            Some(Box::new(Layer(
                "middle",
                Some(Box::new(Layer("inner", None))),
            ))),
        );
        assert_eq!(error_chain(&err), "outer: middle: inner");
        assert_eq!(join_chain(&err, " / "), "outer / middle / inner");
        assert_eq!(root_cause(&err), "inner");
        let alone = Layer("alone", None);
        assert_eq!(error_chain(&alone), "alone");
        assert_eq!(root_cause(&alone), "alone");
    }
}
