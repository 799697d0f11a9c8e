//! YAML config text → parse → validate → merge with a second config → QEMU argv.
//!
//! The first input byte picks where the text is split; the whole text, its head and its tail
//! are parsed. Each valid document is rendered on its own, then the tail is merged over the
//! head (as a second `-c` file would be) and the result validated and rendered. Any step may
//! return an error; none may panic, overflow the stack or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use maqet_core::config::{
    ArgvContext, merge_config, render_qemu_argv, validate_config, yaml::parse_str,
};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let ctx = ArgvContext {
        vm_name: "fuzz".into(),
        vm_data_dir: "/tmp/fz".into(),
        kvm_usable: false,
    };

    render_if_valid(text, &ctx);

    let mut split = usize::from(selector) * text.len() / 255;
    while !text.is_char_boundary(split) {
        split -= 1;
    }
    let (head, tail) = text.split_at(split);
    let (Some(mut base), Some(over)) = (render_if_valid(head, &ctx), render_if_valid(tail, &ctx))
    else {
        return;
    };
    merge_config(&mut base, &over);
    if validate_config(&base, None).is_ok() {
        let _ = render_qemu_argv(&base, &ctx);
    }
});

/// Parses and validates `text`; renders it when valid and returns its value.
fn render_if_valid(text: &str, ctx: &ArgvContext) -> Option<Value> {
    let doc = parse_str(text, None).ok()?;
    validate_config(&doc.value, Some(&doc)).ok()?;
    let _ = render_qemu_argv(&doc.value, ctx);
    Some(doc.value)
}
