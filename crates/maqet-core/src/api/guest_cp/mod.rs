//! `cp`: files and directories between the host and a guest, through the VM's copy channel,
//! over SSH or through the guest agent ([`transport`] chooses; `--via` overrides).
//!
//! Through the copy channel ([`channel`]) file data streams through a virtio-serial port of
//! its own while the agent runs the guest's end. Through the agent, data moves in chunks of at most 1 MiB (`guest-file-read`/
//! `guest-file-write`, base64), so any size works without exhausting a small guest; over SSH
//! ([`ssh_link`]) it streams through `cat`. Either way the bytes are copied exactly. Everything the guest says is hostile input
//! (see docs/guest-agent.md): copies out of a guest are written relative to an opened
//! destination directory without following links ([`host_dir`]), guest listings are
//! NUL-separated and checked entry by entry ([`listing`]), a file stops at the size the guest
//! reported and at `--max-bytes`, and a partial file is removed on failure and on SIGINT,
//! SIGTERM or SIGHUP ([`interrupt`]). Copies into a guest send host links as links and keep
//! the host files' permission bits.

mod channel;
mod channel_stream;
mod from_guest;
pub(crate) mod host_dir;
mod interrupt;
pub(crate) mod journal;
mod listing;
mod ssh_link;
mod ssh_session;
mod to_guest;
mod transport;

use std::path::Path;
use std::time::Instant;

use maqet_macros::{api_method, api_requests};
use serde::Serialize;

pub use self::transport::CopyVia;
use self::transport::GuestLink;
use super::guest::GuestAgent;
use crate::registry::CommandOutput;
use crate::{Maqet, MaqetError};

/// The largest chunk one agent call carries.
pub const CHUNK: usize = 1024 * 1024;

/// `cp`: what was copied.
#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    /// `to-guest` or `from-guest`.
    pub direction: &'static str,
    /// Files copied.
    pub files: u64,
    /// Symbolic links copied as links (to the guest).
    pub links: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// The destination as given.
    pub destination: String,
    /// Host entries that are neither files, directories nor links (FIFOs, sockets, devices),
    /// which were not copied.
    pub skipped: Vec<String>,
    /// Stale partial files of earlier, killed copies removed from the destination.
    pub removed_stale_partials: Vec<String>,
    /// How long it took, in milliseconds.
    pub elapsed_ms: u64,
    /// How the guest was reached: `channel`, `ssh` or `agent`.
    pub transport: &'static str,
    /// Bytes copied per second, over the whole command (connecting included).
    pub bytes_per_second: u64,
    /// Why SSH was not used although the VM has an SSH forward (`--via auto` only).
    pub ssh_skipped: Option<String>,
    /// Why the copy channel was not used although the VM has one (`--via auto` only).
    pub channel_skipped: Option<String>,
}

impl CommandOutput for CopyReport {
    fn human(&self) -> Option<String> {
        let mut text = format!(
            "copied {} file{} ({} bytes) to {} via {} ({:.1} MB/s)",
            self.files,
            if self.files == 1 { "" } else { "s" },
            self.bytes,
            self.destination,
            self.transport,
            self.bytes_per_second as f64 / 1e6
        );
        if let Some(reason) = &self.channel_skipped {
            text.push_str(&format!("\nnot through the copy channel: {reason}"));
        }
        if let Some(reason) = &self.ssh_skipped {
            text.push_str(&format!(
                "
not over SSH: {reason}"
            ));
        }
        if self.links > 0 {
            text.push_str(&format!(
                "\ncopied {} symbolic link(s) as links",
                self.links
            ));
        }
        if !self.skipped.is_empty() {
            text.push_str(&format!(
                "\nskipped {} entr{} that cp does not copy (FIFOs, sockets, devices): {}",
                self.skipped.len(),
                if self.skipped.len() == 1 { "y" } else { "ies" },
                self.skipped.join(", ")
            ));
        }
        if !self.removed_stale_partials.is_empty() {
            text.push_str(&format!(
                "\nremoved partial files of earlier interrupted copies: {}",
                self.removed_stale_partials.join(", ")
            ));
        }
        Some(text)
    }
}

