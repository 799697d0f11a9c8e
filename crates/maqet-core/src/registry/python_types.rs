//! Python types of command results, from the Rust result types themselves.
//!
//! A result struct derives [`PythonDict`](maqet_macros::PythonDict): its fields (their serde
//! names, `skip_serializing_if` for keys that may be absent, `flatten` for a base) become a
//! `TypedDict` of the same name in the `.pyi` stub, and a command that returns it as an object
//! (`python_returns = "object"`) is typed with it instead of `Dict[str, Any]`. Leaf types map
//! through [`PythonType`]: strings and paths to `str`, numbers to `int`/`float`, `Option` to
//! `Optional`, `Vec` to `List`, JSON to `Any`.

use std::path::PathBuf;

use serde_json::Value;

/// One key of a `TypedDict`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonKey {
    /// The key (the serde name).
    pub name: String,
    /// Its Python type.
    pub ty: String,
    /// The key may be absent (`skip_serializing_if`).
    pub optional: bool,
}

/// A `TypedDict` the stub declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedDictClass {
    /// The class name (the Rust type's).
    pub name: String,
    /// One-line description (the type's doc comment).
    pub doc: String,
    /// `TypedDict`s whose keys it has too (`#[serde(flatten)]`).
    pub bases: Vec<String>,
    /// Its own keys, in declaration order.
    pub keys: Vec<PythonKey>,
}

/// The `TypedDict`s a set of result types needs, collected in dependency order.
#[derive(Debug, Default)]
pub struct PythonTypes {
    classes: Vec<TypedDictClass>,
    started: Vec<String>,
}

impl PythonTypes {
    /// Whether the class `name` is declared already (or being declared).
    pub fn knows(&self, name: &str) -> bool {
        self.started.iter().any(|n| n == name)
    }

    /// Notes that the class `name` is being declared (so a recursive type stops there).
    pub fn start(&mut self, name: &str) {
        self.started.push(name.to_string());
    }

    /// Adds a finished class (after the classes its keys use).
    pub fn add(&mut self, class: TypedDictClass) {
        self.classes.push(class);
    }

    /// The classes, each after the ones it uses.
    pub fn classes(&self) -> &[TypedDictClass] {
        &self.classes
    }
}

/// A Rust type as a Python type in the stub.
pub trait PythonType {
    /// The Python type, declaring in `types` the `TypedDict`s it needs.
    fn python_type(types: &mut PythonTypes) -> String;
}

macro_rules! python_leaf {
    ($text:literal: $($ty:ty),*) => {$(
        impl PythonType for $ty {
            fn python_type(_: &mut PythonTypes) -> String {
                $text.to_string()
            }
        }
    )*};
}

python_leaf!("str": String, PathBuf, std::net::Ipv4Addr);
python_leaf!("int": u8, u16, u32, u64, usize, i32, i64);
python_leaf!("float": f32, f64);
python_leaf!("bool": bool);
python_leaf!("Any": Value);

impl<T: PythonType> PythonType for Option<T> {
    fn python_type(types: &mut PythonTypes) -> String {
        format!("Optional[{}]", T::python_type(types))
    }
}

impl<T: PythonType> PythonType for Vec<T> {
    fn python_type(types: &mut PythonTypes) -> String {
        format!("List[{}]", T::python_type(types))
    }
}

impl PythonType for maqet_state::VmStatus {
    fn python_type(_: &mut PythonTypes) -> String {
        let names: Vec<String> = <Self as super::Choice>::CHOICES
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect();
        format!("Literal[{}]", names.join(", "))
    }
}

/// A `TypedDict` written out by hand, for a type of another crate.
fn declared(types: &mut PythonTypes, name: &str, doc: &str, keys: &[(&str, &str)]) -> String {
    if !types.knows(name) {
        types.start(name);
        types.add(TypedDictClass {
            name: name.to_string(),
            doc: doc.to_string(),
            bases: Vec::new(),
            keys: keys
                .iter()
                .map(|(key, ty)| PythonKey {
                    name: key.to_string(),
                    ty: ty.to_string(),
                    optional: false,
                })
                .collect(),
        });
    }
    name.to_string()
}

impl PythonType for maqet_config::forwards::PortForward {
    fn python_type(types: &mut PythonTypes) -> String {
        declared(
            types,
            "PortForward",
            "A forwarded host port.",
            &[
                ("host", "int"),
                ("guest", "int"),
                ("proto", "str"),
                ("host_addr", "str"),
            ],
        )
    }
}

impl PythonType for crate::api::FirmwareInfo {
    fn python_type(_: &mut PythonTypes) -> String {
        // The firmware descriptor's fields and the NVRAM; kept open, as QEMU's descriptors grow.
        "Dict[str, Any]".to_string()
    }
}

impl PythonType for crate::api::QmpReply {
    fn python_type(_: &mut PythonTypes) -> String {
        // What QEMU answered: its shape is the QMP command's.
        "Dict[str, Any]".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_nest_and_hand_written_dicts_are_declared_once() {
        let mut types = PythonTypes::default();
        assert_eq!(
            Option::<Vec<u32>>::python_type(&mut types),
            "Optional[List[int]]"
        );
        let forward = maqet_config::forwards::PortForward::python_type(&mut types);
        let again = Vec::<maqet_config::forwards::PortForward>::python_type(&mut types);
        assert_eq!(
            (forward.as_str(), again.as_str()),
            ("PortForward", "List[PortForward]")
        );
        assert_eq!(types.classes().len(), 1);
        assert!(maqet_state::VmStatus::python_type(&mut types).starts_with("Literal[\"created\""));
    }
}
