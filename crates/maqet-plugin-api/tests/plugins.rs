//! Loading the real plugin libraries built from `plugins/` and running their commands
//! against a fake maqet.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Instant;

use maqet_plugin_api::host::{
    self, HostServices, LoadedPlugin, LogLevel, PluginError, PluginFile, RejectedPlugin,
};
use serde_json::{Value, json};

const HELLO: &str = "maqet_hello";
const EXPORT: &str = "maqet_export";
const CLOUD_INIT: &str = "maqet_cloud_init";
const INCOMPATIBLE: &str = "maqet_incompatible_test";

/// The `.so` cargo built for `lib_name` (the plugin crates are dev-dependencies, so they are
/// built next to this test binary, in `deps/`).
fn built_library(lib_name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let file = format!("lib{lib_name}.so");
    [deps.join(&file), deps.parent().unwrap().join(&file)]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{file} not built next to {}; run `cargo build --workspace`",
                deps.display()
            )
        })
}

/// A fresh plugin directory holding copies of the given plugins.
fn plugin_dir(lib_names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in lib_names {
        std::fs::copy(
            built_library(name),
            dir.path().join(format!("lib{name}.so")),
        )
        .unwrap();
    }
    dir
}

/// These tests check loading, not file ownership (maqet's CLI vets files; see
/// tests/tests/security.rs).
fn accept_all(_: &Path) -> Result<(), String> {
    Ok(())
}

fn split(files: Vec<PluginFile>) -> (Vec<LoadedPlugin>, Vec<RejectedPlugin>) {
    let mut loaded = Vec::new();
    let mut rejected = Vec::new();
    for file in files {
        match file {
            PluginFile::Loaded(plugin) => loaded.push(plugin),
            PluginFile::Rejected(r) => rejected.push(r),
        }
    }
    (loaded, rejected)
}

fn load(lib_names: &[&str]) -> (tempfile::TempDir, Vec<LoadedPlugin>) {
    let dir = plugin_dir(lib_names);
    let (loaded, rejected) = split(host::discover(&[dir.path().to_owned()], &accept_all));
    assert!(rejected.is_empty(), "{rejected:?}");
    (dir, loaded)
}

fn plugin<'a>(loaded: &'a [LoadedPlugin], name: &str) -> &'a LoadedPlugin {
    loaded
        .iter()
        .find(|p| p.name() == name)
        .unwrap_or_else(|| panic!("{name} not loaded"))
}

/// A maqet stand-in: answers `info` with a canned VM and records every call.
struct FakeMaqet {
    info: Value,
    calls: RefCell<Vec<(String, Value)>>,
    logs: RefCell<Vec<(LogLevel, String)>>,
}

impl FakeMaqet {
    fn new(info: Value) -> Self {
        Self {
            info,
            calls: RefCell::default(),
            logs: RefCell::default(),
        }
    }
}

impl HostServices for FakeMaqet {
    fn call(&self, command: &str, args: Value) -> Result<Value, String> {
        self.calls
            .borrow_mut()
            .push((command.to_owned(), args.clone()));
        match command {
            "info" if args["vm"] == self.info["name"] => Ok(self.info.clone()),
            "info" => Err(format!("VM {} not found; run `maqet ls`", args["vm"])),
            "apply" => Ok(json!({"vm": args["vm"]})),
            "status" if args["vm"] == self.info["name"] => {
                Ok(json!({"name": args["vm"], "is_running": false}))
            }
            other => Err(format!("unexpected command {other}")),
        }
    }

    fn log(&self, level: LogLevel, message: &str) {
        self.logs.borrow_mut().push((level, message.to_owned()));
    }
}

