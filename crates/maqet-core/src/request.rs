//! Typed requests: what `#[api_method]`'s generated `*Request` and `*Builder` types build on.
//!
//! Every command has a request struct (`StopRequest`, `AddRequest`, ...) whose fields are the
//! command's parameters, filled with the registry's defaults by `StopRequest::new(required..)`.
//! [`Request`] runs one; [`Maqet::execute`] is the plain typed call. The fluent builders
//! (`maqet.stop("web").force(true).send()`) wrap a request; [`ConfigKeySetters`] gives the
//! builders of `add` and `apply` one setter per VM config key (`.memory("4G").cpu(2)`).
//!
//! The Python reference's examples, one line each (compiled; running them needs QEMU):
//!
//! ```no_run
//! use maqet_core::api::{SnapshotAction, SnapshotOutcome, StopRequest};
//! use maqet_core::{ConfigKeySetters, Maqet};
//!
//! # fn main() -> Result<(), maqet_core::MaqetError> {
//! let maqet = Maqet::new()?;
//! // vm_id = maqet.add(config=["base.yaml", "custom.yaml"], name="production-vm")
//! let vm_id = maqet.add().config_list(["base.yaml", "custom.yaml"]).name("production-vm").send()?.into_vm_id();
//! // maqet.add(name="test-vm", memory="4G", cpu=2)
//! maqet.add().name("test-vm").memory("4G").cpu(2).send()?;
//! // maqet.add(name="placeholder", empty=True)
//! maqet.add().name("placeholder").empty(true).send()?;
//! // maqet.apply("myvm", config=["base.yaml", "prod.yaml"], memory="16G")
//! maqet.apply("myvm").config_list(["base.yaml", "prod.yaml"]).memory("16G").send()?;
//! // maqet.start(vm_id)
//! maqet.start(&vm_id).send()?;
//! // result = maqet.qmp("myvm", "query-status")
//! let result = maqet.qmp("myvm", "query-status").send()?;
//! // maqet.qmp_key("myvm", "ctrl", "alt", "delete", hold_time=200)
//! maqet.qmp_key("myvm").keys_list(["ctrl", "alt", "delete"]).hold_time(200).send()?;
//! // maqet.qmp_type("myvm", "sensitive-command", hold_time=150)
//! maqet.qmp_type("myvm", "sensitive-command").hold_time(150).send()?;
//! // maqet.screendump("myvm", "screenshot.ppm")
//! maqet.screendump("myvm", "screenshot.ppm").send()?;
//! // maqet.device_add("myvm", driver="usb-storage", device_id="usb1", drive="usb-drive")
//! maqet.device_add("myvm", "usb-storage", "usb1").props("drive", "usb-drive").send()?;
//! // maqet.snapshot("myvm", "create", "hdd", "backup1", overwrite=True)
//! maqet.snapshot("myvm", SnapshotAction::Create, "hdd").name("backup1").overwrite(true).send()?;
//! // snapshots = maqet.snapshot("myvm", "list", "hdd")
//! if let SnapshotOutcome::Listed(snapshots) = maqet.snapshot("myvm", SnapshotAction::List, "hdd").send()? {
//!     println!("{snapshots:?}");
//! }
//! // maqet.stop("myvm", timeout=60)
//! maqet.stop("myvm").timeout(60.0).send()?;
//! // the same as a typed request:
//! maqet.execute(StopRequest { force: true, ..StopRequest::new("myvm") })?;
//! // maqet.rm("myvm", force=True, clean_storage=True); maqet.rm(all=True, force=True)
//! maqet.rm().vm("myvm").force(true).clean_storage(true).send()?;
//! maqet.rm().all(true).force(true).send()?;
//! # let _ = result;
//! # Ok(()) }
//! ```
//!
//! The builder is each command's one Rust call shape: the method an `#[api_method]` author
//! wrote is the command's crate-private handler, with no public positional twin:
//!
//! ```compile_fail
//! # fn main() -> Result<(), maqet_core::MaqetError> {
//! let maqet = maqet_core::Maqet::new()?;
//! maqet.stop_with("myvm".to_string(), true, 30.0, false)?;
//! # Ok(()) }
//! ```
//!
//! ```compile_fail
//! # fn main() -> Result<(), maqet_core::MaqetError> {
//! let maqet = maqet_core::Maqet::new()?;
//! maqet.__stop("myvm".to_string(), true, 30.0, false)?;
//! # Ok(()) }
//! ```

