//! SQL for the `vms` table. Writers here expect to run inside a `BEGIN IMMEDIATE` transaction.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::sql;
use crate::{NewVm, ProcessIdentity, RuntimeUpdate, StateError, VmRecord, VmStatus, VmSummary};

const SELECT_VM: &str = "SELECT id, name, config, config_paths, status, status_reason, \
     qemu_pid, qemu_start_time, runner_pid, runner_start_time, qmp_socket, console_socket, \
     runtime_dir, created_at, updated_at FROM vms";

/// [`SELECT_VM`] with the configuration read as JSON `null`: for lists of many VMs, which need
/// their status and processes but not every VM's configuration parsed.
const SELECT_VM_BRIEF: &str = "SELECT id, name, 'null', config_paths, status, status_reason, \
     qemu_pid, qemu_start_time, runner_pid, runner_start_time, qmp_socket, console_socket, \
     runtime_dir, created_at, updated_at FROM vms";

const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Reads one `vms` row. SQLite failures abort the query; a value this build cannot
/// understand becomes the inner error, naming the VM and column.
fn read_row(row: &Row<'_>) -> rusqlite::Result<Result<VmRecord, StateError>> {
    let id: String = row.get(0)?;
    // JSON is parsed straight from SQLite's buffer, without copying.
    let config = serde_json::from_str(row.get_ref(2)?.as_str()?);
    let config_paths = serde_json::from_str(row.get_ref(3)?.as_str()?);
    let checked = read_status_and_processes(row, &id, 4, 6).map(|parts| {
        let bad = |column, e: serde_json::Error| invalid(&id, column, e.into());
        Ok((
            config.map_err(|e| bad("config", e))?,
            config_paths.map_err(|e| bad("config_paths", e))?,
            parts?,
        ))
    })?;
    let (config, config_paths, (status, qemu, runner)) = match checked {
        Ok(values) => values,
        Err(err) => return Ok(Err(err)),
    };
    let path = |index| {
        row.get::<_, Option<String>>(index)
            .map(|p| p.map(PathBuf::from))
    };
    Ok(Ok(VmRecord {
        name: row.get(1)?,
        config,
        config_paths,
        status,
        status_reason: row.get(5)?,
        qemu,
        runner,
        qmp_socket: path(10)?,
        console_socket: path(11)?,
        runtime_dir: path(12)?,
        created_at: row.get(13)?,
        updated_at: row.get(14)?,
        id,
    }))
}

/// A VM's status and its QEMU and runner identities, as stored.
type StatusAndProcesses = (VmStatus, Option<ProcessIdentity>, Option<ProcessIdentity>);

/// Reads the status column at `status` and the QEMU and runner identities in the four columns
/// from `processes` (pid and start time of each) of the row of VM `id`; a value this build
/// cannot understand becomes the inner error, naming the VM and column.
fn read_status_and_processes(
    row: &Row<'_>,
    id: &str,
    status: usize,
    processes: usize,
) -> rusqlite::Result<Result<StatusAndProcesses, StateError>> {
    // Parsed straight from SQLite's buffer, without copying.
    let parsed_status = row.get_ref(status)?.as_str()?.parse::<VmStatus>();
    let qemu = identity(process_pair(row, processes)?);
    let runner = identity(process_pair(row, processes + 2)?);
    Ok((|| {
        Ok((
            parsed_status.map_err(|e| invalid(id, "status", e.into()))?,
            qemu.map_err(|e| invalid(id, "qemu_pid", e))?,
            runner.map_err(|e| invalid(id, "runner_pid", e))?,
        ))
    })())
}

/// The pid and start-time columns at `at` and `at + 1`; the start time is not read when the
/// pid is null ([`identity`] is `None` then anyway, and the table's `STRICT` types leave
/// nothing to check): most rows of a listing are of VMs that do not run.
fn process_pair(row: &Row<'_>, at: usize) -> rusqlite::Result<(Option<i64>, Option<i64>)> {
    let pid: Option<i64> = row.get(at)?;
    if pid.is_none() {
        return Ok((None, None));
    }
    Ok((pid, row.get(at + 1)?))
}

/// A stored value of VM `vm_id`'s `column` that this build cannot understand.
fn invalid(vm_id: &str, column: &'static str, source: BoxError) -> StateError {
    StateError::InvalidStoredValue {
        vm_id: vm_id.to_owned(),
        column,
        source,
    }
}

