//! The plugin author's side: the [`Plugin`] trait and the glue behind [`crate::export_plugin!`].

use std::panic::{AssertUnwindSafe, catch_unwind};

use abi_stable::library::{
    __call_root_module_loader, CheckTypeLayout, LibHeader, RootModule, RootModuleResult,
};
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::std_types::{RErr, ROk, RResult, RStr, RString, RVec};
use serde_json::Value;

use crate::error::CommandFailure;
use crate::ffi::{CommandSpecFfi, FailureFfi, HostHandle, PluginModule, PluginModuleRef};
use crate::services::{Host, panic_text};
use maqet_command::CommandSpec;

/// A maqet plugin: a named set of commands. Export one per crate with [`crate::export_plugin!`].
pub trait Plugin: Send + Sync + 'static {
    /// The plugin's name (shown by `maqet plugins` and in errors).
    fn name(&self) -> &str;
    /// The plugin's own version, usually `env!("CARGO_PKG_VERSION")`.
    fn version(&self) -> &str;
    /// The commands the plugin adds to maqet.
    fn commands(&self) -> Vec<CommandSpec>;
    /// Runs `command` with its JSON arguments (keys are the snake_case parameter names). A
    /// failure carries its kind (maqet's exit code); text converts into a plain `Failure`.
    fn invoke(&self, command: &str, args: Value, host: &Host) -> Result<Value, CommandFailure>;
}

/// Where the glue finds the plugin instance; implemented by [`crate::export_plugin!`].
#[doc(hidden)]
pub trait PluginInstance: 'static {
    /// The plugin, created on first use.
    fn get() -> &'static dyn Plugin;
}

/// The library header a plugin exports, for the module type `M` built by `build`.
#[doc(hidden)]
pub const fn lib_header<M: RootModule>(loader: extern "C" fn() -> RootModuleResult) -> LibHeader {
    // SAFETY: every loader passed here (`plugin_loader`, `future_loader`) returns a prefix
    // reference built from `M` itself, which is what `from_constructor` requires.
    unsafe { LibHeader::from_constructor::<M>(loader, CheckTypeLayout::Yes) }
}

/// The header for a plugin built against this interface.
#[doc(hidden)]
pub const fn plugin_header<S: PluginInstance>() -> LibHeader {
    lib_header::<PluginModuleRef>(plugin_loader::<S>)
}

extern "C" fn plugin_loader<S: PluginInstance>() -> RootModuleResult {
    __call_root_module_loader(build_module::<S>)
}

fn build_module<S: PluginInstance>() -> PluginModuleRef {
    PluginModule {
        interface_version: crate::INTERFACE_VERSION,
        name: name_ffi::<S>,
        version: version_ffi::<S>,
        commands: commands_ffi::<S>,
        invoke: invoke_ffi::<S>,
    }
    .leak_into_prefix()
}

/// Runs `body`, turning a panic into `fallback(panic message)` so no unwind crosses FFI.
fn guarded<T>(body: impl FnOnce() -> T, fallback: impl FnOnce(String) -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| fallback(panic_text(&*payload)))
}

pub(crate) extern "C" fn name_ffi<S: PluginInstance>() -> RString {
    guarded(|| S::get().name().into(), |_| "<panicked>".into())
}

extern "C" fn version_ffi<S: PluginInstance>() -> RString {
    guarded(|| S::get().version().into(), |_| "<panicked>".into())
}

extern "C" fn commands_ffi<S: PluginInstance>() -> RVec<CommandSpecFfi> {
    guarded(
        || {
            S::get()
                .commands()
                .iter()
                .map(CommandSpecFfi::from)
                .collect()
        },
        |_| RVec::new(),
    )
}

extern "C" fn invoke_ffi<S: PluginInstance>(
    command: RStr<'_>,
    args_json: RStr<'_>,
    host: HostHandle,
) -> RResult<RString, FailureFfi> {
    let command = command.as_str();
    guarded(
        || {
            let args: Value = match serde_json::from_str(args_json.as_str()) {
                Ok(args) => args,
                Err(e) => {
                    return RErr(
                        CommandFailure::from(format!("arguments are not valid JSON: {e}")).into(),
                    );
                }
            };
            let host = Host::from_handle(host);
            match S::get().invoke(command, args, &host) {
                Ok(value) => ROk(value.to_string().into()),
                Err(failure) => RErr(failure.into()),
            }
        },
        |panic| {
            RErr(
                CommandFailure::from(format!(
                    "the plugin panicked while running `{command}`: {panic}"
                ))
                .into(),
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::{HostServices, LogLevel, handle_for};

    struct Panicky;

    impl Plugin for Panicky {
        fn name(&self) -> &str {
            "panicky"
        }
        fn version(&self) -> &str {
            "1"
        }
        fn commands(&self) -> Vec<CommandSpec> {
            vec![CommandSpec::new("boom", "Panics")]
        }
        fn invoke(
            &self,
            command: &str,
            args: Value,
            _host: &Host,
        ) -> Result<Value, CommandFailure> {
            match args["mode"].as_str() {
                Some("panic") => panic!("index out of range in {command}"),
                Some("fail") => Err(CommandFailure::new(crate::ErrorKind::Timeout, "no disk")),
                _ => Ok(args),
            }
        }
    }

    impl PluginInstance for Panicky {
        fn get() -> &'static dyn Plugin {
            &Panicky
        }
    }

    struct Offline;

    impl HostServices for Offline {
        fn call(&self, _: &str, _: Value) -> Result<Value, String> {
            Err("offline".to_owned())
        }
        fn log(&self, _: LogLevel, _: &str) {}
    }

    fn invoke(args: &str) -> RResult<RString, FailureFfi> {
        let services: &dyn HostServices = &Offline;
        invoke_ffi::<Panicky>("boom".into(), args.into(), handle_for(&services))
    }

    #[test]
    fn panic_in_plugin_becomes_error_instead_of_unwinding() {
        let err = invoke(r#"{"mode": "panic"}"#).unwrap_err();
        assert_eq!(err.kind, crate::ErrorKind::Failure);
        let err = err.message;
        assert!(err.contains("panicked while running `boom`"), "{err}");
        assert!(err.contains("index out of range in boom"), "{err}");
    }

    #[test]
    fn plugin_results_cross_as_json_and_failures_with_their_kind() {
        assert_eq!(
            invoke(r#"{"mode": "ok"}"#).unwrap().as_str(),
            r#"{"mode":"ok"}"#
        );
        let failure = invoke(r#"{"mode": "fail"}"#).unwrap_err();
        assert_eq!(
            (failure.kind, failure.message.as_str()),
            (crate::ErrorKind::Timeout, "no disk")
        );
        let err = invoke("{not json").unwrap_err().message;
        assert!(err.starts_with("arguments are not valid JSON"), "{err}");
    }

    #[test]
    fn module_reports_name_and_commands() {
        let module = build_module::<Panicky>();
        assert_eq!((module.name())().as_str(), "panicky");
        assert_eq!(module.interface_version(), crate::INTERFACE_VERSION);
        let commands = (module.commands())();
        assert_eq!(CommandSpec::from(&commands[0]).name, "boom");
    }
}
