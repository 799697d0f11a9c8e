//! A scoped guard that stops the VMs it started (the Python tool's `with Maqet() as m:`).

use std::ops::Deref;

use crate::api::StartReport;
use crate::{Maqet, MaqetError};

/// Seconds each VM gets to power down when the session ends.
const SESSION_STOP_TIMEOUT: f64 = 10.0;

/// Starts VMs through [`Maqet`] and stops every one of them when dropped, even when the
/// code using it returns early with an error or panics.
///
/// ```no_run
/// use maqet_core::Maqet;
///
/// # fn main() -> Result<(), maqet_core::MaqetError> {
/// let maqet = Maqet::new()?;
/// {
///     let session = maqet.session();
///     session.start("web")?;
///     session.start("db")?;
///     // Every `Maqet` method is available through the session.
///     let status = session.status("web").send()?;
///     println!("web is {}", status.status);
/// } // web and db are stopped here (ACPI power-down, then escalation)
/// # Ok(()) }
/// ```
pub struct Session<'a> {
    maqet: &'a Maqet,
    started: std::cell::RefCell<Vec<String>>,
}

impl Maqet {
    /// A guard that stops the VMs started through it when it goes out of scope.
    pub fn session(&self) -> Session<'_> {
        Session {
            maqet: self,
            started: std::cell::RefCell::new(Vec::new()),
        }
    }
}

impl Session<'_> {
    /// Starts a VM and remembers to stop it at the end of the session.
    pub fn start(&self, vm: &str) -> Result<StartReport, MaqetError> {
        let report = self.maqet.start(vm).send()?;
        self.started.borrow_mut().push(report.vm.vm_id.clone());
        Ok(report)
    }

    /// Stops the session's VMs now (the drop does the same, ignoring errors).
    pub fn stop_all(&self) -> Result<(), MaqetError> {
        let mut first_error = None;
        for id in self.started.borrow_mut().drain(..).rev() {
            if let Err(e) = self.maqet.stop(id).timeout(SESSION_STOP_TIMEOUT).send()
                && first_error.is_none()
            {
                first_error = Some(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Deref for Session<'_> {
    type Target = Maqet;
    fn deref(&self) -> &Maqet {
        self.maqet
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.stop_all() {
            tracing::warn!("stopping a session's VMs failed: {e}");
        }
    }
}