/// `VM:/path` split into the VM and the guest path; `None` for a host path.
fn guest_side(text: &str) -> Option<(&str, &str)> {
    let (vm, path) = text.split_once(':')?;
    (!vm.is_empty() && !vm.contains('/') && path.starts_with('/')).then_some((vm, path))
}

/// Reports a copy's progress in whole MiB: `NAME: DONE of TOTAL MiB`.
fn report_mib(maqet: &Maqet, name: &str, done: u64, total: u64) {
    let mib = CHUNK as u64;
    maqet.progress(&format!(
        "{name}: {} of {} MiB",
        done / mib,
        total.div_ceil(mib)
    ));
}

/// A progress callback for a streamed copy of `total` bytes: reports each whole MiB done.
fn mib_steps<'a>(maqet: &'a Maqet, name: &'a str, total: u64) -> impl FnMut(u64) + 'a {
    let mut shown = 0;
    move |done| {
        if done / CHUNK as u64 != shown {
            shown = done / CHUNK as u64;
            report_mib(maqet, name, done, total);
        }
    }
}

/// The last path component of a guest or host path.
fn base_name(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
}

/// One `cp` in progress: the connection, the options and the counts so far.
struct Copier<'a> {
    maqet: &'a Maqet,
    link: GuestLink,
    force: bool,
    /// The most bytes this copy may write on the host (`--max-bytes`).
    max_bytes: Option<u64>,
    files: u64,
    links: u64,
    bytes: u64,
    skipped: Vec<String>,
    removed_stale_partials: Vec<String>,
}

/// `--max-bytes` text ("10G", "512M", "1048576") as bytes.
fn parse_max_bytes(text: &str) -> Result<u64, MaqetError> {
    text.parse::<maqet_storage::ByteSize>()
        .map(maqet_storage::ByteSize::bytes)
        .map_err(|e| {
            MaqetError::with_source(
                crate::ErrorKind::InvalidInput,
                format!("`--max-bytes {text}` is not a size; write it like `10G` or `512M`"),
                e,
            )
        })
}

impl Copier<'_> {
    /// The guest agent, when the copy goes through it.
    fn agent(&mut self) -> Result<&mut GuestAgent, MaqetError> {
        match &mut self.link {
            GuestLink::Agent(agent) => Ok(agent),
            GuestLink::Ssh(_) | GuestLink::Channel(_) => Err(MaqetError::new(
                crate::ErrorKind::Failure,
                "internal error: an agent file call on a copy that streams its data",
            )),
        }
    }
}

