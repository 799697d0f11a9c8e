//! Parameters that are exactly one of several flags (`wait --serial | --state | --agent ...`),
//! declared as an enum with `#[derive(OneOf)]` (see `maqet_macros`) and taken by a command as
//! one `#[arg(one_of)]` parameter.

use super::{Args, ParamSpec};
use crate::MaqetError;

/// An enum whose variants are a command's mutually exclusive flags; derive it with
/// `#[derive(maqet_macros::OneOf)]`.
pub trait OneOf: Sized {
    /// One flag per variant, in declaration order, each with `one_of` naming the group.
    const PARAMS: &'static [ParamSpec];
    /// The long flag (without `--`) of this value's variant: `serial` for `Serial(..)`.
    fn flag(&self) -> &'static str;
    /// Takes every variant's flag from `args`; exactly one must be given.
    fn take_from(args: &mut Args) -> Result<Self, MaqetError>;
}

/// The one value given, or the error listing the flags of `T` when none or several were.
pub fn exactly_one<T: OneOf>(mut chosen: Vec<T>) -> Result<T, MaqetError> {
    if chosen.len() == 1
        && let Some(value) = chosen.pop()
    {
        return Ok(value);
    }
    Err(MaqetError::invalid(format!(
        "give exactly one of {}",
        flag_list(T::PARAMS)
    )))
}

/// `--a, --b or --c`.
fn flag_list(params: &[ParamSpec]) -> String {
    let flags: Vec<String> = params.iter().map(|p| format!("--{}", p.long)).collect();
    match flags.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => flags.join(""),
    }
}

/// The total length of `parts` (the registry's parameter list of a command with a group).
pub const fn params_len(parts: &[&[ParamSpec]]) -> usize {
    let mut total = 0;
    let mut i = 0;
    while i < parts.len() {
        total += parts[i].len();
        i += 1;
    }
    total
}

/// `parts` one after the other, in a constant (`N` is [`params_len`] of `parts`).
pub const fn concat_params<const N: usize>(parts: &[&[ParamSpec]]) -> [ParamSpec; N] {
    let mut out = [BLANK; N];
    let mut at = 0;
    let mut i = 0;
    while i < parts.len() {
        let mut j = 0;
        while j < parts[i].len() {
            out[at] = parts[i][j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    out
}

/// Filler for [`concat_params`], overwritten before use.
const BLANK: ParamSpec = ParamSpec {
    name: "",
    long: "",
    short: None,
    kind: super::ParamKind::Bool,
    item_kind: super::ParamKind::Bool,
    required: false,
    positional: false,
    help: "",
    default: None,
    value_name: None,
    possible_values: &[],
    confirm: None,
    answers_yes: false,
    one_of: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(long: &'static str) -> ParamSpec {
        ParamSpec {
            name: long,
            long,
            one_of: Some("group"),
            ..BLANK
        }
    }

    #[test]
    fn the_message_lists_the_flags() {
        assert_eq!(
            flag_list(&[flag("serial"), flag("state"), flag("ssh")]),
            "--serial, --state or --ssh"
        );
        assert_eq!(flag_list(&[flag("agent")]), "--agent");
    }

    #[test]
    fn concatenation_keeps_order() {
        const A: &[ParamSpec] = &[BLANK];
        const PARTS: &[&[ParamSpec]] = &[A, &[], A];
        const ALL: [ParamSpec; params_len(PARTS)] = concat_params(PARTS);
        assert_eq!(ALL.len(), 2);
    }
}
