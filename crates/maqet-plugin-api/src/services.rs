//! What a running plugin command may ask of maqet: the host side ([`HostServices`]) and the
//! plugin side ([`Host`]), joined by an FFI handle.

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

use abi_stable::std_types::{RErr, ROk, RResult, RStr, RString};
use serde_json::Value;

use crate::ffi::HostHandle;

/// How important a plugin's log message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something looks wrong but work goes on.
    Warn,
    /// Progress a user may want to see.
    Info,
    /// Detail for debugging.
    Debug,
}

impl LogLevel {
    fn to_wire(self) -> u8 {
        match self {
            Self::Error => 0,
            Self::Warn => 1,
            Self::Info => 2,
            Self::Debug => 3,
        }
    }

    /// Unknown levels (from a newer plugin) are shown as info.
    fn from_wire(level: u8) -> Self {
        match level {
            0 => Self::Error,
            1 => Self::Warn,
            3 => Self::Debug,
            _ => Self::Info,
        }
    }
}

/// What maqet offers a plugin while one of its commands runs (implemented by the host).
pub trait HostServices {
    /// Runs a maqet command by name (`"info"`, `"start"`, `"apply"`...) with JSON arguments.
    fn call(&self, command: &str, args: Value) -> Result<Value, String>;
    /// Records a log message from the plugin.
    fn log(&self, level: LogLevel, message: &str);
}

/// The plugin's view of maqet during one command: call other commands, log.
pub struct Host {
    handle: HostHandle,
}

impl Host {
    pub(crate) fn from_handle(handle: HostHandle) -> Self {
        Self { handle }
    }

    /// Runs a maqet command by name with JSON arguments and returns its JSON result.
    pub fn call(&self, command: &str, args: Value) -> Result<Value, String> {
        let args = args.to_string();
        let answer = (self.handle.call)(self.handle.ctx, command.into(), args.as_str().into());
        match answer {
            ROk(json) => serde_json::from_str(&json)
                .map_err(|e| format!("maqet answered `{command}` with invalid JSON: {e}")),
            RErr(message) => Err(message.into_string()),
        }
    }

    /// Logs a message through maqet's logging.
    pub fn log(&self, level: LogLevel, message: &str) {
        (self.handle.log)(self.handle.ctx, level.to_wire(), message.into());
    }

    /// A VM's description (`maqet info VM`): name, vm_id, data_dir, config, qemu_argv...
    pub fn vm_info(&self, vm: &str) -> Result<Value, String> {
        self.call("info", serde_json::json!({ "vm": vm }))
    }

    /// A VM's run state (`maqet status VM`).
    pub fn vm_status(&self, vm: &str) -> Result<Value, String> {
        self.call("status", serde_json::json!({ "vm": vm }))
    }
}

/// Runs `body` with a [`Host`] backed by `services`, e.g. to test a plugin without loading it.
pub fn with_services<R>(services: &dyn HostServices, body: impl FnOnce(&Host) -> R) -> R {
    let host = Host::from_handle(handle_for(&services));
    body(&host)
}

/// Builds the FFI handle for `services`; valid as long as the borrowed reference lives.
pub(crate) fn handle_for(services: &&dyn HostServices) -> HostHandle {
    HostHandle {
        ctx: services as *const &dyn HostServices as *const c_void,
        call: call_trampoline,
        log: log_trampoline,
    }
}

/// Recovers the services behind a handle's context.
///
/// # Safety
/// `ctx` must come from [`handle_for`] and the reference it was built from must still be alive.
unsafe fn services_from<'a>(ctx: *const c_void) -> &'a dyn HostServices {
    // SAFETY: guaranteed by the caller: ctx points at a live `&dyn HostServices`.
    unsafe { *(ctx as *const &dyn HostServices) }
}

extern "C" fn call_trampoline(
    ctx: *const c_void,
    command: RStr<'_>,
    args_json: RStr<'_>,
) -> RResult<RString, RString> {
    // SAFETY: the handle is only handed out while its `&dyn HostServices` is borrowed.
    let services = unsafe { services_from(ctx) };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let args: Value = serde_json::from_str(args_json.as_str())
            .map_err(|e| format!("arguments for `{command}` are not valid JSON: {e}"))?;
        services.call(command.as_str(), args)
    }));
    match outcome {
        Ok(Ok(value)) => ROk(value.to_string().into()),
        Ok(Err(message)) => RErr(message.into()),
        Err(payload) => RErr(
            format!(
                "maqet panicked running `{command}`: {}",
                panic_text(&*payload)
            )
            .into(),
        ),
    }
}

extern "C" fn log_trampoline(ctx: *const c_void, level: u8, message: RStr<'_>) {
    // SAFETY: as in `call_trampoline`.
    let services = unsafe { services_from(ctx) };
    let _ = catch_unwind(AssertUnwindSafe(|| {
        services.log(LogLevel::from_wire(level), message.as_str())
    }));
}

/// The message of a caught panic.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    struct Recorder {
        logs: RefCell<Vec<(LogLevel, String)>>,
    }

    impl HostServices for Recorder {
        fn call(&self, command: &str, args: Value) -> Result<Value, String> {
            match command {
                "info" => Ok(serde_json::json!({ "name": args["vm"] })),
                "boom" => panic!("host bug"),
                _ => Err(format!("no command {command}")),
            }
        }
        fn log(&self, level: LogLevel, message: &str) {
            self.logs.borrow_mut().push((level, message.to_owned()));
        }
    }

    #[test]
    fn host_calls_and_logs_reach_services() {
        let recorder = Recorder {
            logs: RefCell::new(Vec::new()),
        };
        with_services(&recorder, |host| {
            assert_eq!(host.vm_info("web").unwrap()["name"], "web");
            assert_eq!(
                host.call("nope", Value::Null).unwrap_err(),
                "no command nope"
            );
            host.log(LogLevel::Warn, "careful");
        });
        assert_eq!(
            recorder.logs.borrow()[0],
            (LogLevel::Warn, "careful".to_owned())
        );
    }

    #[test]
    fn panic_in_host_service_becomes_error() {
        let recorder = Recorder {
            logs: RefCell::new(Vec::new()),
        };
        let err = with_services(&recorder, |host| host.call("boom", Value::Null)).unwrap_err();
        assert!(err.contains("host bug"), "{err}");
    }
}
