//! VM registry commands: add, apply, ls, info (`rm` is in `remove.rs`).

use std::path::PathBuf;

use maqet_macros::{api_method, api_requests};
use maqet_state::{NewVm, VmRecord, VmStatus};
use serde_json::{Map, Value};

use crate::config::{self, ArgvContext, BuiltConfig};
use crate::registry::ConfigOverrides;
use crate::results::{AddedVm, AppliedConfig, VmInfo, VmList, VmListRow, VmStatusReport};
use crate::{Maqet, MaqetError};

#[api_requests]
impl Maqet {
    /// Create a VM from YAML config files (merged left to right) and `--KEY VALUE` options.
    ///
    /// Files merge in order, then options apply on top. The name comes from `--name`, else the
    /// config's `name`, else a generated `vm-xxxxxxxx`. Prints the new VM's id. A host port in
    /// `ports` that another VM already forwards is refused unless `--force` is given.
    #[api_method(
        category = "vm",
        python_params = ["config", "name", "empty", "force", "set as kwargs"],
        python_returns = "vm_id",
        examples = [
            "maqet add base.yaml --name web",
            "maqet add base.yaml custom.yaml --memory 4G --cpu 2",
            "maqet add --vm-config base.yaml --vm-config disks.yaml --name db",
            "maqet add --name placeholder --empty"
        ]
    )]
    pub fn add(
        &self,
        #[arg(
            positional,
            help = "YAML config files, merged left to right",
            value_name = "CONFIG"
        )]
        config: Vec<PathBuf>,
        #[arg(
            help = "More config files, merged after the positional ones (repeatable)",
            value_name = "FILE"
        )]
        vm_config: Vec<PathBuf>,
        #[arg(help = "VM name (default: the config's `name`, else vm-xxxxxxxx)")] name: Option<
            String,
        >,
        #[arg(help = "Create a VM without any configuration, to fill in later with `apply`")] empty: bool,
        #[arg(help = "Add the VM even if another VM already forwards one of its host `ports`")]
        force: bool,
        #[arg(help = "VM config keys given as options, applied over the files")]
        set: ConfigOverrides,
    ) -> Result<AddedVm, MaqetError> {
        let files: Vec<PathBuf> = config.into_iter().chain(vm_config).collect();
        if empty && (!files.is_empty() || !set.0.is_empty()) {
            return Err(MaqetError::invalid(
                "`--empty` creates a VM without configuration; drop it or drop the config files and options",
            ));
        }
        let built = if empty {
            BuiltConfig {
                value: Value::Object(Map::new()),
                files: Vec::new(),
            }
        } else {
            self.build_with_conf_defaults(&files, set.0)?
        };
        let forwards = crate::host_ports::declared(&built.value);
        if !force && !forwards.is_empty() {
            crate::host_ports::check_not_declared(
                &forwards,
                &self.db()?.list_vms(None)?,
                None,
                "add the VM anyway",
            )?;
        }
        let vm = self.insert_vm(name, built)?;
        tracing::info!(vm = %vm.name, id = %vm.id, "VM added");
        Ok(AddedVm(VmStatusReport::of(&vm)))
    }

    /// Merge config files and options into a VM's config, creating the VM if it is missing.
    ///
    /// Uses the same merge rules as `add`, so applying the same file twice changes nothing.
    /// A running VM is refused: stop it first. A new host port in `ports` that another VM
    /// already forwards is refused unless `--force` is given.
    #[api_method(
        category = "vm",
        python_params = ["vm as vm_id", "config", "force", "set as kwargs"],
        python_returns = "vm",
        examples = [
            "maqet apply web update.yaml",
            "maqet apply web --memory 8G --cpu 4",
            "maqet apply newvm base.yaml"
        ]
    )]
    pub fn apply(
        &self,
        #[arg(positional, help = "VM name or id (created when missing)")] vm: String,
        #[arg(
            positional,
            help = "YAML config files, merged left to right",
            value_name = "CONFIG"
        )]
        config: Vec<PathBuf>,
        #[arg(help = "More config files (repeatable)", value_name = "FILE")] vm_config: Vec<
            PathBuf,
        >,
        #[arg(help = "Apply it even if another VM already forwards one of its new host `ports`")]
        force: bool,
        #[arg(help = "VM config keys given as options")] set: ConfigOverrides,
    ) -> Result<AppliedConfig, MaqetError> {
        let files: Vec<PathBuf> = config.into_iter().chain(vm_config).collect();
        let built = config::build_config(&files, &set.0)?;
        let db = self.db()?;
        let Some(existing) = db.find_vm(&vm)? else {
            let forwards = crate::host_ports::declared(&built.value);
            if !force && !forwards.is_empty() {
                crate::host_ports::check_not_declared(
                    &forwards,
                    &db.list_vms(None)?,
                    None,
                    "apply it anyway",
                )?;
            }
            let record = self.insert_vm(Some(vm), built)?;
            return Ok(AppliedConfig {
                vm: VmStatusReport::of(&record),
                created: true,
                changed: true,
            });
        };
        let _lock = self.lock_vm(&existing)?;
        let existing = self.reconcile(db.get_vm(&existing.id)?, true);
        if matches!(existing.status, VmStatus::Running | VmStatus::Paused) {
            return Err(MaqetError::IsRunning {
                vm: existing.name,
                command: crate::error::NeedsStopped::Apply,
            });
        }
        let mut merged = existing.config.clone();
        let mut incoming = built.value;
        if let Some(map) = incoming.as_object_mut() {
            map.remove("name");
        }
        config::merge_config(&mut merged, &incoming);
        config::validate_config(&merged, None)?;
        if !force {
            // Only forwards this apply adds: one the VM already had was accepted before.
            let had = crate::host_ports::declared(&existing.config);
            let added: Vec<_> = crate::host_ports::declared(&merged)
                .into_iter()
                .filter(|f| !had.contains(f))
                .collect();
            if !added.is_empty() {
                crate::host_ports::check_not_declared(
                    &added,
                    &db.list_vms(None)?,
                    Some(&existing.id),
                    "apply it anyway",
                )?;
            }
        }
        self.fill_default_drive_files(&mut merged, &existing.id)?;
        let mut paths = existing.config_paths.clone();
        for f in built.files {
            if !paths.contains(&f) {
                paths.push(f);
            }
        }
        let changed = merged != existing.config || paths != existing.config_paths;
        let record = if changed {
            db.update_config(&existing.id, &merged, &paths)?
        } else {
            existing
        };
        Ok(AppliedConfig {
            vm: VmStatusReport::of(&record),
            created: false,
            changed,
        })
    }

    /// List VMs with their status and QEMU PID.
    #[api_method(category = "vm", python_returns = "text", examples = ["maqet ls", "maqet ls --status running", "maqet ls --format json"])]
    pub fn ls(
        &self,
        #[arg(help = "Only VMs in this state")] status: Option<VmStatus>,
    ) -> Result<VmList, MaqetError> {
        let wanted = status;
        let rows = self
            .list_reconciled()?
            .into_iter()
            .filter(|vm| wanted.is_none_or(|w| vm.status == w))
            .map(|vm| VmListRow {
                pid: vm.qemu.map(|p| p.pid),
                name: vm.name,
                vm_id: vm.id,
                status: vm.status,
            })
            .collect();
        Ok(VmList(rows))
    }

    /// Show a VM's configuration and the QEMU command line it produces.
    #[api_method(category = "vm", python_params = ["vm as vm_id"], python_returns = "object", examples = ["maqet info web", "maqet info web --format json"])]
    pub fn info(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
    ) -> Result<VmInfo, MaqetError> {
        let record = self.vm_record(&vm)?;
        let qemu_argv = self.qemu_argv(&record)?;
        let firmware = self.firmware_info(&record, &qemu_argv)?;
        let run_config = self.config_with_first_boot(&record);
        Ok(VmInfo {
            configuration: crate::results::ConfigurationSummary::of(&record.config),
            config_path: record.config_paths.first().cloned(),
            data_dir: self.dirs().vm_data_dir(&record.id),
            vm_id: record.id,
            name: record.name,
            run_config,
            config_paths: record.config_paths,
            config_data: record.config,
            qemu_argv,
            firmware,
        })
    }
}

