//! The parts of `maqet info VM` an export needs, read into plain types.

use serde_json::{Map, Value};

use crate::error::ExportError;

/// Which bus a drive hangs off (maqet's storage `interface`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bus {
    /// virtio-blk (`interface: virtio`, and `none`).
    Virtio,
    /// AHCI (`sata`).
    Sata,
    /// IDE (`ide`).
    Ide,
    /// SCSI (`scsi`).
    Scsi,
}

/// A disk or cdrom image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// The drive's name in maqet.
    pub name: String,
    /// The image file.
    pub file: String,
    /// `qcow2` or `raw`.
    pub format: String,
    /// The bus.
    pub bus: Bus,
    /// A cdrom rather than a disk.
    pub cdrom: bool,
    /// Attached read-only.
    pub readonly: bool,
}

/// A host directory shared over virtio-9p (maqet's `virtfs` storage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedDir {
    /// The host directory.
    pub path: String,
    /// The tag the guest mounts.
    pub mount_tag: String,
    /// maqet's `options.security_model`.
    pub security_model: String,
    /// Shared read-only.
    pub readonly: bool,
}

/// A VM as the exporters see it.
#[derive(Debug, Clone, PartialEq)]
pub struct VmView {
    /// The VM's name.
    pub name: String,
    /// maqet's id for it.
    pub vm_id: String,
    /// The QEMU binary.
    pub binary: Option<String>,
    /// Memory in KiB.
    pub memory_kib: u64,
    /// Virtual CPUs.
    pub cpus: u64,
    /// The machine type (`q35`, `pc`...), options stripped.
    pub machine: Option<String>,
    /// Uses KVM.
    pub kvm: bool,
    /// maqet's `display` value.
    pub display: Option<String>,
    /// Direct kernel boot: kernel, initrd, command line.
    pub kernel: Option<String>,
    /// The initrd for direct kernel boot.
    pub initrd: Option<String>,
    /// The kernel command line.
    pub append: Option<String>,
    /// Disks and cdroms, in config order.
    pub disks: Vec<Disk>,
    /// Shared directories.
    pub shared_dirs: Vec<SharedDir>,
    /// QEMU arguments the exporters do not model, passed through verbatim.
    pub extra_args: Vec<String>,
}

/// `arguments` keys the exporters model themselves.
const MODELLED_ARGUMENTS: &[&str] = &[
    "kernel",
    "initrd",
    "append",
    "m",
    "smp",
    "machine",
    "accel",
    "enable-kvm",
    "display",
];

impl VmView {
    /// Reads the JSON of `maqet info VM`.
    pub fn from_info(info: &Value) -> Result<Self, ExportError> {
        let name = info["name"].as_str().unwrap_or_default().to_owned();
        let problem = |problem: String| ExportError::Config {
            vm: name.clone(),
            problem,
        };
        let empty = Map::new();
        let config = info["config_data"]
            .as_object()
            .or_else(|| info["config"].as_object())
            .unwrap_or(&empty);
        let text = |key: &str| config.get(key).and_then(Value::as_str).map(str::to_owned);
        let arguments = Arguments::from_config(config.get("arguments"));

        let memory = text("memory").unwrap_or_else(|| "128M".to_owned());
        let memory_kib = parse_memory_kib(&memory)
            .ok_or_else(|| problem(format!("memory `{memory}` is not a size like 512M or 2G")))?;
        let cpus = match config.get("cpu") {
            None | Some(Value::Null) => 1,
            Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
            Some(Value::String(s)) => s.parse().unwrap_or(0),
            Some(_) => 0,
        };
        if cpus == 0 {
            return Err(problem("cpu is not a positive whole number".to_owned()));
        }
        let accel = text("accel").unwrap_or_default();
        let kvm = accel.contains("kvm") || arguments.has("enable-kvm");
        let machine = text("machine").map(|m| m.split(',').next().unwrap_or_default().to_owned());

        let mut disks = Vec::new();
        let mut shared_dirs = Vec::new();
        let storage = config.get("storage").and_then(Value::as_array);
        for (index, drive) in storage.into_iter().flatten().enumerate() {
            let drive_name = drive["name"]
                .as_str()
                .map_or_else(|| format!("storage{index}"), str::to_owned);
            let field = |key: &str| drive[key].as_str().map(str::to_owned);
            let kind = field("type").unwrap_or_else(|| "qcow2".to_owned());
            let readonly = drive["readonly"].as_bool().unwrap_or(false);
            if kind == "virtfs" {
                let path = field("path")
                    .ok_or_else(|| problem(format!("virtfs drive `{drive_name}` has no path")))?;
                shared_dirs.push(SharedDir {
                    path,
                    mount_tag: field("mount_tag").unwrap_or_else(|| drive_name.clone()),
                    security_model: drive["options"]["security_model"]
                        .as_str()
                        .unwrap_or("passthrough")
                        .to_owned(),
                    readonly,
                });
                continue;
            }
            let file = field("file")
                .ok_or_else(|| problem(format!("drive `{drive_name}` has no file")))?;
            let bus = match field("interface").as_deref() {
                Some("sata") => Bus::Sata,
                Some("ide") => Bus::Ide,
                Some("scsi") => Bus::Scsi,
                _ => Bus::Virtio,
            };
            disks.push(Disk {
                name: drive_name,
                file,
                format: kind,
                bus,
                cdrom: field("media").as_deref() == Some("cdrom"),
                readonly,
            });
        }

        let mut extra_args: Vec<String> = config
            .get("args")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect();
        extra_args.extend(arguments.unmodelled_argv());

        Ok(Self {
            vm_id: info["vm_id"].as_str().unwrap_or_default().to_owned(),
            binary: text("binary"),
            memory_kib,
            cpus,
            machine,
            kvm,
            display: text("display"),
            kernel: arguments.value("kernel"),
            initrd: arguments.value("initrd"),
            append: arguments.value("append"),
            disks,
            shared_dirs,
            extra_args,
            name,
        })
    }