fn web_info(data_dir: &Path) -> Value {
    json!({
        "name": "web",
        "vm_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "data_dir": data_dir,
        "config": {
            "binary": "/usr/bin/qemu-system-x86_64",
            "memory": "256M",
            "cpu": 2,
            "accel": "tcg",
            "display": "none",
            "storage": [
                {"name": "root", "type": "qcow2", "file": "/vms/web.qcow2", "interface": "virtio"},
                {"name": "scratch", "type": "raw", "file": "/vms/scratch.img", "interface": "scsi"}
            ]
        },
        "qemu_argv": ["/usr/bin/qemu-system-x86_64", "-m", "256M"]
    })
}

#[test]
fn discover_loads_plugins_and_rejects_broken_and_incompatible_ones() {
    let dir = plugin_dir(&[EXPORT, CLOUD_INIT, INCOMPATIBLE]);
    std::fs::write(
        dir.path().join("libbroken.so"),
        b"\x7fELF but really just random bytes",
    )
    .unwrap();
    std::fs::write(dir.path().join("README.txt"), b"not a library").unwrap();

    let (loaded, rejected) = split(host::discover(&[dir.path().to_owned()], &accept_all));

    let mut names: Vec<(&str, &str)> = loaded.iter().map(|p| (p.name(), p.version())).collect();
    names.sort();
    assert_eq!(names, [("cloud-init", "0.1.0"), ("export", "0.1.0")]);
    let export = plugin(&loaded, "export");
    assert_eq!(export.path(), dir.path().join("libmaqet_export.so"));
    let command = &export.commands()[0];
    assert_eq!(command.name, "export");
    let params: Vec<&str> = command.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        params,
        [
            "vm",
            "to",
            "output",
            "serial_log",
            "net_backend",
            "libvirt_version",
            "name",
            "image_url"
        ]
    );
    assert!(command.params[0].positional && command.params[1].required);
    let cloud_init = &plugin(&loaded, "cloud-init").commands()[0];
    assert_eq!(cloud_init.params[1].name, "user_data");

    assert_eq!(rejected.len(), 2, "{rejected:?}");
    let reason_for = |file: &str| {
        let r = rejected.iter().find(|r| r.path.ends_with(file)).unwrap();
        r.reason.clone()
    };
    let broken = reason_for("libbroken.so");
    assert!(broken.contains("not a loadable shared library"), "{broken}");
    let incompatible = reason_for("libmaqet_incompatible_test.so");
    assert!(
        incompatible.contains("interface version 999")
            && incompatible.contains(&format!(
                "speaks version {}",
                maqet_plugin_api::INTERFACE_VERSION
            )),
        "{incompatible}"
    );
}

#[test]
fn loading_two_plugins_is_fast() {
    let dir = plugin_dir(&[EXPORT, CLOUD_INIT]);
    let started = Instant::now();
    let (loaded, rejected) = split(host::discover(&[dir.path().to_owned()], &accept_all));
    let elapsed = started.elapsed();
    assert_eq!((loaded.len(), rejected.len()), (2, 0));
    // Reported, not asserted (timing belongs to benchmarks; see examples/load_time.rs).
    eprintln!(
        "discover() of 2 plugins took {:.2} ms",
        elapsed.as_secs_f64() * 1000.0
    );
}

