//! One client's QMP session on the multiplexer, answered as QEMU 7.2 answers: capability
//! negotiation first (`CommandNotFound` before it), QEMU's argument errors for
//! `qmp_capabilities`, the raw-QMP gate, then forwarding to QEMU with the client's own `id`.

use std::sync::Arc;
use std::time::Duration;

use maqet_qmp::wire::{ClientCommand, ServerMessage};
use maqet_qmp::{QmpError, QmpEvent};
use maqet_runner::qmp_gate::{self, ALLOW_DANGEROUS_CAPABILITY};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::log::log;
use super::mux::MuxShared;

/// How long a forwarded command may take (long jobs like `savevm` are synchronous in QEMU).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// A client's state: negotiated or not, opted in to dangerous commands or not.
pub struct Session {
    shared: Arc<MuxShared>,
    is_owner: bool,
    out: mpsc::Sender<String>,
    events: Option<tokio::task::JoinHandle<()>>,
    dangerous: bool,
}

impl Session {
    /// A session before negotiation; `is_owner` says whether the peer runs as the VM's owner.
    pub fn new(shared: Arc<MuxShared>, is_owner: bool, out: mpsc::Sender<String>) -> Self {
        Self {
            shared,
            is_owner,
            out,
            events: None,
            dangerous: false,
        }
    }

    /// Answers one well-formed request; `None` when the reply was already queued.
    pub async fn handle(&mut self, command: ClientCommand) -> Option<String> {
        let negotiated = self.events.is_some();
        if command.execute == "qmp_capabilities" {
            // QEMU's order: argument errors, then "already complete", then availability.
            let names = match requested_capabilities(command.arguments.as_ref()) {
                Ok(names) => names,
                Err(desc) => return Some(error_reply(command.id, "GenericError", desc)),
            };
            if negotiated {
                return Some(error_reply(
                    command.id,
                    "CommandNotFound",
                    "Capabilities negotiation is already complete, command ignored".into(),
                ));
            }
            let dangerous = match accept_capabilities(&names, self.is_owner) {
                Ok(dangerous) => dangerous,
                Err(desc) => return Some(error_reply(command.id, "GenericError", desc)),
            };
            // Subscribe before answering, so no event after the answer is missed.
            let receiver = self.shared.qmp.events();
            self.out
                .send(return_reply(command.id, json!({})))
                .await
                .ok()?;
            self.dangerous = dangerous;
            self.events = Some(tokio::spawn(forward_events(receiver, self.out.clone())));
            return None;
        }
        if !negotiated {
            return Some(error_reply(
                command.id,
                "CommandNotFound",
                "Expecting capabilities negotiation with 'qmp_capabilities'".into(),
            ));
        }
        if !self.dangerous && self.gated(&command.execute).await {
            let verdict = if qmp_gate::may_read_images(&command.execute) {
                // The gate runs qemu-img on images (bounded in time): off the async threads.
                let (name, arguments) = (command.execute.clone(), command.arguments.clone());
                let dirs = self.shared.dirs.clone();
                tokio::task::spawn_blocking(move || {
                    qmp_gate::check(&name, arguments.as_ref(), &dirs)
                })
                .await
                .unwrap_or_else(|_| {
                    Err(qmp_gate::Refusal {
                        command: command.execute.clone(),
                        reason: "the check of its arguments failed".into(),
                    })
                })
            } else {
                qmp_gate::check(
                    &command.execute,
                    command.arguments.as_ref(),
                    &self.shared.dirs,
                )
            };
            if let Err(refusal) = verdict {
                log!("refused raw QMP `{}`: {}", refusal.command, refusal.reason);
                return Some(error_reply(command.id, "GenericError", refusal.desc()));
            }
        }
        Some(forward(&self.shared, command).await)
    }

    /// Whether the gate decides on `command`: every command QEMU knows (one it does not know
    /// gets QEMU's own `CommandNotFound`). Waits, bounded, for QEMU's command list.
    async fn gated(&self, command: &str) -> bool {
        let known = self.shared.known.get().await;
        known.is_empty() || known.contains(command)
    }

    /// Ends the session: stops forwarding events to this client and drops the session's
    /// handle on the client's output queue, so the writer can finish and the connection close.
    pub fn end(mut self) {
        if let Some(events) = self.events.take() {
            events.abort();
        }
    }
}

