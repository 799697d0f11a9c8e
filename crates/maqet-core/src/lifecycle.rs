//! Starting and stopping VMs through their runner.

use maqet_runner::layout::VmPaths;
use maqet_state::VmRecord;

use crate::{Maqet, MaqetError};

impl Maqet {
    /// The runtime and data paths of a VM.
    pub fn vm_paths(&self, vm: &VmRecord) -> VmPaths {
        VmPaths::new(self.dirs().vm_runtime_dir(&vm.id), self.dirs().vm_data_dir(&vm.name))
    }

    /// Stops a VM that is about to be removed.
    pub(crate) fn stop_for_removal(&self, vm: &VmRecord) -> Result<(), MaqetError> {
        Err(MaqetError::invalid(format!(
            "VM `{}` is running and cannot be stopped by this build yet",
            vm.name
        )))
    }
}
