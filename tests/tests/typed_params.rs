//! Typed command parameters as a user meets them on the command line (issue 26, item 1):
//! durations take seconds or units, `--state` takes the VM states maqet knows, and `wait`
//! takes exactly one condition. No QEMU: a VM that was only added is in state `created`.

// Test helpers outside #[test] functions: a failure is the test's failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use maqet_tests::MaqetHome;
use maqet_tests::cli::{add, fails_with, maqet_json, no_os_config};

fn home_with_vm() -> MaqetHome {
    let home = MaqetHome::new();
    add(&home, "t", &no_os_config("t", ""));
    home
}

#[test]
fn a_timeout_takes_seconds_or_a_duration_with_units() {
    let home = home_with_vm();
    for timeout in ["30", "1.5", "2m", "500ms", "1h 30m"] {
        let result = maqet_json(
            &home,
            &["wait", "t", "--state", "created", "--timeout", timeout],
        );
        assert_eq!(result["condition"], "state", "--timeout {timeout}");
        assert_eq!(result["matched"], "created", "--timeout {timeout}");
    }
    let err = fails_with(
        &home,
        &["wait", "t", "--state", "created", "--timeout", "soon"],
        3,
    );
    assert!(
        err.contains("`--timeout` must be a number of seconds or a duration such as 90s, 2m or 500ms; got `soon`"),
        "{err}"
    );
    let err = fails_with(&home, &["stop", "t", "--timeout", "4000y"], 3);
    assert!(err.contains("the most is 315360000 seconds"), "{err}");
}

#[test]
fn state_accepts_exactly_the_states_a_vm_has() {
    let home = home_with_vm();
    let err = fails_with(&home, &["wait", "t", "--state", "asleep"], 3);
    assert!(
        err.contains("created, running, paused, stopped, saved, crashed, failed"),
        "{err}"
    );
}

#[test]
fn wait_takes_exactly_one_condition() {
    let home = home_with_vm();
    let err = fails_with(&home, &["wait", "t"], 3);
    assert!(
        err.contains(
            "give exactly one of --serial, --state, --event, --agent, --tcp, --ssh, \
             --screen-text, --screen-match, --screen-still or --screen-change"
        ),
        "{err}"
    );
    let err = fails_with(&home, &["wait", "t", "--state", "created", "--agent"], 3);
    assert!(err.contains("cannot be used with"), "{err}");
    let err = fails_with(&home, &["wait", "t", "--event", "X", "--ssh"], 3);
    assert!(err.contains("cannot be used with"), "{err}");
}