#[api_requests]
impl Maqet {
    /// Copy a file or directory between the host and a guest (copy channel, SSH or agent).
    ///
    /// Exactly one of SRC and DST is `VM:/guest/path`. By default (`--via auto`) the copy goes
    /// through the VM's copy channel (a virtio-serial port of its own, added with the guest
    /// agent), else over SSH when the VM has an SSH forward (first-boot identity) and its sshd
    /// answers, checking the host key maqet learnt, else through the guest agent; the result
    /// says which, why a faster one was passed over, and the rate. Binary-safe, any size
    /// (1 MiB per agent call), with progress on a terminal.
    /// An existing destination file is only replaced with `--force`; directories need `-r`.
    /// The guest is not trusted: a copy to the host never writes outside DST or through a
    /// link, stops at the size the guest reported (and at `--max-bytes`), keeps only the
    /// permission bits, and leaves no partial file, even when interrupted. A copy to the guest
    /// sends links as links and keeps permission bits; when it fails it names the incomplete
    /// guest file.
    #[api_method(
        category = "guest",
        examples = [
            "maqet cp ./app.tar.gz web:/tmp/app.tar.gz",
            "maqet cp web:/var/log/messages ./messages",
            "maqet cp -r ./site web:/srv/",
            "maqet cp --force ./config web:/etc/app.conf",
            "maqet cp -r --max-bytes 10G web:/var/backups ./backups",
            "maqet cp --via agent ./big.iso web:/tmp/"
        ]
    )]
    pub fn cp(
        &self,
        #[arg(positional, help = "Source: a host path or VM:/guest/path")] src: String,
        #[arg(positional, help = "Destination: a host path or VM:/guest/path")] dst: String,
        #[arg(short = 'r', help = "Copy directories and their contents")] recursive: bool,
        #[arg(help = "Replace existing destination files")] force: bool,
        #[arg(
            help = "Most bytes a copy from the guest may write on the host (e.g. 10G)",
            value_name = "SIZE"
        )]
        max_bytes: Option<String>,
        #[arg(
            help = "How to reach the guest: the copy channel when the VM has one, else SSH when its sshd answers, else the agent (auto), or only one of them",
            default = "auto"
        )]
        via: CopyVia,
    ) -> Result<CopyReport, MaqetError> {
        let started = Instant::now();
        let max_bytes = max_bytes.as_deref().map(parse_max_bytes).transpose()?;
        let (vm, direction) = match (guest_side(&src), guest_side(&dst)) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(MaqetError::invalid(
                    "exactly one of SRC and DST must be a guest path, written VM:/path",
                ));
            }
            (Some((vm, _)), None) => (vm, "from-guest"),
            (None, Some((vm, _))) => (vm, "to-guest"),
        };
        if max_bytes.is_some() && direction == "to-guest" {
            return Err(MaqetError::invalid(
                "`--max-bytes` limits copies from a guest to the host; a copy to the guest sends exactly the host files",
            ));
        }
        let (link, passed_over) = self.open_guest_link(vm, via)?;
        let mut copier = Copier {
            maqet: self,
            link,
            force,
            max_bytes,
            files: 0,
            links: 0,
            bytes: 0,
            skipped: Vec::new(),
            removed_stale_partials: Vec::new(),
        };
        match (guest_side(&src), guest_side(&dst)) {
            (None, Some((_, guest))) => copier.copy_in(Path::new(&src), guest, recursive)?,
            (Some((_, guest)), None) => {
                let journal = journal::CopyJournal::new(&self.dirs().data);
                let result = copier.copy_out(guest, Path::new(&dst), recursive, &journal);
                journal.finish();
                result?;
            }
            _ => {}
        }
        let elapsed = started.elapsed();
        Ok(CopyReport {
            direction,
            files: copier.files,
            links: copier.links,
            bytes: copier.bytes,
            destination: dst,
            skipped: copier.skipped,
            removed_stale_partials: copier.removed_stale_partials,
            elapsed_ms: elapsed.as_millis() as u64,
            transport: copier.link.name(),
            bytes_per_second: (copier.bytes as f64 / elapsed.as_secs_f64().max(1e-6)) as u64,
            ssh_skipped: passed_over.ssh,
            channel_skipped: passed_over.channel,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_paths_need_a_vm_and_an_absolute_path() {
        assert_eq!(guest_side("web:/tmp/x"), Some(("web", "/tmp/x")));
        assert_eq!(guest_side("./web:/tmp"), None);
        assert_eq!(guest_side("web:tmp"), None);
        assert_eq!(guest_side("/tmp/a:b"), None);
        assert_eq!(base_name("/a/b/"), "b");
    }

    #[test]
    fn max_bytes_reads_sizes() {
        assert_eq!(parse_max_bytes("10G").unwrap(), 10 << 30);
        assert_eq!(parse_max_bytes("4096").unwrap(), 4096);
        assert!(parse_max_bytes("ten").is_err());
        assert!(parse_max_bytes("0").is_err());
    }
}