/// A process identity from its two columns; `None` unless both are set.
fn identity(columns: (Option<i64>, Option<i64>)) -> Result<Option<ProcessIdentity>, BoxError> {
    match columns {
        (Some(pid), Some(start_time)) => Ok(Some(ProcessIdentity {
            pid: u32::try_from(pid)?,
            start_time: start_time.cast_unsigned(),
        })),
        _ => Ok(None),
    }
}

/// Checks that a path can be recorded (absolute, UTF-8) and returns its text.
pub(crate) fn path_text(path: &Path) -> Result<&str, StateError> {
    if !path.is_absolute() {
        return Err(StateError::RelativePath {
            path: path.to_path_buf(),
        });
    }
    path.to_str().ok_or_else(|| StateError::NonUtf8Path {
        path: path.to_path_buf(),
    })
}

fn optional_path(path: Option<&PathBuf>) -> Result<Option<&str>, StateError> {
    path.map(|p| path_text(p)).transpose()
}

fn paths_json(paths: &[PathBuf]) -> Result<String, StateError> {
    let texts = paths
        .iter()
        .map(|p| path_text(p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(serde_json::Value::from(texts).to_string())
}

/// The two columns of a process identity; the start time is stored bit-for-bit as an i64.
fn process_columns(process: Option<&ProcessIdentity>) -> (Option<i64>, Option<i64>) {
    match process {
        Some(p) => (Some(i64::from(p.pid)), Some(p.start_time.cast_signed())),
        None => (None, None),
    }
}

fn not_found(ident: &str) -> StateError {
    StateError::VmNotFound {
        ident: ident.to_owned(),
    }
}

/// The VM whose id, or else whose name, is `ident`.
pub(crate) fn find(conn: &Connection, ident: &str) -> Result<Option<VmRecord>, StateError> {
    let action = "look up a VM";
    let mut stmt = conn
        .prepare_cached(&format!(
            "{SELECT_VM} WHERE id = ?1 OR name = ?1 ORDER BY id = ?1 DESC LIMIT 1"
        ))
        .map_err(sql(action))?;
    let row = stmt
        .query_row([ident], read_row)
        .optional()
        .map_err(sql(action))?;
    row.transpose()
}

/// Like [`find`], failing with `VmNotFound` when there is no such VM.
pub(crate) fn get(conn: &Connection, ident: &str) -> Result<VmRecord, StateError> {
    find(conn, ident)?.ok_or_else(|| not_found(ident))
}

/// All VMs, or those with `status`, oldest first.
pub(crate) fn list(
    conn: &Connection,
    status: Option<VmStatus>,
) -> Result<Vec<VmRecord>, StateError> {
    list_with(conn, SELECT_VM, status)
}

/// Every VM like [`list`], with `config` left `null` (not read).
pub(crate) fn list_brief(conn: &Connection) -> Result<Vec<VmRecord>, StateError> {
    list_with(conn, SELECT_VM_BRIEF, None)
}

fn list_with(
    conn: &Connection,
    select: &str,
    status: Option<VmStatus>,
) -> Result<Vec<VmRecord>, StateError> {
    let action = "list VMs";
    let rows = match status {
        None => {
            let mut stmt = conn
                .prepare_cached(&format!("{select} ORDER BY created_at, name"))
                .map_err(sql(action))?;
            stmt.query_map([], read_row)
                .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                .map_err(sql(action))?
        }
        Some(status) => {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "{select} WHERE status = ?1 ORDER BY created_at, name"
                ))
                .map_err(sql(action))?;
            stmt.query_map([status.as_str()], read_row)
                .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                .map_err(sql(action))?
        }
    };
    rows.into_iter().collect()
}

/// Every VM's [`VmSummary`], oldest first (the order of [`list`]): only the seven columns a
/// listing shows, with no JSON to parse and four strings fewer per row than [`list_brief`].
pub(crate) fn list_summaries(conn: &Connection) -> Result<Vec<VmSummary>, StateError> {
    let action = "list VMs";
    let _mapped = crate::connection::MappedReads::start(conn);
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, name, status, qemu_pid, qemu_start_time, runner_pid, runner_start_time \
             FROM vms ORDER BY created_at, name",
        )
        .map_err(sql(action))?;
    let mut rows = stmt.query([]).map_err(sql(action))?;
    let mut summaries = Vec::new();
    while let Some(row) = rows.next().map_err(sql(action))? {
        summaries.push(read_summary(row).map_err(sql(action))??);
    }
    Ok(summaries)
}

