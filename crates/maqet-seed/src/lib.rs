//! cloud-init NoCloud seeds, shared by maqet's built-in first-boot identity and the
//! `cloud-init` plugin: a plain library with no maqet dependency.
//!
//! - [`cloud_config`]: the `user-data` / `meta-data` / `network-config` texts for a user, its
//!   SSH keys and a host name, and the checks those values must pass;
//! - [`iso`]: the ISO 9660 volume `cidata` that holds them;
//! - [`attach`]: which bus the guest's kernel will find the seed on (never AHCI: cloud kernels
//!   such as Debian's `linux-image-cloud-amd64` have no driver for it);
//! - [`write`]: writing a file by rename, never through a planted link;
//! - [`host_keys`]: the host keys cloud-init prints on the console, read strictly.
//!
//! ```
//! use maqet_seed::cloud_config::{Identity, meta_data, user_data};
//! use maqet_seed::iso::{SeedFiles, build_seed_iso};
//!
//! let identity = Identity {
//!     user: "alice".into(),
//!     ssh_authorized_keys: vec!["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPT0cvPLq0p3Ife4oEwD4Z7I57MEkAlOfuAUUL7ko6Nw".into()],
//!     hostname: "web".into(),
//! };
//! let iso = build_seed_iso(SeedFiles {
//!     user_data: user_data(&identity, None),
//!     meta_data: meta_data("maqet-1", "web"),
//!     network_config: None,
//! })?;
//! assert_eq!(&iso[16 * 2048 + 1..16 * 2048 + 6], b"CD001");
//! # Ok::<(), maqet_seed::SeedError>(())
//! ```

pub mod attach;
pub mod cloud_config;
mod error;
pub mod host_keys;
pub mod iso;
pub mod write;

pub use error::SeedError;
