//! Parameter kinds as Python types: one function, so a new kind is one line here.

use maqet_core::registry::{ParamKind, ParamSpec};

use super::{PyParam, Shape};

/// The Python type of one value of `kind` (`choices` narrows strings to a `Literal`).
pub fn value_type(kind: ParamKind, choices: &[&str]) -> String {
    match kind {
        ParamKind::String if !choices.is_empty() => {
            let names: Vec<String> = choices.iter().map(|c| string_literal(c)).collect();
            format!("Literal[{}]", names.join(", "))
        }
        ParamKind::String => "str".into(),
        ParamKind::Bool => "bool".into(),
        ParamKind::Int => "int".into(),
        ParamKind::Float => "float".into(),
        // Seconds, or text such as "2m" or "500ms".
        ParamKind::Duration => "Union[float, str]".into(),
        // Bytes, or text such as "4G".
        ParamKind::ByteSize => "Union[int, str]".into(),
        ParamKind::Path => "_Path".into(),
        ParamKind::KeyValues | ParamKind::ConfigKeys => "Mapping[str, JsonArg]".into(),
        // A list of lists does not occur; its items are one value each.
        ParamKind::List => "JsonArg".into(),
    }
}

fn item_type(spec: &ParamSpec) -> String {
    value_type(spec.item_kind, spec.possible_values)
}

/// The annotation of a parameter in the stub (`**kwargs: JsonArg`, `*keys: str`, ...).
pub fn annotation(param: &PyParam) -> String {
    let spec = param.spec;
    match &param.shape {
        Shape::VarPositional => item_type(spec),
        Shape::Spread => "JsonArg".into(),
        Shape::Plain(default) => {
            let base = match spec.kind {
                // One value or several.
                ParamKind::List => {
                    let item = item_type(spec);
                    format!("Union[{item}, Sequence[{item}]]")
                }
                kind => value_type(kind, spec.possible_values),
            };
            if default.as_deref() == Some("None") {
                format!("Optional[{base}]")
            } else {
                base
            }
        }
    }
}

/// A Python string literal (JSON's escapes are Python's).
pub fn string_literal(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}