impl Maqet {
    /// Looks a VM up by name or id.
    pub fn vm_record(&self, ident: &str) -> Result<VmRecord, MaqetError> {
        self.db()?
            .find_vm(ident)?
            .ok_or_else(|| MaqetError::VmNotFound(ident.to_string()))
    }

    /// The full QEMU command line of a VM.
    pub fn qemu_argv(&self, vm: &VmRecord) -> Result<Vec<String>, MaqetError> {
        let ctx = ArgvContext {
            vm_name: vm.name.clone(),
            vm_data_dir: self.dirs().vm_data_dir(&vm.id),
            kvm_usable: Maqet::kvm_usable(),
        };
        let mut argv = config::render_qemu_argv(&self.config_with_first_boot(vm), &ctx)?;
        if let Some((selected, machine)) = self.vm_firmware(vm, &argv)? {
            let nvram = crate::firmware::nvram_path(&ctx.vm_data_dir);
            argv.extend(crate::firmware::firmware_args(
                &selected,
                machine.as_deref(),
                &nvram,
            ));
        }
        if super::firmware::wants_tpm(&vm.config) {
            let crb = crate::firmware::machine_is_q35(&argv);
            argv.extend(maqet_runner::swtpm::qemu_args(&self.vm_paths(vm), crb));
        }
        argv.extend(self.vm_paths(vm).control_args());
        if super::guest::wants_agent(&vm.config) {
            argv.extend(self.vm_paths(vm).agent_args());
            if crate::config::VmConfig::from_value(&vm.config).has_copy_channel() {
                argv.extend(self.vm_paths(vm).copy_channel_args());
            }
        }
        Ok(argv)
    }

