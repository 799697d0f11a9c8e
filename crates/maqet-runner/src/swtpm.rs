//! The VM's emulated TPM 2.0 (`tpm: true`): a `swtpm socket --tpm2` process whose state lives
//! in `<data>/tpm` and whose control socket is in the runtime dir, started by the runner just
//! before QEMU and handed to QEMU as a `tpmdev emulator`.
//!
//! swtpm runs detached (`--daemon`), like QEMU outliving its runner: a killed runner leaves it
//! serving the guest and a new runner takes it over with QEMU (its pid file says which process
//! it is). It ends by itself when QEMU closes the control connection (`--terminate`), so it
//! never outlives QEMU.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use maqet_state::ProcessIdentity;

use crate::layout::VmPaths;

/// How long swtpm gets to create its control socket.
const SOCKET_LIMIT: Duration = Duration::from_secs(10);

/// The swtpm control socket QEMU connects to.
pub fn control_socket(paths: &VmPaths) -> PathBuf {
    paths.runtime_dir.join("swtpm.sock")
}

/// swtpm's pid file.
pub fn pid_file(paths: &VmPaths) -> PathBuf {
    paths.runtime_dir.join("swtpm.pid")
}

/// Where the TPM's persistent state (keys, NV indices) is kept across restarts.
pub fn state_dir(paths: &VmPaths) -> PathBuf {
    paths.data_dir.join("tpm")
}

/// swtpm's log.
pub fn log_file(paths: &VmPaths) -> PathBuf {
    paths.data_dir.join("swtpm.log")
}

/// QEMU's options for the TPM: the control socket as a chardev, a `tpmdev emulator` on it,
/// and the device the machine wants (`tpm-crb` on q35, `tpm-tis` elsewhere).
pub fn qemu_args(paths: &VmPaths, crb: bool) -> Vec<String> {
    vec![
        "-chardev".into(),
        format!(
            "socket,id=maqet-swtpm,path={}",
            control_socket(paths).to_string_lossy().replace(',', ",,")
        ),
        "-tpmdev".into(),
        "emulator,id=maqet-tpm,chardev=maqet-swtpm".into(),
        "-device".into(),
        format!(
            "{},tpmdev=maqet-tpm",
            if crb { "tpm-crb" } else { "tpm-tis" }
        ),
    ]
}

/// Starts swtpm for the VM and waits for its control socket; returns its identity.
pub fn start(paths: &VmPaths) -> Result<ProcessIdentity, String> {
    let state = state_dir(paths);
    create_private_dir(&state).map_err(|e| {
        format!(
            "cannot create the TPM state directory {}: {e}",
            state.display()
        )
    })?;
    let socket = control_socket(paths);
    let pid_path = pid_file(paths);
    let _ = std::fs::remove_file(&socket);
    let _ = std::fs::remove_file(&pid_path);
    let opt = |p: &Path| p.to_string_lossy().replace(',', ",,");
    let out = Command::new("swtpm")
        .arg("socket")
        .arg("--tpm2")
        .arg("--tpmstate")
        .arg(format!("dir={},mode=0600", opt(&state)))
        .arg("--ctrl")
        .arg(format!("type=unixio,path={},mode=0600", opt(&socket)))
        .arg("--pid")
        .arg(format!("file={}", opt(&pid_path)))
        .arg("--log")
        .arg(format!("file={},level=1", opt(&log_file(paths))))
        .arg("--terminate")
        .arg("--daemon")
        .output()
        .map_err(|e| format!("cannot run swtpm ({e}); install the `swtpm` package"))?;
    if !out.status.success() {
        return Err(format!(
            "swtpm refused to start ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let deadline = Instant::now() + SOCKET_LIMIT;
    loop {
        if let Some(id) = running(paths)
            && socket.exists()
        {
            return Ok(id);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "swtpm did not create its control socket {} within {SOCKET_LIMIT:?}; see {}",
                socket.display(),
                log_file(paths).display()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The VM's swtpm when it runs: the pid file names a live `swtpm` whose command line has this
/// VM's control socket (a reused pid is not taken for it).
pub fn running(paths: &VmPaths) -> Option<ProcessIdentity> {
    let text = std::fs::read_to_string(pid_file(paths)).ok()?;
    let pid: u32 = text.trim().parse().ok()?;
    let args = crate::process::cmdline(pid)?;
    let socket = control_socket(paths).to_string_lossy().replace(',', ",,");
    let ours = args.first().is_some_and(|a| a.ends_with("swtpm"))
        && args.iter().any(|a| a.contains(socket.as_str()));
    if !ours {
        return None;
    }
    crate::process::identity_of(pid)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}
