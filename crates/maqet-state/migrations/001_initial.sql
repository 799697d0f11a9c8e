-- Schema v1: the VM registry and the storage files recorded for each VM.
CREATE TABLE vms (
    id                TEXT PRIMARY KEY NOT NULL,
    name              TEXT NOT NULL UNIQUE,
    config            TEXT NOT NULL CHECK (json_valid(config)),
    config_paths      TEXT NOT NULL CHECK (json_valid(config_paths)),
    status            TEXT NOT NULL,
    status_reason     TEXT,
    qemu_pid          INTEGER,
    qemu_start_time   INTEGER,
    runner_pid        INTEGER,
    runner_start_time INTEGER,
    qmp_socket        TEXT,
    console_socket    TEXT,
    runtime_dir       TEXT,
    created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE INDEX vms_status ON vms (status);
CREATE INDEX vms_created ON vms (created_at, name);

CREATE TABLE storage (
    id               INTEGER PRIMARY KEY,
    vm_id            TEXT NOT NULL REFERENCES vms (id) ON DELETE CASCADE,
    path             TEXT NOT NULL,
    role             TEXT NOT NULL,
    created_by_maqet INTEGER NOT NULL CHECK (created_by_maqet IN (0, 1)),
    size_bytes       INTEGER CHECK (size_bytes IS NULL OR size_bytes >= 0),
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (vm_id, path)
) STRICT;

CREATE INDEX storage_path ON storage (path);
