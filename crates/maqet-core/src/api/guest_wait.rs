//! Readiness and shutdown through the guest: `wait --agent`, `wait --tcp`, `stop --agent`.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::time::{Duration, Instant};

use maqet_runner::StopMethod;
use maqet_state::{RuntimeUpdate, VmRecord, VmStatus};
use serde_json::{Value, json};

use super::guest::{AGENT_CALL_LIMIT, remaining};
use crate::config::VmConfig;
use crate::config::forwards::PortForward;
use crate::{ErrorKind, Maqet, MaqetError};

/// The longest one `guest-ping` may wait while waiting for the agent.
const PING_LIMIT: Duration = Duration::from_secs(1);
/// How long an accepted forwarded connection must stay open (or answer) to count as ready.
const TCP_SETTLE: Duration = Duration::from_millis(300);
/// How long the runner gets to record the guest's power-off.
const RUNNER_RECORD_WAIT: Duration = Duration::from_secs(5);

impl Maqet {
    /// Waits until the guest agent answers `guest-ping`; returns the agent's version.
    pub(crate) fn wait_for_agent(&self, vm: &str, limit: Duration) -> Result<Value, MaqetError> {
        let deadline = Instant::now() + limit;
        let (_, mut agent) = self.guest_agent(vm)?;
        loop {
            let attempt = remaining(deadline).min(PING_LIMIT);
            match agent.call("guest-ping", None, attempt) {
                Ok(_) => {
                    let info = agent.call("guest-info", None, AGENT_CALL_LIMIT)?;
                    return Ok(json!({"agent_version": info.get("version")}));
                }
                Err(err) if err.kind() == ErrorKind::Timeout && Instant::now() < deadline => {
                    self.progress(&format!(
                        "waiting for the guest agent of VM `{}`",
                        agent.name
                    ));
                }
                Err(err) if err.kind() == ErrorKind::Timeout => {
                    return Err(MaqetError::WaitTimedOut {
                        what: format!(
                            "the guest agent of VM `{}`; check that the guest runs qemu-ga",
                            agent.name
                        ),
                        after: limit,
                        source: Some(err.into()),
                    });
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Waits until a forwarded TCP port (given as its guest or host port) reaches a listening
    /// guest service; returns the forward.
    pub(crate) fn wait_for_tcp(
        &self,
        record: &VmRecord,
        port: i64,
        limit: Duration,
    ) -> Result<Value, MaqetError> {
        let forwards = VmConfig::from_value(&record.config).ports;
        let tcp = |f: &&PortForward| f.proto == "tcp";
        let forward = forwards
            .iter()
            .filter(tcp)
            .find(|f| i64::from(f.guest) == port)
            .or_else(|| forwards.iter().filter(tcp).find(|f| i64::from(f.host) == port))
            .ok_or_else(|| {
                MaqetError::invalid(format!(
                    "VM `{}` forwards no TCP port {port}; add `{{host: N, guest: {port}}}` to its `ports`",
                    record.name
                ))
            })?;
        let host = if forward.host_addr.is_unspecified() {
            Ipv4Addr::LOCALHOST
        } else {
            forward.host_addr
        };
        let addr = SocketAddrV4::new(host, forward.host).into();
        let deadline = Instant::now() + limit;
        loop {
            let now = self.observe(self.vm_record(&record.id)?);
            self.require_running(&now)?;
            if let Ok(mut stream) = TcpStream::connect_timeout(&addr, remaining(deadline)) {
                // QEMU accepts on the host side at once and closes when the guest refuses.
                drop(stream.set_read_timeout(Some(TCP_SETTLE)));
                let mut byte = [0u8; 1];
                let ready = match stream.read(&mut byte) {
                    Ok(n) => n > 0,
                    Err(e) => matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ),
                };
                if ready {
                    return Ok(serde_json::to_value(forward).unwrap_or(Value::Null));
                }
            }
            if Instant::now() >= deadline {
                return Err(MaqetError::WaitTimedOut {
                    what: format!(
                        "guest port {} (host {}:{}) of VM `{}` to accept connections",
                        forward.guest, host, forward.host, record.name
                    ),
                    after: limit,
                    source: None,
                });
            }
            self.progress(&format!("waiting for guest port {}", forward.guest));
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `stop --agent`: `guest-shutdown`, up to `limit` for QEMU to exit, then the usual
    /// escalation (quit, SIGTERM, SIGKILL). The caller holds the VM lock.
    pub(crate) fn stop_via_agent(
        &self,
        record: &VmRecord,
        limit: Duration,
    ) -> Result<(StopMethod, Duration), MaqetError> {
        let started = Instant::now();
        if !self.qemu_alive(record) {
            return self.stop_record(record, true, Duration::ZERO);
        }
        let (_, mut agent) = self.guest_agent(&record.id)?;
        let deadline = started + limit;
        let asked = agent.call_no_reply(
            "guest-shutdown",
            Some(json!({"mode": "powerdown"})),
            remaining(deadline).min(AGENT_CALL_LIMIT),
        );
        if let Err(err) = asked {
            self.progress(&format!("{err}; stopping QEMU instead"));
            return self.stop_record(record, true, Duration::ZERO);
        }
        while self.qemu_alive(record) && Instant::now() < deadline {
            self.progress(&format!("waiting for VM `{}` to power off", record.name));
            std::thread::sleep(Duration::from_millis(50));
        }
        if self.qemu_alive(record) {
            self.progress("the guest did not power off in time; stopping QEMU");
            let (method, _) = self.stop_record(record, true, Duration::ZERO)?;
            return Ok((method, started.elapsed()));
        }
        let settle = Instant::now() + RUNNER_RECORD_WAIT;
        let reason = format!("host stop ({})", StopMethod::Agent);
        loop {
            let now = self.vm_record(&record.id)?;
            let runner_gone = now
                .runner
                .as_ref()
                .is_none_or(|r| !maqet_runner::process::is_runner(r));
            if now.status == VmStatus::Stopped || runner_gone || Instant::now() >= settle {
                let update = RuntimeUpdate::cleared(VmStatus::Stopped).with_reason(reason);
                self.db()?.set_runtime(&record.id, &update)?;
                return Ok((StopMethod::Agent, started.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