#[test]
fn several_dirs_and_repeated_loads_behave() {
    let first = plugin_dir(&[HELLO, EXPORT]);
    let second = plugin_dir(&[HELLO]);
    let dirs = [
        first.path().to_owned(),
        first.path().to_owned(),
        second.path().to_owned(),
    ];

    // The same directory listed twice loads its files once; a copy elsewhere is its own file.
    let (mut loaded, rejected) = split(host::discover(&dirs, &accept_all));
    assert!(rejected.is_empty(), "{rejected:?}");
    let paths: Vec<&Path> = loaded.iter().map(|p| p.path()).collect();
    assert_eq!(
        paths,
        [
            first.path().join("libmaqet_export.so"),
            first.path().join("libmaqet_hello.so"),
            second.path().join("libmaqet_hello.so"),
        ]
    );

    // The second copy of `hello` clashes with the first, which wins.
    let clashes = host::check_clashes(&mut loaded, &[]);
    assert_eq!(clashes.len(), 1);
    assert_eq!(clashes[0].path, second.path().join("libmaqet_hello.so"));
    assert!(
        clashes[0]
            .reason
            .contains("already provided by plugin `hello`"),
        "{}",
        clashes[0].reason
    );
    assert!(
        clashes[0]
            .reason
            .contains(&first.path().display().to_string())
    );
    assert_eq!(
        loaded.iter().map(|p| p.name()).collect::<Vec<_>>(),
        ["export", "hello"]
    );

    // Loading the same file again gives a working plugin (abi_stable's per-type cache is not used).
    let (again, _) = split(host::discover(&[first.path().to_owned()], &accept_all));
    let fake = FakeMaqet::new(json!({}));
    for plugins in [&loaded, &again] {
        let answer = plugin(plugins, "hello")
            .invoke("hello", &json!({"name": "vm"}), &fake)
            .unwrap();
        assert_eq!(answer, json!({"greeting": "hello vm"}));
    }
    let hello = plugin(&again, "hello");
    assert_eq!(hello.path(), first.path().join("libmaqet_hello.so"));
}

#[test]
fn plugins_clashing_with_builtins_are_rejected_with_the_name() {
    let (_dir, mut loaded) = load(&[HELLO, EXPORT]);
    let rejected = host::check_clashes(&mut loaded, &["start", "qmp", "export"]);
    assert_eq!(rejected.len(), 1);
    assert!(rejected[0].path.ends_with("libmaqet_export.so"));
    assert!(
        rejected[0].reason.contains("built-in `export`"),
        "{}",
        rejected[0].reason
    );
    assert_eq!(
        loaded.iter().map(|p| p.name()).collect::<Vec<_>>(),
        ["hello"]
    );
}

