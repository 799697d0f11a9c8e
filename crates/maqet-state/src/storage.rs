//! SQL for the `storage` table: which files were recorded for which VM.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::sql;
use crate::vms::path_text;
use crate::{StateError, StorageEntry};

const SELECT_STORAGE: &str =
    "SELECT vm_id, path, role, created_by_maqet, size_bytes, created_at FROM storage";

fn read_entry(row: &Row<'_>) -> rusqlite::Result<StorageEntry> {
    Ok(StorageEntry {
        vm_id: row.get(0)?,
        path: PathBuf::from(row.get::<_, String>(1)?),
        role: row.get(2)?,
        created_by_maqet: row.get(3)?,
        size_bytes: row.get(4)?,
        created_at: row.get(5)?,
    })
}

/// Records a file for a VM; registering the same (VM, path) again updates role, owner and size.
pub(crate) fn register(conn: &Connection, entry: &StorageEntry) -> Result<(), StateError> {
    let path = path_text(&entry.path)?;
    let vm_exists = conn
        .prepare_cached("SELECT 1 FROM vms WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([&entry.vm_id], |_| Ok(())).optional())
        .map_err(sql("check that the VM exists"))?;
    if vm_exists.is_none() {
        return Err(StateError::VmNotFound {
            ident: entry.vm_id.clone(),
        });
    }
    conn.prepare_cached(
        "INSERT INTO storage (vm_id, path, role, created_by_maqet, size_bytes) \
         VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (vm_id, path) DO UPDATE SET role = excluded.role, \
         created_by_maqet = excluded.created_by_maqet, size_bytes = excluded.size_bytes",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            entry.vm_id,
            path,
            entry.role,
            entry.created_by_maqet,
            entry.size_bytes
        ])
    })
    .map_err(sql("record the storage file"))?;
    Ok(())
}

/// Puts back a storage row exactly as recorded (its registration time included).
pub(crate) fn restore(conn: &Connection, entry: &StorageEntry) -> Result<(), StateError> {
    let path = path_text(&entry.path)?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO storage (vm_id, path, role, created_by_maqet, size_bytes, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            entry.vm_id,
            path,
            entry.role,
            entry.created_by_maqet,
            entry.size_bytes,
            entry.created_at
        ])
    })
    .map_err(sql("restore the storage file record"))?;
    Ok(())
}

/// Files recorded for one VM, in registration order.
pub(crate) fn for_vm(conn: &Connection, vm_id: &str) -> Result<Vec<StorageEntry>, StateError> {
    let action = "list the VM's storage files";
    let mut stmt = conn
        .prepare_cached(&format!("{SELECT_STORAGE} WHERE vm_id = ?1 ORDER BY id"))
        .map_err(sql(action))?;
    stmt.query_map([vm_id], read_entry)
        .and_then(Iterator::collect)
        .map_err(sql(action))
}

/// Every recorded file, grouped by VM, in registration order.
pub(crate) fn all(conn: &Connection) -> Result<Vec<StorageEntry>, StateError> {
    let action = "list storage files";
    let mut stmt = conn
        .prepare_cached(&format!("{SELECT_STORAGE} ORDER BY vm_id, id"))
        .map_err(sql(action))?;
    stmt.query_map([], read_entry)
        .and_then(Iterator::collect)
        .map_err(sql(action))
}

/// Forgets one file of a VM (the file itself is untouched); says whether it was recorded.
pub(crate) fn unregister(conn: &Connection, vm_id: &str, path: &Path) -> Result<bool, StateError> {
    let Some(path) = path.to_str() else {
        return Ok(false);
    };
    let removed = conn
        .prepare_cached("DELETE FROM storage WHERE vm_id = ?1 AND path = ?2")
        .and_then(|mut stmt| stmt.execute([vm_id, path]))
        .map_err(sql("forget the storage file"))?;
    Ok(removed > 0)
}
