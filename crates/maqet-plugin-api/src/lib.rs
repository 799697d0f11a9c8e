//! The stable interface between maqet and its command plugins.
//!
//! A plugin is a Rust `cdylib` that adds commands to `maqet`. It implements [`Plugin`] and
//! exports it with [`export_plugin!`]; maqet finds its `.so` in a plugin directory, checks with
//! `abi_stable` that it was built for the same [`INTERFACE_VERSION`] and type layout, lists its
//! [`CommandSpec`]s next to the built-in commands, and runs them with JSON arguments. While a
//! command runs, the plugin reaches maqet through [`Host`]: it can run any maqet command by name
//! (`start`, `apply`, `info`...) and log.
//!
//! The host side (used by `maqet-cli`) lives in [`host`]: [`host::discover`] loads plugins,
//! [`host::check_clashes`] rejects duplicate command names, [`host::LoadedPlugin::invoke`] runs a
//! command. No `abi_stable` type appears in this crate's own API (the command model it
//! re-exports as [`command`] has the FFI forms of the command description in `command::ffi`).
//!
//! # Example: a plugin
//!
//! A command is declared once, as a struct: `#[derive(Request)]` gives its [`CommandSpec`]
//! (`spec()`) and reads a call's JSON arguments into it (`from_args`), refusing a bad value
//! with the words a built-in command uses ([`ArgError`], exit 3 through `?`).
//!
//! ```
//! use maqet_plugin_api::{CommandFailure, CommandSpec, Host, Plugin, Request, export_plugin};
//! use serde_json::{Value, json};
//!
//! struct Hello;
//!
//! /// Say hello
//! #[derive(Request)]
//! #[request(name = "hello")]
//! struct HelloRequest {
//!     /// Who to greet
//!     #[param(positional)]
//!     name: String,
//! }
//!
//! impl Plugin for Hello {
//!     fn name(&self) -> &str { "hello" }
//!     fn version(&self) -> &str { env!("CARGO_PKG_VERSION") }
//!     fn commands(&self) -> Vec<CommandSpec> {
//!         vec![HelloRequest::spec()]
//!     }
//!     fn invoke(&self, _command: &str, args: Value, _host: &Host) -> Result<Value, CommandFailure> {
//!         let request = HelloRequest::from_args(args)?;
//!         Ok(json!({ "greeting": format!("hello {}", request.name) }))
//!     }
//! }
//!
//! export_plugin!(Hello);
//! # fn main() {}
//! ```

mod error;
mod ffi;
mod future;
pub mod host;
mod plugin;
mod services;

pub use error::{
    CommandFailure, ErrorKind, PluginError, PluginMessage, error_chain, error_with_kind,
};
pub use maqet_command::{ArgError, Choice, CommandSpec, FromArg, ParamKind, ParamSpec, Request};
/// `#[derive(Request)]` on a struct: the command's description and its typed arguments;
/// `#[derive(Choice)]` on an enum: a closed set of names a parameter takes.
pub use maqet_command_derive::{Choice, Request};
pub use plugin::Plugin;
pub use services::{Host, HostServices, LogLevel, with_services};

/// The shared command model (`maqet-command`), which the derives' expansions name.
pub use maqet_command as command;

impl From<ArgError> for CommandFailure {
    /// A bad argument is bad input (exit 3), worded as a built-in command words it.
    fn from(err: ArgError) -> Self {
        error_with_kind(ErrorKind::InvalidInput, &err)
    }
}

/// The version of the plugin interface this build of maqet speaks.
///
/// A plugin is loaded only if it was built for exactly this version. It is bumped whenever
/// anything that crosses the library boundary changes (the root module, the handle, the
/// command metadata), never for additions that only touch the plain-Rust side.
pub const INTERFACE_VERSION: u32 = ffi::interface_version_literal!();

/// The symbol `abi_stable` looks up in a plugin library (checked against abi_stable in tests).
#[doc(hidden)]
#[macro_export]
macro_rules! __root_module_symbol {
    () => {
        "_1as_0lib_1header_0root_bmodule_bloader"
    };
}

/// Exports a [`Plugin`] from a `cdylib` crate so maqet can load it.
///
/// Takes an expression that builds the plugin; it is evaluated once, on first use.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:expr) => {
        $crate::__export_with_header!($plugin, plugin_header);
    };
}

/// Like [`export_plugin!`] but claims a future interface version, so every host rejects it.
/// Only for tests of the rejection path.
#[doc(hidden)]
#[macro_export]
macro_rules! export_incompatible_plugin_for_tests {
    ($plugin:expr) => {
        $crate::__export_with_header!($plugin, future_header);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __export_with_header {
    ($plugin:expr, $header:ident) => {
        #[doc(hidden)]
        pub struct __MaqetPluginInstance;

        impl $crate::__private::PluginInstance for __MaqetPluginInstance {
            fn get() -> &'static dyn $crate::Plugin {
                static INSTANCE: ::std::sync::OnceLock<::std::boxed::Box<dyn $crate::Plugin>> =
                    ::std::sync::OnceLock::new();
                &**INSTANCE.get_or_init(|| ::std::boxed::Box::new($plugin))
            }
        }

        #[doc(hidden)]
        #[unsafe(export_name = $crate::__root_module_symbol!())]
        pub static __MAQET_PLUGIN_ROOT_MODULE: $crate::__private::LibHeader =
            $crate::__private::$header::<__MaqetPluginInstance>();
    };
}

/// Items the macros expand to; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::future::future_header;
    pub use crate::plugin::{PluginInstance, plugin_header};
    pub use abi_stable::library::LibHeader;
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_module_symbol_matches_abi_stable() {
        assert_eq!(
            crate::__root_module_symbol!(),
            abi_stable::library::ROOT_MODULE_LOADER_NAME
        );
    }
}
