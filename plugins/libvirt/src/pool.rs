//! The storage pool `deploy` uploads into, and the `default` pool a new libvirt host lacks.
//!
//! A freshly installed libvirtd has no storage pool until virt-install or virt-manager creates
//! `default`: a directory pool at `/var/lib/libvirt/images` for `qemu:///system` (for a local
//! `qemu:///session`, `$XDG_DATA_HOME/libvirt/images`). When `--pool` is not given and
//! `default` is missing, `deploy` creates it the same way: defines it, builds it (creates the
//! directory), starts it and marks it autostart, and says so. A pool named with `--pool` is
//! never created: a typo must not make a new pool.

use virt::connect::Connect;
use virt::storage_pool::StoragePool;

use crate::connect::{failed, is_missing};
use crate::error::DeployError;
use crate::upload::escape;

/// The pool deploy uses when `--pool` is not given.
pub const DEFAULT_POOL: &str = "default";

/// The pool to upload into; `created` tells whether this run created `default`.
pub struct OpenedPool {
    /// The pool.
    pub pool: StoragePool,
    /// Its name.
    pub name: String,
    /// The directory of a `default` pool this run created.
    pub created: Option<String>,
}

/// Opens `requested`, or `default` (created when missing) when no pool was named.
pub fn open_pool(
    conn: &Connect,
    uri: &str,
    requested: Option<&str>,
) -> Result<OpenedPool, DeployError> {
    let name = requested.unwrap_or(DEFAULT_POOL);
    let (pool, created) = match conn.lookup_storage_pool_by_name(name) {
        Ok(found) => (found, None),
        Err(e) if is_missing(&e) => match (requested, default_pool_dir(uri)) {
            (None, Some(path)) => (create_default(conn, uri, &path)?, Some(path)),
            _ => {
                return Err(DeployError::NoPool {
                    uri: uri.to_owned(),
                    pool: name.to_owned(),
                });
            }
        },
        Err(e) => return Err(failed(uri, format!("look up storage pool `{name}`"))(e)),
    };
    let active = pool.is_active().map_err(failed(
        uri,
        format!("read the state of storage pool `{name}`"),
    ))?;
    if !active {
        return Err(DeployError::PoolInactive {
            uri: uri.to_owned(),
            pool: name.to_owned(),
        });
    }
    Ok(OpenedPool {
        pool,
        name: name.to_owned(),
        created,
    })
}

/// Where virt-install puts `default` for this URI; `None` for a remote session daemon, whose
/// home directory is not known here.
pub fn default_pool_dir(uri: &str) -> Option<String> {
    let path = uri
        .split(['?', '#'])
        .next()
        .unwrap_or(uri)
        .trim_end_matches('/');
    if path.ends_with("/system") {
        return Some("/var/lib/libvirt/images".to_owned());
    }
    let local = uri.starts_with("qemu:///");
    if local && path.ends_with("/session") {
        let data = std::env::var_os("XDG_DATA_HOME")
            .filter(|d| !d.is_empty())
            .map(std::path::PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".local/share"))
            })?;
        return Some(data.join("libvirt/images").to_string_lossy().into_owned());
    }
    None
}

fn create_default(conn: &Connect, uri: &str, path: &str) -> Result<StoragePool, DeployError> {
    let xml = format!(
        "<pool type='dir'><name>{DEFAULT_POOL}</name><target><path>{}</path></target></pool>",
        escape(path)
    );
    let wrap = |source| DeployError::CreatePool {
        uri: uri.to_owned(),
        path: path.to_owned(),
        source,
    };
    let pool = conn.define_storage_pool_xml(&xml, 0).map_err(wrap)?;
    let ready = pool
        .build(0)
        .and_then(|()| pool.create(0))
        .and_then(|()| pool.set_autostart(true));
    if let Err(e) = ready {
        // Leave the host as it was: no half-made pool.
        let _ = pool.destroy();
        let _ = pool.undefine();
        return Err(wrap(e));
    }
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pool_dirs_follow_virt_install() {
        assert_eq!(
            default_pool_dir("qemu:///system").as_deref(),
            Some("/var/lib/libvirt/images")
        );
        assert_eq!(
            default_pool_dir("qemu+ssh://root@h/system?keyfile=/k").as_deref(),
            Some("/var/lib/libvirt/images")
        );
        assert_eq!(default_pool_dir("qemu+ssh://u@h/session"), None);
    }
}
