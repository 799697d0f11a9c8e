//! The `#[api_method]` commands, by area.

mod config_cmds;
mod qmp;
mod run;
mod vm;
mod watch;

pub use config_cmds::{Markdown, ValidationReport};
pub use run::{StartReport, StopReport};
