//! The default logging set-up, built only when something is first logged.
//!
//! With no `-v`, no log file and no `MAQET_LOG`, maqet shows warnings and errors on stderr,
//! and most commands log nothing at all. Building tracing's formatting subscriber up front
//! (its span registry allocates and zeroes its shard table) was a measurable part of a short
//! command's run (issue Q), so [`WarnOnStderr`] answers "enabled?" from the level alone and
//! builds that same subscriber on the first warning or error. (`Span::current()`, which
//! maqet does not call, answers "unknown" through it.)

use std::sync::OnceLock;

use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber, span};

type Inner = Box<dyn Subscriber + Send + Sync>;

/// Warnings and errors on stderr, by a subscriber that `make` builds on first use.
pub struct WarnOnStderr {
    inner: OnceLock<Inner>,
    make: fn() -> Inner,
}

impl WarnOnStderr {
    /// A subscriber that passes events and spans at WARN and above to `make()`'s subscriber.
    pub fn new(make: fn() -> Inner) -> Self {
        Self {
            inner: OnceLock::new(),
            make,
        }
    }

    fn inner(&self) -> &Inner {
        self.inner.get_or_init(self.make)
    }
}

impl Subscriber for WarnOnStderr {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if *metadata.level() <= Level::WARN {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::WARN)
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::WARN
    }

    fn new_span(&self, span: &span::Attributes<'_>) -> span::Id {
        self.inner().new_span(span)
    }

    fn record(&self, span: &span::Id, values: &span::Record<'_>) {
        self.inner().record(span, values);
    }

    fn record_follows_from(&self, span: &span::Id, follows: &span::Id) {
        self.inner().record_follows_from(span, follows);
    }

    fn event(&self, event: &Event<'_>) {
        self.inner().event(event);
    }

    fn enter(&self, span: &span::Id) {
        self.inner().enter(span);
    }

    fn exit(&self, span: &span::Id) {
        self.inner().exit(span);
    }

    fn clone_span(&self, id: &span::Id) -> span::Id {
        self.inner().clone_span(id)
    }

    fn try_close(&self, id: span::Id) -> bool {
        self.inner().try_close(id)
    }
}