    /// The record with its status checked against the live processes (nothing is written).
    pub fn observe(&self, mut vm: VmRecord) -> VmRecord {
        let live = |vm: &VmRecord| matches!(vm.status, VmStatus::Running | VmStatus::Paused);
        // Each check of QEMU reads its /proc entry twice (stat, cmdline): done once per record.
        let mut qemu_alive = live(&vm) && self.qemu_alive(&vm);
        if live(&vm) && !qemu_alive && crate::liveness::runner_alive(&vm) {
            // QEMU just ended and its runner is recording why: give it a moment.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
            loop {
                match self.vm_record(&vm.id) {
                    Ok(fresh) if !live(&fresh) => return fresh,
                    _ if !crate::liveness::runner_alive(&vm)
                        || std::time::Instant::now() >= deadline =>
                    {
                        break;
                    }
                    _ => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            }
            if let Ok(fresh) = self.vm_record(&vm.id) {
                vm = fresh;
            }
            qemu_alive = live(&vm) && self.qemu_alive(&vm);
        }
        if live(&vm) && !qemu_alive {
            vm.status = VmStatus::Stopped;
            vm.status_reason = Some("QEMU is no longer running".into());
            vm.qemu = None;
            vm.runner = None;
            vm.qmp_socket = None;
        }
        vm
    }

    fn insert_vm(&self, name: Option<String>, built: BuiltConfig) -> Result<VmRecord, MaqetError> {
        let mut value = built.value;
        let config_name = value
            .as_object_mut()
            .and_then(|m| m.remove("name"))
            .and_then(|v| v.as_str().map(str::to_string));
        let name = match name.or(config_name) {
            Some(n) => n,
            None => format!("vm-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
        };
        self.check_new_vm_name(&name)?;
        // The id comes first: the VM's files live under it.
        let id = uuid::Uuid::new_v4().to_string();
        self.fill_default_drive_files(&mut value, &id)?;
        crate::dirs::create_private_dir(&self.dirs().vm_data_dir(&id))?;
        let record = self.db()?.insert_vm_with_id(
            &NewVm {
                name,
                config: value,
                config_paths: built.files,
            },
            &id,
        );
        if record.is_err() {
            let _ = std::fs::remove_dir(self.dirs().vm_data_dir(&id));
        }
        Ok(record?)
    }

    /// Writes the default image path (`<data>/vms/<id>/<drive>.<type>`) into every drive that
    /// names no file, so the stored config says where each disk lives.
    pub(crate) fn fill_default_drive_files(
        &self,
        config: &mut Value,
        vm_id: &str,
    ) -> Result<(), MaqetError> {
        let Some(storage) = config.get("storage") else {
            return Ok(());
        };
        let drives = maqet_storage::parse_drives(storage)?;
        let dir = self.dirs().vm_data_dir(vm_id);
        if let Some(Value::Array(items)) = config.get_mut("storage") {
            for (item, drive) in items.iter_mut().zip(&drives) {
                if let (Value::Object(map), Some(path)) =
                    (item, maqet_storage::default_drive_path(&dir, drive))
                    && drive.file.is_none()
                {
                    map.insert(
                        "file".into(),
                        Value::String(path.to_string_lossy().into_owned()),
                    );
                }
            }
        }
        Ok(())
    }
}

impl Maqet {
    /// `add`'s config: the files and flags merged, then the keys they leave unset filled from
    /// `maqet.conf`'s `commands.add` defaults (the file and flag values always win).
    fn build_with_conf_defaults(
        &self,
        files: &[PathBuf],
        mut set: Map<String, Value>,
    ) -> Result<BuiltConfig, MaqetError> {
        let built = config::build_config(files, &set)?;
        let defaults =
            crate::registry::conf_defaults_for_unset(self.settings(), "add", &built.value);
        if defaults.is_empty() {
            return Ok(built);
        }
        let keys: Vec<String> = defaults.keys().cloned().collect();
        set.extend(defaults);
        config::build_config(files, &set).map_err(|err| {
            MaqetError::with_source(
                crate::ErrorKind::InvalidInput,
                format!(
                    "the defaults maqet.conf gives new VMs under `commands.add` ({}) are not valid; fix or remove them there",
                    keys.join(", ")
                ),
                err,
            )
        })
    }
}
