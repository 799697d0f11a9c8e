//! Screen automation (issue O) with the `maqet` CLI as a script author uses it: the test guest's
//! VGA console asks for a login (`maqet.tty1=login`); the script waits for what the screen shows
//! (`wait --screen-text`, `--screen-match`, `--screen-still`, `--screen-change`), types, reads a
//! command's output back by OCR (`screen text`), drives the guest's menu with keys, matches an
//! openQA needle, and times out with the last screen kept. No step sleeps. Real QEMU (TCG),
//! the real test guest and the real Tesseract engine.
//!
//! Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use maqet_tests::cli::{add, fails_with, maqet_json, maqet_ok, maqet_stdout};
use maqet_tests::{GUEST_KERNEL_APPEND, MaqetHome, guest_config_yaml_with_append};
use serde_json::Value;

/// tty1 asks for a login; the cursor is hidden so the screen changes only when the guest draws.
const LOGIN_APPEND: &str = "maqet.tty1=login vt.global_cursor_default=0";

/// Adds and starts the test guest with a standard VGA screen and its VGA login prompt.
fn boot_login_guest(home: &MaqetHome, name: &str) {
    boot_login_guest_with(home, name, "vga: std");
}

/// [`boot_login_guest`] with more config (`extra`, which must say `vga: std`).
fn boot_login_guest_with(home: &MaqetHome, name: &str, extra: &str) {
    let append = format!("{GUEST_KERNEL_APPEND} {LOGIN_APPEND}");
    add(
        home,
        name,
        &guest_config_yaml_with_append(name, &append, extra),
    );
    maqet_json(home, &["start", name]);
}

/// `maqet wait VM --screen-text REGEX`; returns the line OCR matched.
fn wait_text(home: &MaqetHome, vm: &str, regex: &str, timeout: &str) -> String {
    let found = maqet_json(
        home,
        &["wait", vm, "--screen-text", regex, "--timeout", timeout],
    );
    assert_eq!(found["condition"], "screen-text", "{found}");
    found["matched"]["text"].as_str().unwrap().to_string()
}

fn type_text(home: &MaqetHome, vm: &str, text: &str) {
    maqet_ok(home, &["qmp", "type", vm, text]);
}

/// Logs in on tty1 by what the screen shows: prompt, password prompt, welcome.
fn log_in(home: &MaqetHome, vm: &str) {
    // OCR of 8x16 console glyphs mixes up q and g now and then: match on the robust words.
    let prompt = wait_text(home, vm, "login:", "180");
    assert!(prompt.ends_with("login:"), "{prompt}");
    type_text(home, vm, "root\n");
    wait_text(home, vm, "Password", "60");
    type_text(home, vm, "maqet\n");
    wait_text(home, vm, "Welcome", "60");
}

#[test]
fn a_script_logs_in_on_the_vga_console_runs_a_command_and_reads_its_output() {
    let home = MaqetHome::new();
    boot_login_guest(&home, "scr1");
    log_in(&home, "scr1");

    // The typed line shows `$((6*7))`; only the command's output shows 42.
    type_text(&home, "scr1", "echo SCREEN-$((6*7))-DONE\n");
    let line = wait_text(&home, "scr1", r"SCREEN-42-DONE", "60");
    assert!(line.contains("SCREEN-42-DONE"), "{line}");
    let text = maqet_stdout(&home, &["screen", "text", "scr1"]);
    assert!(text.contains("SCREEN-42-DONE"), "screen text:\n{text}");
    assert!(text.contains("login: root"), "screen text:\n{text}");
    // A region reads only its part: the first text line of the screen.
    let top = maqet_stdout(&home, &["screen", "text", "scr1", "--region", "0,0,320,16"]);
    assert!(top.contains("test guest"), "{top}");
    assert!(!top.contains("SCREEN-42"), "{top}");

    // The menu: wait for it, move the mark down with a key, pick with Enter, read the result.
    type_text(&home, "scr1", "menu\n");
    wait_text(&home, "scr1", "MAQET MENU", "60");
    let before = maqet_json(&home, &["screen", "text", "scr1"]);
    assert!(
        before["text"].as_str().unwrap().contains("Say hello"),
        "{before}"
    );
    maqet_ok(&home, &["qmp", "keys", "scr1", "down"]);
    // The mark moved: the screen changed and settled before Enter.
    maqet_json(
        &home,
        &["wait", "scr1", "--screen-still", "0.5", "--timeout", "30"],
    );
    maqet_ok(&home, &["qmp", "keys", "scr1", "ret"]);
    wait_text(&home, "scr1", "HELLO FROM THE MENU", "60");
    let picked = maqet_stdout(&home, &["screen", "text", "scr1"]);
    assert!(picked.contains("MENU PICKED: hello"), "{picked}");
}

