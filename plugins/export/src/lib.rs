//! maqet plugin `export`: renders a VM as a libvirt domain XML or a Nomad job.
//!
//! `maqet export VM --to libvirt|nomad [--output FILE]` reads the VM through maqet's `info`
//! and prints the result, or writes it to `FILE`. What cannot be carried over faithfully
//! (QEMU arguments libvirt has no model for) is logged as a warning. For libvirt, forwarded
//! ports need a backend the target's libvirt accepts: `--libvirt-version 9.2` (or newer) picks
//! passt, anything older or no version the form every libvirt accepts (QEMU's slirp `hostfwd`
//! through `<qemu:commandline>`); the choice is printed on stderr and in the JSON result. A
//! UEFI VM's variables (maqet's qcow2 NVRAM) go with `--output FILE` as a raw copy beside it,
//! `STEM_VARS.fd`, which the domain's `<nvram>` names. The rendering itself lives in
//! `maqet-export-render`.
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
//! # Ok::<(), maqet_export::ExportError>(())
//! ```

use std::path::{Path, PathBuf};

use maqet_plugin_api::{
    Choice, CommandFailure, CommandSpec, ErrorKind, Host, LogLevel, Plugin, Request,
    error_with_kind, export_plugin,
};
use serde_json::{Value, json};

pub use maqet_export_render::libvirt::{LibvirtOptions, NetBackend, Rendered};
pub use maqet_export_render::nomad::NomadOptions;
pub use maqet_export_render::{ExportError, HostMessage, libvirt, nomad, vm};
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
        vec![ExportRequest::spec()]
    }

    fn invoke(&self, _command: &str, args: Value, host: &Host) -> Result<Value, CommandFailure> {
        let request = ExportRequest::from_args(args)?;
        export(&request, host).map_err(|e| {
            let kind = match e {
                ExportError::BadArgument { .. }
                | ExportError::UnknownFormat { .. }
                | ExportError::Config { .. }
                | ExportError::Info { .. } => ErrorKind::InvalidInput,
                _ => ErrorKind::Failure,
            };
            error_with_kind(kind, &e)
        })
    }
}

export_plugin!(Export);

/// Render a VM as a libvirt domain or a Nomad job
#[derive(Debug, Request)]
#[request(
    name = "export",
    example = "maqet export web --to libvirt > web.xml",
    example = "maqet export web --to nomad --output web.nomad.json"
)]
pub struct ExportRequest {
    /// The VM to export
    #[param(positional)]
    pub vm: String,
    /// Target format
    pub to: Format,
    /// Write to this file instead of printing (libvirt: a UEFI VM's variables go beside it as STEM_VARS.fd)
    pub output: Option<PathBuf>,
    /// libvirt: where libvirt logs the serial console (default /var/log/libvirt/qemu/NAME-serial.log)
    pub serial_log: Option<PathBuf>,
    /// libvirt: backend of NICs with forwarded ports (auto: passt for --libvirt-version 9.2 or newer, else slirp with hostfwd through <qemu:commandline>)
    #[param(default = "auto")]
    pub net_backend: BackendName,
    /// libvirt: the target's libvirt version, like 9.0 (default: unknown, so the form every version accepts)
    pub libvirt_version: Option<String>,
    /// libvirt: domain name (default: the VM's name); another name gets its own UUID
    pub name: Option<String>,
    /// nomad: where Nomad clients download the boot disk (default: its local path)
    pub image_url: Option<String>,
}

/// The names `--net-backend` accepts: [`NetBackend`]'s, as a parameter type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Choice)]
pub enum BackendName {
    /// Passt for libvirt 9.2 or newer, else slirp.
    Auto,
    /// slirp with `hostfwd` through `<qemu:commandline>`.
    Slirp,
    /// passt.
    Passt,
}

impl From<BackendName> for NetBackend {
    fn from(name: BackendName) -> Self {
        match name {
            BackendName::Auto => NetBackend::Auto,
            BackendName::Slirp => NetBackend::Slirp,
            BackendName::Passt => NetBackend::Passt,
        }
    }
}

/// The formats `--to` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Choice)]
pub enum Format {
    /// libvirt domain XML.
    Libvirt,
    /// Nomad job JSON.
    Nomad,
}

impl Format {
    /// Every format, in the order help lists them.
    pub const ALL: [Format; 2] = [Format::Libvirt, Format::Nomad];

    /// The names `--to` accepts, in the order of [`Format::ALL`].
    pub const NAMES: [&'static str; 2] = [Format::Libvirt.as_str(), Format::Nomad.as_str()];

    /// The format's `--to` name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Format::Libvirt => "libvirt",
            Format::Nomad => "nomad",
        }
    }
}

/// Export choices besides the format.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// For libvirt.
    pub libvirt: LibvirtOptions,
    /// For Nomad.
    pub nomad: NomadOptions,
}

/// Renders the VM described by `info` (the JSON of `maqet info VM`).
pub fn render(info: &Value, format: Format) -> Result<String, ExportError> {
    Ok(render_with(info, format, &ExportOptions::default())?.text)
}

