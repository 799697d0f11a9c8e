//! The `#[api_method]` commands, by area.

mod config_cmds;
mod vm;

pub use config_cmds::{Markdown, ValidationReport};
