//! Volumes in a storage pool on the libvirt host: created empty, or filled from a local file
//! with libvirt's stream API (`virStorageVolUpload`), so no shared filesystem is assumed.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use virt::connect::Connect;
use virt::storage_pool::StoragePool;
use virt::storage_vol::StorageVol;
use virt::stream::Stream;

use crate::connect::failed;
use crate::error::DeployError;

/// Bytes sent per stream write.
const CHUNK: usize = 1 << 18;

/// The volumes one deployment created, deleted again unless [`Uploads::keep`] is called.
pub struct Uploads<'a> {
    pool: &'a StoragePool,
    created: Vec<(String, StorageVol)>,
    kept: bool,
}

impl<'a> Uploads<'a> {
    /// Nothing created yet in `pool`.
    pub fn new(pool: &'a StoragePool) -> Self {
        Self {
            pool,
            created: Vec::new(),
            kept: false,
        }
    }

    /// Creates volume `name` holding a copy of the local file `path`; returns its path there.
    pub fn upload(
        &mut self,
        conn: &Connect,
        uri: &str,
        name: &str,
        what: &str,
        path: &Path,
    ) -> Result<String, DeployError> {
        let metadata = std::fs::metadata(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => DeployError::MissingFile {
                what: what.to_owned(),
                path: path.to_owned(),
            },
            _ => DeployError::ReadFile {
                path: path.to_owned(),
                source,
            },
        })?;
        if !metadata.is_file() {
            return Err(DeployError::NotRegularFile {
                what: what.to_owned(),
                path: path.to_owned(),
            });
        }
        let mut file = File::open(path).map_err(|source| DeployError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        let length = metadata.len();
        let volume = self.create(uri, name, length, "raw")?;
        let stream = Stream::new(conn, 0).map_err(failed(uri, "open an upload stream"))?;
        let action = format!("upload `{}` into volume `{name}`", path.display());
        if let Err(e) = volume.upload(&stream, 0, length, 0) {
            let _ = stream.abort();
            return Err(failed(uri, action)(e));
        }
        let mut buffer = vec![0u8; CHUNK];
        loop {
            let read = match file.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(source) => {
                    let _ = stream.abort();
                    return Err(DeployError::ReadFile {
                        path: path.to_owned(),
                        source,
                    });
                }
            };
            let mut sent = 0;
            while sent < read {
                match stream.send(&buffer[sent..read]) {
                    Ok(n) if n > 0 => sent += n as usize,
                    Ok(_) => {
                        let _ = stream.abort();
                        return Err(failed(uri, action)(virt::error::Error::last_error()));
                    }
                    Err(e) => {
                        let _ = stream.abort();
                        return Err(failed(uri, action)(e));
                    }
                }
            }
        }
        stream.finish().map_err(failed(uri, action))?;
        volume
            .path()
            .map_err(failed(uri, format!("find the path of volume `{name}`")))
    }

    /// Creates an empty volume `name` of `bytes` in `format` (qcow2 for a disk maqet would
    /// create on first start).
    pub fn create_empty(
        &mut self,
        uri: &str,
        name: &str,
        bytes: u64,
        format: &str,
    ) -> Result<(), DeployError> {
        self.create(uri, name, bytes, format).map(|_| ())
    }

    fn create(
        &mut self,
        uri: &str,
        name: &str,
        bytes: u64,
        format: &str,
    ) -> Result<StorageVol, DeployError> {
        let xml = format!(
            "<volume><name>{}</name><capacity unit='bytes'>{bytes}</capacity>\
             <target><format type='{format}'/></target></volume>",
            escape(name)
        );
        let volume = StorageVol::create_xml(self.pool, &xml, 0)
            .map_err(failed(uri, format!("create volume `{name}`")))?;
        let handle = self
            .pool
            .lookup_storage_vol_by_name(name)
            .map_err(failed(uri, format!("look up volume `{name}`")))?;
        self.created.push((name.to_owned(), handle));
        Ok(volume)
    }

    /// The names of the volumes created so far.
    pub fn names(&self) -> Vec<String> {
        self.created.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Keeps the volumes: the deployment succeeded.
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Uploads<'_> {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        for (_, volume) in self.created.drain(..).rev() {
            let _ = volume.delete(0);
        }
    }
}

/// Escapes text for an XML element.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}
