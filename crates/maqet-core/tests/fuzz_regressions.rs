//! Inputs found while fuzzing the config pipeline (`fuzz/`, target `config_to_argv`), kept so
//! the problems stay fixed.

use maqet_core::config::{ConfigError, yaml::parse_str};

/// A config of a few hundred bytes whose nested aliases expand to `10^levels` list items.
fn alias_bomb(levels: usize) -> String {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..levels {
        let refs = vec![format!("*a{}", level - 1); 10].join(", ");
        text.push_str(&format!("a{level}: &a{level} [{refs}]\n"));
    }
    text.push_str(&format!("args: [*a{}]\n", levels - 1));
    text
}

#[test]
fn a_config_whose_aliases_expand_to_100000_items_is_refused_as_a_yaml_error() {
    let text = alias_bomb(5);
    assert!(text.len() < 400, "the input itself is small");
    match parse_str(&text, None) {
        Err(ConfigError::Syntax { .. }) => {}
        Err(other) => panic!("expected a YAML error, got: {other}"),
        Ok(doc) => panic!(
            "a {}-byte config expanded to {} bytes of JSON",
            text.len(),
            doc.value.to_string().len()
        ),
    }
}

#[test]
fn ordinary_aliases_still_work() {
    let text = "storage:\n  - {name: a, size: &size 1G}\n  - {name: b, size: *size}\n";
    let doc = parse_str(text, None).expect("a config with an alias parses");
    assert_eq!(doc.value["storage"][1]["size"], "1G");
}
