//! The stable-ABI types that actually cross the dynamic-library boundary.
//!
//! Everything here is private to this crate: plugin authors use [`crate::Plugin`], the host uses
//! [`crate::host`]. Changing anything in this file changes the interface: bump
//! [`crate::INTERFACE_VERSION`].

use std::ffi::c_void;

use abi_stable::library::RootModule;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{ROption, RResult, RStr, RString, RVec};
use abi_stable::{StableAbi, declare_root_module_statics};

use crate::spec::{CommandSpec, ParamKind, ParamSpec};

/// Expands to the interface version as a literal, so it can be spliced into strings.
macro_rules! interface_version_literal {
    () => {
        3
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
}

impl From<crate::CommandFailure> for FailureFfi {
    fn from(failure: crate::CommandFailure) -> Self {
        FailureFfi {
            kind: failure.kind,
            message: failure.message.into(),
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

/// FFI form of [`ParamSpec`].
#[repr(C)]
#[derive(StableAbi)]
pub struct ParamSpecFfi {
    name: RString,
    /// The shared `maqet_command::ParamKind`, itself `StableAbi`.
    kind: ParamKind,
    default: ROption<RString>,
    help: RString,
    positional: bool,
    repeatable: bool,
    required: bool,
    short: ROption<u32>,
    value_name: ROption<RString>,
    choices: RVec<RString>,
}

/// FFI form of [`CommandSpec`].
#[repr(C)]
#[derive(StableAbi)]
pub struct CommandSpecFfi {
    name: RString,
    group: ROption<RString>,
    category: RString,
    about: RString,
    examples: RVec<RString>,
    aliases: RVec<RString>,
    hidden: bool,
    params: RVec<ParamSpecFfi>,
}

fn strings_to_ffi(list: &[String]) -> RVec<RString> {
    list.iter().map(|s| RString::from(s.as_str())).collect()
}

fn strings_from_ffi(list: &RVec<RString>) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl From<&ParamSpec> for ParamSpecFfi {
    fn from(p: &ParamSpec) -> Self {
        Self {
            name: p.name.as_str().into(),
            kind: p.kind,
            default: p.default.as_deref().map(RString::from).into(),
            help: p.help.as_str().into(),
            positional: p.positional,
            repeatable: p.repeatable,
            required: p.required,
            short: p.short.map(u32::from).into(),
            value_name: p.value_name.as_deref().map(RString::from).into(),
            choices: strings_to_ffi(&p.choices),
        }
    }
}

impl From<&ParamSpecFfi> for ParamSpec {
    fn from(p: &ParamSpecFfi) -> Self {
        Self {
            name: p.name.to_string(),
            kind: p.kind,
            default: p.default.as_ref().map(|d| d.to_string()).into_option(),
            help: p.help.to_string(),
            positional: p.positional,
            repeatable: p.repeatable,
            required: p.required,
            short: p.short.into_option().and_then(char::from_u32),
            value_name: p.value_name.as_ref().map(|v| v.to_string()).into_option(),
            choices: strings_from_ffi(&p.choices),
        }
    }
}

impl From<&CommandSpec> for CommandSpecFfi {
    fn from(c: &CommandSpec) -> Self {
        Self {
            name: c.name.as_str().into(),
            group: c.group.as_deref().map(RString::from).into(),
            category: c.category.as_str().into(),
            about: c.about.as_str().into(),
            examples: strings_to_ffi(&c.examples),
            aliases: strings_to_ffi(&c.aliases),
            hidden: c.hidden,
            params: c.params.iter().map(ParamSpecFfi::from).collect(),
        }
    }
}

impl From<&CommandSpecFfi> for CommandSpec {
    fn from(c: &CommandSpecFfi) -> Self {
        Self {
            name: c.name.to_string(),
            group: c.group.as_ref().map(|g| g.to_string()).into_option(),
            category: c.category.to_string(),
            about: c.about.to_string(),
            examples: strings_from_ffi(&c.examples),
            aliases: strings_from_ffi(&c.aliases),
            hidden: c.hidden,
            params: c.params.iter().map(ParamSpec::from).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_spec_survives_ffi_round_trip() {
        let spec = CommandSpec::new("cloud-init", "Attach a seed ISO")
            .group("vm")
            .alias("ci")
            .example("maqet cloud-init web --user-data u.yaml")
            .param(ParamSpec::positional("vm", ParamKind::String, "The VM"))
            .param(ParamSpec::flag("set", ParamKind::KeyValues, "Pairs").default_value("a=b"))
            .param(
                ParamSpec::flag("to", ParamKind::String, "Target")
                    .short('t')
                    .value_name("FORMAT")
                    .choices(&["libvirt", "nomad"]),
            );
        let back = CommandSpec::from(&CommandSpecFfi::from(&spec));
        assert_eq!(back, spec);
    }

    #[test]
    fn version_strings_carry_interface_version() {
        let expected = format!("{}.0.0", crate::INTERFACE_VERSION);
        assert_eq!(PluginModuleRef::VERSION_STRINGS.to_string(), expected);
        assert!(PluginModuleRef::BASE_NAME.ends_with(&crate::INTERFACE_VERSION.to_string()));
    }
}
