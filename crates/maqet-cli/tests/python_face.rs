//! The Python face generated from the registry (python/maqet/_commands.py, the `.pyi` stub,
//! docs/python.md's method table) must match the code. MAQET_UPDATE_DOCS=1 rewrites them.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use maqet_cli::python_face;

const REGENERATE: &str = "run `MAQET_UPDATE_DOCS=1 cargo test -p maqet-cli --test python_face`";

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn check(path: &str, generated: &str) {
    let file = repo(path);
    if std::env::var_os("MAQET_UPDATE_DOCS").is_some() {
        std::fs::write(&file, generated).expect("write generated file");
        return;
    }
    let on_disk = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(on_disk == generated, "{path} is stale: {REGENERATE}");
}

fn methods() -> Vec<python_face::PyMethod> {
    python_face::methods().unwrap_or_else(|e| panic!("the Python face is inconsistent: {e}"))
}

#[test]
fn commands_module_is_current() {
    check(
        "python/maqet/_commands.py",
        &python_face::commands_module(&methods()),
    );
}

#[test]
fn stub_is_current() {
    check("python/maqet/__init__.pyi", &python_face::stub(&methods()));
}

#[test]
fn python_docs_table_is_current() {
    let page = std::fs::read_to_string(repo("docs/python.md")).expect("read docs/python.md");
    let table = python_face::methods_table(&methods());
    let updated = python_face::replace_methods_table(&page, &table)
        .expect("docs/python.md lost its method-table markers");
    check("docs/python.md", &updated);
}

#[test]
fn reference_methods_keep_the_reference_signatures() {
    let all = methods();
    let sig = |name: &str| {
        let m = all
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no Python method {name}"));
        python_face::plain_signature(m)
    };
    assert_eq!(sig("stop"), "vm_id, force=False, timeout=30, save=False");
    assert_eq!(sig("qmp_key"), "vm_id, *keys, hold_time=100");
    assert_eq!(
        sig("add"),
        "config=None, name=None, empty=False, force=False, **kwargs"
    );
    assert_eq!(sig("status"), "vm_id, detailed=False");
    assert_eq!(sig("storage_info"), "vm");
    // The full methods beside two reference methods: every option, the extra ones keyword-only.
    assert_eq!(
        sig("type_text"),
        "vm_id, text, hold_time=100, *, delay=0, record=None"
    );
    assert_eq!(
        sig("press_keys"),
        "vm_id, *keys, hold_time=100, record=None"
    );
    assert_eq!(sig("qmp_type"), "vm_id, text, hold_time=100");
}

#[test]
fn stub_types_every_parameter_without_any() {
    let stub = python_face::stub(&methods());
    for line in stub.lines().filter(|l| l.trim_start().starts_with("def ")) {
        let params = &line[line.find('(').unwrap()..line.rfind("->").unwrap_or(line.len())];
        assert!(!params.contains("Any"), "a parameter typed Any: {line}");
    }
    assert!(
        !stub.contains("__getattr__"),
        "the stub falls back to __getattr__"
    );
}

#[test]
fn object_results_are_typed_dicts_of_their_rust_types() {
    let stub = python_face::stub(&methods());
    let maqet_class = &stub[stub.find("class Maqet:").expect("the Maqet class")..];
    let def = |name: &str| {
        maqet_class
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("def {name}(")))
            .unwrap_or_else(|| panic!("no method {name}"))
            .to_string()
    };
    assert!(
        def("status").ends_with("-> VmStatusReport: ..."),
        "{}",
        def("status")
    );
    assert!(def("info").ends_with("-> VmInfo: ..."), "{}", def("info"));
    assert!(
        def("inspect").ends_with("-> Inspection: ..."),
        "{}",
        def("inspect")
    );
    // Required keys in one class, keys that may be absent (skip_serializing_if) in a
    // total=False subclass, typed without Optional; a flattened field is a base class.
    let after = |head: &str| {
        let start = stub
            .find(head)
            .unwrap_or_else(|| panic!("no `{head}` in the stub"));
        stub[start..]
            .split("\n\n")
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let required = after("class _VmStatusReportKeys(TypedDict):");
    assert!(required.contains("    vm_id: str\n"), "{required}");
    assert!(required.contains("    pid: Optional[int]\n"), "{required}");
    let optional = after("class VmStatusReport(_VmStatusReportKeys, total=False):");
    assert!(optional.contains("    ssh: SshSummary"), "{optional}");
    assert!(optional.contains("    runner_pid: int"), "{optional}");
    assert!(stub.contains("class Inspection(VmStatusReport, total=False):"));
    assert!(
        stub.contains("    type: str\n"),
        "DriveSummary's renamed key"
    );
    // Each class once, before the methods that return it.
    assert_eq!(stub.matches("class VmInfo(").count(), 1);
    assert!(stub.find("class VmInfo(") < stub.find("class Maqet:"));
}
