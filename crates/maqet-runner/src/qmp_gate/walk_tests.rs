//! Walks every device type of the installed `qemu-system-x86_64` (`qom-list-types`, then
//! `device-list-properties` for each) and fails when a text property whose name looks like a
//! host resource is missing from `host_properties.txt`, printing the rows to add.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

use super::devices::{host_properties, looks_like_host_resource};

/// A QEMU with no machine, spoken to over QMP on its stdio.
struct Qemu {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Qemu {
    fn start() -> Qemu {
        let mut child = Command::new("qemu-system-x86_64")
            .args(["-machine", "none", "-nodefaults", "-display", "none"])
            .args(["-accel", "tcg", "-qmp", "stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("qemu-system-x86_64 (qemu-system-x86) must be installed");
        let input = child.stdin.take().expect("stdin is piped");
        let output = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut qemu = Qemu {
            child,
            input,
            output,
        };
        qemu.reply().expect("QEMU's QMP greeting");
        qemu.execute("qmp_capabilities", json!({}))
            .expect("QMP negotiation");
        qemu
    }

    /// The next message that is not an event; `None` when QEMU has gone.
    fn reply(&mut self) -> Option<Value> {
        loop {
            let mut line = String::new();
            if self.output.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let message: Value = serde_json::from_str(&line).ok()?;
            if message.get("event").is_none() {
                return Some(message);
            }
        }
    }

    /// Runs a command; `None` when QEMU died on it (some types abort without their module).
    fn execute(&mut self, command: &str, arguments: Value) -> Option<Value> {
        let line = json!({"execute": command, "arguments": arguments}).to_string();
        writeln!(self.input, "{line}").ok()?;
        self.reply()
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn qemu_device_walk_finds_no_host_property_the_table_lacks() {
    let mut qemu = Qemu::start();
    let types = qemu
        .execute(
            "qom-list-types",
            json!({"implements": "device", "abstract": false}),
        )
        .expect("the device type list");
    let mut names: Vec<String> = types["return"]
        .as_array()
        .expect("a type list")
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    assert!(names.len() > 100, "only {} device types", names.len());
    let rows = host_properties();
    let (mut missing, mut walked, mut crashed) = (Vec::new(), 0, Vec::new());
    for name in &names {
        let Some(reply) = qemu.execute("device-list-properties", json!({"typename": name})) else {
            crashed.push(name.clone());
            qemu = Qemu::start();
            continue;
        };
        let Some(properties) = reply["return"].as_array() else {
            continue;
        };
        walked += 1;
        for property in properties {
            let prop = property["name"].as_str().unwrap_or_default();
            let kind = property["type"].as_str().unwrap_or_default();
            if matches!(kind, "str" | "string")
                && looks_like_host_resource(prop)
                && !rows.iter().any(|row| row.covers(name, prop))
            {
                missing.push(format!("{name:<20} {prop:<12} ???   {kind}"));
            }
        }
    }
    eprintln!("walked {walked} device types; QEMU aborted on {crashed:?} (modules not installed)");
    assert!(walked > 100, "only {walked} device types answered");
    assert!(
        missing.is_empty(),
        "these device properties look like host resources but crates/maqet-runner/src/qmp_gate/host_properties.txt has no row for them; add each with its use (host, read, write, dir or none), then regenerate docs/qmp-security.md:\n{}",
        missing.join("\n")
    );
}
