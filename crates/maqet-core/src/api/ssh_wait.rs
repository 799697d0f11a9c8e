//! Learning a guest's SSH host keys (from its console, or its agent), and `wait --ssh`.
//!
//! The keys are taken from the first boot of the cloud-init instance: the block cloud-init
//! prints on the serial console ([`maqet_seed::host_keys`], parsed strictly, since the guest
//! writes it), or else `/etc/ssh/ssh_host_ed25519_key.pub` read through the guest agent once
//! cloud-init has finished this boot (`/run/cloud-init/result.json` exists). Once
//! written to the VM's `known_hosts` they are kept until the instance changes; `ssh` checks
//! them with `StrictHostKeyChecking=yes` and never accepts a key it has not seen this way.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use maqet_qmp::qga::types::decode_base64;
use maqet_seed::host_keys::{HostKey, host_keys_from_console};
use maqet_state::VmRecord;
use serde_json::{Value, json};

use super::guest::{AGENT_CALL_LIMIT, remaining, wants_agent};
use super::ssh::ssh_options;
use crate::first_boot::IdentityFiles;
use crate::{ErrorKind, Maqet, MaqetError};

/// The most of the serial log searched for the host key block.
const MAX_SERIAL_SCAN: u64 = 16 * 1024 * 1024;
/// The longest one login attempt of `wait --ssh` may take.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(20);
/// The host key file read through the guest agent.
const AGENT_HOST_KEY: &str = "/etc/ssh/ssh_host_ed25519_key.pub";
/// Written by cloud-init when this boot's stages are done (in `/run`, so never left over from
/// an earlier boot): the host keys of the instance exist and will not change any more.
const CLOUD_INIT_DONE: &str = "/run/cloud-init/result.json";

impl Maqet {
    /// Makes sure the VM's `known_hosts` holds its host keys; `false` while they are unknown.
    pub(crate) fn learn_host_keys(&self, vm: &VmRecord, files: &IdentityFiles) -> bool {
        if files.host_keys_known() {
            return true;
        }
        let keys = self
            .host_keys_from_serial(vm)
            .or_else(|| self.host_keys_from_agent(vm));
        let Some(keys) = keys else {
            return false;
        };
        let Some(endpoint) = files.read_endpoint() else {
            return false;
        };
        let text: String = keys
            .iter()
            .map(|k| k.known_hosts_line(&endpoint.host_key_alias) + "\n")
            .collect();
        match maqet_seed::write::write_atomically(&files.known_hosts(), text.as_bytes()) {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(vm = %vm.name, %err, "cannot write known_hosts");
                false
            }
        }
    }

    fn host_keys_from_serial(&self, vm: &VmRecord) -> Option<Vec<HostKey>> {
        let log = self.vm_paths(vm).serial_log();
        let mut bytes = Vec::new();
        std::fs::File::open(&log)
            .ok()?
            .take(MAX_SERIAL_SCAN)
            .read_to_end(&mut bytes)
            .ok()?;
        match host_keys_from_console(&bytes) {
            Ok(keys) => keys,
            Err(err) => {
                tracing::warn!(vm = %vm.name, %err, "ignoring the SSH host key block on the serial console");
                self.progress(&format!(
                    "ignoring the SSH host key block VM `{}` printed: {err}",
                    vm.name
                ));
                None
            }
        }
    }

    fn host_keys_from_agent(&self, vm: &VmRecord) -> Option<Vec<HostKey>> {
        if !wants_agent(&vm.config) || !self.vm_paths(vm).agent_socket().exists() {
            return None;
        }
        let (_, mut agent) = self.guest_agent(&vm.id).ok()?;
        agent
            .call("guest-ping", None, Duration::from_secs(1))
            .ok()?;
        // Before cloud-init is done, a key on disk may be one it is about to replace.
        read_guest_file(&mut agent, CLOUD_INIT_DONE)?;
        let bytes = read_guest_file(&mut agent, AGENT_HOST_KEY)?;
        let text = String::from_utf8(bytes).ok()?;
        let (kind, blob, _) =
            maqet_seed::cloud_config::parse_public_key(text.lines().next()?.trim()).ok()?;
        Some(vec![HostKey { kind, blob }])
    }

    /// `wait --ssh`: until `ssh ... true` logs in (host key known and checked, maqet's key,
    /// no prompts); returns where it logged in.
    pub(crate) fn wait_for_ssh(&self, vm: &str, limit: Duration) -> Result<Value, MaqetError> {
        let deadline = Instant::now() + limit;
        let (record, files, _) = self.ssh_target(vm)?;
        let mut last = String::from(
            "the guest's host keys are not known yet (cloud-init prints them on ttyS0; with `guest_agent: true` maqet also reads them through the agent)",
        );
        loop {
            let now = self.observe(self.vm_record(&record.id)?);
            self.require_running(&now)?;
            // The endpoint of this start (written before QEMU started).
            let endpoint = self.ssh_target(&record.id)?.2;
            if self.learn_host_keys(&now, &files) {
                let attempt = remaining(deadline).min(ATTEMPT_LIMIT);
                let connect = attempt.as_secs().clamp(1, 10);
                let mut ssh = Command::new("ssh");
                ssh.args(["-o", "BatchMode=yes", "-o"])
                    .arg(format!("ConnectTimeout={connect}"))
                    .args(ssh_options(&endpoint, &files.known_hosts()))
                    .args(["--", &endpoint.host, "true"]);
                match run_for(&mut ssh, attempt) {
                    Ok(None) => {
                        return Ok(json!({
                            "host": endpoint.host,
                            "port": endpoint.port,
                            "user": endpoint.user,
                        }));
                    }
                    Ok(Some(message)) => last = message,
                    Err(err) => return Err(err),
                }
            }
            if Instant::now() >= deadline {
                return Err(MaqetError::WaitTimedOut {
                    what: format!(
                        "SSH on VM `{}` (127.0.0.1:{}); last: {last}",
                        record.name, endpoint.port
                    ),
                    after: limit,
                    source: None,
                });
            }
            self.progress(&format!("waiting for SSH on VM `{}`", record.name));
            std::thread::sleep(remaining(deadline).min(Duration::from_secs(1)));
        }
    }
}

