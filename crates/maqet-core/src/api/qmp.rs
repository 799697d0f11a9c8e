//! QMP commands on a running VM.

use std::path::PathBuf;
use std::time::Duration;

use maqet_macros::{api_method, api_requests};
use maqet_qmp::{QmpError, keys};
use maqet_runner::qmp_gate;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::registry::{CommandOutput, KeyValues};
use crate::run_state;
use crate::{ErrorKind, Maqet, MaqetError};

/// A QMP command's `return` value.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct QmpReply(pub Value);

impl CommandOutput for QmpReply {
    fn human(&self) -> Option<String> {
        match &self.0 {
            Value::Object(m) if m.is_empty() => Some(String::new()),
            Value::Null => Some(String::new()),
            other => Some(serde_json::to_string_pretty(other).unwrap_or_default()),
        }
    }
}

/// `qmp type`: QEMU's reply to each key event sent, in order.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct QmpReplies(pub Vec<Value>);

impl CommandOutput for QmpReplies {
    fn human(&self) -> Option<String> {
        Some(String::new())
    }
}

/// The arguments of one `send-key` command.
fn send_key_arguments(keys: &[&str], hold_time: u32) -> Value {
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| serde_json::json!({"type": "qcode", "data": k}))
        .collect();
    serde_json::json!({"keys": keys, "hold-time": hold_time})
}

/// `qmp screendump`: the file written.
#[derive(Debug, Clone, Serialize, maqet_macros::PythonDict)]
pub struct Screenshot {
    /// Absolute path of the image.
    pub file: PathBuf,
    /// `ppm` or `png`.
    pub format: String,
}

impl CommandOutput for Screenshot {
    fn human(&self) -> Option<String> {
        Some(self.file.display().to_string())
    }
}

/// How long QEMU takes to deliver `chords` queued key chords held for `hold_time` ms each.
///
/// QEMU queues each chord as press, 10 ms, hold, release, 10 ms on its virtual clock, which runs
/// behind the wall clock when the host is busy; half again as much covers that.
fn key_queue_time(chords: usize, hold_time: u32) -> Duration {
    let per_key = (u64::from(hold_time) + 25) * 3 / 2;
    Duration::from_millis((chords as u64).saturating_mul(per_key).saturating_add(50))
}

fn check_command_name(command: &str) -> Result<(), MaqetError> {
    let valid = command
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase())
        && command
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(MaqetError::invalid(format!(
            "`{command}` is not a QMP command name (lowercase letters, digits, `-` and `_`)"
        )));
    }
    Ok(())
}

/// A refusal by the runner's raw-QMP gate (the same gate every `qmp.sock` client meets)
/// becomes an invalid-input error (exit 3); anything else stays QEMU's answer.
fn gate_refusal(err: QmpError) -> MaqetError {
    match err {
        QmpError::Command { class, desc, .. }
            if class == "GenericError" && desc.starts_with(qmp_gate::REFUSAL_PREFIX) =>
        {
            MaqetError::invalid(desc)
        }
        other => other.into(),
    }
}

#[api_requests]
impl Maqet {
    /// Runs one QMP command on a running VM and returns its `return` value. After `stop` or
    /// `cont` it returns once the VM's record (what `status` shows) has the new run state.
    pub fn qmp_execute(
        &self,
        vm: &str,
        command: &str,
        arguments: Option<Value>,
        allow_dangerous: bool,
    ) -> Result<Value, MaqetError> {
        check_command_name(command)?;
        let record = self.running_vm(vm)?;
        let (reply, run_state) = self.block_on(async {
            // Without --allow-dangerous the runner's gate decides, as for any socket client.
            let client = if allow_dangerous {
                self.qmp_client(&record).await?
            } else {
                self.qmp_client_gated(&record).await?
            };
            let reply = client
                .execute(command, arguments)
                .await
                .map_err(gate_refusal)?;
            let run_state = if run_state::changes_run_state(command) {
                Some(run_state::status_now(&client).await?)
            } else {
                None
            };
            Ok::<_, MaqetError>((reply, run_state))
        })??;
        if let Some(status) = run_state {
            self.await_recorded_status(&record, status)?;
        }
        Ok(reply)
    }

