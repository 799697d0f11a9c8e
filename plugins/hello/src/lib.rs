//! The smallest complete maqet plugin: `maqet hello NAME` answers `{"greeting": "hello NAME"}`.
//!
//! ```
//! use maqet_hello::Hello;
//! use maqet_plugin_api::{HostServices, LogLevel, Plugin, with_services};
//! use serde_json::{Value, json};
//!
//! struct NoHost;
//! impl HostServices for NoHost {
//!     fn call(&self, _: &str, _: Value) -> Result<Value, String> { Err("offline".into()) }
//!     fn log(&self, _: LogLevel, _: &str) {}
//! }
//!
//! let answer = with_services(&NoHost, |host| Hello.invoke("hello", json!({"name": "vm"}), host));
//! assert_eq!(answer.unwrap(), json!({"greeting": "hello vm"}));
//! ```

use maqet_plugin_api::{
    CommandFailure, CommandSpec, Host, ParamKind, ParamSpec, Plugin, export_plugin,
};
use serde_json::{Value, json};

/// The plugin: one command, `hello`.
pub struct Hello;

impl Plugin for Hello {
    fn name(&self) -> &str {
        "hello"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn commands(&self) -> Vec<CommandSpec> {
        vec![
            CommandSpec::new("hello", "Greet someone")
                .param(ParamSpec::positional(
                    "name",
                    ParamKind::String,
                    "Who to greet",
                ))
                .example("maqet hello world"),
        ]
    }

    fn invoke(&self, _command: &str, args: Value, _host: &Host) -> Result<Value, CommandFailure> {
        let name = args["name"].as_str().ok_or("`name` must be a string")?;
        Ok(json!({ "greeting": format!("hello {name}") }))
    }
}

export_plugin!(Hello);
