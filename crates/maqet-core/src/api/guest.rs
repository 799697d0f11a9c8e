//! Inside the guest, through its QEMU guest agent: `exec` and `guest info`.
//!
//! Every call goes through the VM's runner (`agent.sock`), which owns the agent channel,
//! serialises commands from all clients and enforces each call's timeout; the calls and the
//! checks of the agent's answers are in [`super::guest_agent`]. `cp` is in
//! [`super::guest_cp`]; `wait --agent` and `stop --agent` build on [`Maqet::guest_agent`].

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use maqet_macros::{api_method, api_requests};
use maqet_qmp::qga::types::{AgentInfo, decode_base64, encode_base64};
use maqet_runner::agent_blocking;
use maqet_runner::agent_client::AgentClient;
use maqet_runner::layout::VmPaths;
use maqet_state::VmRecord;
use serde::Serialize;
use serde_json::{Value, json};

pub(crate) use super::guest_agent::{AGENT_CALL_LIMIT, Finished, GuestAgent, GuestExit, remaining};
use crate::registry::{CommandOutput, Passthrough};
use crate::text::escape_guest_text;
use crate::{ErrorKind, Maqet, MaqetError};

/// The exit status `exec` gives when qemu-ga cut the command's output at its 16 MiB limit and
/// the command itself succeeded (a failing command keeps its own code).
pub const EXIT_OUTPUT_TRUNCATED: i32 = 1;

/// `exec`: how the guest command ended and what it printed.
#[derive(Debug, Clone, Serialize)]
pub struct ExecResult {
    /// Its exit code (none when a signal ended it); always 0..=255, or 127/126 when the guest
    /// could not start the program, as a shell reports it.
    pub exitcode: Option<i32>,
    /// The signal that ended it.
    pub signal: Option<i32>,
    /// Its stdout, kept once as bytes: `--format auto` passes them exactly, JSON and YAML
    /// show them as text with invalid UTF-8 replaced.
    #[serde(rename = "stdout", serialize_with = "as_lossy_text")]
    raw_stdout: Vec<u8>,
    /// Its stderr, likewise.
    #[serde(rename = "stderr", serialize_with = "as_lossy_text")]
    raw_stderr: Vec<u8>,
    /// Whether the agent cut the output (it keeps 16 MiB of each stream).
    pub truncated: bool,
}

impl ExecResult {
    /// The exit code a shell would show: the command's own, or 128 + the signal.
    pub fn shell_status(&self) -> i32 {
        match (self.signal, self.exitcode) {
            (Some(signal), _) => 128 + signal.clamp(0, 127),
            (None, Some(code)) => code,
            (None, None) => 0,
        }
    }

    /// maqet's exit status for this result: the command's, or [`EXIT_OUTPUT_TRUNCATED`] when
    /// the command succeeded but its output was cut.
    pub fn exit_status(&self) -> i32 {
        match (self.shell_status(), self.truncated) {
            (0, true) => EXIT_OUTPUT_TRUNCATED,
            (status, _) => status,
        }
    }

    /// Its stdout as text (invalid UTF-8 replaced).
    pub fn stdout(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.raw_stdout)
    }

    /// Its stderr as text (invalid UTF-8 replaced).
    pub fn stderr(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.raw_stderr)
    }

    /// The exact bytes the command wrote to stdout.
    pub fn stdout_bytes(&self) -> &[u8] {
        &self.raw_stdout
    }

    /// The exact bytes the command wrote to stderr.
    pub fn stderr_bytes(&self) -> &[u8] {
        &self.raw_stderr
    }
}

impl CommandOutput for ExecResult {
    fn human(&self) -> Option<String> {
        Some(String::new())
    }

    fn passthrough(&self) -> Option<Passthrough> {
        let mut stderr = self.raw_stderr.clone();
        if self.truncated {
            stderr.extend_from_slice(TRUNCATED_WARNING.as_bytes());
        }
        Some(Passthrough {
            stdout: self.raw_stdout.clone(),
            stderr,
            exit_code: self.exit_status(),
        })
    }
}