#[test]
fn export_renders_libvirt_xml_from_host_info() {
    let (_dir, loaded) = load(&[EXPORT]);
    let fake = FakeMaqet::new(web_info(Path::new("/var/lib/maqet/web")));
    let export = plugin(&loaded, "export");

    let xml = export
        .invoke("export", &json!({"vm": "web", "to": "libvirt"}), &fake)
        .unwrap();
    let xml = xml.as_str().expect("stdout output is a string");
    assert!(xml.starts_with("<domain type=\"qemu\">"), "{xml}");
    assert!(
        xml.contains(r#"<memory unit="KiB">262144</memory>"#),
        "{xml}"
    );
    assert!(xml.contains("<vcpu>2</vcpu>"), "{xml}");
    assert!(xml.contains(r#"<source file="/vms/web.qcow2"/>"#), "{xml}");
    assert!(xml.contains(r#"<target dev="sda" bus="scsi"/>"#), "{xml}");
    assert_eq!(
        fake.calls.borrow()[0],
        ("info".to_owned(), json!({"vm": "web"}))
    );

    // The Nomad job fetches the boot disk as an artifact checked by its SHA-256.
    let out = tempfile::tempdir().unwrap();
    let image = out.path().join("web.qcow2");
    std::fs::write(&image, b"disk").unwrap();
    let mut info = web_info(Path::new("/var/lib/maqet/web"));
    info["config"]["storage"][0]["file"] = json!(image);
    let fake = FakeMaqet::new(info);
    let file = out.path().join("web.json");
    let answer = export
        .invoke(
            "export",
            &json!({"vm": "web", "to": "nomad", "output": file}),
            &fake,
        )
        .unwrap();
    assert_eq!(answer["output"], file.display().to_string());
    let job: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        job["Job"]["TaskGroups"][0]["Tasks"][0]["Config"]["image_path"],
        "local/web.qcow2"
    );
    assert_eq!(
        job["Job"]["TaskGroups"][0]["Tasks"][0]["Artifacts"][0]["GetterOptions"]["checksum"],
        // sha256 of "disk"
        "sha256:1044dec7206e8d7c9fbb4ae8f766668406d2567fc7fc1a160a9d4700fcf8f8e9"
    );
}

#[test]
fn plugin_errors_reach_the_host_as_errors() {
    let (_dir, loaded) = load(&[EXPORT]);
    let fake = FakeMaqet::new(web_info(Path::new("/tmp")));
    let export = plugin(&loaded, "export");

    let err = export
        .invoke("export", &json!({"vm": "web", "to": "vmware"}), &fake)
        .unwrap_err();
    // The kind the plugin chose crosses the library boundary as a value (exit 3 in the CLI).
    assert!(
        matches!(
            err,
            PluginError::CommandFailed {
                kind: maqet_plugin_api::ErrorKind::InvalidInput,
                ..
            }
        ),
        "{err:?}"
    );
    let cause = maqet_plugin_api::error_chain(std::error::Error::source(&err).unwrap());
    // Refused by the typed request, in the words a built-in uses for a bad choice.
    assert_eq!(
        cause,
        "`export`: `vmware` is not a valid `to`; use one of libvirt, nomad"
    );

    let err = export
        .invoke("export", &json!({"vm": "db", "to": "nomad"}), &fake)
        .unwrap_err();
    let cause = maqet_plugin_api::error_chain(std::error::Error::source(&err).unwrap());
    assert!(
        cause.contains("VM \"db\" not found"),
        "host's message is kept: {cause}"
    );

    let err = export.invoke("import", &json!({}), &fake).unwrap_err();
    assert!(matches!(err, PluginError::UnknownCommand { .. }), "{err:?}");
}

#[test]
fn cloud_init_writes_seed_iso_and_attaches_it_where_the_kernel_sees_it() {
    let (_dir, loaded) = load(&[CLOUD_INIT]);
    let data_dir = tempfile::tempdir().unwrap();
    let inputs = tempfile::tempdir().unwrap();
    let user_data = inputs.path().join("user-data.yaml");
    std::fs::write(&user_data, "#cloud-config\nhostname: web\n").unwrap();
    let fake = FakeMaqet::new(web_info(data_dir.path()));

    let answer = plugin(&loaded, "cloud-init")
        .invoke(
            "cloud-init",
            &json!({"vm": "web", "user_data": user_data}),
            &fake,
        )
        .unwrap();

    let iso = data_dir.path().join("cidata.iso");
    assert_eq!(answer, json!({"iso": iso, "vm": "web", "drive": "cidata"}));
    let bytes = std::fs::read(&iso).unwrap();
    assert_eq!(&bytes[16 * 2048 + 1..16 * 2048 + 6], b"CD001");
    assert_eq!(&bytes[16 * 2048 + 40..16 * 2048 + 46], b"cidata");
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("hostname: web") && text.contains("instance-id: web"));

    let calls = fake.calls.borrow();
    let (command, args) = calls.last().unwrap();
    assert_eq!(command, "apply");
    assert_eq!(
        args,
        &json!({"vm": "web", "set": {"storage": [{
            "name": "cidata", "type": "raw", "file": iso, "media": "disk",
            "readonly": true, "interface": "virtio"
        }]}})
    );
    assert_eq!(fake.logs.borrow()[0].0, LogLevel::Info);
}

#[test]
fn cloud_init_reports_missing_user_data_file() {
    let (_dir, loaded) = load(&[CLOUD_INIT]);
    let fake = FakeMaqet::new(web_info(Path::new("/tmp")));
    let err = plugin(&loaded, "cloud-init")
        .invoke(
            "cloud-init",
            &json!({"vm": "web", "user_data": "/nonexistent/u.yaml"}),
            &fake,
        )
        .unwrap_err();
    let cause = maqet_plugin_api::error_chain(std::error::Error::source(&err).unwrap());
    assert!(
        cause.contains("cannot read user-data file /nonexistent/u.yaml"),
        "{cause}"
    );
    assert!(
        fake.calls
            .borrow()
            .iter()
            .all(|(command, _)| command != "apply"),
        "nothing applied when input is missing"
    );
}