use serde_json::Value;

use crate::registry::ConfigOverrides;
use crate::{Maqet, MaqetError};

/// A command's arguments, ready to run.
pub trait Request {
    /// The command's result.
    type Output;
    /// Runs the command on `maqet`.
    fn send_to(self, maqet: &Maqet) -> Result<Self::Output, MaqetError>;
}

impl Maqet {
    /// Runs a typed request: `maqet.execute(StopRequest::new("web"))`.
    pub fn execute<R: Request>(&self, request: R) -> Result<R::Output, MaqetError> {
        request.send_to(self)
    }
}

/// One setter per VM config key (the keys of `docs/configuration.md`), for the builders of the
/// commands that take config keys as options (`add`, `apply`).
///
/// Import it (`use maqet_core::ConfigKeySetters;`) to write
/// `maqet.add().memory("4G").cpu(2)`. A value set here wins over the config files, as
/// `--memory 4G` does on the command line.
pub trait ConfigKeySetters: Sized {
    /// The overrides being collected.
    fn config_overrides(&mut self) -> &mut ConfigOverrides;

    /// Sets any config key by its YAML name.
    fn config_key(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.config_overrides()
            .0
            .insert(key.to_string(), value.into());
        self
    }
    /// `binary`: the QEMU system emulator (a name on PATH, or a path).
    fn binary(self, value: impl Into<String>) -> Self {
        self.config_key("binary", value.into())
    }
    /// `machine`: the QEMU machine type.
    fn machine(self, value: impl Into<String>) -> Self {
        self.config_key("machine", value.into())
    }
    /// `accel`: the QEMU accelerator (`kvm`, `tcg`).
    fn accel(self, value: impl Into<String>) -> Self {
        self.config_key("accel", value.into())
    }
    /// `memory`: a size such as `512M` or `4G`.
    fn memory(self, value: impl Into<String>) -> Self {
        self.config_key("memory", value.into())
    }
    /// `cpu`: the number of virtual CPUs.
    fn cpu(self, value: u32) -> Self {
        self.config_key("cpu", value)
    }
    /// `display`: the QEMU display (`none`, `gtk`, ...).
    fn display(self, value: impl Into<String>) -> Self {
        self.config_key("display", value.into())
    }
    /// `vga`: the emulated graphics card.
    fn vga(self, value: impl Into<String>) -> Self {
        self.config_key("vga", value.into())
    }
    /// `arguments`: structured QEMU options, as the YAML list would hold them.
    fn arguments(self, value: impl Into<Value>) -> Self {
        self.config_key("arguments", value)
    }
    /// `args`: raw QEMU argv words.
    fn args<S: Into<String>>(self, words: impl IntoIterator<Item = S>) -> Self {
        let words: Vec<Value> = words.into_iter().map(|w| Value::String(w.into())).collect();
        self.config_key("args", words)
    }
    /// `storage`: the drive list, as the YAML list would hold it.
    fn storage(self, value: impl Into<Value>) -> Self {
        self.config_key("storage", value)
    }
    /// `guest_agent`: whether the VM gets a guest agent channel.
    fn guest_agent(self, value: bool) -> Self {
        self.config_key("guest_agent", value)
    }