/// The capabilities `qmp_capabilities` asks for, or QEMU's error for its arguments.
fn requested_capabilities(arguments: Option<&Value>) -> Result<Vec<&'static str>, String> {
    let Some(Value::Object(args)) = arguments else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    match args.get("enable") {
        None => {}
        Some(Value::Array(list)) => {
            for (i, item) in list.iter().enumerate() {
                match item.as_str() {
                    Some("oob") => names.push("oob"),
                    Some(ALLOW_DANGEROUS_CAPABILITY) => names.push(ALLOW_DANGEROUS_CAPABILITY),
                    // QEMU 7.2 names the list element 'null' in this message.
                    Some(other) => {
                        return Err(format!("Parameter 'null' does not accept value '{other}'"));
                    }
                    None => {
                        return Err(format!(
                            "Invalid parameter type for 'enable[{i}]', expected: string"
                        ));
                    }
                }
            }
        }
        Some(_) => return Err("Invalid parameter type for 'enable', expected: array".into()),
    }
    if let Some(key) = args.keys().find(|k| *k != "enable") {
        return Err(format!("Parameter '{key}' is unexpected"));
    }
    Ok(names)
}

/// Accepts the requested capabilities as QEMU does; `Ok(true)` when the maqet extension
/// [`ALLOW_DANGEROUS_CAPABILITY`] was enabled (only the VM's owner may).
fn accept_capabilities(names: &[&str], is_owner: bool) -> Result<bool, String> {
    let unavailable: Vec<&str> = names
        .iter()
        .copied()
        .filter(|name| *name == "oob" || !is_owner)
        .collect();
    if !unavailable.is_empty() {
        return Err(format!(
            "Capability {} not available",
            unavailable.join(", ")
        ));
    }
    Ok(names.contains(&ALLOW_DANGEROUS_CAPABILITY))
}

/// Both steps, for tests.
#[cfg(test)]
fn capabilities(arguments: Option<&Value>, is_owner: bool) -> Result<bool, String> {
    accept_capabilities(&requested_capabilities(arguments)?, is_owner)
}

async fn forward(shared: &MuxShared, command: ClientCommand) -> String {
    let ClientCommand {
        execute,
        arguments,
        id,
    } = command;
    match shared
        .qmp
        .execute_with_timeout(&execute, arguments, FORWARD_TIMEOUT)
        .await
    {
        Ok(ret) => return_reply(id, ret),
        Err(QmpError::Command { class, desc, .. }) => error_reply(id, &class, desc),
        // QEMU may close the connection before answering `quit`; it did quit.
        Err(QmpError::Closed) if execute == "quit" => return_reply(id, json!({})),
        Err(err) => error_reply(id, "GenericError", maqet_error_chain::error_chain(&err)),
    }
}

async fn forward_events(mut events: broadcast::Receiver<QmpEvent>, out: mpsc::Sender<String>) {
    let mut dropped = 0u64;
    loop {
        match events.recv().await {
            Ok(event) => match out.try_send(ServerMessage::Event(event).to_line()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    dropped += 1;
                    if dropped.is_power_of_two() {
                        log!("a QMP client does not read; {dropped} events dropped for it");
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            },
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                log!("a QMP client fell behind and missed {missed} events");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// A `{"return": ...}` line with the client's `id`.
pub fn return_reply(id: Option<Value>, ret: Value) -> String {
    ServerMessage::Return { id, ret }.to_line()
}

/// A `{"error": ...}` line with the client's `id`.
pub fn error_reply(id: Option<Value>, class: &str, desc: String) -> String {
    ServerMessage::Error {
        id,
        class: class.to_owned(),
        desc,
    }
    .to_line()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_keep_the_clients_id_or_have_none() {
        let with = error_reply(Some(json!("abc")), "GenericError", "no".into());
        assert_eq!(
            serde_json::from_str::<Value>(&with).unwrap(),
            json!({"error": {"class": "GenericError", "desc": "no"}, "id": "abc"})
        );
        let without = return_reply(None, json!({}));
        assert_eq!(without, "{\"return\":{}}\r\n");
    }

    #[test]
    fn capability_arguments_get_qemus_answers() {
        assert_eq!(capabilities(None, true), Ok(false));
        assert_eq!(capabilities(Some(&json!({})), true), Ok(false));
        assert_eq!(capabilities(Some(&json!({"enable": []})), true), Ok(false));
        let err = |args: Value| capabilities(Some(&args), true).unwrap_err();
        assert_eq!(err(json!({"x": 1})), "Parameter 'x' is unexpected");
        assert_eq!(
            err(json!({"enable": "oob"})),
            "Invalid parameter type for 'enable', expected: array"
        );
        assert_eq!(
            err(json!({"enable": [1]})),
            "Invalid parameter type for 'enable[0]', expected: string"
        );
        assert_eq!(
            err(json!({"enable": ["foo"]})),
            "Parameter 'null' does not accept value 'foo'"
        );
        assert_eq!(
            err(json!({"enable": ["oob"]})),
            "Capability oob not available"
        );
    }

    #[test]
    fn the_dangerous_capability_is_only_for_the_owner() {
        let args = json!({"enable": [ALLOW_DANGEROUS_CAPABILITY]});
        assert_eq!(capabilities(Some(&args), true), Ok(true));
        assert_eq!(
            capabilities(Some(&args), false),
            Err(format!(
                "Capability {ALLOW_DANGEROUS_CAPABILITY} not available"
            ))
        );
    }
}
