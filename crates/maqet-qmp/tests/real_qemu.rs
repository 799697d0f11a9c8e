//! QmpClient against a real `qemu-system-x86_64` (TCG, no guest OS, started with `-S`).

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use maqet_qmp::{QmpClient, QmpError, QmpEvent, RunState};
use serde_json::{Value, json};
use tokio::sync::broadcast;

const PATIENCE: Duration = Duration::from_secs(60);

/// A QEMU process that is killed when the test ends, pass or fail.
struct Qemu {
    child: Child,
    socket: PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Qemu {
    fn spawn(extra_args: &[&str]) -> Qemu {
        let dir = tempfile::tempdir().unwrap();
        Self::spawn_in(dir, extra_args)
    }

    fn spawn_in(dir: tempfile::TempDir, extra_args: &[&str]) -> Qemu {
        let socket = dir.path().join("q.sock");
        let qmp = format!("unix:{},server=on,wait=off", socket.display());
        let child = Command::new("qemu-system-x86_64")
            .args([
                "-accel", "tcg", "-machine", "q35", "-m", "64M", "-display", "none",
            ])
            .args(["-nodefaults", "-no-user-config", "-S", "-qmp", &qmp])
            .args(extra_args)
            .stdin(Stdio::null())
            .spawn()
            .expect("qemu-system-x86_64 must be installed for this test");
        Qemu { child, socket, dir }
    }

    async fn connect(&mut self) -> QmpClient {
        let deadline = Instant::now() + PATIENCE;
        while !self.socket.exists() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("QEMU exited before creating its QMP socket: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "QEMU did not create {}",
                self.socket.display()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // QEMU creates the socket file when it binds and accepts only once it listens: a
        // connect between the two is refused, so a refusal is retried until the deadline.
        loop {
            match QmpClient::connect_with_timeout(&self.socket, PATIENCE).await {
                Ok(client) => return client,
                Err(QmpError::Connect { source, .. })
                    if source.kind() == std::io::ErrorKind::ConnectionRefused
                        && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(other) => panic!("cannot connect to QEMU's QMP socket: {other}"),
            }
        }
    }

    async fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "QEMU did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn next_event(events: &mut broadcast::Receiver<QmpEvent>, name: &str) -> QmpEvent {
    let wait = async {
        loop {
            let event = events.recv().await.unwrap();
            if event.event == name {
                return event;
            }
        }
    };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .unwrap_or_else(|_| panic!("no {name} event"))
}

fn mentions_qdev_id(value: &Value, id: &str) -> bool {
    match value {
        Value::Object(obj) => {
            obj.get("qdev_id") == Some(&json!(id)) || obj.values().any(|v| mentions_qdev_id(v, id))
        }
        Value::Array(items) => items.iter().any(|v| mentions_qdev_id(v, id)),
        _ => false,
    }
}

#[tokio::test]
async fn lifecycle_version_status_cont_stop_quit() {
    let mut qemu = Qemu::spawn(&[]);
    let client = qemu.connect().await;

    let version = client.query_version().await.unwrap();
    assert_eq!(&version, &client.greeting().version);
    assert!(version.major >= 7, "unexpected QEMU version {version}");

    let status = client.query_status().await.unwrap();
    assert_eq!(status.status, RunState::Prelaunch);
    assert!(!status.running);

    let mut events = client.events();
    client.cont().await.unwrap();
    let resume = next_event(&mut events, "RESUME").await;
    assert!(resume.timestamp.is_some());
    let status = client.query_status().await.unwrap();
    assert_eq!((status.status, status.running), (RunState::Running, true));

    client.stop().await.unwrap();
    next_event(&mut events, "STOP").await;
    assert_eq!(
        client.query_status().await.unwrap().status,
        RunState::Paused
    );

    client.quit().await.unwrap();
    assert!(qemu.wait_exit().await.success());
    tokio::time::timeout(PATIENCE, client.closed())
        .await
        .unwrap();
    assert!(matches!(client.query_status().await, Err(QmpError::Closed)));
}

#[tokio::test]
async fn devices_keys_errors_and_screendump() {
    let mut qemu = Qemu::spawn(&[
        "-device",
        "pcie-root-port,id=rp0,bus=pcie.0,chassis=1",
        "-device",
        "VGA",
    ]);
    let client = qemu.connect().await;
    // Firmware numbers the root port's bus; until then query-pci cannot see devices behind it.
    client.cont().await.unwrap();

    let props = serde_json::Map::from_iter([("bus".to_owned(), json!("rp0"))]);
    client
        .device_add("virtio-rng-pci", "rng0", props)
        .await
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    while !mentions_qdev_id(&client.query_pci().await.unwrap(), "rng0") {
        assert!(
            Instant::now() < deadline,
            "rng0 never appeared in query-pci"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.device_del("rng0").await.unwrap();
    let missing = client.device_del("nosuch").await.unwrap_err();
    assert_eq!(missing.class(), Some("DeviceNotFound"));

    let bad_key = client.send_key(&["notakey"], None).await.unwrap_err();
    assert!(
        matches!(&bad_key, QmpError::Command { class, desc, command } if class == "GenericError" && desc.contains("notakey") && command == "send-key"),
        "{bad_key:?}"
    );
    client.type_text("Hi!\n", Some(10)).await.unwrap();

    let unknown = client.execute("no-such-command", None).await.unwrap_err();
    assert_eq!(unknown.class(), Some("CommandNotFound"));

    let shot = qemu.dir.path().join("screen.ppm");
    client.screendump(&shot, None).await.unwrap();
    let bytes = std::fs::read(&shot).unwrap();
    assert!(bytes.starts_with(b"P6"), "not a PPM file");

    // All those errors left the connection usable.
    assert_eq!(
        client.query_status().await.unwrap().status,
        RunState::Running
    );
    client.quit().await.unwrap();
    assert!(qemu.wait_exit().await.success());
}

fn make_qcow2(dir: &Path) -> PathBuf {
    let image = dir.join("disk.qcow2");
    let status = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&image)
        .arg("16M")
        .status()
        .expect("qemu-img must be installed for this test");
    assert!(status.success());
    image
}

#[tokio::test]
async fn internal_snapshot_jobs_save_load_delete_and_report_failure() {
    let dir = tempfile::tempdir().unwrap();
    let image = make_qcow2(dir.path());
    let blockdev = format!(
        "driver=qcow2,node-name=disk0,file.driver=file,file.filename={}",
        image.display()
    );
    let mut qemu = Qemu::spawn_in(dir, &["-blockdev", &blockdev]);
    let client = qemu.connect().await;
    let wait = Duration::from_secs(120);

    client
        .snapshot_save("save-1", "first", "disk0", &["disk0"])
        .await
        .unwrap();
    client.wait_job("save-1", wait).await.unwrap();
    let listing = info_snapshots(&client).await;
    assert!(listing.as_str().unwrap().contains("first"), "{listing}");
    // wait_job dismissed the job.
    assert!(client.list_jobs().await.unwrap().is_empty());

    client
        .snapshot_load("load-1", "first", "disk0", &["disk0"])
        .await
        .unwrap();
    client.wait_job("load-1", wait).await.unwrap();

    client
        .snapshot_load("load-2", "no-such-tag", "disk0", &["disk0"])
        .await
        .unwrap();
    let failed = client.wait_job("load-2", wait).await.unwrap_err();
    assert!(
        matches!(&failed, QmpError::JobFailed { job_id, .. } if job_id == "load-2"),
        "{failed:?}"
    );

    client
        .snapshot_delete("delete-1", "first", &["disk0"])
        .await
        .unwrap();
    client.wait_job("delete-1", wait).await.unwrap();
    let listing = info_snapshots(&client).await;
    assert!(!listing.as_str().unwrap().contains("first"), "{listing}");

    client.quit().await.unwrap();
    assert!(qemu.wait_exit().await.success());
}

/// QEMU's own listing of the VM's internal snapshots (HMP `info snapshots`).
async fn info_snapshots(client: &QmpClient) -> Value {
    client
        .execute(
            "human-monitor-command",
            Some(json!({"command-line": "info snapshots"})),
        )
        .await
        .unwrap()
}
