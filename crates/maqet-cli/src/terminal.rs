//! Attaching this terminal to a byte stream a command returned (the VM's serial console):
//! raw mode while attached, Ctrl-] detaches.

use std::io::{Read, Write};

use maqet_core::MaqetError;
use maqet_core::registry::ByteStream;

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

/// Copies the stream to stdout and stdin to the stream until Ctrl-], end of input or a closed
/// stream.
pub fn attach(stream: &ByteStream) -> Result<(), MaqetError> {
    let mut from_vm = stream
        .handle()
        .map_err(|e| MaqetError::io("cannot use the console socket", e))?;
    let mut to_vm = stream
        .handle()
        .map_err(|e| MaqetError::io("cannot use the console socket", e))?;
    eprintln!(
        "Connected to the console of {} (Ctrl-] detaches)\r",
        stream.label
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
    eprintln!("\r\nDetached from {}\r", stream.label);
    Ok(())
}
