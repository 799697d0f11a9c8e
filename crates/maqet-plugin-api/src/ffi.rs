//! The stable-ABI types that actually cross the dynamic-library boundary.
//!
//! Everything here is private to this crate: plugin authors use [`crate::Plugin`], the host uses
//! [`crate::host`]. Changing anything in this file, or the command descriptions of
//! `maqet_command::ffi` it carries, changes the interface: bump [`crate::INTERFACE_VERSION`].

use std::ffi::c_void;

use abi_stable::library::RootModule;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RResult, RStr, RString, RVec};
use abi_stable::{StableAbi, declare_root_module_statics};

pub(crate) use maqet_command::ffi::CommandSpecFfi;

/// Expands to the interface version as a literal, so it can be spliced into strings.
macro_rules! interface_version_literal {
    () => {
        4
    };
}
pub(crate) use interface_version_literal;

/// The root module every plugin exports (one per `.so`).
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModuleRef)))]
#[sabi(missing_field(panic))]
pub struct PluginModule {
    /// The interface version the plugin was built for.
    pub interface_version: u32,
    /// The plugin's name.
    pub name: extern "C" fn() -> RString,
    /// The plugin's own version.
    pub version: extern "C" fn() -> RString,
    /// The commands the plugin offers.
    pub commands: extern "C" fn() -> RVec<CommandSpecFfi>,
    /// Runs one command: JSON arguments in, JSON result or a typed failure out.
    #[sabi(last_prefix_field)]
    pub invoke: extern "C" fn(RStr<'_>, RStr<'_>, HostHandle) -> RResult<RString, FailureFfi>,
}

/// FFI form of [`CommandFailure`](crate::CommandFailure): the kind as itself, the message as
/// an `RString`.
#[repr(C)]
#[derive(StableAbi, Debug)]
pub struct FailureFfi {
    /// What kind of failure it is (maqet's exit code).
    pub kind: crate::ErrorKind,
    /// What the plugin says.
    pub message: RString,
    /// Its causes, outermost first (each its own sentence, as the host prints them).
    pub causes: RVec<RString>,
}

impl From<crate::CommandFailure> for FailureFfi {
    fn from(failure: crate::CommandFailure) -> Self {
        FailureFfi {
            kind: failure.kind,
            message: failure.message.into(),
            causes: failure.causes.into_iter().map(RString::from).collect(),
        }
    }
}

impl RootModule for PluginModuleRef {
    declare_root_module_statics! {PluginModuleRef}
    const BASE_NAME: &'static str = concat!("maqet_plugin_v", interface_version_literal!());
    const NAME: &'static str = "maqet plugin interface";
    const VERSION_STRINGS: VersionStrings =
        VersionStrings::new(concat!(interface_version_literal!(), ".0.0"));
}

/// What the plugin may ask of the host while one of its commands runs.
///
/// `ctx` points at the host's `&dyn HostServices` and is only valid during that `invoke` call.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct HostHandle {
    /// Opaque host context passed back to `call` and `log`.
    pub ctx: *const c_void,
    /// Runs a maqet command by name with JSON arguments.
    pub call: extern "C" fn(*const c_void, RStr<'_>, RStr<'_>) -> RResult<RString, RString>,
    /// Logs a message at a level (0 error, 1 warn, 2 info, 3 debug).
    pub log: extern "C" fn(*const c_void, u8, RStr<'_>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_strings_carry_interface_version() {
        let expected = format!("{}.0.0", crate::INTERFACE_VERSION);
        assert_eq!(PluginModuleRef::VERSION_STRINGS.to_string(), expected);
        assert!(PluginModuleRef::BASE_NAME.ends_with(&crate::INTERFACE_VERSION.to_string()));
    }
}
