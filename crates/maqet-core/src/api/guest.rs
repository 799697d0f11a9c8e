//! Inside the guest, through its QEMU guest agent: `exec` and `guest info`.
//!
//! Every call goes through the VM's runner (`agent.sock`), which owns the agent channel,
//! serialises commands from all clients and enforces each call's timeout. `cp` is in
//! [`super::guest_cp`]; `wait --agent` and `stop --agent` build on [`Maqet::guest_agent`].

use std::io::Read;
use std::time::{Duration, Instant};

use maqet_macros::{api_method, api_requests};
use maqet_qmp::qga::types::{AgentInfo, ExecStarted, ExecStatus, decode_base64, encode_base64};
use maqet_runner::agent_client::{AgentCallError, AgentClient, CLASS_TIMEOUT};
use maqet_state::VmRecord;
use serde::Serialize;
use serde_json::{Value, json};

use crate::registry::{CommandOutput, Passthrough};
use crate::text::escape_guest_text;
use crate::{ErrorKind, Maqet, MaqetError};

/// How long one status poll or small agent call may take at most.
pub(crate) const AGENT_CALL_LIMIT: Duration = Duration::from_secs(10);
/// The longest pause between two `guest-exec-status` polls.
const POLL_MAX: Duration = Duration::from_millis(20);

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

/// A running VM's guest agent, reached through its runner.
pub(crate) struct GuestAgent {
    /// The VM's name, for messages.
    pub name: String,
    client: AgentClient,
}

impl GuestAgent {
    /// Runs one agent command with `limit` for the agent's answer.
    pub fn call(
        &mut self,
        command: &str,
        arguments: Option<Value>,
        limit: Duration,
    ) -> Result<Value, MaqetError> {
        self.client
            .call(command, arguments, limit)
            .map_err(|e| agent_error(&self.name, command, e))
    }

    /// Like [`Self::call`], for a command that does not answer on success.
    pub fn call_no_reply(
        &mut self,
        command: &str,
        arguments: Option<Value>,
        limit: Duration,
    ) -> Result<(), MaqetError> {
        self.client
            .call_no_reply(command, arguments, limit)
            .map_err(|e| agent_error(&self.name, command, e))
    }

    /// Runs a command and reads its reply as `T`.
    pub fn call_as<T: serde::de::DeserializeOwned>(
        &mut self,
        command: &str,
        arguments: Option<Value>,
        limit: Duration,
    ) -> Result<T, MaqetError> {
        let value = self.call(command, arguments, limit)?;
        serde_json::from_value(value).map_err(|e| {
            MaqetError::with_source(
                ErrorKind::Failure,
                format!(
                    "the guest agent of VM `{}` answered `{command}` in an unexpected shape",
                    self.name
                ),
                e,
            )
        })
    }
}

/// How a guest command ended.
pub(crate) enum Finished {
    /// It ended: by an exit code or a signal (both checked), with its captured output.
    Done(GuestExit, ExecStatus),
    /// The guest could not start the program; the status a shell would give (127: not found,
    /// 126: found but not runnable) and the agent's reason, escaped.
    NotStarted(i32, String),
    /// The deadline passed; it has this guest pid.
    TimedOut(i64),
}

/// How a guest command ended, after checking the agent's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GuestExit {
    /// It exited with this code.
    Code(u8),
    /// This signal (1..=64) ended it.
    Signal(u8),
}

impl GuestExit {
    /// The status a shell shows: the code, or 128 + the signal.
    pub fn shell_status(self) -> i32 {
        match self {
            GuestExit::Code(code) => i32::from(code),
            GuestExit::Signal(signal) => 128 + i32::from(signal),
        }
    }
}

/// Checks a finished `guest-exec-status`: exactly one of an exit code in 0..=255 and a signal
/// in 1..=64. Anything else is the agent misbehaving, never a made-up status.
pub(crate) fn checked_exit(vm: &str, status: &ExecStatus) -> Result<GuestExit, MaqetError> {
    let exit = match (status.exitcode, status.signal) {
        (Some(code), None) => u8::try_from(code).ok().map(GuestExit::Code),
        (None, Some(signal)) => u8::try_from(signal)
            .ok()
            .filter(|s| (1..=64).contains(s))
            .map(GuestExit::Signal),
        _ => None,
    };
    exit.ok_or_else(|| {
        let shown = |v: Option<i32>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
        MaqetError::new(
            ErrorKind::Failure,
            format!(
                "the guest agent of VM `{vm}` reported an impossible end for the command (exit code {}, signal {}); its agent is broken or the guest is not to be trusted",
                shown(status.exitcode),
                shown(status.signal)
            ),
        )
    })
}

/// The shell status for a `guest-exec` the agent refused because the program could not be
/// started (glib's "Failed to execute child process"): 127 when it does not exist, else 126.
fn spawn_failure_status(desc: &str) -> Option<i32> {
    if !desc.contains("Failed to execute child process") {
        return None;
    }
    Some(if desc.contains("No such file or directory") {
        127
    } else {
        126
    })
}