    /// Memory in MiB, rounded up.
    pub fn memory_mib(&self) -> u64 {
        self.memory_kib.div_ceil(1024)
    }
}

/// Parses a QEMU memory size (`256M`, `2G`, `1024` = MiB) into KiB.
pub fn parse_memory_kib(text: &str) -> Option<u64> {
    let text = text.trim();
    let text = text.strip_suffix(['b', 'B']).unwrap_or(text);
    let text = text.strip_suffix('i').unwrap_or(text);
    let (digits, unit_kib) = match text.chars().last()? {
        'k' | 'K' => (&text[..text.len() - 1], 1),
        'm' | 'M' => (&text[..text.len() - 1], 1024),
        'g' | 'G' => (&text[..text.len() - 1], 1024 * 1024),
        't' | 'T' => (&text[..text.len() - 1], 1024 * 1024 * 1024),
        _ => (text, 1024),
    };
    let kib = digits.parse::<u64>().ok()?.checked_mul(unit_kib)?;
    (kib > 0).then_some(kib)
}

/// maqet's structured `arguments` list (`[{kernel: x}, "nographic", {device: {...}}]`).
struct Arguments(Vec<(String, Value)>);

impl Arguments {
    fn from_config(arguments: Option<&Value>) -> Self {
        let mut items = Vec::new();
        match arguments {
            Some(Value::Array(list)) => {
                for item in list {
                    match item {
                        Value::String(flag) => {
                            items.push((flag.trim_start_matches('-').to_owned(), Value::Null))
                        }
                        Value::Object(map) => {
                            if let Some((key, value)) = map.iter().next() {
                                let rest: Map<String, Value> = map
                                    .iter()
                                    .skip(1)
                                    .map(|(k, v)| (k.clone(), v.clone()))
                                    .collect();
                                let value = if rest.is_empty() {
                                    value.clone()
                                } else {
                                    merge_first(value, rest)
                                };
                                items.push((key.clone(), value));
                            }
                        }
                        _ => {}
                    }
                }
            }
            Some(Value::Object(map)) => {
                items.extend(map.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            _ => {}
        }
        Self(items)
    }

    fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    fn value(&self, key: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| scalar_text(v))
    }

    fn unmodelled_argv(&self) -> Vec<String> {
        let mut argv = Vec::new();
        for (key, value) in &self.0 {
            if MODELLED_ARGUMENTS.contains(&key.as_str()) {
                continue;
            }
            argv.push(format!("-{key}"));
            if let Some(rendered) = option_text(value) {
                argv.push(rendered);
            }
        }
        argv
    }
}

/// `{k: v, x: 1}` is `-k v,x=1`: fold the extra keys into the first value.
fn merge_first(first: &Value, rest: Map<String, Value>) -> Value {
    let mut map = Map::new();
    match first {
        Value::Null => {}
        Value::Object(inner) => map.extend(inner.clone()),
        other => {
            map.insert(scalar_text(other).unwrap_or_default(), Value::Null);
        }
    }
    map.extend(rest);
    Value::Object(map)
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "on" } else { "off" }.to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Renders an option value the way QEMU takes it: `a,b` for lists, `k=v,flag` for maps.
fn option_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(scalar_text)
                .collect::<Vec<_>>()
                .join(","),
        ),
        Value::Object(map) => {
            let mut parts = Vec::new();
            flatten_options("", map, &mut parts);
            Some(parts.join(","))
        }
        scalar => scalar_text(scalar),
    }
}

fn flatten_options(prefix: &str, map: &Map<String, Value>, parts: &mut Vec<String>) {
    for (key, value) in map {
        let key = format!("{prefix}{key}");
        match value {
            Value::Null => parts.push(key),
            Value::Object(inner) => flatten_options(&format!("{key}."), inner, parts),
            other => parts.push(format!("{key}={}", option_text(other).unwrap_or_default())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn memory_sizes_parse_to_kib() {
        assert_eq!(parse_memory_kib("256M"), Some(262_144));
        assert_eq!(parse_memory_kib("2G"), Some(2_097_152));
        assert_eq!(parse_memory_kib("2GiB"), Some(2_097_152));
        assert_eq!(parse_memory_kib("512"), Some(524_288));
        assert_eq!(parse_memory_kib("lots"), None);
        assert_eq!(parse_memory_kib("0M"), None);
    }

    #[test]
    fn arguments_yield_kernel_and_passthrough_argv() {
        let info = json!({"name": "k", "config": {"arguments": [
            {"kernel": "/boot/vmlinuz"}, {"append": "console=ttyS0"}, "nographic",
            {"device": {"virtio-rng-pci": null, "id": "rng0"}},
            {"netdev": "user", "id": "n0"}
        ]}});
        let vm = VmView::from_info(&info).unwrap();
        assert_eq!(vm.kernel.as_deref(), Some("/boot/vmlinuz"));
        assert_eq!(vm.append.as_deref(), Some("console=ttyS0"));
        assert_eq!(
            vm.extra_args,
            [
                "-nographic",
                "-device",
                "virtio-rng-pci,id=rng0",
                "-netdev",
                "user,id=n0"
            ]
        );
    }

    #[test]
    fn bad_memory_is_reported_with_the_vm_name() {
        let info = json!({"name": "web", "config": {"memory": "much"}});
        let err = VmView::from_info(&info).unwrap_err().to_string();
        assert!(err.contains("web") && err.contains("much"), "{err}");
    }
}
