//! A method declared only here, in a group nothing else names, reaches every face of the CLI:
//! `--help`, the completion scripts and the CLI reference, with no other edit.

use maqet_core::{Maqet, MaqetError};
use maqet_macros::api_method;

/// How many seconds a greeting waits; a closed set, declared once on the type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mood {
    Calm,
    Loud,
}

impl maqet_core::registry::Choice for Mood {
    const CHOICES: &'static [&'static str] = &["calm", "loud"];
    fn from_choice(name: &str) -> Option<Self> {
        match name {
            "calm" => Some(Mood::Calm),
            "loud" => Some(Mood::Loud),
            _ => None,
        }
    }
}

impl maqet_core::registry::ArgType for Mood {
    const KIND: maqet_core::registry::ParamKind = maqet_core::registry::ParamKind::String;
    const REQUIRED: bool = true;
    const CHOICES: &'static [&'static str] = <Mood as maqet_core::registry::Choice>::CHOICES;
    fn from_json(command: &str, name: &str, value: serde_json::Value) -> Result<Self, MaqetError> {
        let text = String::from_json(command, name, value)?;
        maqet_core::registry::parse_choice(command, name, &text)
    }
}

trait Greetings {
    fn zz_greet(&self, who: String, mood: Mood) -> Result<String, MaqetError>;
}

impl Greetings for Maqet {
    /// Greet someone (a command that exists only in this test).
    #[api_method(
        group = "zzgreetings",
        group_about = "Greetings that exist only in a test",
        name = "hello",
        no_builder,
        examples = ["maqet zzgreetings hello world --mood loud"]
    )]
    fn zz_greet(
        &self,
        #[arg(positional, help = "Who to greet")] who: String,
        #[arg(help = "How to greet", default = "calm")] mood: Mood,
    ) -> Result<String, MaqetError> {
        Ok(match mood {
            Mood::Calm => format!("hello {who}"),
            Mood::Loud => format!("HELLO {who}!"),
        })
    }
}

#[test]
fn a_method_in_a_new_group_is_in_help_completions_and_reference() {
    let method = maqet_core::registry::find("zzgreetings hello").expect("registered");
    assert_eq!(
        method.param("mood").map(|p| p.possible_values),
        Some(&["calm", "loud"][..])
    );
    assert_eq!(maqet_core::registry::check_groups(), Vec::<String>::new());

    let mut tree = maqet_cli::builtin_tree();
    let root_help = tree.render_help().to_string();
    assert!(
        root_help.contains("zzgreetings")
            && root_help.contains("Greetings that exist only in a test"),
        "{root_help}"
    );
    let group = tree
        .find_subcommand_mut("zzgreetings")
        .expect("group in the tree");
    let group_help = group.render_help().to_string();
    assert!(group_help.contains("hello"), "{group_help}");
    let leaf_help = group
        .find_subcommand_mut("hello")
        .expect("command in the tree")
        .render_long_help()
        .to_string();
    assert!(
        leaf_help.contains("--mood") && leaf_help.contains("loud"),
        "{leaf_help}"
    );

    for shell in ["bash", "zsh", "fish"] {
        let script = maqet_cli::builtin_completion_script(shell).expect("script");
        assert!(
            script.contains("zzgreetings"),
            "{shell} completions lack the group"
        );
        assert!(
            script.contains("hello"),
            "{shell} completions lack the command"
        );
    }
    let bash = maqet_cli::builtin_completion_script("bash").expect("script");
    assert!(
        bash.contains("calm loud"),
        "bash completions lack the choices"
    );

    let reference = maqet_cli::reference::cli_reference_markdown();
    assert!(
        reference.contains("### `maqet zzgreetings hello`"),
        "{reference}"
    );
    assert!(reference.contains("(one of: calm, loud)"), "{reference}");
}

#[test]
fn the_new_command_runs_through_the_registry_with_its_choices() {
    let dir = tempfile::tempdir().expect("tempdir");
    let maqet = Maqet::builder()
        .data_dir(dir.path().join("data"))
        .config_dir(dir.path().join("config"))
        .runtime_dir(dir.path().join("run"))
        .build()
        .expect("maqet");
    let method = maqet_core::registry::find("zzgreetings hello").expect("registered");
    let mut args = maqet_core::registry::Args::new(
        "zzgreetings hello",
        serde_json::json!({"who": "world", "mood": "loud"}),
    )
    .expect("args");
    let out = (method.invoke)(&maqet, &mut args).expect("runs");
    assert_eq!(*out.value(), serde_json::json!("HELLO world!"));
    let mut bad = maqet_core::registry::Args::new(
        "zzgreetings hello",
        serde_json::json!({"who": "world", "mood": "grumpy"}),
    )
    .expect("args");
    let err = (method.invoke)(&maqet, &mut bad).expect_err("grumpy is no mood");
    assert!(err.to_string().contains("calm, loud"), "{err}");
}