impl GuestAgent {
    /// Starts a `guest-exec` and polls its status until it exits or `deadline` passes.
    pub fn run_and_wait(
        &mut self,
        arguments: Value,
        deadline: Instant,
    ) -> Result<Finished, MaqetError> {
        let started = match self
            .client
            .call("guest-exec", Some(arguments), remaining(deadline))
        {
            Err(AgentCallError::Refused { desc, .. }) if spawn_failure_status(&desc).is_some() => {
                let status = spawn_failure_status(&desc).unwrap_or(127);
                return Ok(Finished::NotStarted(status, escape_guest_text(&desc)));
            }
            Err(e) => return Err(agent_error(&self.name, "guest-exec", e)),
            Ok(value) => serde_json::from_value::<ExecStarted>(value).map_err(|e| {
                MaqetError::with_source(
                    ErrorKind::Failure,
                    format!(
                        "the guest agent of VM `{}` answered `guest-exec` in an unexpected shape",
                        self.name
                    ),
                    e,
                )
            })?,
        };
        let mut pause = Duration::from_millis(1);
        loop {
            let status: ExecStatus = self.call_as(
                "guest-exec-status",
                Some(json!({"pid": started.pid})),
                remaining(deadline),
            )?;
            if status.exited {
                let exit = checked_exit(&self.name, &status)?;
                return Ok(Finished::Done(exit, status));
            }
            if Instant::now() + pause >= deadline {
                return Ok(Finished::TimedOut(started.pid));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(POLL_MAX);
        }
    }

    /// Runs a short helper command in the guest (`test`, `mkdir`, `find`) and returns its
    /// exit status and stdout.
    pub fn run_helper(&mut self, path: &str, args: &[&str]) -> Result<(i32, Vec<u8>), MaqetError> {
        let arguments = json!({"path": path, "arg": args, "capture-output": true});
        match self.run_and_wait(arguments, Instant::now() + AGENT_CALL_LIMIT)? {
            Finished::Done(exit, status) => {
                if status.out_truncated == Some(true) {
                    return Err(MaqetError::new(
                        ErrorKind::Failure,
                        format!(
                            "the output of `{path}` in the guest of VM `{}` was cut at the agent's 16 MiB limit, so maqet cannot rely on it",
                            self.name
                        ),
                    ));
                }
                let out = status
                    .out_data
                    .as_deref()
                    .and_then(|d| decode_base64(d).ok())
                    .unwrap_or_default();
                Ok((exit.shell_status(), out))
            }
            Finished::NotStarted(status, _) => Ok((status, Vec::new())),
            Finished::TimedOut(pid) => Err(MaqetError::new(
                ErrorKind::Timeout,
                format!(
                    "`{path}` (pid {pid}) did not finish in the guest of VM `{}` within {} s",
                    self.name,
                    AGENT_CALL_LIMIT.as_secs()
                ),
            )),
        }
    }
}

/// Turns a failed agent call into the documented error kinds: no answer → timeout (exit 2),
/// a disabled or unknown command → permission denied (exit 4), anything else → failure.
pub(crate) fn agent_error(vm: &str, command: &str, err: AgentCallError) -> MaqetError {
    let (kind, message) = match &err {
        AgentCallError::Refused { class, .. } if class == CLASS_TIMEOUT => (
            ErrorKind::Timeout,
            format!(
                "the guest agent of VM `{vm}` did not answer `{command}`; check that qemu-ga runs in the guest (`maqet wait {vm} --agent` waits until it does)"
            ),
        ),
        AgentCallError::Refused { class, .. } if class == "CommandNotFound" => (
            ErrorKind::PermissionDenied,
            format!(
                "the guest agent of VM `{vm}` does not allow `{command}` (disabled in qemu-ga, or too old); `maqet guest info {vm}` lists what it allows"
            ),
        ),
        _ => (
            ErrorKind::Failure,
            format!("the guest agent of VM `{vm}` could not run `{command}`"),
        ),
    };
    // The description comes from the guest: it is shown with its control characters escaped.
    let err = match err {
        AgentCallError::Refused { class, desc } => AgentCallError::Refused {
            class: escape_guest_text(&class),
            desc: escape_guest_text(&desc),
        },
        other => other,
    };
    MaqetError::with_source(kind, message, err)
}

/// Whether a VM's config asks for the guest agent channel.
pub(crate) fn wants_agent(config: &Value) -> bool {
    config.get("guest_agent") == Some(&Value::Bool(true))
}

#[api_requests]
impl Maqet {
    /// Connects to a running VM's guest agent through its runner.
    pub(crate) fn guest_agent(&self, vm: &str) -> Result<(VmRecord, GuestAgent), MaqetError> {
        let record = self.vm_record(vm)?;
        if !wants_agent(&record.config) {
            return Err(MaqetError::invalid(format!(
                "VM `{0}` has no guest agent; add `guest_agent: true` to its config (or `maqet apply {0} --guest-agent true`), restart it, and run qemu-ga in the guest",
                record.name
            )));
        }
        let record = self.reconcile(record, false);
        self.require_running(&record)?;
        let socket = self.vm_paths(&record).agent_socket();
        if !socket.exists() {
            return Err(MaqetError::invalid(format!(
                "VM `{0}` was started before it had `guest_agent: true`; restart it (`maqet stop {0}` then `maqet start {0}`) to add the agent channel",
                record.name
            )));
        }
        let client = AgentClient::connect(&socket).map_err(|e| {
            MaqetError::with_source(
                ErrorKind::Failure,
                format!(
                    "cannot reach the runner of VM `{}`; `maqet status {}` shows whether it still runs",
                    record.name, record.name
                ),
                e,
            )
        })?;
        let agent = GuestAgent {
            name: record.name.clone(),
            client,
        };
        Ok((record, agent))
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
        timeout: f64,
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
        let limit = seconds("--timeout", timeout)?;
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
        let (_, mut agent) = self.guest_agent(&vm)?;
        let deadline = Instant::now() + limit;
        let (exit, status) = match agent.run_and_wait(arguments, deadline)? {
            Finished::Done(exit, status) => (exit, status),
            Finished::NotStarted(code, reason) => {
                return Ok(not_started(&vm, program, code, &reason));
            }
            Finished::TimedOut(pid) => return Err(exec_timeout(&mut agent, program, pid, limit)),
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

/// A number of seconds from an option, checked.
pub(crate) fn seconds(option: &str, value: f64) -> Result<Duration, MaqetError> {
    if !value.is_finite() || !(0.0..=1e9).contains(&value) {
        return Err(MaqetError::invalid(format!(
            "`{option}` must be a number of seconds, 0 or more"
        )));
    }
    Ok(Duration::from_secs_f64(value))
}

/// Time left until `deadline`, never below a few milliseconds (so a call can still be answered).
pub(crate) fn remaining(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(50))
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
    let fate = if killed {
        format!("maqet killed it in the guest (pid {pid})")
    } else {
        format!("it may still run in the guest (pid {pid})")
    };
    MaqetError::new(
        ErrorKind::Timeout,
        format!(
            "`{program}` did not finish within {:.1} s; {fate}",
            limit.as_secs_f64()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit_of(reply: Value) -> Result<GuestExit, MaqetError> {
        let status: ExecStatus = serde_json::from_value(reply).unwrap();
        checked_exit("vm", &status)
    }

    #[test]
    fn crafted_exec_status_replies_never_become_made_up_exit_codes() {
        assert_eq!(
            exit_of(json!({"exited": true, "exitcode": 7})).unwrap(),
            GuestExit::Code(7)
        );
        assert_eq!(
            exit_of(json!({"exited": true, "signal": 9}))
                .unwrap()
                .shell_status(),
            137
        );
        for reply in [
            json!({"exited": true, "exitcode": 256}),
            json!({"exited": true, "exitcode": -1}),
            json!({"exited": true, "exitcode": 2_147_483_647}),
            json!({"exited": true, "signal": 0}),
            json!({"exited": true, "signal": 65}),
            json!({"exited": true, "signal": 2_147_483_647}),
            json!({"exited": true, "signal": -2_147_483_648}),
            json!({"exited": true}),
            json!({"exited": true, "exitcode": 0, "signal": 9}),
        ] {
            let err = exit_of(reply.clone()).unwrap_err();
            assert!(err.to_string().contains("impossible"), "{reply}: {err}");
        }
        // Out of i32 range: the reply does not even decode.
        assert!(
            serde_json::from_value::<ExecStatus>(
                json!({"exited": true, "exitcode": 4_294_967_296_u64})
            )
            .is_err()
        );
    }

    #[test]
    fn a_program_the_guest_cannot_start_maps_to_the_shell_codes() {
        let missing = "Guest agent command failed, error was 'Failed to execute child process \u{201c}/no/such\u{201d} (No such file or directory)'";
        assert_eq!(spawn_failure_status(missing), Some(127));
        assert_eq!(
            spawn_failure_status("Failed to execute child process \"/etc\" (Permission denied)"),
            Some(126)
        );
        assert_eq!(spawn_failure_status("Guest agent command failed"), None);
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

    #[test]
    fn agent_error_descriptions_are_escaped() {
        let err = agent_error(
            "vm",
            "guest-file-open",
            AgentCallError::Refused {
                class: "GenericError".into(),
                desc: "no\nerror: forged line\x1b[31m".into(),
            },
        );
        let chain = format!(
            "{:?}",
            std::error::Error::source(&err).map(ToString::to_string)
        );
        assert!(
            chain.contains("no\\\\nerror: forged line\\\\u{1b}[31m"),
            "{chain}"
        );
    }
}