/// Serializes output bytes as text, replacing invalid UTF-8.
fn as_lossy_text<S: serde::Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&String::from_utf8_lossy(bytes))
}

/// Added to the command's stderr when qemu-ga cut its output.
const TRUNCATED_WARNING: &str = "maqet: warning: the guest agent cut the command's output at its 16 MiB limit, so what is shown is incomplete; redirect the output to a file in the guest and `maqet cp` it out\n";

/// `guest info`: what the guest and its agent say about themselves.
#[derive(Debug, Clone, Serialize)]
pub struct GuestInfo {
    /// The VM.
    pub vm: String,
    /// The agent's version.
    pub agent_version: String,
    /// The agent commands that are enabled.
    pub allowed_commands: Vec<String>,
    /// Known agent commands that are disabled.
    pub disabled_commands: Vec<String>,
    /// The guest's host name.
    pub hostname: Option<String>,
    /// `guest-get-osinfo` (kernel release, OS name, ...), when the agent has it.
    pub os: Option<Value>,
    /// `guest-network-get-interfaces`, when the agent has it.
    pub interfaces: Option<Value>,
}

impl CommandOutput for GuestInfo {
    fn human(&self) -> Option<String> {
        let os = self.os.as_ref();
        let field = |key: &str| {
            escape_guest_text(
                os.and_then(|o| o.get(key))
                    .and_then(Value::as_str)
                    .unwrap_or("-"),
            )
        };
        let mut text = format!(
            "agent:      qemu-ga {} ({} commands allowed, {} disabled)\nhostname:   {}\nos:         {} {}\nkernel:     {}",
            escape_guest_text(&self.agent_version),
            self.allowed_commands.len(),
            self.disabled_commands.len(),
            escape_guest_text(self.hostname.as_deref().unwrap_or("-")),
            field("pretty-name"),
            field("machine"),
            field("kernel-release"),
        );
        for iface in self
            .interfaces
            .as_ref()
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let addresses: Vec<String> = iface
                .get("ip-addresses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|a| {
                    Some(format!(
                        "{}/{}",
                        escape_guest_text(a.get("ip-address")?.as_str()?),
                        a.get("prefix")?.as_u64()?
                    ))
                })
                .collect();
            text.push_str(&format!(
                "\ninterface:  {} {}",
                escape_guest_text(iface.get("name").and_then(Value::as_str).unwrap_or("?")),
                addresses.join(" ")
            ));
        }
        Some(text)
    }
}

/// Whether a VM's config asks for the guest agent channel.
pub(crate) fn wants_agent(config: &Value) -> bool {
    crate::config::VmConfig::from_value(config).guest_agent
}

#[api_requests]
impl Maqet {
    /// Connects to a running VM's guest agent through its runner.
    ///
    /// When the runner's `agent.sock` answers, the VM runs (its runner serves it only while
    /// QEMU does), so the status checks are skipped; when it does not, they say why.
    pub(crate) fn guest_agent(&self, vm: &str) -> Result<(VmRecord, GuestAgent), MaqetError> {
        let record = self.vm_record(vm)?;
        if !wants_agent(&record.config) {
            return Err(MaqetError::invalid(format!(
                "VM `{0}` has no guest agent; add `guest_agent: true` to its config (or `maqet apply {0} --guest-agent true`), restart it, and run qemu-ga in the guest",
                record.name
            )));
        }
        let socket = self.vm_paths(&record).agent_socket();
        if let Ok(Ok(client)) = self.block_on(AgentClient::connect(&socket)) {
            let agent = self.agent_on(&record, client);
            return Ok((record, agent));
        }
        let record = self.reconcile(record, false);
        self.require_running(&record)?;
        if !socket.exists() {
            return Err(MaqetError::invalid(format!(
                "VM `{0}` was started before it had `guest_agent: true`; restart it (`maqet stop {0}` then `maqet start {0}`) to add the agent channel",
                record.name
            )));
        }
        let client = self
            .block_on(AgentClient::connect(&socket))?
            .map_err(|e| {
                MaqetError::with_source(
                    ErrorKind::Failure,
                    format!(
                        "cannot reach the runner of VM `{}`; `maqet status {}` shows whether it still runs",
                        record.name, record.name
                    ),
                    e,
                )
            })?;
        let agent = self.agent_on(&record, client);
        Ok((record, agent))
    }

