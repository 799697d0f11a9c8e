//! Issue A, tried as a new user would: the `maqet` binary on a fresh data directory adds,
//! merges, applies, lists, removes and explains VMs, and rejects bad input with exit code 3.
//!
//! Everything here runs without QEMU: no VM is started.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};

use maqet_tests::cli::{fails_with, json_of};
use maqet_tests::{MaqetHome, maqet_binary};
use serde_json::Value;

fn vm_names(home: &MaqetHome) -> Vec<String> {
    let list = json_of(home, &["ls", "--format", "json"]);
    let mut names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|vm| vm["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The `-device`/`-netdev` values of a QEMU argv, in order.
fn option_values(argv: &Value, option: &str) -> Vec<String> {
    let words: Vec<&str> = argv
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    words
        .windows(2)
        .filter(|pair| pair[0] == option)
        .map(|pair| pair[1].to_owned())
        .collect()
}

#[test]
fn two_vm_config_files_merge_without_losing_a_device() {
    let home = MaqetHome::new();
    let base = home.write_config(
        "base",
        "name: merged\nmemory: 256M\narguments:\n  - {device: virtio-rng-pci}\n  - {netdev: [user, id=n0]}\n",
    );
    let extra = home.write_config(
        "extra",
        "arguments:\n  - {device: virtio-balloon-pci}\n  - {device: e1000, netdev: n0}\n  - {device: virtio-rng-pci}\n",
    );
    home.cmd()
        .args([
            "add",
            "--vm-config",
            path_str(&base),
            "--vm-config",
            path_str(&extra),
        ])
        .assert()
        .success();

    let info = json_of(&home, &["info", "merged", "--format", "json"]);
    let arguments = info["config_data"]["arguments"].as_array().unwrap();
    let expected = [
        serde_json::json!({"device": "virtio-rng-pci"}),
        serde_json::json!({"netdev": ["user", "id=n0"]}),
        serde_json::json!({"device": "virtio-balloon-pci"}),
        serde_json::json!({"device": "e1000", "netdev": "n0"}),
    ];
    assert_eq!(arguments.as_slice(), expected.as_slice(), "{info:#}");

    let argv = &info["qemu_argv"];
    assert_eq!(
        option_values(argv, "-device"),
        ["virtio-rng-pci", "virtio-balloon-pci", "e1000,netdev=n0"],
        "the device both files name appears once: {argv}"
    );
    assert_eq!(option_values(argv, "-netdev"), ["user,id=n0"]);
    assert_eq!(option_values(argv, "-m"), ["256M"]);
}

#[test]
fn add_takes_a_positional_config_and_a_name_option() {
    let home = MaqetHome::new();
    let base = home.write_config("base", "name: from-file\nmemory: 128M\n");
    home.cmd()
        .args(["add", path_str(&base), "--name", "x"])
        .assert()
        .success();
    assert_eq!(vm_names(&home), ["x"], "--name wins over the file's name");
    let info = json_of(&home, &["info", "x", "--format", "json"]);
    assert_eq!(info["config_data"]["memory"], "128M");
    assert_eq!(info["config_paths"][0], path_str(&base));
}

#[test]
fn memory_and_cpu_options_are_stored() {
    let home = MaqetHome::new();
    home.cmd()
        .args(["add", "--name", "sized", "--memory", "4G", "--cpu", "2"])
        .assert()
        .success();
    let info = json_of(&home, &["info", "sized", "--format", "json"]);
    assert_eq!(info["config_data"]["memory"], "4G");
    assert_eq!(info["config_data"]["cpu"], 2);
    assert_eq!(option_values(&info["qemu_argv"], "-m"), ["4G"]);
    assert_eq!(option_values(&info["qemu_argv"], "-smp"), ["2"]);
}

#[test]
fn an_empty_vm_is_reported_as_empty() {
    let home = MaqetHome::new();
    home.cmd()
        .args(["add", "--name", "placeholder", "--empty"])
        .assert()
        .success();
    let status = json_of(&home, &["status", "placeholder", "--format", "json"]);
    assert_eq!(status["is_empty"], true, "{status:#}");
    assert_eq!(status["is_running"], false);
}

#[test]
fn applying_the_same_file_twice_changes_nothing() {
    let home = MaqetHome::new();
    let base = home.write_config("base", "name: web\nmemory: 256M\n");
    let update = home.write_config(
        "update",
        "cpu: 2\narguments:\n  - {device: virtio-rng-pci}\n  - {netdev: [user, id=n0]}\n",
    );
    home.cmd().args(["add", path_str(&base)]).assert().success();

    let first = json_of(
        &home,
        &["apply", "web", path_str(&update), "--format", "json"],
    );
    assert_eq!(first["changed"], true, "{first:#}");
    let after_first = json_of(&home, &["info", "web", "--format", "json"]);

    let second = json_of(
        &home,
        &["apply", "web", path_str(&update), "--format", "json"],
    );
    assert_eq!(second["changed"], false, "{second:#}");
    assert_eq!(second["created"], false);
    let after_second = json_of(&home, &["info", "web", "--format", "json"]);
    assert_eq!(after_first["config_data"], after_second["config_data"]);
    assert_eq!(after_first["qemu_argv"], after_second["qemu_argv"]);
    assert_eq!(after_second["config_data"]["memory"], "256M");
    assert_eq!(after_second["config_data"]["cpu"], 2);
}

#[test]
fn apply_creates_a_missing_vm() {
    let home = MaqetHome::new();
    let config = home.write_config("new", "memory: 128M\n");
    let result = json_of(
        &home,
        &["apply", "newvm", path_str(&config), "--format", "json"],
    );
    assert_eq!(result["created"], true, "{result:#}");
    assert_eq!(result["name"], "newvm");
    assert_eq!(vm_names(&home), ["newvm"]);
    let info = json_of(&home, &["info", "newvm", "--format", "json"]);
    assert_eq!(info["config_data"]["memory"], "128M");
}

#[test]
fn json_output_is_pure_in_every_spelling_and_position() {
    let home = MaqetHome::new();
    let added = json_of(
        &home,
        &["add", "--name", "a", "--empty", "--format", "json"],
    );
    assert_eq!(added["name"], "a");
    let added = json_of(&home, &["add", "--name", "b", "--empty", "--format=json"]);
    assert_eq!(added["name"], "b");
    let added = json_of(
        &home,
        &["--format", "json", "add", "--name", "c", "--empty"],
    );
    assert_eq!(added["name"], "c");

    for args in [
        &["ls", "--format", "json"][..],
        &["ls", "--format=json"],
        &["--format", "json", "ls"],
        &["--format=json", "ls"],
    ] {
        let list = json_of(&home, args);
        assert_eq!(list.as_array().unwrap().len(), 3, "{args:?}: {list}");
    }
    for args in [
        &["status", "a", "--format=json"][..],
        &["--format=json", "info", "a"],
        &["apply", "a", "--memory", "64M", "--format", "json"],
        &["rm", "a", "--format", "json"],
    ] {
        json_of(&home, args);
    }
}

#[test]
fn malformed_yaml_names_file_line_and_column() {
    let home = MaqetHome::new();
    let bad = home.write_config("broken", "name: broken\nmemory: [1\n");
    let stderr = fails_with(&home, &["add", path_str(&bad)], 3);
    let location = format!("{}:2:", path_str(&bad));
    assert!(
        stderr.contains(&location),
        "expected `{location}COLUMN` like every other config error, got: {stderr}"
    );
    assert_eq!(vm_names(&home), Vec::<String>::new());
}

#[test]
fn an_unknown_key_suggests_the_right_one() {
    let home = MaqetHome::new();
    let bad = home.write_config("typo", "name: typo\nmemroy: 1G\n");
    let stderr = fails_with(&home, &["add", path_str(&bad)], 3);
    assert!(
        stderr.contains(&format!("{}:2:1", path_str(&bad))),
        "{stderr}"
    );
    assert!(stderr.contains("memroy"), "{stderr}");
    assert!(stderr.contains("did you mean `memory`"), "{stderr}");
    assert_eq!(vm_names(&home), Vec::<String>::new());
}

#[test]
fn a_bad_size_is_rejected_in_a_file_and_as_an_option() {
    let home = MaqetHome::new();
    let bad = home.write_config("size", "name: sz\nmemory: 12X\n");
    let stderr = fails_with(&home, &["add", path_str(&bad)], 3);
    assert!(
        stderr.contains(&format!("{}:2:9", path_str(&bad))),
        "{stderr}"
    );
    assert!(
        stderr.contains("12X") && stderr.contains("512M"),
        "{stderr}"
    );

    let stderr = fails_with(&home, &["add", "--name", "sz", "--memory", "12X"], 3);
    assert!(
        stderr.contains("--memory") && stderr.contains("12X"),
        "{stderr}"
    );
    assert_eq!(vm_names(&home), Vec::<String>::new());
}

#[test]
fn a_name_with_a_path_in_it_is_rejected() {
    let home = MaqetHome::new();
    let stderr = fails_with(&home, &["add", "--name", "../x", "--empty"], 3);
    assert!(
        stderr.contains("`../x`") && stderr.contains("not allowed"),
        "{stderr}"
    );

    let bad = home.write_config("escape", "name: ../x\n");
    let stderr = fails_with(&home, &["add", path_str(&bad)], 3);
    assert!(
        stderr.contains(&format!("{}:1:7", path_str(&bad))),
        "{stderr}"
    );
    assert_eq!(vm_names(&home), Vec::<String>::new());
    assert!(!home.data_dir().join("x").exists());
    assert!(!home.path().join("x").exists());
}

#[test]
fn a_duplicate_name_is_rejected_and_the_first_vm_kept() {
    let home = MaqetHome::new();
    home.cmd()
        .args(["add", "--name", "web", "--memory", "256M"])
        .assert()
        .success();
    let stderr = fails_with(&home, &["add", "--name", "web", "--memory", "1G"], 3);
    assert!(
        stderr.contains("'web'") || stderr.contains("`web`"),
        "{stderr}"
    );
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(vm_names(&home), ["web"]);
    let info = json_of(&home, &["info", "web", "--format", "json"]);
    assert_eq!(info["config_data"]["memory"], "256M");
}

#[test]
fn an_unknown_vm_is_not_found() {
    let home = MaqetHome::new();
    for command in ["info", "status", "rm", "start", "stop"] {
        let stderr = fails_with(&home, &[command, "ghost"], 3);
        assert!(stderr.contains("`ghost`"), "{command}: {stderr}");
    }
}

#[test]
fn twenty_concurrent_add_processes_give_twenty_vms() {
    let home = MaqetHome::new();
    let children: Vec<_> = (0..20)
        .map(|i| {
            let mut command = Command::new(maqet_binary());
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with("MAQET_") {
                    command.env_remove(&key);
                }
            }
            command
                .env("HOME", home.path())
                .arg("--maqet-data-dir")
                .arg(home.data_dir())
                .arg("--maqet-config-dir")
                .arg(home.config_dir())
                .arg("--maqet-runtime-dir")
                .arg(home.runtime_dir())
                .args(["add", "--name", &format!("vm{i:02}"), "--memory", "64M"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        assert!(!stderr.contains("locked"), "{stderr}");
    }
    let expected: Vec<String> = (0..20).map(|i| format!("vm{i:02}")).collect();
    assert_eq!(vm_names(&home), expected);
}

#[test]
fn rm_removes_one_vm_and_rm_all_force_removes_the_rest_without_asking() {
    let home = MaqetHome::new();
    for name in ["a", "b", "c"] {
        home.cmd()
            .args(["add", "--name", name, "--empty"])
            .assert()
            .success();
    }
    home.cmd().args(["rm", "a"]).assert().success();
    assert_eq!(vm_names(&home), ["b", "c"]);
    fails_with(&home, &["info", "a"], 3);

    home.cmd()
        .args(["rm", "--all", "--force"])
        .write_stdin("")
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success();
    assert_eq!(vm_names(&home), Vec::<String>::new());
}

#[test]
fn rm_all_without_a_terminal_does_not_wait_for_an_answer() {
    let home = MaqetHome::new();
    home.cmd()
        .args(["add", "--name", "a", "--empty"])
        .assert()
        .success();
    home.cmd()
        .args(["rm", "--all"])
        .write_stdin("")
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success();
    assert_eq!(vm_names(&home), Vec::<String>::new());
}

#[test]
fn help_and_version_create_nothing_on_disk() {
    let fresh = tempfile::tempdir().unwrap();
    let home = fresh.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let data = fresh.path().join("data");
    for args in [
        &["--help"][..],
        &["--version"],
        &["-V"],
        &["help"],
        &["add", "--help"],
        &["qmp", "--help"],
        &["--maqet-data-dir", data.to_str().unwrap(), "ls", "--help"],
    ] {
        let mut cmd = assert_cmd::Command::new(maqet_binary());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("MAQET_") {
                cmd.env_remove(&key);
            }
        }
        cmd.env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_RUNTIME_DIR", home.join("run"))
            .args(args)
            .assert()
            .success();
        let left: Vec<_> = std::fs::read_dir(fresh.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["home"], "maqet {args:?} created files");
        assert_eq!(
            std::fs::read_dir(&home).unwrap().count(),
            0,
            "maqet {args:?}"
        );
    }
}

/// The command words `maqet [GROUP] --help` lists, one per line of its command table.
fn listed_commands(home: &MaqetHome, group: Option<&str>) -> (Vec<String>, String) {
    let mut cmd = home.cmd();
    if let Some(group) = group {
        cmd.arg(group);
    }
    let output = cmd.arg("--help").output().unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    let listed = help
        .lines()
        .filter_map(|line| line.strip_prefix("  "))
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect();
    (listed, help)
}

#[test]
fn help_lists_every_command_of_the_registry() {
    let home = MaqetHome::new();
    let (top, help) = listed_commands(&home, None);
    let methods = maqet_core::registry::methods();
    assert!(
        methods.len() > 20,
        "the registry holds {} commands",
        methods.len()
    );
    for method in methods.iter().filter(|m| !m.hidden) {
        let word = method.group.unwrap_or(method.name);
        assert!(
            top.iter().any(|w| w == word),
            "`{word}` (for `{}`) missing from:\n{help}",
            method.path()
        );
    }
    for cli_own in ["completions", "man", "plugin", "help"] {
        assert!(
            top.iter().any(|w| w == cli_own),
            "`{cli_own}` missing from:\n{help}"
        );
    }
    for (group, _) in maqet_core::registry::groups() {
        let (listed, help) = listed_commands(&home, Some(group));
        for method in methods
            .iter()
            .filter(|m| !m.hidden && m.group == Some(group))
        {
            assert!(
                listed.iter().any(|w| w == method.name),
                "`{}` missing from:\n{help}",
                method.path()
            );
        }
    }
}

#[test]
fn completions_and_man_page_are_printed() {
    let home = MaqetHome::new();
    let output = home.cmd().args(["completions", "bash"]).output().unwrap();
    assert!(output.status.success());
    let script = String::from_utf8(output.stdout).unwrap();
    assert!(
        script.contains("maqet") && script.contains("add"),
        "{script}"
    );
    for shell in ["zsh", "fish"] {
        home.cmd().args(["completions", shell]).assert().success();
    }

    let output = home.cmd().arg("man").output().unwrap();
    assert!(output.status.success());
    let roff = String::from_utf8(output.stdout).unwrap();
    assert!(roff.contains(".TH maqet"), "{roff}");
}

#[test]
fn config_validate_accepts_a_good_file_and_rejects_a_bad_one() {
    let home = MaqetHome::new();
    let good = home.write_config("good", "name: ok\nmemory: 512M\ncpu: 1\n");
    let bad = home.write_config("bad", "name: ok\ncpu: 0\n");
    home.cmd()
        .args(["config", "validate", path_str(&good)])
        .assert()
        .success();
    let stderr = fails_with(&home, &["config", "validate", path_str(&bad)], 3);
    assert!(
        stderr.contains(&format!("{}:2:", path_str(&bad))),
        "{stderr}"
    );
    fails_with(
        &home,
        &["config", "validate", path_str(&good), path_str(&bad)],
        3,
    );
    assert_eq!(
        vm_names(&home),
        Vec::<String>::new(),
        "validate adds nothing"
    );
}

#[test]
fn config_schema_is_json_describing_the_keys() {
    let home = MaqetHome::new();
    let schema = json_of(&home, &["config", "schema"]);
    assert!(schema["properties"]["memory"].is_object(), "{schema:#}");
    assert!(schema["properties"]["storage"].is_object());
    assert_eq!(schema["additionalProperties"], false);
}

#[test]
fn maqet_conf_sets_command_defaults() {
    let home = MaqetHome::new();
    std::fs::write(
        home.config_dir().join("maqet.conf"),
        "commands:\n  ls:\n    status: running\n  stop:\n    timeout: 5\n",
    )
    .unwrap();
    home.cmd()
        .args(["add", "--name", "idle", "--empty"])
        .assert()
        .success();
    let running = json_of(&home, &["ls", "--format", "json"]);
    assert_eq!(
        running,
        serde_json::json!([]),
        "ls now lists running VMs only"
    );
    let created = json_of(&home, &["ls", "--status", "created", "--format", "json"]);
    assert_eq!(created[0]["name"], "idle");

    let output = home.cmd().args(["stop", "--help"]).output().unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(help.contains("[default: 5]"), "{help}");
}

#[test]
fn maqet_conf_fills_the_config_keys_a_new_vm_leaves_unset() {
    let home = MaqetHome::new();
    std::fs::write(
        home.config_dir().join("maqet.conf"),
        "commands:\n  add:\n    accel: tcg\n    memory: 256M\n    cpu: 2\n",
    )
    .unwrap();
    let base = home.write_config("base", "memory: 128M\n");
    home.cmd()
        .args(["add", path_str(&base), "--name", "filled", "--cpu", "3"])
        .assert()
        .success();
    let info = json_of(&home, &["info", "filled", "--format", "json"]);
    assert_eq!(
        info["config_data"]["accel"], "tcg",
        "unset: from maqet.conf"
    );
    assert_eq!(info["config_data"]["memory"], "128M", "the file wins");
    assert_eq!(info["config_data"]["cpu"], 3, "the flag wins");
    assert_eq!(option_values(&info["qemu_argv"], "-accel"), ["tcg"]);

    std::fs::write(
        home.config_dir().join("maqet.conf"),
        "commands:\n  add:\n    cpu: lots\n",
    )
    .unwrap();
    let out = home
        .cmd()
        .args(["add", "--name", "bad", path_str(&base)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("maqet.conf") && stderr.contains("(cpu)"),
        "the error names maqet.conf and the key: {stderr}"
    );
    assert_eq!(vm_names(&home), ["filled"], "nothing half-added");
}

#[test]
fn verbosity_and_log_file_go_before_or_after_the_command() {
    let home = MaqetHome::new();
    let log = home.path().join("logs/maqet.log");
    let log_arg = format!("--log-file={}", path_str(&log));
    for args in [
        &["-v", "ls"][..],
        &["ls", "-vv"],
        &["--log-file", path_str(&log), "ls"],
        &["ls", "--log-file", path_str(&log)],
        &["-vvv", "add", "--name", "logged", "--empty", &log_arg],
    ] {
        home.cmd().args(args).assert().success();
    }
    assert!(log.is_file());
    assert_eq!(vm_names(&home), ["logged"]);
}
