//! maqet plugin `export`: renders a VM as a libvirt domain XML or a Nomad job.
//!
//! `maqet export VM --to libvirt|nomad [--output FILE]` reads the VM through maqet's `info`
//! and prints the result, or writes it to `FILE`.
//!
//! ```
//! use maqet_export::{libvirt::render_domain, vm::VmView};
//! use serde_json::json;
//!
//! let info = json!({"name": "web", "vm_id": "1", "config": {
//!     "memory": "256M", "cpu": 2,
//!     "storage": [{"name": "root", "type": "qcow2", "file": "/vms/web.qcow2"}]}});
//! let xml = render_domain(&VmView::from_info(&info)?)?;
//! assert!(xml.contains(r#"<memory unit="KiB">262144</memory>"#));
//! assert!(xml.contains(r#"<target dev="vda" bus="virtio"/>"#));
//! # Ok::<(), maqet_export::ExportError>(())
//! ```

mod error;
pub mod libvirt;
pub mod nomad;
pub mod vm;

use std::path::PathBuf;

use maqet_plugin_api::{
    CommandSpec, Host, ParamKind, ParamSpec, Plugin, error_chain, export_plugin,
};
use serde_json::{Value, json};

pub use error::{ExportError, HostMessage};
use vm::VmView;

/// The plugin: one command, `export`.
pub struct Export;

impl Plugin for Export {
    fn name(&self) -> &str {
        "export"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn commands(&self) -> Vec<CommandSpec> {
        vec![
            CommandSpec::new("export", "Render a VM as a libvirt domain or a Nomad job")
                .param(ParamSpec::positional(
                    "vm",
                    ParamKind::String,
                    "The VM to export",
                ))
                .param(
                    ParamSpec::flag("to", ParamKind::String, "Target format: libvirt or nomad")
                        .required(),
                )
                .param(ParamSpec::flag(
                    "output",
                    ParamKind::Path,
                    "Write to this file instead of printing",
                ))
                .example("maqet export web --to libvirt > web.xml")
                .example("maqet export web --to nomad --output web.nomad.json"),
        ]
    }

    fn invoke(&self, _command: &str, args: Value, host: &Host) -> Result<Value, String> {
        export(&args, host).map_err(|e| error_chain(&e))
    }
}

export_plugin!(Export);

/// The formats `--to` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// libvirt domain XML.
    Libvirt,
    /// Nomad job JSON.
    Nomad,
}

impl Format {
    fn parse(text: &str) -> Result<Self, ExportError> {
        match text {
            "libvirt" => Ok(Self::Libvirt),
            "nomad" => Ok(Self::Nomad),
            other => Err(ExportError::UnknownFormat {
                format: other.to_owned(),
            }),
        }
    }
}

/// Renders the VM described by `info` (the JSON of `maqet info VM`).
pub fn render(info: &Value, format: Format) -> Result<String, ExportError> {
    let vm = VmView::from_info(info)?;
    match format {
        Format::Libvirt => libvirt::render_domain(&vm),
        Format::Nomad => {
            let job = nomad::render_job(&vm)?;
            Ok(format!("{job:#}\n"))
        }
    }
}

fn export(args: &Value, host: &Host) -> Result<Value, ExportError> {
    let vm = args["vm"]
        .as_str()
        .ok_or(ExportError::BadArgument { name: "vm" })?;
    let to = args["to"]
        .as_str()
        .ok_or(ExportError::BadArgument { name: "to" })?;
    let format = Format::parse(to)?;
    let info = host.vm_info(vm).map_err(|message| ExportError::Info {
        vm: vm.to_owned(),
        source: HostMessage(message),
    })?;
    let rendered = render(&info, format)?;
    match args.get("output").and_then(Value::as_str) {
        None => Ok(Value::String(rendered)),
        Some(output) => {
            let path = PathBuf::from(output);
            std::fs::write(&path, rendered).map_err(|source| ExportError::WriteOutput {
                path: path.clone(),
                source,
            })?;
            Ok(json!({ "vm": vm, "format": to, "output": path.display().to_string() }))
        }
    }
}