    /// The runner's `agent.sock` of VM `vm`, connected, when `vm` is the name of a VM whose
    /// runner answers there, found through the runtime dir's name link
    /// ([`maqet_runner::name_link`]) without opening the database; `None` leaves the lookup,
    /// and every error message, to [`Maqet::guest_agent`].
    fn agent_socket_without_database(&self, vm: &str) -> Option<(PathBuf, UnixStream)> {
        // A lookup takes an id before a name: a VM whose id is `vm` is left to the database.
        if std::fs::symlink_metadata(self.dirs().vm_runtime_dir(vm)).is_ok() {
            return None;
        }
        let id = maqet_runner::name_link::resolve(&self.dirs().runtime, vm)?;
        let socket = VmPaths::new(
            self.dirs().vm_runtime_dir(&id),
            self.dirs().vm_data_dir(&id),
        )
        .agent_socket();
        let stream = agent_blocking::connect(&socket).ok()?;
        tracing::debug!(vm, id, "guest agent found through the runtime name link");
        Some((socket, stream))
    }

    /// Runs `arguments` with `guest-exec` in VM `vm` and waits for its end until `deadline`:
    /// straight on the runner's socket when [`Self::agent_socket_without_database`] finds it
    /// (no database, no async runtime), else through [`Maqet::guest_agent`]. A command still
    /// running at the deadline is killed (see [`exec_timeout`]).
    fn exec_and_wait(
        &self,
        vm: &str,
        program: &str,
        arguments: Value,
        deadline: Instant,
        limit: Duration,
    ) -> Result<Finished, MaqetError> {
        let (finished, mut agent) = match self.agent_socket_without_database(vm) {
            Some((socket, mut stream)) => {
                let waited =
                    agent_blocking::exec_and_wait(&mut stream, arguments, remaining(deadline));
                let finished = super::guest_agent::finished(vm, waited)?;
                let Finished::TimedOut(_) = finished else {
                    return Ok(finished);
                };
                let client = self
                    .block_on(AgentClient::connect(&socket))?
                    .map_err(|e| MaqetError::with_source(ErrorKind::Failure, format!("cannot reach the runner of VM `{vm}` to end the command; `maqet status {vm}` shows whether it still runs"), e))?;
                let agent = GuestAgent {
                    name: vm.to_owned(),
                    client,
                    maqet: self.clone(),
                };
                (finished, agent)
            }
            None => {
                let (_, mut agent) = self.guest_agent(vm)?;
                (agent.run_and_wait(arguments, deadline)?, agent)
            }
        };
        match finished {
            Finished::TimedOut(pid) => Err(exec_timeout(&mut agent, program, pid, limit)),
            other => Ok(other),
        }
    }

    fn agent_on(&self, record: &VmRecord, client: AgentClient) -> GuestAgent {
        GuestAgent {
            name: record.name.clone(),
            client,
            maqet: self.clone(),
        }
    }

