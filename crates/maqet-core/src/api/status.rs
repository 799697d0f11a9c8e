//! A VM's status: `status` (what the registry and the live processes say) and `inspect`
//! (that plus live process facts and whether QMP answers).

use maqet_macros::{api_method, api_requests};
use serde::Serialize;

use crate::registry::CommandOutput;
use crate::results::{SocketState, VmStatusReport};
use crate::{Maqet, MaqetError};

/// `inspect`: status plus live process and QMP facts.
#[derive(Debug, Clone, Serialize, maqet_macros::PythonDict)]
pub struct Inspection {
    /// Everything `status` shows.
    #[serde(flatten)]
    pub status: VmStatusReport,
    /// QEMU process facts, while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessFacts>,
    /// Whether the QMP socket answers, and QEMU's own run state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qmp: Option<QmpFacts>,
}

/// Facts about the QEMU process.
#[derive(Debug, Clone, Serialize, maqet_macros::PythonDict)]
pub struct ProcessFacts {
    /// CPU use in percent over a short sample.
    pub cpu_percent: f32,
    /// Resident and virtual memory in bytes.
    pub memory_info: MemoryInfo,
    /// Start time, seconds since the Unix epoch.
    pub create_time: f64,
    /// Threads.
    pub num_threads: usize,
    /// Command line.
    pub cmdline: Vec<String>,
    /// Process state as the kernel reports it.
    pub status: String,
}

/// Memory figures.
#[derive(Debug, Clone, Serialize, maqet_macros::PythonDict)]
pub struct MemoryInfo {
    /// Resident set size.
    pub rss: u64,
    /// Virtual memory size.
    pub vms: u64,
}

/// QMP facts.
#[derive(Debug, Clone, Serialize, maqet_macros::PythonDict)]
pub struct QmpFacts {
    /// The multiplexer socket.
    pub socket: SocketState,
    /// Whether it answered `query-status`.
    pub answers: bool,
    /// QEMU's run state (`running`, `paused`, ...).
    pub run_state: Option<String>,
}

impl CommandOutput for Inspection {
    fn human(&self) -> Option<String> {
        let mut text = self.status.human().unwrap_or_default();
        if let Some(p) = &self.process {
            text.push_str(&format!(
                "\ncpu:        {:.1}%\nrss:        {} KiB\nthreads:    {}",
                p.cpu_percent,
                p.memory_info.rss / 1024,
                p.num_threads
            ));
        }
        if let Some(q) = &self.qmp {
            text.push_str(&format!(
                "\nqmp:        {} ({})",
                if q.answers {
                    "answers"
                } else {
                    "does not answer"
                },
                q.run_state.as_deref().unwrap_or("-")
            ));
        }
        Some(text)
    }
}

#[api_requests]
impl Maqet {
    /// Show a VM's status: state, PIDs, QMP socket and a config summary.
    #[api_method(category = "vm", python_params = ["vm as vm_id"], python_returns = "status_report", examples = ["maqet status web", "maqet status web --format json"])]
    pub fn status(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
    ) -> Result<VmStatusReport, MaqetError> {
        let record = self.reconcile(self.vm_record(&vm)?, false);
        let mut report = VmStatusReport::of(&record);
        report.ssh = self.ssh_summary(&record);
        report.tpm_pid = self.swtpm_pid(&record);
        Ok(report)
    }

    /// Show a VM's status with live process facts (CPU, memory, threads, command line) and QMP.
    #[api_method(category = "vm", python_params = ["vm as vm_id"], python_returns = "object", examples = ["maqet inspect web", "maqet inspect web --format json"])]
    pub fn inspect(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
    ) -> Result<Inspection, MaqetError> {
        let record = self.reconcile(self.vm_record(&vm)?, false);
        let mut status = VmStatusReport::of(&record);
        status.ssh = self.ssh_summary(&record);
        status.tpm_pid = self.swtpm_pid(&record);
        let process = record.qemu.map(|q| process_facts(q.pid));
        let qmp = match &record.qmp_socket {
            Some(sock) if status.is_running => {
                let state = self
                    .block_on(async {
                        let client = self.qmp_client(&record).await.ok()?;
                        client.query_status().await.ok()
                    })
                    .ok()
                    .flatten();
                Some(QmpFacts {
                    socket: SocketState {
                        path: sock.clone(),
                        exists: sock.exists(),
                    },
                    answers: state.is_some(),
                    run_state: state.map(|s| s.status.to_string()),
                })
            }
            _ => None,
        };
        Ok(Inspection {
            status,
            process,
            qmp,
        })
    }
}

fn process_facts(pid: u32) -> ProcessFacts {
    use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count());
    let gone = ProcessFacts {
        cpu_percent: 0.0,
        memory_info: MemoryInfo { rss: 0, vms: 0 },
        create_time: 0.0,
        num_threads: 0,
        cmdline: Vec::new(),
        status: "gone".into(),
    };
    let Ok(mut system) = System::new() else {
        return gone;
    };
    let pid = Pid::from_u32(pid);
    let refresh = ProcessRefreshKind::everything();
    system.refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), true, refresh);
    std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
    system.refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), true, refresh);
    match system.process(pid) {
        Some(p) => ProcessFacts {
            cpu_percent: p.cpu_usage(),
            memory_info: MemoryInfo {
                rss: p.memory(),
                vms: p.virtual_memory(),
            },
            create_time: p.start_time() as f64,
            num_threads: threads,
            cmdline: p
                .cmd()
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect(),
            status: p.status().to_string(),
        },
        None => gone,
    }
}
