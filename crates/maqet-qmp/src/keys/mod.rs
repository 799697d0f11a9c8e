//! QEMU key names (qcodes) and typing text on a US keyboard layout.
//!
//! ```
//! use maqet_qmp::keys;
//!
//! assert!(keys::validate_keys(&["ctrl", "alt", "delete"]).is_ok());
//! let err = keys::validate_keys(&["ctrl", "enter"]).unwrap_err();
//! assert_eq!(err.suggestion, Some("ret"));
//! assert_eq!(keys::text_to_chords("Hi!").unwrap(), vec![vec!["shift", "h"], vec!["i"], vec!["shift", "1"]]);
//! ```

mod qcodes;
mod text;

pub use qcodes::QCODES;
pub use text::{UntypeableChar, char_to_chord, text_to_chords};

/// A key name that is not a QEMU qcode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a QEMU key name (qcode); {}", hint(.suggestion))]
pub struct KeyError {
    /// The rejected name.
    pub name: String,
    /// The closest qcode, when one is close enough to be a likely typo.
    pub suggestion: Option<&'static str>,
}

fn hint(suggestion: &Option<&'static str>) -> String {
    match suggestion {
        Some(qcode) => format!("did you mean {qcode:?}?"),
        None => {
            "key names look like \"a\", \"ret\", \"spc\", \"ctrl\", \"f1\", \"kp_1\"".to_owned()
        }
    }
}

/// Whether `name` is a QEMU key name (exact, lowercase, e.g. `"ret"`, `"kp_1"`, `"meta_l"`).
pub fn is_qcode(name: &str) -> bool {
    QCODES.contains(&name)
}

/// Checks every name with [`is_qcode`]; the first unknown one is returned with a suggestion.
pub fn validate_keys(keys: &[&str]) -> Result<(), KeyError> {
    match keys.iter().find(|key| !is_qcode(key)) {
        None => Ok(()),
        Some(name) => Err(KeyError {
            name: (*name).to_owned(),
            suggestion: suggest(name),
        }),
    }
}

/// The qcode a mistyped or differently-spelled key name most likely meant.
fn suggest(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if let Some(&exact) = QCODES.iter().find(|q| **q == lower) {
        return Some(exact);
    }
    if let Some(&(_, qcode)) = qcodes::ALIASES.iter().find(|(alias, _)| *alias == lower) {
        return Some(qcode);
    }
    let max_distance = (lower.chars().count() / 3).clamp(1, 2);
    QCODES
        .iter()
        .map(|q| (strsim::osa_distance(&lower, q), *q))
        .filter(|(distance, _)| *distance <= max_distance)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, q)| q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_qemu_qcode_set_is_accepted() {
        for key in [
            "ret", "spc", "kp_0", "kp_enter", "meta_l", "f12", "f24", "ac_home", "sysrq", "less",
        ] {
            assert!(is_qcode(key), "{key}");
        }
        assert!(!is_qcode("RET"));
        assert!(!is_qcode("notakey"));
    }

    #[test]
    fn validate_reports_first_bad_key_with_suggestion() {
        let err = validate_keys(&["ctrl", "shfit", "escape"]).unwrap_err();
        assert_eq!(
            err,
            KeyError {
                name: "shfit".into(),
                suggestion: Some("shift")
            }
        );
        assert_eq!(
            err.to_string(),
            "\"shfit\" is not a QEMU key name (qcode); did you mean \"shift\"?"
        );
    }

    #[test]
    fn common_names_and_wrong_case_suggest_the_qcode() {
        assert_eq!(suggest("Enter"), Some("ret"));
        assert_eq!(suggest("space"), Some("spc"));
        assert_eq!(suggest("ESC"), Some("esc"));
        assert_eq!(suggest("pagedown"), Some("pgdn"));
    }

    #[test]
    fn far_off_names_get_no_suggestion() {
        let err = validate_keys(&["notakey"]).unwrap_err();
        assert_eq!(err.suggestion, None);
        assert!(!err.to_string().contains("did you mean"));
    }

    #[test]
    fn qcode_list_has_no_duplicates() {
        let mut sorted = QCODES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), QCODES.len());
    }
}