    /// Run a command inside the guest through its agent and pass its output and exit code through.
    ///
    /// Needs `guest_agent: true` and qemu-ga running in the guest. The command's stdout and
    /// stderr go to maqet's own, byte for byte, when it has finished, and maqet exits with the
    /// command's exit code (128 + N when signal N ended it), in every output format; a program
    /// the guest cannot start gives 127 (126 when it exists but cannot run), as in a shell, and
    /// output qemu-ga cut at 16 MiB gives a warning and exit 1 when the command succeeded. With
    /// `--format json` the result is `{exitcode, signal, stdout, stderr, truncated}`. After
    /// `--timeout` seconds maqet exits with status 2 and kills the command in the guest (with
    /// the guest's `kill`, when the agent allows it). `--cwd` runs the command through the
    /// guest's `sh`.
    #[api_method(
        category = "guest",
        examples = [
            "maqet exec web -- uname -r",
            "maqet exec web --timeout 5 -- sh -c 'exit 7'",
            "maqet exec web --env LANG=C --cwd /tmp -- ls -la",
            "maqet exec web --input script.sh -- sh",
            "maqet exec web --format json -- cat /etc/hostname"
        ]
    )]
    pub fn exec(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
        #[arg(
            positional,
            help = "The command and its arguments, after `--`",
            value_name = "CMD"
        )]
        command: Vec<String>,
        #[arg(
            help = "Seconds to wait for the command (exit 2 after)",
            default = "60"
        )]
        timeout: Duration,
        #[arg(
            help = "Environment variable for the command (repeatable)",
            value_name = "K=V"
        )]
        env: Vec<String>,
        #[arg(help = "Guest directory to run the command in", value_name = "DIR")] cwd: Option<
            String,
        >,
        #[arg(
            help = "File whose bytes are the command's stdin (`-`: maqet's own stdin)",
            value_name = "FILE"
        )]
        input: Option<String>,
    ) -> Result<ExecResult, MaqetError> {
        let limit = timeout;
        let Some((program, args)) = command.split_first() else {
            return Err(MaqetError::invalid(
                "give the command to run after `--`, e.g. `maqet exec VM -- uname -r`",
            ));
        };
        if let Some(bad) = env.iter().find(|e| !e.contains('=') || e.starts_with('=')) {
            return Err(MaqetError::invalid(format!(
                "`--env {bad}` is not KEY=VALUE"
            )));
        }
        let (path, arg) = match &cwd {
            Some(dir) => {
                let mut words = vec![
                    "-c".to_owned(),
                    "cd \"$1\" && shift && exec \"$@\"".to_owned(),
                    "sh".to_owned(),
                    dir.clone(),
                ];
                words.extend(command.iter().cloned());
                ("sh".to_owned(), words)
            }
            None => (program.clone(), args.to_vec()),
        };
        let mut arguments = json!({"path": path, "arg": arg, "capture-output": true});
        if !env.is_empty() {
            arguments["env"] = json!(env);
        }
        if let Some(source) = &input {
            arguments["input-data"] = Value::String(encode_base64(&read_input(source)?));
        }
        let deadline = Instant::now() + limit;
        let (exit, status) = match self.exec_and_wait(&vm, program, arguments, deadline, limit)? {
            Finished::Done(exit, status) => (exit, status),
            Finished::NotStarted(code, reason) => {
                return Ok(not_started(&vm, program, code, &reason));
            }
            // `exec_and_wait` ends a command that outlives the deadline and says so itself.
            Finished::TimedOut(pid) => {
                return Err(MaqetError::GuestCommandTimedOut {
                    program: program.to_string(),
                    after: limit,
                    pid,
                    killed: false,
                });
            }
        };
        let decode = |data: &Option<String>| -> Result<Vec<u8>, MaqetError> {
            match data {
                Some(text) => decode_base64(text).map_err(|e| {
                    MaqetError::with_source(
                        ErrorKind::Failure,
                        "the guest agent sent output that is not valid base64",
                        e,
                    )
                }),
                None => Ok(Vec::new()),
            }
        };
        let raw_stdout = decode(&status.out_data)?;
        let raw_stderr = decode(&status.err_data)?;
        let (exitcode, signal) = match exit {
            GuestExit::Code(code) => (Some(i32::from(code)), None),
            GuestExit::Signal(signal) => (None, Some(i32::from(signal))),
        };
        Ok(ExecResult {
            exitcode,
            signal,
            truncated: status.out_truncated.unwrap_or(false)
                || status.err_truncated.unwrap_or(false),
            raw_stdout,
            raw_stderr,
        })
    }

    /// Show what the guest agent reports: agent version and allowed commands, host name, OS and
    /// network interfaces.
    #[api_method(
        group = "guest",
        group_about = "Ask a running guest's agent about the guest",
        name = "info",
        examples = ["maqet guest info web", "maqet guest info web --format json"]
    )]
    pub fn guest_info(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
    ) -> Result<GuestInfo, MaqetError> {
        let (record, mut agent) = self.guest_agent(&vm)?;
        let info: AgentInfo = agent.call_as("guest-info", None, AGENT_CALL_LIMIT)?;
        let mut optional = |command: &str| {
            if info.allows(command) {
                agent.call(command, None, AGENT_CALL_LIMIT).ok()
            } else {
                None
            }
        };
        let hostname = optional("guest-get-host-name").and_then(|v| {
            v.get("host-name")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let os = optional("guest-get-osinfo");
        let interfaces = optional("guest-network-get-interfaces");
        let (allowed, disabled): (Vec<_>, Vec<_>) =
            info.supported_commands.iter().partition(|c| c.enabled);
        Ok(GuestInfo {
            vm: record.name,
            agent_version: info.version.clone(),
            allowed_commands: allowed.into_iter().map(|c| c.name.clone()).collect(),
            disabled_commands: disabled.into_iter().map(|c| c.name.clone()).collect(),
            hostname,
            os,
            interfaces,
        })
    }
}

/// The result of a program the guest could not start: the shell's 127 or 126, and a line on
/// stderr saying why.
fn not_started(vm: &str, program: &str, code: i32, reason: &str) -> ExecResult {
    let what = if code == 127 {
        "no such program"
    } else {
        "cannot run it"
    };
    let stderr = format!(
        "maqet: {}: {what} in the guest of VM `{vm}` (the agent said: {reason})\n",
        escape_guest_text(program)
    );
    ExecResult {
        exitcode: Some(code),
        signal: None,
        truncated: false,
        raw_stdout: Vec::new(),
        raw_stderr: stderr.into_bytes(),
    }
}

/// Reads `--input`: a file, or maqet's stdin for `-`.
fn read_input(source: &str) -> Result<Vec<u8>, MaqetError> {
    let mut bytes = Vec::new();
    if source == "-" {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| MaqetError::io("cannot read the command's input from stdin", e))?;
        return Ok(bytes);
    }
    std::fs::read(source).map_err(|e| MaqetError::io(format!("cannot read `--input {source}`"), e))
}

