//! Which way a `cp` reaches the guest: the VM's copy channel, SSH through the VM's forward, or
//! its agent.
//!
//! `--via auto` (the default) takes the copy channel when the VM has one ([`super::channel`]),
//! else SSH when the VM has an SSH forward and the guest's sshd answers and lets maqet log in,
//! else the agent, and says why it passed the channel or SSH over. `--via channel` and `--via
//! ssh` fail instead of falling back; `--via agent` tries neither. A host key that is not the
//! one maqet learnt is never accepted: `auto` then copies through the agent and says so.

use super::channel::{ChannelGuest, configured};
use super::ssh_link::{SshGuest, Unavailable, has_ssh_forward};
use crate::api::guest::GuestAgent;
use crate::registry::choice_arg;
use crate::{ErrorKind, Maqet, MaqetError};

/// `cp --via`: the transport asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyVia {
    /// The copy channel when the VM has one, else SSH when the VM's sshd answers, else the
    /// agent.
    Auto,
    /// Always the guest agent.
    Agent,
    /// Always SSH; fails when it cannot be used.
    Ssh,
    /// Always the copy channel; fails when the VM has none or it cannot be used.
    Channel,
}

impl CopyVia {
    /// Every value, in the order help lists them.
    pub const ALL: [CopyVia; 4] = [
        CopyVia::Auto,
        CopyVia::Agent,
        CopyVia::Ssh,
        CopyVia::Channel,
    ];

    /// The value's name on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            CopyVia::Auto => "auto",
            CopyVia::Agent => "agent",
            CopyVia::Ssh => "ssh",
            CopyVia::Channel => "channel",
        }
    }
}

crate::named_choice!(CopyVia);
choice_arg!(CopyVia);

/// The connection a copy uses.
pub(super) enum GuestLink {
    /// The guest agent, through the VM's runner.
    Agent(GuestAgent),
    /// An SSH connection through the VM's forward.
    Ssh(SshGuest),
    /// The VM's copy channel (its guest end driven by the agent).
    Channel(ChannelGuest),
}

/// Why `--via auto` passed a faster transport over.
#[derive(Debug, Default)]
pub(super) struct PassedOver {
    /// Why not the copy channel, when the VM has one.
    pub channel: Option<String>,
    /// Why not SSH, when the VM has an SSH forward.
    pub ssh: Option<String>,
}

impl GuestLink {
    /// `agent`, `ssh` or `channel`, as the report names it.
    pub fn name(&self) -> &'static str {
        match self {
            GuestLink::Agent(_) => "agent",
            GuestLink::Ssh(_) => "ssh",
            GuestLink::Channel(_) => "channel",
        }
    }

    /// The VM's name.
    pub fn vm(&self) -> &str {
        match self {
            GuestLink::Agent(agent) => &agent.name,
            GuestLink::Ssh(ssh) => &ssh.vm,
            GuestLink::Channel(channel) => channel.vm(),
        }
    }

    /// Runs a short helper command in the guest; its exit status and stdout.
    pub fn run_helper(&mut self, path: &str, args: &[&str]) -> Result<(i32, Vec<u8>), MaqetError> {
        match self {
            GuestLink::Agent(agent) => agent.run_helper(path, args),
            GuestLink::Ssh(ssh) => ssh.run_helper(path, args),
            GuestLink::Channel(channel) => channel.agent.run_helper(path, args),
        }
    }
}

impl Maqet {
    /// Opens the connection `via` asks for to `vm`; with `auto`, also why the copy channel or
    /// SSH was not taken when the VM has them.
    pub(super) fn open_guest_link(
        &self,
        vm: &str,
        via: CopyVia,
    ) -> Result<(GuestLink, PassedOver), MaqetError> {
        let mut passed = PassedOver::default();
        match via {
            CopyVia::Agent => {
                return Ok((GuestLink::Agent(self.guest_agent(vm)?.1), passed));
            }
            CopyVia::Channel => {
                let channel = ChannelGuest::open(self, vm, true)?;
                return Ok((GuestLink::Channel(channel), passed));
            }
            CopyVia::Ssh | CopyVia::Auto => {}
        }
        let record = self.vm_record(vm)?;
        if via == CopyVia::Auto && configured(&record) {
            match ChannelGuest::open(self, vm, false) {
                Ok(channel) => return Ok((GuestLink::Channel(channel), passed)),
                Err(err) => {
                    let reason = err.to_string();
                    self.progress(&format!("not copying through the copy channel: {reason}"));
                    passed.channel = Some(reason);
                }
            }
        }
        if via == CopyVia::Auto && !has_ssh_forward(self, &record) {
            return Ok((GuestLink::Agent(self.guest_agent(vm)?.1), passed));
        }
        let record = self.reconcile(record, false);
        self.require_running(&record)?;
        match SshGuest::connect(self, &record) {
            Ok(ssh) => Ok((GuestLink::Ssh(ssh), passed)),
            Err(unavailable) if via == CopyVia::Ssh => Err(ssh_refused(unavailable)),
            Err(unavailable) => {
                let reason = unavailable.reason;
                self.progress(&format!(
                    "not copying over SSH: {reason}; using the guest agent"
                ));
                let agent = self.guest_agent(vm).map_err(|agent_err| {
                    MaqetError::with_source(
                        agent_err.kind(),
                        format!("SSH cannot be used either: {reason}"),
                        agent_err,
                    )
                })?;
                passed.ssh = Some(reason);
                Ok((GuestLink::Agent(agent.1), passed))
            }
        }
    }
}

/// The error of `--via ssh` when SSH cannot be used; a refused host key exits 4.
fn ssh_refused(unavailable: Unavailable) -> MaqetError {
    let kind = if unavailable.host_key_refused {
        ErrorKind::PermissionDenied
    } else {
        ErrorKind::Failure
    };
    MaqetError::new(
        kind,
        format!(
            "cannot copy over SSH: {}; `--via agent` copies through the guest agent",
            unavailable.reason
        ),
    )
}
