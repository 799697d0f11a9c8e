//! Rendering a maqet VM as a libvirt domain XML or a Nomad job.
//!
//! Shared by the `export` plugin (`maqet export`) and the `libvirt` plugin (`maqet deploy`), so
//! that neither plugin's library carries the other's root module, and only the `libvirt`
//! plugin links the libvirt C library.
//!
//! ```
//! use maqet_export_render::{libvirt::render_domain, vm::VmView};
//! use serde_json::json;
//!
//! let info = json!({"name": "web", "vm_id": "1", "config": {
//!     "memory": "256M", "cpu": 2,
//!     "storage": [{"name": "root", "type": "qcow2", "file": "/vms/web.qcow2"}]}});
//! let xml = render_domain(&VmView::from_info(&info)?)?;
//! assert!(xml.contains(r#"<memory unit="KiB">262144</memory>"#));
//! assert!(xml.contains(r#"<target dev="vda" bus="virtio"/>"#));
//! # Ok::<(), maqet_export_render::ExportError>(())
//! ```

mod error;
pub mod libvirt;
pub mod model;
pub mod nomad;
pub mod nvram;
pub mod options;
pub mod pci;
pub mod vm;
mod vm_storage;

pub use error::{ExportError, HostMessage};