/// The `--timeout` error, after trying to kill the command in the guest.
fn exec_timeout(agent: &mut GuestAgent, program: &str, pid: i64, limit: Duration) -> MaqetError {
    let killed = agent
        .call(
            "guest-exec",
            Some(json!({"path": "kill", "arg": ["-KILL", pid.to_string()]})),
            Duration::from_secs(2),
        )
        .is_ok();
    MaqetError::GuestCommandTimedOut {
        program: program.to_string(),
        after: limit,
        pid,
        killed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_the_guest_cannot_start_exits_127_with_a_reason() {
        let result = not_started("vm", "/no/such\x1b[2J", 127, "x");
        assert_eq!(result.exit_status(), 127);
        assert!(
            result.stderr().contains("/no/such\\u{1b}[2J"),
            "{}",
            result.stderr()
        );
    }

    #[test]
    fn cut_output_of_a_successful_command_exits_non_zero_with_a_warning() {
        let mut result = not_started("vm", "x", 127, "x");
        result.exitcode = Some(0);
        result.truncated = true;
        assert_eq!(result.exit_status(), EXIT_OUTPUT_TRUNCATED);
        let pass = result.passthrough().unwrap();
        assert_eq!(pass.exit_code, EXIT_OUTPUT_TRUNCATED);
        assert!(String::from_utf8_lossy(&pass.stderr).contains("16 MiB"));
        result.exitcode = Some(3);
        assert_eq!(result.exit_status(), 3);
    }
}
