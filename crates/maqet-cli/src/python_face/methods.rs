//! `python/maqet/_commands.py`: one method per command, each a call of the native `_invoke`.

use std::fmt::Write;

use maqet_core::registry::PythonReturn;

use super::{PyMethod, Shape, plain_signature, types::string_literal};

/// The header of every generated Python file.
pub const GENERATED: &str = "# Generated from maqet's command registry (the #[api_method] declarations); do not edit.\n# Regenerate: MAQET_UPDATE_DOCS=1 cargo test -p maqet-cli --test python_face\n";

/// The module's source.
pub fn commands_module(methods: &[PyMethod]) -> String {
    let mut out = String::new();
    out.push_str(GENERATED);
    out.push_str(
        "\"\"\"The methods of ``maqet.Maqet``: one per maqet command, with the command's parameters.\n\nEach passes its arguments by name to the native ``_invoke``, which runs the command in the Rust\ncore (the same code as the CLI) and shapes its result. Types are in ``__init__.pyi``.\n\"\"\"\n\n\nclass Commands:\n    \"\"\"The command methods of ``maqet.Maqet`` (a mixin over the native class).\"\"\"\n",
    );
    for method in methods {
        out.push('\n');
        let _ = writeln!(
            out,
            "    def {}(self{}{}):",
            method.name,
            if method.params.is_empty()
                && method.method.python.returns != PythonReturn::StatusReport
            {
                ""
            } else {
                ", "
            },
            plain_signature(method)
        );
        let _ = writeln!(out, "        {}", docstring(method));
        let args: Vec<String> = method
            .params
            .iter()
            .map(|p| format!("{}: {}", string_literal(p.spec.name), p.name))
            .collect();
        let call = format!(
            "self._invoke({}, {{{}}})",
            string_literal(&method.path),
            args.join(", ")
        );
        if method.method.python.returns == PythonReturn::StatusReport {
            let vm = method
                .params
                .iter()
                .find(|p| matches!(p.shape, Shape::Plain(None)))
                .map_or("None", |p| p.name.as_str());
            out.push_str("        if detailed:\n            import warnings\n\n");
            out.push_str("            warnings.warn(\n                \"status(detailed=True) is deprecated: use info() for the configuration and inspect() for process details\",\n                DeprecationWarning,\n                stacklevel=2,\n            )\n");
            let _ = writeln!(out, "            return self._status_detailed({vm})");
        }
        let _ = writeln!(out, "        return {call}");
    }
    out
}

/// The registry's description, the parameters under their Python names, and the examples.
pub fn docstring(method: &PyMethod) -> String {
    let m = method.method;
    let text = if m.long_about.is_empty() {
        m.about
    } else {
        m.long_about
    };
    let mut lines = vec![text.trim().to_string(), String::new()];
    if !method.params.is_empty() {
        lines.push("Parameters:".into());
        for p in &method.params {
            lines.push(format!("    {}: {}", p.name, p.spec.help));
        }
        lines.push(String::new());
    }
    if !m.examples.is_empty() {
        lines.push("Examples (the same command from the shell):".into());
        lines.extend(m.examples.iter().map(|e| format!("    $ {e}")));
    }
    let body = lines.join("\n").trim_end().to_string();
    let indented = body
        .lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("        {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let escaped = indented
        .trim_start()
        .replace('\\', "\\\\")
        .replace("\"\"\"", "\\\"\\\"\\\"");
    format!("\"\"\"{escaped}\n        \"\"\"")
}