/// Reads one row of [`list_summaries`]; like [`read_row`], a value this build cannot
/// understand becomes the inner error, naming the VM and column.
fn read_summary(row: &Row<'_>) -> rusqlite::Result<Result<VmSummary, StateError>> {
    let id: String = row.get(0)?;
    let (status, qemu, runner) = match read_status_and_processes(row, &id, 2, 3)? {
        Ok(parts) => parts,
        Err(err) => return Ok(Err(err)),
    };
    Ok(Ok(VmSummary {
        id,
        name: row.get(1)?,
        status,
        qemu,
        runner,
    }))
}

/// Whether the registry holds any VM (one index step, where a count reads every row).
pub(crate) fn any(conn: &Connection) -> Result<bool, StateError> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM vms)")
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .map_err(sql("check whether any VM is registered"))
}

/// Id of the VM called `name`, if any.
fn id_for_name(conn: &Connection, name: &str) -> Result<Option<String>, StateError> {
    conn.prepare_cached("SELECT id FROM vms WHERE name = ?1")
        .and_then(|mut stmt| stmt.query_row([name], |row| row.get(0)).optional())
        .map_err(sql("check whether the VM name is free"))
}

/// The VM whose id is `id` (never a name match).
pub(crate) fn find_by_id(conn: &Connection, id: &str) -> Result<Option<VmRecord>, StateError> {
    let action = "look up a VM";
    let mut stmt = conn
        .prepare_cached(&format!("{SELECT_VM} WHERE id = ?1"))
        .map_err(sql(action))?;
    let row = stmt
        .query_row([id], read_row)
        .optional()
        .map_err(sql(action))?;
    row.transpose()
}

/// Every VM id.
pub(crate) fn all_ids(conn: &Connection) -> Result<Vec<String>, StateError> {
    conn.prepare_cached("SELECT id FROM vms")
        .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect())
        .map_err(sql("list VM ids"))
}

/// Puts back a VM row exactly as recorded.
pub(crate) fn restore(conn: &Connection, vm: &VmRecord) -> Result<(), StateError> {
    if let Some(existing_id) = id_for_name(conn, &vm.name)?.filter(|id| *id != vm.id) {
        return Err(StateError::NameTaken {
            name: vm.name.clone(),
            existing_id,
        });
    }
    let config = serde_json::to_string(&vm.config).map_err(|source| StateError::EncodeConfig {
        vm: vm.name.clone(),
        source,
    })?;
    let paths = paths_json(&vm.config_paths)?;
    let qemu = process_columns(vm.qemu.as_ref());
    let runner = process_columns(vm.runner.as_ref());
    let qmp_socket = optional_path(vm.qmp_socket.as_ref())?;
    let console_socket = optional_path(vm.console_socket.as_ref())?;
    let runtime_dir = optional_path(vm.runtime_dir.as_ref())?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO vms (id, name, config, config_paths, status, status_reason, \
         qemu_pid, qemu_start_time, runner_pid, runner_start_time, qmp_socket, console_socket, \
         runtime_dir, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            vm.id,
            vm.name,
            config,
            paths,
            vm.status.as_str(),
            vm.status_reason,
            qemu.0,
            qemu.1,
            runner.0,
            runner.1,
            qmp_socket,
            console_socket,
            runtime_dir,
            vm.created_at,
            vm.updated_at,
        ])
    })
    .map_err(sql("restore the VM"))?;
    Ok(())
}

/// Adds a VM with id `id` (a UUID) and status `created`.
pub(crate) fn insert(conn: &Connection, vm: &NewVm, id: &str) -> Result<VmRecord, StateError> {
    if let Some(existing_id) = id_for_name(conn, &vm.name)? {
        return Err(StateError::NameTaken {
            name: vm.name.clone(),
            existing_id,
        });
    }
    let id = id.to_owned();
    let config = serde_json::to_string(&vm.config).map_err(|source| StateError::EncodeConfig {
        vm: vm.name.clone(),
        source,
    })?;
    let paths = paths_json(&vm.config_paths)?;
    conn.prepare_cached(
        "INSERT INTO vms (id, name, config, config_paths, status) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            id,
            vm.name,
            config,
            paths,
            VmStatus::Created.as_str()
        ])
    })
    .map_err(sql("add the VM"))?;
    get(conn, &id)
}

