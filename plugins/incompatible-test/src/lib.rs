//! A plugin exported for a future interface version: every maqet must reject it.
//!
//! It exists only so `maqet-plugin-api`'s tests can prove that an incompatible build is turned
//! away with a readable reason instead of being called. It uses a hidden export macro rather
//! than a cargo feature of `maqet-plugin-api`, because features are unified across the
//! workspace and would break every other plugin built in the same `cargo build --workspace`.

use maqet_plugin_api::{CommandSpec, Host, Plugin};
use serde_json::Value;

/// A plugin that would clash with nothing, if it were ever loaded.
pub struct FromTheFuture;

impl Plugin for FromTheFuture {
    fn name(&self) -> &str {
        "incompatible-test"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn commands(&self) -> Vec<CommandSpec> {
        vec![CommandSpec::new("from-the-future", "Never loaded")]
    }

    fn invoke(&self, _command: &str, _args: Value, _host: &Host) -> Result<Value, String> {
        Err("an incompatible plugin must never be invoked".to_owned())
    }
}

maqet_plugin_api::export_incompatible_plugin_for_tests!(FromTheFuture);
