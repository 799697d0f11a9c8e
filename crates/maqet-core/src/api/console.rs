//! `console`: a connection to the VM's serial console, handed to the caller as a byte stream
//! (the CLI attaches the terminal to it).

use std::os::unix::net::UnixStream;

use maqet_macros::{api_method, api_requests};
use serde::Serialize;

use crate::registry::{ByteStream, CommandOutput};
use crate::{ErrorKind, Maqet, MaqetError};

/// A connected serial console.
#[derive(Debug, Serialize)]
pub struct ConsoleConnection {
    /// The VM's name.
    pub vm: String,
    /// The console socket.
    pub socket: std::path::PathBuf,
    /// The connection; the caller reads what the guest writes and writes its input.
    #[serde(skip)]
    pub stream: ByteStream,
}

impl CommandOutput for ConsoleConnection {
    fn human(&self) -> Option<String> {
        Some(String::new())
    }

    fn stream(&self) -> Option<ByteStream> {
        Some(self.stream.clone())
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
    ) -> Result<ConsoleConnection, MaqetError> {
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
        Ok(ConsoleConnection {
            stream: ByteStream::new(record.name.clone(), stream),
            vm: record.name,
            socket,
        })
    }
}
