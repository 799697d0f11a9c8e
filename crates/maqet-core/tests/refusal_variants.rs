//! Refusals a caller may want to handle are variants with fields, not text: an unknown command
//! name, an argument that cannot be read (the same `ArgError` plugins use), an image to attach
//! that does not exist, a confirmation that cannot be asked or is declined, an untrusted
//! `maqet.conf`; each with the exit code and the words the CLI prints.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use maqet_command::{ArgError, DurationError};
use maqet_core::registry::{WithoutTerminal, confirm_flags};
use maqet_core::settings::Settings;
use maqet_core::{Maqet, MaqetError};
use serde_json::json;

fn maqet(home: &Path) -> Maqet {
    Maqet::builder()
        .data_dir(home.join("data"))
        .runtime_dir(home.join("run"))
        .config_dir(home.join("config"))
        .build()
        .expect("a Maqet in a temporary directory")
}

#[test]
fn call_refusals_are_variants() {
    let home = tempfile::tempdir().unwrap();
    let maqet = maqet(home.path());

    let err = maqet.call("no-such-command", json!({})).unwrap_err();
    assert!(
        matches!(&err, MaqetError::UnknownCommand { command } if command == "no-such-command"),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 3);
    assert_eq!(
        err.to_string(),
        "there is no maqet command `no-such-command`; `maqet --help` lists them"
    );

    let err = maqet
        .call("stop", json!({"vm": "web", "timeout": "soon"}))
        .unwrap_err();
    assert!(
        matches!(
            &err,
            MaqetError::Argument(ArgError::Duration(DurationError::NotADuration { option, text, .. }))
                if option == "timeout" && text == "soon"
        ),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 3);

    let err = maqet.call("ls", json!({"colour": "red"})).unwrap_err();
    assert!(
        matches!(&err, MaqetError::Argument(ArgError::Unexpected { names, .. }) if names == &["colour"]),
        "{err:?}"
    );
    let err = maqet.call("stop", json!({})).unwrap_err();
    assert!(
        matches!(&err, MaqetError::Argument(ArgError::Missing { name, .. }) if name == "vm"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "`stop` needs the argument `vm`");

    let missing = home.path().join("missing.qcow2");
    let config = home.path().join("vm.yaml");
    std::fs::write(&config, "memory: 64M\n").unwrap();
    let err = maqet
        .call(
            "storage attach",
            json!({"name": "web", "path": missing, "config": config}),
        )
        .unwrap_err();
    assert!(
        matches!(&err, MaqetError::ImageMissing { path } if path == &missing),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 3);
}

#[test]
fn confirmations_refuse_and_decline_by_variant() {
    let questions = ["Remove every VM?"];
    let err = confirm_flags::<MaqetError>(
        "rm",
        &questions,
        None,
        WithoutTerminal::Refuse,
        "force=True",
    )
    .unwrap_err();
    assert!(
        matches!(&err, MaqetError::NeedsConfirmation { command, yes_flag, .. }
            if command == "rm" && yes_flag == "force=True"),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 3);
    assert_eq!(
        err.to_string(),
        "`rm` asks \"Remove every VM?\" and there is no terminal to answer on; pass force=True to go ahead (nothing was done)"
    );

    let mut answer_no = |_: &str| -> Result<String, MaqetError> { Ok("n\n".to_string()) };
    let err = confirm_flags(
        "rm",
        &questions,
        Some(&mut answer_no),
        WithoutTerminal::Refuse,
        "--force",
    )
    .unwrap_err();
    assert!(
        matches!(&err, MaqetError::Declined { command } if command == "rm"),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn a_maqet_conf_others_may_write_is_a_variant_with_exit_4() {
    let home = tempfile::tempdir().unwrap();
    let conf = home.path().join("maqet.conf");
    std::fs::write(&conf, "{}\n").unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o666)).unwrap();
    let err = Settings::read(&conf).unwrap_err();
    assert!(
        matches!(&err, MaqetError::UntrustedSettings { path, .. } if path == &conf),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 4);
}
