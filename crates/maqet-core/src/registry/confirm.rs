//! Questions a caller answers before a command runs with a flag such as `rm --all`.
//!
//! The rule is one for every face (the CLI and Python): a flag declared with `confirm = ".."`
//! that is set asks its question, unless a flag declared `answers_yes` (`--force`) is set too;
//! `y`, `Y` or `yes` goes ahead, anything else cancels and nothing is done. Each face brings its
//! terminal (how it asks) and says what happens without one ([`WithoutTerminal`]).

use serde_json::Value;

use crate::MaqetError;

/// What a question becomes when the caller has no terminal to answer it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithoutTerminal {
    /// The command runs (the CLI: scripts pipe into `maqet` and say what they mean).
    Proceed,
    /// The command is refused and does nothing (Python: a script never asked the question).
    Refuse,
}

/// How a face asks one question on its terminal: the prompt in, the answer out.
pub type Ask<'a, E> = &'a mut dyn FnMut(&str) -> Result<String, E>;

/// The questions the flags set in `args` ask. `params` are each parameter's name, its
/// `confirm` question and whether it `answers_yes`; empty when an answering flag is set.
pub fn pending_questions<'a>(
    params: impl IntoIterator<Item = (&'a str, Option<&'a str>, bool)> + Clone,
    args: &Value,
) -> Vec<&'a str> {
    let set = |name: &str| args.get(name).and_then(Value::as_bool).unwrap_or(false);
    if params
        .clone()
        .into_iter()
        .any(|(name, _, answers_yes)| answers_yes && set(name))
    {
        return Vec::new();
    }
    params
        .into_iter()
        .filter(|(name, _, _)| set(name))
        .filter_map(|(_, question, _)| question)
        .collect()
}

/// Asks each question through `ask` (the text of the prompt in, the answer out) and returns
/// once every answer is yes. `ask` is `None` without a terminal: then `without_terminal`
/// decides, and a refusal names `yes_flag`, the caller's way to answer yes beforehand.
pub fn confirm_flags<E: From<MaqetError>>(
    path: &str,
    questions: &[&str],
    ask: Option<Ask<'_, E>>,
    without_terminal: WithoutTerminal,
    yes_flag: &str,
) -> Result<(), E> {
    if questions.is_empty() {
        return Ok(());
    }
    let Some(ask) = ask else {
        return match without_terminal {
            WithoutTerminal::Proceed => Ok(()),
            WithoutTerminal::Refuse => Err(MaqetError::NeedsConfirmation {
                command: path.to_string(),
                questions: questions.iter().map(|q| q.to_string()).collect(),
                yes_flag: yes_flag.to_string(),
            }
            .into()),
        };
    };
    for question in questions {
        let answer = ask(&format!("{question} [y/N]: "))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(MaqetError::Declined {
                command: path.to_string(),
            }
            .into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    const RM: [(&str, Option<&str>, bool); 2] = [
        ("force", None, true),
        ("all", Some("Remove ALL virtual machines?"), false),
    ];

    #[test]
    fn a_set_flag_asks_unless_an_answering_flag_is_set() {
        let asked = pending_questions(RM, &serde_json::json!({"all": true}));
        assert_eq!(asked, ["Remove ALL virtual machines?"]);
        let forced = pending_questions(RM, &serde_json::json!({"all": true, "force": true}));
        assert!(forced.is_empty());
        assert!(pending_questions(RM, &serde_json::json!({})).is_empty());
    }

    #[test]
    fn no_is_cancelled_and_no_terminal_follows_the_face() {
        let q = ["Remove ALL virtual machines?"];
        let mut no = |_: &str| Ok::<_, MaqetError>("n\n".to_string());
        let err = confirm_flags("rm", &q, Some(&mut no), WithoutTerminal::Proceed, "--force")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Cancelled);
        let mut yes = |_: &str| Ok::<_, MaqetError>("yes".to_string());
        assert!(confirm_flags("rm", &q, Some(&mut yes), WithoutTerminal::Refuse, "x").is_ok());
        assert!(
            confirm_flags::<MaqetError>("rm", &q, None, WithoutTerminal::Proceed, "--force")
                .is_ok()
        );
        let refused =
            confirm_flags::<MaqetError>("rm", &q, None, WithoutTerminal::Refuse, "force=True")
                .unwrap_err();
        assert!(refused.to_string().contains("no terminal"), "{refused}");
        assert!(refused.to_string().contains("force=True"), "{refused}");
    }
}
