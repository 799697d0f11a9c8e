//! Times `list_vms` and `get_vm` over 1,000 VMs in a real database file.
//!
//! Run with `cargo bench -p maqet-state`. Prints the median of 200 runs of each.

use std::time::{Duration, Instant};

use maqet_state::{NewVm, StateDb, StateError};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(runs: usize, mut f: impl FnMut()) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

fn main() -> Result<(), StateError> {
    let dir = std::env::temp_dir().join(format!("maqet-state-bench-{}", std::process::id()));
    let db = StateDb::open(&dir.join("state.db"))?;
    db.transaction(|tx| {
        for i in 0..1000 {
            tx.insert_vm(&NewVm {
                name: format!("vm-{i:04}"),
                config: serde_json::json!({
                    "memory": "2G", "cpus": 2,
                    "drives": [{ "file": format!("/vms/vm-{i}.qcow2"), "if": "virtio" }],
                    "net": [{ "type": "user", "hostfwd": ["tcp::2222-:22"] }],
                }),
                config_paths: vec![format!("/etc/maqet/vm-{i}.yaml").into()],
            })?;
        }
        Ok::<_, StateError>(())
    })?;

    let open = time(50, || {
        let _db = StateDb::open(&dir.join("state.db"));
    });
    let list = time(200, || {
        let _vms = db.list_vms(None);
    });
    let get = time(200, || {
        let _vm = db.get_vm("vm-0500");
    });
    println!("open (current schema): {open:?}");
    println!("list_vms, 1000 rows:   {list:?}");
    println!("get_vm by name:        {get:?}");
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
