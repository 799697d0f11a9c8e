//! The smallest complete maqet plugin: `maqet hello NAME` answers `{"greeting": "hello NAME"}`.
//!
//! Its command is declared once, as a struct: `#[derive(Request)]` gives maqet the command's
//! description (one parameter per field, help from the doc comments) and gives `invoke` the
//! arguments typed, refused with maqet's own words when they are bad (`--wait soon`).
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
//! let shout = json!({"name": "vm", "style": "shout"});
//! let answer = with_services(&NoHost, |host| Hello.invoke("hello", shout, host));
//! assert_eq!(answer.unwrap(), json!({"greeting": "HELLO VM"}));
//! ```

use maqet_plugin_api::{Choice, CommandFailure, CommandSpec, Host, Plugin, Request, export_plugin};
use serde_json::{Value, json};

/// The plugin: one command, `hello`.
pub struct Hello;

/// Greet someone
#[derive(Debug, Request)]
#[request(name = "hello", example = "maqet hello world")]
pub struct HelloRequest {
    /// Who to greet
    #[param(positional)]
    pub name: String,
    /// How to greet
    #[param(default = "plain")]
    pub style: Style,
    /// Wait this long before answering (seconds, or 2s, 500ms)
    #[param(default = "0")]
    pub wait: std::time::Duration,
}

/// How `hello` greets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Choice)]
pub enum Style {
    /// `hello NAME`.
    Plain,
    /// `HELLO NAME`.
    Shout,
}

impl Plugin for Hello {
    fn name(&self) -> &str {
        "hello"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn commands(&self) -> Vec<CommandSpec> {
        vec![HelloRequest::spec()]
    }

    fn invoke(&self, _command: &str, args: Value, _host: &Host) -> Result<Value, CommandFailure> {
        let request = HelloRequest::from_args(args)?;
        std::thread::sleep(request.wait);
        let greeting = format!("hello {}", request.name);
        let greeting = match request.style {
            Style::Plain => greeting,
            Style::Shout => greeting.to_uppercase(),
        };
        Ok(json!({ "greeting": greeting }))
    }
}

export_plugin!(Hello);