/// The first 4 KiB of a guest file, through the agent; `None` when it cannot be read.
fn read_guest_file(agent: &mut super::guest::GuestAgent, path: &str) -> Option<Vec<u8>> {
    let handle = agent
        .call(
            "guest-file-open",
            Some(json!({"path": path, "mode": "r"})),
            AGENT_CALL_LIMIT,
        )
        .ok()?;
    let read = agent.call(
        "guest-file-read",
        Some(json!({"handle": handle, "count": 4096})),
        AGENT_CALL_LIMIT,
    );
    drop(agent.call(
        "guest-file-close",
        Some(json!({"handle": handle})),
        AGENT_CALL_LIMIT,
    ));
    decode_base64(read.ok()?.get("buf-b64")?.as_str()?).ok()
}

/// The error when the `ssh` program cannot be started.
pub(crate) fn ssh_client_missing(source: std::io::Error) -> MaqetError {
    MaqetError::with_source(
        ErrorKind::Failure,
        "cannot run ssh; install OpenSSH's client (Debian: openssh-client)",
        source,
    )
}

/// Runs `command` for at most `limit`; `None` when it succeeded, else what it said.
fn run_for(command: &mut Command, limit: Duration) -> Result<Option<String>, MaqetError> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(ssh_client_missing)?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut err = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    drop(stderr.by_ref().take(4096).read_to_string(&mut err));
                }
                return Ok(if status.success() {
                    None
                } else {
                    Some(err.trim().lines().last().unwrap_or("ssh failed").to_owned())
                });
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                drop(child.kill());
                drop(child.wait());
                return Ok(Some(format!(
                    "ssh did not finish in {:.0} s",
                    limit.as_secs_f64()
                )));
            }
        }
    }
}