/// Renders the VM described by `info` with `options`, with its warnings.
pub fn render_with(
    info: &Value,
    format: Format,
    options: &ExportOptions,
) -> Result<Rendered, ExportError> {
    let vm = VmView::from_info(info)?;
    match format {
        Format::Libvirt => libvirt::render_domain_with(&vm, &options.libvirt),
        Format::Nomad => {
            let job = nomad::render_job_with(&vm, &options.nomad)?;
            Ok(Rendered {
                text: format!("{job:#}\n"),
                warnings: Vec::new(),
                network: None,
            })
        }
    }
}

fn export(request: &ExportRequest, host: &Host) -> Result<Value, ExportError> {
    let vm = request.vm.as_str();
    let format = request.to;
    let to = format.as_str();
    let mut options = ExportOptions {
        libvirt: LibvirtOptions {
            serial_log: request.serial_log.as_ref().map(|p| p.display().to_string()),
            net_backend: request.net_backend.into(),
            volumes: Vec::new(),
            libvirt_version: match &request.libvirt_version {
                Some(text) => Some(parse_version(text).ok_or(ExportError::BadArgument {
                    name: "libvirt_version",
                })?),
                None => None,
            },
            rename: request.name.clone(),
            nvram: None,
        },
        nomad: NomadOptions {
            image_source: request.image_url.clone(),
        },
    };
    let info = host.vm_info(vm).map_err(|message| ExportError::Info {
        vm: vm.to_owned(),
        source: HostMessage(message),
    })?;
    let output = request.output.as_deref();
    let mut nvram_copy = None;
    if format == Format::Libvirt {
        let view = VmView::from_info(&info)?;
        if let (true, Some(source)) = (view.uefi, &view.nvram_source) {
            match output {
                Some(output) => {
                    let raw = copy_nvram(vm, Path::new(source), output)?;
                    if host
                        .vm_status(vm)
                        .ok()
                        .and_then(|s| s["is_running"].as_bool())
                        == Some(true)
                    {
                        host.log(
                            LogLevel::Warn,
                            &format!(
                                "export of `{vm}`: the VM runs, so its UEFI variables were copied \
                                 as they are now; stop it and export again for a settled copy"
                            ),
                        );
                    }
                    options.libvirt.nvram = Some(raw.display().to_string());
                    nvram_copy = Some(raw);
                }
                None => host.log(
                    LogLevel::Warn,
                    &format!(
                        "export of `{vm}`: its UEFI variables (boot entries, enrolled keys) are \
                         not carried without --output FILE, which writes them beside FILE; \
                         libvirt starts the domain with fresh ones"
                    ),
                ),
            }
        }
    }
    let rendered = render_with(&info, format, &options)?;
    for warning in &rendered.warnings {
        host.log(LogLevel::Warn, &format!("export of `{vm}`: {warning}"));
    }
    if let Some(network) = &rendered.network {
        // Not a problem, but the user must know which form the domain needs.
        host.log(LogLevel::Warn, &format!("export of `{vm}`: {network}"));
    }
    match output {
        None => Ok(Value::String(rendered.text)),
        Some(path) => {
            std::fs::write(path, rendered.text).map_err(|source| ExportError::WriteOutput {
                path: path.to_path_buf(),
                source,
            })?;
            Ok(json!({
                "vm": vm,
                "format": to,
                "output": path.display().to_string(),
                "warnings": rendered.warnings,
                "network": rendered.network,
                "nvram": nvram_copy.map(|p| p.display().to_string()),
            }))
        }
    }
}

/// Writes the raw copy of the VM's NVRAM `source` beside `output`; returns its path.
fn copy_nvram(vm: &str, source: &Path, output: &Path) -> Result<PathBuf, ExportError> {
    let failed = |path: PathBuf, message: String| ExportError::Nvram {
        vm: vm.to_owned(),
        path,
        source: HostMessage(message),
    };
    let raw = maqet_export_render::nvram::path_beside(output)
        .map_err(|e| failed(output.to_owned(), e.to_string()))?;
    maqet_export_render::nvram::convert_to_raw(source, &raw)
        .map_err(|e| failed(raw.clone(), e.0))?;
    Ok(raw)
}

/// `9.0`, `9.2.0`, `10`: `(major, minor)`.
pub fn parse_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = match parts.next() {
        Some(minor) => minor.parse().ok()?,
        None => 0,
    };
    match parts.next() {
        Some(micro) if micro.parse::<u32>().is_err() => None,
        _ => Some((major, minor)),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn libvirt_versions_parse() {
        assert_eq!(parse_version("9.0"), Some((9, 0)));
        assert_eq!(parse_version("9.2.0"), Some((9, 2)));
        assert_eq!(parse_version("10"), Some((10, 0)));
        assert_eq!(parse_version("nine"), None);
        assert_eq!(parse_version("9.x"), None);
    }
}
