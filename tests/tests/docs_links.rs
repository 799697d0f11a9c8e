//! Every relative link in the project's Markdown leads somewhere.
//!
//! Walks docs/ (with docs/decisions/), the top-level README.md and each crate's and plugin's
//! README.md. A link that is not a URL must name a file or directory that exists, and a
//! `#fragment` must name a heading of the file it points at (as GitHub turns headings into
//! anchors). Links inside fenced code blocks are code, not links, and are skipped.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

/// The Markdown files whose links are checked.
fn markdown_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read a docs directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut files = vec![root.join("README.md"), root.join("crates/README.md")];
    walk(&root.join("docs"), &mut files);
    for parent in ["crates", "plugins"] {
        for entry in std::fs::read_dir(root.join(parent)).expect("read crates/ or plugins/") {
            let readme = entry.expect("a directory entry").path().join("README.md");
            if readme.is_file() {
                files.push(readme);
            }
        }
    }
    files.sort();
    files
}

/// The lines of a Markdown text outside fenced code blocks.
fn prose_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut in_fence = false;
    text.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            return false;
        }
        !in_fence
    })
}

/// The targets of the inline links `[text](target)` on one line, inline code left out.
fn link_targets(line: &str) -> Vec<&str> {
    let mut targets = Vec::new();
    let mut in_code = false;
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'`' => in_code = !in_code,
            b']' if !in_code && bytes.get(i + 1) == Some(&b'(') => {
                let rest = &line[i + 2..];
                if let Some(end) = rest.find(')') {
                    // `[text](target "title")`: the target ends at the first space.
                    let target = rest[..end].split_whitespace().next().unwrap_or("");
                    targets.push(target);
                    i += end + 2;
                }
            }
            _ => {}
        }
        i += 1;
    }
    targets
}

/// GitHub's anchor of a heading: lower case, spaces to hyphens, other punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors_of(file: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    prose_lines(&text)
        .filter_map(|line| line.strip_prefix('#'))
        .map(|heading| anchor(heading.trim_start_matches('#')))
        .collect()
}

fn is_url(target: &str) -> bool {
    target.contains("://") || target.starts_with("mailto:")
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let root = workspace_root();
    let files = markdown_files(&root);
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("docs/decisions/README.md")),
        "the walk found no docs/decisions/README.md: {files:?}"
    );
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        for target in prose_lines(&text).flat_map(link_targets) {
            if target.is_empty() || is_url(target) {
                continue;
            }
            checked += 1;
            let (path, fragment) = match target.split_once('#') {
                Some((path, fragment)) => (path, Some(fragment)),
                None => (target, None),
            };
            let dest = if path.is_empty() {
                file.clone()
            } else {
                file.parent().expect("a file has a directory").join(path)
            };
            if !dest.exists() {
                broken.push(format!("{shown}: `{target}`: no such file"));
                continue;
            }
            if let Some(fragment) = fragment
                && dest.extension().is_some_and(|e| e == "md")
                && !anchors_of(&dest).contains(fragment)
            {
                broken.push(format!("{shown}: `{target}`: no heading with that anchor"));
            }
        }
    }
    assert!(checked > 100, "only {checked} relative links found");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn anchors_are_made_as_github_makes_them() {
    assert_eq!(
        anchor(" Crates and the dependency rule"),
        "crates-and-the-dependency-rule"
    );
    assert_eq!(anchor("A hostile guest"), "a-hostile-guest");
    assert_eq!(anchor("`maqet-qmp`: the client"), "maqet-qmp-the-client");
    let links = link_targets("see [a](x.md#b) and `[not](code)` and [c](https://e.org)");
    assert_eq!(links, ["x.md#b", "https://e.org"]);
}