#[test]
fn a_menu_entry_is_picked_with_a_mouse_click() {
    let home = MaqetHome::new();
    // `pointer: tablet` adds a USB tablet; the guest's /bin/menu reads it (evdev) and picks
    // the entry on the clicked line.
    boot_login_guest_with(&home, "scr4", "vga: std\npointer: tablet");
    log_in(&home, "scr4");
    type_text(&home, "scr4", "menu\n");
    wait_text(&home, "scr4", "MAQET MENU", "60");
    // The console's lines are 16 pixels high: the title is line 0, entry 2 is line 2. The
    // screen says so before the click: line 2 reads "Say hello", and its mark is elsewhere.
    let line = maqet_stdout(
        &home,
        &["screen", "text", "scr4", "--region", "0,32,320,16"],
    );
    assert!(line.contains("Say hello"), "line 2 of the screen: {line}");
    assert!(!line.contains('>'), "entry 2 is not marked yet: {line}");
    maqet_ok(&home, &["qmp", "mouse-click", "scr4", "--at", "96,40"]);
    wait_text(&home, "scr4", "HELLO FROM THE MENU", "60");
    let picked = maqet_stdout(&home, &["screen", "text", "scr4"]);
    assert!(picked.contains("MENU PICKED: hello"), "{picked}");

    // Again, on another line: a click on entry 3 picks "Count to three".
    type_text(&home, "scr4", "menu\n");
    wait_text(&home, "scr4", "MAQET MENU", "60");
    maqet_ok(&home, &["qmp", "mouse-click", "scr4", "--at", "96,56"]);
    wait_text(&home, "scr4", "MENU PICKED: count", "60");
    // `wait`'s own line for a screen-text wait names what matched and where it looked.
    let human = maqet_stdout(
        &home,
        &[
            "wait",
            "scr4",
            "--screen-text",
            "PICKED: count",
            "--region",
            "0,0,320,64",
        ],
    );
    assert_eq!(
        human.trim_end(),
        "text \"MENU PICKED: count\" in region 0,0,320,64"
    );
}

#[test]
fn an_openqa_needle_is_found_only_while_its_picture_shows() {
    let home = MaqetHome::new();
    boot_login_guest(&home, "scr2");
    log_in(&home, "scr2");
    type_text(&home, "scr2", "menu\n");
    wait_text(&home, "scr2", "MAQET MENU", "60");
    // A needle as openQA stores one: the whole screen, and the menu's title box as its area.
    maqet_ok(&home, &["qmp", "screendump", "scr2", "menu.png", "--png"]);
    std::fs::write(
        home.path().join("menu.json"),
        r#"{"area": [{"xpos": 0, "ypos": 0, "width": 216, "height": 16, "type": "match"}],
            "tags": ["menu"]}"#,
    )
    .unwrap();
    let found = maqet_json(&home, &["screen", "find", "scr2", "menu.json"]);
    assert_eq!(found["found"], true, "{found}");
    assert!(found["score"].as_f64().unwrap() > 0.99, "{found}");
    assert_eq!(
        (found["x"].as_u64(), found["y"].as_u64()),
        (Some(0), Some(0)),
        "{found}"
    );

    maqet_ok(&home, &["qmp", "keys", "scr2", "4"]);
    wait_text(&home, "scr2", "MENU PICKED: quit", "60");
    let gone = maqet_json(&home, &["screen", "find", "scr2", "menu.json"]);
    assert_eq!(gone["found"], false, "{gone}");

    // Waiting for the needle while the menu comes back: the screen changes, then matches.
    type_text(&home, "scr2", "menu\n");
    let matched = maqet_json(
        &home,
        &[
            "wait",
            "scr2",
            "--screen-match",
            "menu.png",
            "--timeout",
            "60",
            "--threshold",
            "0.5",
        ],
    );
    assert_eq!(matched["condition"], "screen-match", "{matched}");
    let matched = maqet_json(
        &home,
        &[
            "wait",
            "scr2",
            "--screen-match",
            "menu.json",
            "--timeout",
            "60",
        ],
    );
    assert_eq!(matched["matched"]["found"], true, "{matched}");
}

#[test]
fn a_timed_out_screen_wait_keeps_the_last_screen_and_names_it() {
    let home = MaqetHome::new();
    boot_login_guest(&home, "scr3");
    wait_text(&home, "scr3", "login:", "180");
    let err = fails_with(
        &home,
        &[
            "wait",
            "scr3",
            "--screen-text",
            "NEVER-ON-SCREEN",
            "--timeout",
            "3",
        ],
        2,
    );
    assert!(err.contains("timed out"), "{err}");
    let named = |ext: &str| -> PathBuf {
        let word = err
            .split_whitespace()
            .map(|w| w.trim_end_matches([',', ';', '.']))
            .find(|w| w.ends_with(ext) && w.starts_with('/'))
            .unwrap_or_else(|| panic!("no {ext} file named in: {err}"));
        PathBuf::from(word)
    };
    let png = named(".png");
    let txt = named(".txt");
    assert!(
        png.starts_with(home.data_dir()),
        "{png:?} is not in the data dir"
    );
    assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");
    let ocr = std::fs::read_to_string(&txt).unwrap();
    assert!(ocr.contains("login"), "OCR text kept: {ocr}");

    // A changing-screen wait that sees no change also keeps its evidence (no OCR text then).
    let err = fails_with(
        &home,
        &[
            "wait",
            "scr3",
            "--screen-change",
            "--region",
            "0,0,64,16",
            "--timeout",
            "2",
        ],
        2,
    );
    assert!(err.contains(".png") && !err.contains(".txt"), "{err}");

    // Bad input: exit 3, naming what is wrong.
    for (args, says) in [
        (
            vec!["wait", "scr3", "--screen-text", "(", "--timeout", "1"],
            "regular expression",
        ),
        (
            vec!["wait", "scr3", "--screen-change", "--region", "0,0,99999,1"],
            "does not fit",
        ),
        (vec!["screen", "find", "scr3", "nothing.png"], "nothing.png"),
        (
            vec!["wait", "scr3", "--serial", "x", "--threshold", "0.5"],
            "--threshold",
        ),
    ] {
        let err = fails_with(&home, &args, 3);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let _: Value = maqet_json(&home, &["stop", "scr3"]);
}
