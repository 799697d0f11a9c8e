//! `console`: the VM's serial console on this terminal.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use maqet_macros::{api_method, api_requests};

use crate::{ErrorKind, Maqet, MaqetError};

/// Ctrl-] detaches, as in telnet and virsh.
const DETACH_BYTE: u8 = 0x1d;

/// Puts the terminal in raw mode and restores it on drop.
struct RawTerminal {
    saved: Option<rustix::termios::Termios>,
}

impl RawTerminal {
    fn enter() -> RawTerminal {
        let stdin = std::io::stdin();
        let saved = rustix::termios::tcgetattr(&stdin).ok();
        if let Some(original) = &saved {
            let mut raw = original.clone();
            raw.make_raw();
            let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw);
        }
        RawTerminal { saved }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(original) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                original,
            );
        }
    }
}

#[api_requests]
impl Maqet {
    /// Attach this terminal to the VM's serial console; Ctrl-] detaches.
    ///
    /// Everything the guest writes to its first serial port also goes to
    /// `<data>/vms/<name>/serial.log`, whether or not a console is attached.
    #[api_method(category = "watch", examples = ["maqet console web"])]
    pub fn console(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
    ) -> Result<(), MaqetError> {
        let record = self.running_vm(&vm)?;
        let socket = self.vm_paths(&record).console_socket();
        let stream = UnixStream::connect(&socket).map_err(|e| {
            MaqetError::with_source(
                ErrorKind::Failure,
                format!(
                    "cannot attach to the console of VM `{}`; another console may be attached (one at a time)",
                    record.name
                ),
                e,
            )
        })?;
        let mut from_vm = stream
            .try_clone()
            .map_err(|e| MaqetError::io("cannot use the console socket", e))?;
        eprintln!(
            "Connected to the console of {} (Ctrl-] detaches)\r",
            record.name
        );
        let _raw = RawTerminal::enter();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut out = std::io::stdout();
            while let Ok(n) = from_vm.read(&mut buf) {
                if n == 0 || out.write_all(&buf[..n]).is_err() {
                    break;
                }
                let _ = out.flush();
            }
        });
        let mut to_vm = stream;
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 1024];
        loop {
            let n = match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let chunk = &buf[..n];
            let (send, detach) = match chunk.iter().position(|b| *b == DETACH_BYTE) {
                Some(i) => (&chunk[..i], true),
                None => (chunk, false),
            };
            if to_vm.write_all(send).is_err() || detach {
                break;
            }
        }
        let _ = to_vm.shutdown(std::net::Shutdown::Both);
        eprintln!("\r\nDetached from {}\r", record.name);
        Ok(())
    }
}
