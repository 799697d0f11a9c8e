//! Golden files: one fixture per mapping in `tests/golden/NAME.json` (`{"info": <maqet info>,
//! "options": {...}}`), rendered to `NAME.xml` (libvirt), `NAME.warnings` (one warning a line,
//! then the `network:` choice for forwarded ports)
//! and, when the VM has a disk, `NAME.nomad.json`. Every golden domain must pass
//! `virt-xml-validate`. `/GOLDEN_DIR` in a fixture stands for this directory (the Nomad checksum
//! reads `disk.img` here). Regenerate with `MAQET_UPDATE_GOLDEN=1 cargo test -p
//! maqet-plugin-export --test golden` and review the diff.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use maqet_export::{ExportOptions, Format, LibvirtOptions, NetBackend, NomadOptions, render_with};
use serde_json::Value;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && !p.to_string_lossy().ends_with(".nomad.json")
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 8,
        "fixtures missing in {}",
        golden_dir().display()
    );
    files
}

fn options(fixture: &Value) -> ExportOptions {
    let o = &fixture["options"];
    ExportOptions {
        libvirt: LibvirtOptions {
            serial_log: o["serial_log"].as_str().map(str::to_owned),
            net_backend: NetBackend::parse(o["net_backend"].as_str().unwrap_or("auto")).unwrap(),
            volumes: Vec::new(),
            libvirt_version: o["libvirt_version"]
                .as_str()
                .map(|v| maqet_export::parse_version(v).unwrap()),
            rename: o["name"].as_str().map(str::to_owned),
            nvram: o["nvram"].as_str().map(str::to_owned),
        },
        nomad: NomadOptions {
            image_source: o["image_url"].as_str().map(str::to_owned),
        },
    }
}

/// Compares `actual` with the golden file, or rewrites it when updating.
fn check(path: &Path, actual: &str, failures: &mut Vec<String>) {
    if std::env::var_os("MAQET_UPDATE_GOLDEN").is_some() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected != actual {
        failures.push(format!(
            "{} differs (MAQET_UPDATE_GOLDEN=1 rewrites it):\n--- expected\n{expected}--- actual\n{actual}",
            path.display()
        ));
    }
}

#[test]
fn renders_match_the_golden_files() {
    let dir = golden_dir().to_string_lossy().into_owned();
    let mut failures = Vec::new();
    for file in fixtures() {
        let text = std::fs::read_to_string(&file)
            .unwrap()
            .replace("/GOLDEN_DIR", &dir);
        let fixture: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", file.display()));
        let options = options(&fixture);
        let stem = file.with_extension("");
        let libvirt = render_with(&fixture["info"], Format::Libvirt, &options)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        check(
            &stem.with_extension("xml"),
            &libvirt.text.replace(&dir, "/GOLDEN_DIR"),
            &mut failures,
        );
        let mut warnings: String = libvirt.warnings.iter().map(|w| format!("{w}\n")).collect();
        if let Some(network) = &libvirt.network {
            warnings.push_str(&format!("network: {network}\n"));
        }
        check(&stem.with_extension("warnings"), &warnings, &mut failures);
        let nomad_path = stem.with_extension("nomad.json");
        match render_with(&fixture["info"], Format::Nomad, &options) {
            Ok(job) => check(
                &nomad_path,
                &job.text.replace(&dir, "/GOLDEN_DIR"),
                &mut failures,
            ),
            Err(e) => assert!(
                !nomad_path.exists(),
                "{}: Nomad render failed: {e}",
                file.display()
            ),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_golden_domain_passes_virt_xml_validate() {
    let mut checked = 0;
    for file in fixtures() {
        let xml = file.with_extension("xml");
        let output = Command::new("virt-xml-validate")
            .arg(&xml)
            .arg("domain")
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "virt-xml-validate must run (scripts/setup.sh installs libvirt-clients): {e}"
                )
            });
        assert!(
            output.status.success(),
            "virt-xml-validate rejected {}:\n{}{}",
            xml.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 8);
}
