//! The typed requests and builders `#[api_method]` generates, used as a downstream crate uses
//! them: defaults come from the registry, setters chain, `.send()` returns the typed result.
//! (Only commands that need no QEMU are sent.)

use std::time::Duration;

use maqet_core::api::{
    AddRequest, ExecRequest, QmpKeyRequest, RmRequest, StopRequest, WaitCondition, WaitRequest,
};
use maqet_core::registry::{self, ParamSpec};
use maqet_core::{ConfigKeySetters, Maqet, VmStatus};

/// A request's duration in seconds, read as the call would read it.
fn secs(value: &maqet_core::registry::DurationArg) -> f64 {
    // NaN, which equals nothing, when the value is refused.
    value
        .to_duration("timeout")
        .map_or(f64::NAN, |d| d.as_secs_f64())
}

fn spec(command: &str, param: &str) -> &'static ParamSpec {
    registry::find(command)
        .and_then(|m| m.param(param))
        .unwrap_or_else(|| panic!("`{command}` has no parameter `{param}`"))
}

#[test]
fn request_defaults_are_the_registry_defaults() {
    let stop = StopRequest::new("web");
    assert_eq!(stop.vm, "web");
    assert!(!stop.force && !stop.agent);
    assert_eq!(spec("stop", "timeout").default, Some("30"));
    assert_eq!(secs(&stop.timeout), 30.0);

    let wait = WaitRequest::new("web", WaitCondition::Agent);
    assert_eq!(spec("wait", "timeout").default, Some("60"));
    assert_eq!(secs(&wait.timeout), 60.0);
    assert_eq!(wait.until, WaitCondition::Agent);

    let keys = QmpKeyRequest::new("web");
    assert_eq!(spec("qmp keys", "hold_time").default, Some("100"));
    assert_eq!(keys.hold_time, 100);
    assert!(keys.keys.is_empty());

    let exec = ExecRequest::new("web");
    assert_eq!(secs(&exec.timeout), 60.0);
    assert!(exec.command.is_empty() && exec.env.is_empty());

    // No required parameter: `new()` takes nothing and `Default` is the same request.
    let add = AddRequest::default();
    assert!(add.config.is_empty() && add.name.is_none() && !add.empty && add.set.0.is_empty());
    let rm = RmRequest {
        force: true,
        ..RmRequest::new()
    };
    assert!(rm.force && rm.vm.is_empty() && !rm.all);
}

#[test]
fn builder_setters_fill_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let maqet = Maqet::builder().data_dir(dir.path()).build().unwrap();

    let stop = maqet.stop("web").force(true).timeout(5.0).into_request();
    assert!(stop.force);
    assert_eq!(secs(&stop.timeout), 5.0);
    // A duration is also taken as whole seconds, as text with units, or as a `Duration`.
    for timeout in [
        maqet.stop("web").timeout(90).into_request().timeout,
        maqet.stop("web").timeout("1m30s").into_request().timeout,
        maqet
            .stop("web")
            .timeout(Duration::from_secs(90))
            .into_request()
            .timeout,
    ] {
        assert_eq!(secs(&timeout), 90.0);
    }
    // A value no clock can wait for is refused before the command runs, with the CLI's words.
    let err = maqet.stop("web").timeout(f64::NAN).send().unwrap_err();
    assert_eq!(
        (err.exit_code(), err.to_string()),
        (
            3,
            "`--timeout` must be a number of seconds, 0 or more; got NaN".to_string()
        )
    );

    let add = maqet
        .add()
        .config("a.yaml")
        .config("b.yaml")
        .name("web")
        .memory("4G")
        .cpu(2)
        .set("display", "none")
        .into_request();
    assert_eq!(
        add.config,
        vec!["a.yaml".into(), "b.yaml".into()] as Vec<std::path::PathBuf>
    );
    assert_eq!(add.name.as_deref(), Some("web"));
    assert_eq!(
        serde_json::Value::Object(add.set.0),
        serde_json::json!({"memory": "4G", "cpu": 2, "display": "none"})
    );

    let keys = maqet.qmp_key("web").keys("ctrl").keys("alt").into_request();
    assert_eq!(keys.keys, ["ctrl", "alt"]);
    let keys = maqet.qmp_key("web").keys_list(["a", "b"]).into_request();
    assert_eq!(keys.keys, ["a", "b"]);
}

#[test]
fn send_runs_the_command_and_returns_its_typed_result() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vm.yaml");
    std::fs::write(&config, "memory: 1G\n").unwrap();
    let maqet = Maqet::builder()
        .data_dir(dir.path().join("data"))
        .build()
        .unwrap();

    let added = maqet
        .add()
        .config(&config)
        .name("web")
        .cpu(2)
        .send()
        .unwrap();
    assert_eq!(added.0.name, "web");
    assert_eq!(added.0.status, VmStatus::Created);

    let info = maqet.info("web").send().unwrap();
    assert_eq!(info.config_data["memory"], "1G");
    assert_eq!(info.config_data["cpu"], 2);

    // The request form and the builder run the same command.
    let listed = maqet.execute(maqet_core::api::LsRequest::new()).unwrap();
    assert_eq!(listed.0.len(), 1);
    let created = maqet.ls().status(VmStatus::Created).send().unwrap();
    assert_eq!(created.0.len(), 1);
    assert!(
        maqet
            .ls()
            .status(VmStatus::Running)
            .send()
            .unwrap()
            .0
            .is_empty()
    );

    // A required argument left to the builder's entry call; an unknown VM is the command's
    // own error.
    let err = maqet.status("nope").send().unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");

    maqet.rm().vm("web").force(true).send().unwrap();
    assert!(maqet.ls().send().unwrap().0.is_empty());
}
