//! `docs/plugins.md` shows this plugin's source as the smallest complete example; keep them equal.

#[test]
fn plugins_doc_shows_the_current_source() {
    let doc = include_str!("../../../docs/plugins.md");
    let source = include_str!("../src/lib.rs");
    let code = &source[source
        .find("\nuse maqet_plugin_api")
        .expect("source has its imports")
        + 1..];
    assert!(
        doc.contains(code),
        "docs/plugins.md no longer shows plugins/hello/src/lib.rs; copy the code from `use` on"
    );
}
