//! `ssh` and `ssh-config`: reaching a VM with first-boot identity over SSH, through the host
//! port forwarded to its port 22, as its first-boot user, checking its host key.

use maqet_macros::{api_method, api_requests};
use maqet_state::VmRecord;
use serde::Serialize;

use crate::first_boot::{IdentityFiles, SshEndpoint, enabled};
use crate::registry::CommandOutput;
use crate::{Maqet, MaqetError};

/// `ssh`: the `ssh` command line for the VM (the CLI runs it in place of itself).
#[derive(Debug, Clone, Serialize)]
pub struct SshCommand {
    /// The VM's name.
    pub vm: String,
    /// The `ssh` argv.
    pub argv: Vec<String>,
}

impl CommandOutput for SshCommand {
    fn human(&self) -> Option<String> {
        Some(self.argv.join(" "))
    }

    fn exec_argv(&self) -> Option<Vec<String>> {
        Some(self.argv.clone())
    }
}

/// One `Host` block of `ssh-config`.
#[derive(Debug, Clone, Serialize)]
pub struct SshHost {
    /// The VM's name (the `Host` pattern).
    pub vm: String,
    /// Where and as whom to connect.
    #[serde(flatten)]
    pub endpoint: SshEndpoint,
    /// The VM's `known_hosts` file.
    pub known_hosts: std::path::PathBuf,
}

/// `ssh-config`: `Host` blocks for `ssh -F` or an `Include`.
#[derive(Debug, Clone, Serialize)]
pub struct SshConfig {
    /// One per VM.
    pub hosts: Vec<SshHost>,
}

impl CommandOutput for SshConfig {
    fn human(&self) -> Option<String> {
        let blocks: Vec<String> = self.hosts.iter().map(host_block).collect();
        Some(blocks.join("\n"))
    }
}

fn host_block(host: &SshHost) -> String {
    let e = &host.endpoint;
    let mut text = format!(
        "Host {}\n  HostName {}\n  Port {}\n  User {}\n",
        host.vm, e.host, e.port, e.user
    );
    for file in &e.identity_files {
        text.push_str(&format!(
            "  IdentityFile {}\n",
            quote(&file.to_string_lossy())
        ));
    }
    text.push_str(&format!(
        "  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  HostKeyAlias {}\n  StrictHostKeyChecking yes\n",
        quote(&host.known_hosts.to_string_lossy()),
        e.host_key_alias
    ));
    text
}

/// A value for an ssh option: in double quotes when it has a space.
fn quote(value: &str) -> String {
    if value.contains([' ', '\t']) {
        format!("\"{value}\"")
    } else {
        value.to_owned()
    }
}

/// The `ssh` options that reach `endpoint` and check the host key against `known_hosts`.
pub(crate) fn ssh_options(endpoint: &SshEndpoint, known_hosts: &std::path::Path) -> Vec<String> {
    let mut argv: Vec<String> = vec![
        "-p".into(),
        endpoint.port.to_string(),
        "-l".into(),
        endpoint.user.clone(),
        "-o".into(),
        format!("HostKeyAlias={}", endpoint.host_key_alias),
        "-o".into(),
        format!(
            "UserKnownHostsFile={}",
            quote(&known_hosts.to_string_lossy())
        ),
        "-o".into(),
        "GlobalKnownHostsFile=/dev/null".into(),
        "-o".into(),
        "StrictHostKeyChecking=yes".into(),
    ];
    if !endpoint.identity_files.is_empty() {
        argv.extend(["-o".into(), "IdentitiesOnly=yes".into()]);
    }
    for file in &endpoint.identity_files {
        argv.extend(["-i".into(), file.to_string_lossy().into_owned()]);
    }
    argv
}

#[api_requests]
impl Maqet {
    /// Log in to a VM with first-boot identity over SSH, or run a command there.
    ///
    /// Runs the system `ssh` in place of maqet (so a terminal works, and ssh's exit code is
    /// maqet's) as the VM's `user`, with maqet's key, on the host port forwarded to the guest's
    /// port 22, checking the host key maqet learnt at first boot (from the guest's console or
    /// its agent; see docs/ssh.md). With
    /// `--format json` it prints the `ssh` command line instead of running it.
    #[api_method(
        category = "guest",
        examples = [
            "maqet ssh web",
            "maqet ssh web -- uname -r",
            "maqet ssh web --format json"
        ]
    )]
    pub fn ssh(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
        #[arg(
            positional,
            help = "A command to run instead of a login shell, after `--`",
            value_name = "CMD"
        )]
        command: Vec<String>,
    ) -> Result<SshCommand, MaqetError> {
        let (record, files, endpoint) = self.ssh_target(&vm)?;
        let record = self.reconcile(record, false);
        self.require_running(&record)?;
        if !self.learn_host_keys(&record, &files) {
            return Err(MaqetError::HostKeysUnknown { vm: record.name });
        }
        let mut argv = vec!["ssh".to_owned()];
        argv.extend(ssh_options(&endpoint, &files.known_hosts()));
        argv.push("--".into());
        argv.push(endpoint.host.clone());
        argv.extend(command);
        Ok(SshCommand {
            vm: record.name,
            argv,
        })
    }

    /// Print `Host` blocks for VMs with first-boot identity, for `ssh -F` or an `Include`.
    ///
    /// Each block names the VM and gives its forwarded port, user, maqet's key and the VM's own
    /// `known_hosts`, so `ssh`, `scp`, `rsync`, VS Code and Ansible reach it by name. Without a
    /// VM, every VM that has started with first-boot identity. The port is the one chosen at
    /// the VM's last start.
    #[api_method(
        category = "guest",
        examples = [
            "maqet ssh-config web >> ~/.ssh/config.d/maqet",
            "maqet ssh-config > maqet.ssh && scp -F maqet.ssh file web:"
        ]
    )]
    pub fn ssh_config(
        &self,
        #[arg(
            positional,
            help = "VM name or id (default: every VM with first-boot identity)"
        )]
        vm: Option<String>,
    ) -> Result<SshConfig, MaqetError> {
        let records = match vm {
            Some(ident) => vec![self.ssh_target(&ident)?.0],
            None => self.db()?.list_vms(None)?,
        };
        let hosts = records
            .into_iter()
            .filter(|r| enabled(&r.config))
            .filter_map(|record| {
                let files = self.identity_files(&record);
                self.learn_host_keys(&record, &files);
                let endpoint = files.read_endpoint()?;
                Some(SshHost {
                    vm: record.name,
                    endpoint,
                    known_hosts: files.known_hosts(),
                })
            })
            .collect();
        Ok(SshConfig { hosts })
    }
}

impl Maqet {
    /// A VM with first-boot identity that has started with it: its files and SSH endpoint.
    pub(crate) fn ssh_target(
        &self,
        vm: &str,
    ) -> Result<(VmRecord, IdentityFiles, SshEndpoint), MaqetError> {
        let record = self.vm_record(vm)?;
        if !enabled(&record.config) {
            return Err(MaqetError::invalid(format!(
                "VM `{0}` has no first-boot identity; add `cloud_init: true` (or `user`, `ssh_authorized_keys`, `hostname`) to its config and restart it",
                record.name
            )));
        }
        let files = self.identity_files(&record);
        let endpoint = files.read_endpoint().ok_or_else(|| {
            MaqetError::invalid(format!(
                "VM `{0}` has not started with first-boot identity yet; start it with `maqet start {0}`",
                record.name
            ))
        })?;
        Ok((record, files, endpoint))
    }
}
