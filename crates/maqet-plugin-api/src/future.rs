//! A root module that claims a future interface version, so that tests can prove hosts reject
//! it. Its fields are never read: hosts turn it away before looking inside.
#![allow(dead_code)]

use abi_stable::StableAbi;
use abi_stable::library::{__call_root_module_loader, LibHeader, RootModule, RootModuleResult};
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::RString;

use crate::plugin::{PluginInstance, lib_header, name_ffi};

/// A root module that claims interface version 999, only to test rejection.
#[doc(hidden)]
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = FutureModuleRef)))]
#[sabi(missing_field(panic))]
pub struct FutureModule {
    interface_version: u32,
    #[sabi(last_prefix_field)]
    name: extern "C" fn() -> RString,
}

impl RootModule for FutureModuleRef {
    abi_stable::declare_root_module_statics! {FutureModuleRef}
    const BASE_NAME: &'static str = "maqet_plugin_future";
    const NAME: &'static str = "maqet plugin interface";
    const VERSION_STRINGS: VersionStrings = VersionStrings::new("999.0.0");
}

/// The header of a plugin that claims a future interface version (for rejection tests).
#[doc(hidden)]
pub const fn future_header<S: PluginInstance>() -> LibHeader {
    lib_header::<FutureModuleRef>(future_loader::<S>)
}

extern "C" fn future_loader<S: PluginInstance>() -> RootModuleResult {
    __call_root_module_loader(build_future_module::<S>)
}

fn build_future_module<S: PluginInstance>() -> FutureModuleRef {
    FutureModule {
        interface_version: 999,
        name: name_ffi::<S>,
    }
    .leak_into_prefix()
}
