//! The maqet VM config: its keys, read from YAML with the place of every value, merged, checked
//! and turned into a QEMU command line.
//!
//! A config lives in two forms. The *document* is the YAML as JSON values
//! ([`serde_json::Value`]): files merge as documents ([`merge_config`]), are validated as
//! documents ([`validate_config`], errors name `file:line:col`), and a VM record stores one.
//! The *typed view*, [`VmConfig`], is what programs read: one field per key, with its type
//! (`memory` a byte size, `shutdown_via` an enum, `ports` parsed forwards...).
//!
//! The keys are declared once, in [`keys::CONFIG_KEYS`] (documentation, option flags, JSON
//! Schema, QEMU mapping); a test checks that the table and [`VmConfig`]'s fields are the same
//! list in the same order.
//!
//! ```
//! use maqet_config::{ShutdownVia, VmConfig, merge_config, validate_config, yaml};
//!
//! # fn main() -> Result<(), maqet_config::ConfigError> {
//! let mut merged = yaml::parse_str("memory: 1G\ncpu: 2\n", None)?.value;
//! let over = yaml::parse_str("memory: 2G\nshutdown_via: agent\n", None)?.value;
//! merge_config(&mut merged, &over);
//! validate_config(&merged, None)?;
//! let config = VmConfig::from_value(&merged);
//! assert_eq!(config.memory.map(|m| m.bytes()), Some(2 << 30));
//! assert_eq!(config.shutdown_via, ShutdownVia::Agent);
//! # Ok(())
//! # }
//! ```

mod argv;
pub mod bounded_read;
mod build;
pub mod docs;
mod error;
pub mod forwards;
pub mod keys;
pub mod merge;
mod paths;
pub mod schema;
pub mod trust;
mod typed;
pub mod validate;
pub mod yaml;

/// The drive model `storage` entries are read into ([`VmConfig::storage`]).
pub use maqet_storage;

pub use argv::{ArgvContext, render_qemu_argv, scalar_text};
pub use build::{BuiltConfig, absolute, build_config, coerce_overrides, load_file};
pub use error::{ConfigError, Location};
pub use keys::{CONFIG_KEYS, ConfigKey, KeyType, closest};
pub use merge::merge_config;
pub use paths::{resolve_config_paths, resolve_path};
pub use typed::{CloudData, Firmware, MemorySize, ShutdownVia, VmConfig};
pub use validate::{check_vm_name, validate_config};
pub use yaml::{Position, SourceDoc};

/// The README's example, compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctest;