    fn qmp_arguments(args: Option<String>, extra: KeyValues) -> Result<Option<Value>, MaqetError> {
        let mut merged = Map::new();
        if let Some(text) = args {
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(map)) => merged.extend(map),
                _ => {
                    return Err(MaqetError::invalid(format!(
                        "`--args` must be a JSON object such as '{{\"filename\": \"/tmp/x.ppm\"}}', got `{text}`"
                    )));
                }
            }
        }
        merged.extend(extra.0);
        Ok(if merged.is_empty() {
            None
        } else {
            Some(Value::Object(merged))
        })
    }

    /// Run a raw QMP command on a running VM and print its result.
    ///
    /// Arguments come as `--NAME VALUE` (values are JSON when they parse, else strings) or as
    /// one `--args JSON` object. A QEMU error exits with status 1 and shows QEMU's class and
    /// description. Commands not on maqet's raw-QMP allow-list, or naming host paths outside your
    /// directories, are refused without `--allow-dangerous` (see docs/qmp-security.md).
    #[api_method(
        category = "qmp",
        python_params = ["vm as vm_id", "command", "arguments as kwargs"],
        python_returns = "object",
        examples = [
            "maqet qmp web query-status",
            "maqet qmp web screendump --filename /tmp/web.ppm",
            "maqet qmp web device_add --args '{\"driver\": \"virtio-rng-pci\", \"id\": \"rng0\"}'"
        ]
    )]
    pub fn qmp(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
        #[arg(positional, help = "QMP command, e.g. query-status")] command: String,
        #[arg(help = "All arguments as one JSON object", value_name = "JSON")] args: Option<String>,
        #[arg(help = "Allow commands that can take over the host or guest")] allow_dangerous: bool,
        #[arg(help = "QMP arguments as --NAME VALUE")] arguments: KeyValues,
    ) -> Result<QmpReply, MaqetError> {
        let arguments = Maqet::qmp_arguments(args, arguments)?;
        self.qmp_execute(&vm, &command, arguments, allow_dangerous)
            .map(QmpReply)
    }

    /// Run a raw QMP command (the same as `maqet qmp VM COMMAND`).
    #[api_method(
        group = "qmp",
        name = "run",
        examples = ["maqet qmp run web query-status", "maqet qmp run web query-block --format json"]
    )]
    pub fn qmp_run(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
        #[arg(positional, help = "QMP command")] command: String,
        #[arg(help = "All arguments as one JSON object", value_name = "JSON")] args: Option<String>,
        #[arg(help = "Allow commands that can take over the host or guest")] allow_dangerous: bool,
        #[arg(help = "QMP arguments as --NAME VALUE")] arguments: KeyValues,
    ) -> Result<QmpReply, MaqetError> {
        self.__qmp(vm, command, args, allow_dangerous, arguments)
    }

    /// Press keys together (a chord) on the VM's keyboard, e.g. `ctrl alt f2`.
    #[api_method(
        group = "qmp",
        name = "keys",
        python_name = "qmp_key",
        python_params = ["vm as vm_id", "*keys", "hold_time"],
        python_returns = "object",
        python_full = "press_keys",
        examples = ["maqet qmp keys web ctrl alt f2", "maqet qmp keys web --hold-time 50 ctrl l", "maqet qmp keys web ret"]
    )]
    pub fn qmp_key(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
        #[arg(
            positional,
            help = "Key names (QEMU qcodes: a, ret, spc, ctrl, alt, f2, ...)",
            value_name = "KEY"
        )]
        keys: Vec<String>,
        #[arg(help = "How long the keys stay pressed, in ms", default = "100")] hold_time: u32,
        #[arg(
            help = "Keep a numbered screen picture after the keys in DIR",
            value_name = "DIR"
        )]
        record: Option<PathBuf>,
    ) -> Result<QmpReply, MaqetError> {
        if keys.is_empty() {
            return Err(MaqetError::invalid(
                "give at least one key, e.g. `ret` or `ctrl alt f2`",
            ));
        }
        let names: Vec<&str> = keys.iter().map(String::as_str).collect();
        keys::validate_keys(&names).map_err(|e| {
            MaqetError::with_source(ErrorKind::InvalidInput, "cannot send these keys", e)
        })?;
        let record_vm = self.running_vm(&vm)?;
        let reply = self.block_on(async {
            let client = self.qmp_client(&record_vm).await?;
            let reply = client
                .execute("send-key", Some(send_key_arguments(&names, hold_time)))
                .await?;
            tokio::time::sleep(key_queue_time(1, hold_time)).await;
            Ok::<_, MaqetError>(QmpReply(reply))
        })??;
        self.record_screen(&record_vm, record.as_deref(), "keys")?;
        Ok(reply)
    }

    /// Type text on the VM's keyboard (US layout). Every character is checked before any is sent.
    #[api_method(
        group = "qmp",
        name = "type",
        python_name = "qmp_type",
        python_params = ["vm as vm_id", "text", "hold_time"],
        python_returns = "objects",
        python_full = "type_text",
        examples = ["maqet qmp type web 'echo hello'", "maqet qmp type web root --hold-time 50"]
    )]
    pub fn qmp_type(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
        #[arg(positional, help = "Text to type")] text: String,
        #[arg(help = "How long each key stays pressed, in ms", default = "100")] hold_time: u32,
        #[arg(
            help = "Pause after each key, in ms (for guests that drop fast typing)",
            default = "0"
        )]
        delay: u32,
        #[arg(
            help = "Keep a numbered screen picture after typing in DIR",
            value_name = "DIR"
        )]
        record: Option<PathBuf>,
    ) -> Result<QmpReplies, MaqetError> {
        let chords = keys::text_to_chords(&text).map_err(|e| {
            MaqetError::with_source(
                ErrorKind::InvalidInput,
                "cannot type this text; nothing was sent",
                e,
            )
        })?;
        let record_vm = self.running_vm(&vm)?;
        let replies = self.block_on(async {
            let client = self.qmp_client(&record_vm).await?;
            let mut replies = Vec::with_capacity(chords.len());
            for chord in &chords {
                let arguments = send_key_arguments(chord, hold_time);
                replies.push(client.execute("send-key", Some(arguments)).await?);
                if delay > 0 {
                    // Each key is delivered before the pause starts.
                    tokio::time::sleep(key_queue_time(1, hold_time)).await;
                    tokio::time::sleep(Duration::from_millis(u64::from(delay))).await;
                }
            }
            // QEMU queues the key presses and answers at once; return when the guest has them all.
            if delay == 0 {
                tokio::time::sleep(key_queue_time(chords.len(), hold_time)).await;
            }
            Ok::<_, MaqetError>(QmpReplies(replies))
        })??;
        self.record_screen(&record_vm, record.as_deref(), "type")?;
        Ok(replies)
    }

    /// Save the VM's screen to a file (PPM as QEMU writes it, or PNG with `--png`).
    #[api_method(
        group = "qmp",
        name = "screendump",
        python_name = "screendump",
        python_params = ["vm as vm_id", "file as filename"],
        python_returns = "object",
        examples = ["maqet qmp screendump web screen.ppm", "maqet qmp screendump web screen.png --png"]
    )]
    pub fn screendump(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
        #[arg(positional, help = "Output file (relative to the current directory)")] file: PathBuf,
        #[arg(help = "Write PNG instead of PPM")] png: bool,
    ) -> Result<Screenshot, MaqetError> {
        let file = crate::config::absolute(&file);
        let record = self.running_vm(&vm)?;
        // QEMU writes into the VM's private runtime dir; maqet moves the image into place.
        let ppm_path = crate::screenshot::private_ppm_path(&self.vm_paths(&record).runtime_dir);
        let dumped = self.block_on(async {
            let client = self.qmp_client(&record).await?;
            client.screendump(&ppm_path, None).await?;
            Ok::<(), MaqetError>(())
        });
        if let Err(e) | Ok(Err(e)) = dumped {
            let _ = std::fs::remove_file(&ppm_path);
            return Err(e);
        }
        crate::screenshot::deliver(&ppm_path, &file, png)?;
        Ok(Screenshot {
            file,
            format: if png { "png" } else { "ppm" }.into(),
        })
    }

    /// Pause the VM's CPUs (QMP `stop`); returns once `status` says `paused`.
    #[api_method(
        group = "qmp",
        name = "pause",
        python_name = "qmp_stop",
        python_params = ["vm as vm_id"],
        python_returns = "object",
        examples = ["maqet qmp pause web"])]
    pub fn qmp_stop(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
    ) -> Result<QmpReply, MaqetError> {
        self.qmp_execute(&vm, "stop", None, false).map(QmpReply)
    }

    /// Resume the VM's CPUs (QMP `cont`); returns once `status` says `running`.
    #[api_method(
        group = "qmp",
        name = "resume",
        python_name = "qmp_cont",
        python_params = ["vm as vm_id"],
        python_returns = "object",
        examples = ["maqet qmp resume web"])]
    pub fn qmp_cont(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
    ) -> Result<QmpReply, MaqetError> {
        self.qmp_execute(&vm, "cont", None, false).map(QmpReply)
    }

    /// Hot-plug a device; extra `--PROP VALUE` options become device properties.
    #[api_method(
        group = "qmp",
        name = "device-add",
        python_name = "device_add",
        python_params = ["vm as vm_id", "driver", "device_id", "props as kwargs"],
        python_returns = "object",
        examples = [
            "maqet qmp device-add web virtio-rng-pci --device-id rng0",
            "maqet qmp device-add web usb-storage --device-id usb1 --drive usb-drive"
        ]
    )]
    pub fn device_add(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
        #[arg(positional, help = "Device driver, e.g. virtio-rng-pci")] driver: String,
        #[arg(help = "Id of the new device")] device_id: String,
        #[arg(help = "Device properties as --PROP VALUE")] props: KeyValues,
    ) -> Result<QmpReply, MaqetError> {
        let record = self.running_vm(&vm)?;
        let mut arguments = props.0;
        arguments.insert("driver".into(), driver.into());
        arguments.insert("id".into(), device_id.into());
        self.block_on(async {
            // The runner's gate checks the properties (host paths, host devices) as it does
            // for a raw client: this command is a convenience, not a way around it.
            let client = self.qmp_client_gated(&record).await?;
            let reply = client
                .execute("device_add", Some(Value::Object(arguments)))
                .await
                .map_err(gate_refusal)?;
            Ok(QmpReply(reply))
        })?
    }

    /// Hot-unplug a device by id.
    #[api_method(
        group = "qmp",
        name = "device-del",
        python_name = "device_del",
        python_params = ["vm as vm_id", "device_id"],
        python_returns = "object",
        examples = ["maqet qmp device-del web rng0"])]
    pub fn device_del(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
        #[arg(positional, help = "Device id")] device_id: String,
    ) -> Result<QmpReply, MaqetError> {
        let record = self.running_vm(&vm)?;
        self.block_on(async {
            let client = self.qmp_client(&record).await?;
            // device_del only asks the guest; wait briefly for the removal to complete.
            let mut events = client.events();
            let reply = client
                .execute("device_del", Some(serde_json::json!({"id": device_id})))
                .await?;
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                while let Ok(ev) = events.recv().await {
                    if ev.event == "DEVICE_DELETED"
                        && ev.data.get("device").and_then(Value::as_str) == Some(device_id.as_str())
                    {
                        break;
                    }
                }
            })
            .await;
            Ok(QmpReply(reply))
        })?
    }
}