    /// `copy_channel`: whether a VM with the agent also gets the `cp` data port (on unless
    /// `false`).
    fn copy_channel(self, value: bool) -> Self {
        self.config_key("copy_channel", value)
    }
    /// `firmware`: `bios` or `uefi`.
    fn firmware(self, value: impl Into<String>) -> Self {
        self.config_key("firmware", value.into())
    }
    /// `secure_boot`: UEFI Secure Boot enforced (with `firmware: uefi`).
    fn secure_boot(self, value: bool) -> Self {
        self.config_key("secure_boot", value)
    }
    /// `tpm`: an emulated TPM 2.0 (swtpm).
    fn tpm(self, value: bool) -> Self {
        self.config_key("tpm", value)
    }
    /// `pointer`: `tablet` adds a USB tablet (absolute positions for `qmp mouse-*`).
    fn pointer(self, value: impl Into<String>) -> Self {
        self.config_key("pointer", value.into())
    }
    /// `ports`: the port-forward list, as the YAML list would hold it.
    fn ports(self, value: impl Into<Value>) -> Self {
        self.config_key("ports", value)
    }
    /// `shutdown_via`: how `stop` asks the guest to shut down (`acpi` or `agent`).
    fn shutdown_via(self, value: impl Into<String>) -> Self {
        self.config_key("shutdown_via", value.into())
    }
    /// `cloud_init`: first-boot identity on or off (docs/ssh.md).
    fn cloud_init(self, value: bool) -> Self {
        self.config_key("cloud_init", value)
    }
    /// `user`: the first-boot user.
    fn user(self, value: impl Into<String>) -> Self {
        self.config_key("user", value.into())
    }
    /// `ssh_authorized_keys`: the first-boot user's public key lines.
    fn ssh_authorized_keys<S: Into<String>>(self, keys: impl IntoIterator<Item = S>) -> Self {
        let keys: Vec<Value> = keys.into_iter().map(|k| Value::String(k.into())).collect();
        self.config_key("ssh_authorized_keys", keys)
    }
    /// `hostname`: the guest's host name.
    fn hostname(self, value: impl Into<String>) -> Self {
        self.config_key("hostname", value.into())
    }
    /// `user_data`: more cloud-config (a mapping) or the whole `user-data` (text).
    fn user_data(self, value: impl Into<Value>) -> Self {
        self.config_key("user_data", value)
    }
    /// `network_config`: the seed's `network-config` (a mapping or text).
    fn network_config(self, value: impl Into<Value>) -> Self {
        self.config_key("network_config", value)
    }
}

/// The config keys [`ConfigKeySetters`] has no typed setter for (`name` is each command's own
/// parameter); every other key of [`CONFIG_KEYS`](crate::config::CONFIG_KEYS) has one, which a test checks.
pub const KEYS_WITHOUT_SETTER: &[&str] = &["name"];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CONFIG_KEYS;

    #[derive(Default)]
    struct Collect(ConfigOverrides);
    impl ConfigKeySetters for Collect {
        fn config_overrides(&mut self) -> &mut ConfigOverrides {
            &mut self.0
        }
    }

    #[test]
    fn every_config_key_has_a_setter() {
        let set = Collect::default()
            .binary("qemu-system-x86_64")
            .machine("q35")
            .accel("tcg")
            .memory("4G")
            .cpu(2)
            .display("none")
            .vga("std")
            .firmware("uefi")
            .secure_boot(true)
            .tpm(true)
            .arguments(serde_json::json!([]))
            .args(["-nodefaults"])
            .storage(serde_json::json!([]))
            .guest_agent(true)
            .copy_channel(true)
            .ports(serde_json::json!([]))
            .shutdown_via("acpi")
            .cloud_init(true)
            .user("alice")
            .ssh_authorized_keys(["ssh-ed25519 AAAA"])
            .hostname("web")
            .user_data(serde_json::json!({}))
            .network_config(serde_json::json!({}))
            .pointer("tablet");
        let mut covered: Vec<&str> = set.0.0.keys().map(String::as_str).collect();
        covered.extend(KEYS_WITHOUT_SETTER);
        covered.sort_unstable();
        let mut declared: Vec<&str> = CONFIG_KEYS.iter().map(|k| k.name).collect();
        declared.sort_unstable();
        assert_eq!(
            covered, declared,
            "add a setter to ConfigKeySetters for each new config key"
        );
    }
}