/// Replaces a VM's configuration and config paths.
pub(crate) fn update_config(
    conn: &Connection,
    id: &str,
    config: &serde_json::Value,
    config_paths: &[PathBuf],
) -> Result<VmRecord, StateError> {
    let text = serde_json::to_string(config).map_err(|source| StateError::EncodeConfig {
        vm: id.to_owned(),
        source,
    })?;
    let paths = paths_json(config_paths)?;
    change_one(
        conn,
        id,
        &format!("UPDATE vms SET config = ?2, config_paths = ?3, updated_at = {NOW} WHERE id = ?1"),
        params![id, text, paths],
        "update the VM configuration",
    )?;
    get(conn, id)
}

/// Writes status, reason and every runtime column at once.
pub(crate) fn set_runtime(
    conn: &Connection,
    id: &str,
    update: &RuntimeUpdate,
) -> Result<(), StateError> {
    let qemu = process_columns(update.qemu.as_ref());
    let runner = process_columns(update.runner.as_ref());
    let qmp_socket = optional_path(update.qmp_socket.as_ref())?;
    let console_socket = optional_path(update.console_socket.as_ref())?;
    let runtime_dir = optional_path(update.runtime_dir.as_ref())?;
    change_one(
        conn,
        id,
        &format!(
            "UPDATE vms SET status = ?2, status_reason = ?3, qemu_pid = ?4, qemu_start_time = ?5, \
             runner_pid = ?6, runner_start_time = ?7, qmp_socket = ?8, console_socket = ?9, \
             runtime_dir = ?10, updated_at = {NOW} WHERE id = ?1"
        ),
        params![
            id,
            update.status.as_str(),
            update.reason,
            qemu.0,
            qemu.1,
            runner.0,
            runner.1,
            qmp_socket,
            console_socket,
            runtime_dir,
        ],
        "record the VM's runtime state",
    )
}

/// Sets only status and reason.
pub(crate) fn set_status(
    conn: &Connection,
    id: &str,
    status: VmStatus,
    reason: Option<&str>,
) -> Result<(), StateError> {
    change_one(
        conn,
        id,
        &format!(
            "UPDATE vms SET status = ?2, status_reason = ?3, updated_at = {NOW} WHERE id = ?1"
        ),
        params![id, status.as_str(), reason],
        "record the VM status",
    )
}

/// Applies `update` only if the VM's status is one of `expected`; says whether it did.
pub(crate) fn compare_and_set_status(
    conn: &Connection,
    id: &str,
    expected: &[VmStatus],
    update: &RuntimeUpdate,
) -> Result<bool, StateError> {
    let current: Option<String> = conn
        .prepare_cached("SELECT status FROM vms WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([id], |row| row.get(0)).optional())
        .map_err(sql("read the VM status"))?;
    let current = current.ok_or_else(|| not_found(id))?;
    let current: VmStatus =
        current
            .parse()
            .map_err(|e: StateError| StateError::InvalidStoredValue {
                vm_id: id.to_owned(),
                column: "status",
                source: e.into(),
            })?;
    if !expected.contains(&current) {
        return Ok(false);
    }
    set_runtime(conn, id, update)?;
    Ok(true)
}

/// Removes a VM; its storage rows go with it.
pub(crate) fn delete(conn: &Connection, id: &str) -> Result<(), StateError> {
    change_one(
        conn,
        id,
        "DELETE FROM vms WHERE id = ?1",
        [id],
        "remove the VM",
    )
}

/// Runs `statement` (an UPDATE or DELETE of VM `id`'s row); a VM that is not there is
/// [`not_found`]. `what` says what the statement does, for its error.
fn change_one(
    conn: &Connection,
    id: &str,
    statement: &str,
    params: impl rusqlite::Params,
    what: &'static str,
) -> Result<(), StateError> {
    let changed = conn
        .prepare_cached(statement)
        .and_then(|mut stmt| stmt.execute(params))
        .map_err(sql(what))?;
    if changed == 0 {
        return Err(not_found(id));
    }
    Ok(())
}

/// Removes every VM; returns how many there were.
pub(crate) fn delete_all(conn: &Connection) -> Result<usize, StateError> {
    conn.execute("DELETE FROM vms", [])
        .map_err(sql("remove all VMs"))
}
