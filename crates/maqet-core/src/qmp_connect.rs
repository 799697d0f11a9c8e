//! Connecting to a running VM's QMP multiplexer, as maqet itself or as a gated raw client.

use std::time::Duration;

use maqet_qmp::QmpClient;
use maqet_state::VmRecord;

use crate::{ErrorKind, Maqet, MaqetError};

impl Maqet {
    /// Connects to a running VM's QMP multiplexer socket.
    ///
    /// maqet's own commands build their QMP themselves, so this connection opts in to the
    /// commands the runner's raw-QMP gate refuses (see [`Maqet::qmp_client_gated`]).
    pub async fn qmp_client(&self, vm: &VmRecord) -> Result<QmpClient, MaqetError> {
        self.qmp_connect(vm, true).await
    }

    /// Connects to a running VM's QMP multiplexer as a raw client: the runner's gate applies.
    pub async fn qmp_client_gated(&self, vm: &VmRecord) -> Result<QmpClient, MaqetError> {
        self.qmp_connect(vm, false).await
    }

    async fn qmp_connect(&self, vm: &VmRecord, trusted: bool) -> Result<QmpClient, MaqetError> {
        let socket = vm
            .qmp_socket
            .clone()
            .unwrap_or_else(|| self.vm_paths(vm).qmp_socket());
        let capabilities: &[&str] = if trusted {
            &[maqet_runner::qmp_gate::ALLOW_DANGEROUS_CAPABILITY]
        } else {
            &[]
        };
        QmpClient::connect_with_capabilities(&socket, Duration::from_secs(10), capabilities)
            .await
            .map_err(|e| {
                MaqetError::with_source(
                    ErrorKind::Failure,
                    format!(
                        "cannot reach the QMP socket of VM `{}`; `maqet status {}` shows whether it still runs",
                        vm.name, vm.name
                    ),
                    e,
                )
            })
    }
}
