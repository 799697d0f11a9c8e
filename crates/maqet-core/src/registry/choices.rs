//! Parameters with a closed set of values, declared once on their Rust enum.
//!
//! An enum implements [`Choice`] and `choice_arg!` turns it into an [`ArgType`](super::ArgType)
//! whose `CHOICES` feed clap's possible values, shell completions and the CLI reference.

use crate::MaqetError;

/// An enum a command parameter takes by name (`ls --status running`).
pub trait Choice: Sized + Copy + 'static {
    /// Every accepted name, in the order help lists them.
    const CHOICES: &'static [&'static str];
    /// The value of one of [`Choice::CHOICES`]; `None` for any other text.
    fn from_choice(name: &str) -> Option<Self>;
}

/// The value named `text`, or an error listing the accepted names.
pub fn parse_choice<T: Choice>(command: &str, name: &str, text: &str) -> Result<T, MaqetError> {
    T::from_choice(text).ok_or_else(|| {
        MaqetError::Argument(maqet_command::ArgError::InvalidChoice {
            command: command.to_string(),
            name: name.to_string(),
            text: text.to_string(),
            choices: T::CHOICES.iter().map(|c| c.to_string()).collect(),
        })
    })
}

/// Implements [`Choice`] for an enum with a `const ALL: [Self; N]` listing every value and a
/// `const fn as_str(self) -> &'static str` naming each one (the names are the choices).
#[macro_export]
macro_rules! named_choice {
    ($ty:ty) => {
        impl $crate::registry::Choice for $ty {
            const CHOICES: &'static [&'static str] = &{
                let mut names = [""; <$ty>::ALL.len()];
                let mut i = 0;
                while i < names.len() {
                    names[i] = <$ty>::ALL[i].as_str();
                    i += 1;
                }
                names
            };
            fn from_choice(name: &str) -> ::core::option::Option<Self> {
                <$ty>::ALL.into_iter().find(|value| value.as_str() == name)
            }
        }
    };
}

/// Implements [`ArgType`](super::ArgType) for [`Choice`] enums.
macro_rules! choice_arg {
    ($($ty:ty),* $(,)?) => {$(
        impl $crate::registry::ArgType for $ty {
            const KIND: $crate::registry::ParamKind = $crate::registry::ParamKind::String;
            const REQUIRED: bool = true;
            const CHOICES: &'static [&'static str] = <$ty as $crate::registry::Choice>::CHOICES;
            fn from_json(
                command: &str,
                name: &str,
                value: ::serde_json::Value,
            ) -> ::core::result::Result<Self, $crate::MaqetError> {
                let text = <String as $crate::registry::ArgType>::from_json(command, name, value)?;
                $crate::registry::parse_choice(command, name, &text)
            }
        }
    )*};
}
pub(crate) use choice_arg;

named_choice!(maqet_state::VmStatus);
choice_arg!(maqet_state::VmStatus);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::ArgType;

    #[test]
    fn every_status_is_a_choice_and_parses_back() {
        for status in maqet_state::VmStatus::ALL {
            assert!(<maqet_state::VmStatus as ArgType>::CHOICES.contains(&status.as_str()));
            assert_eq!(
                maqet_state::VmStatus::from_choice(status.as_str()),
                Some(status)
            );
        }
        let err = parse_choice::<maqet_state::VmStatus>("ls", "status", "asleep").unwrap_err();
        assert!(err.to_string().contains("created, running"), "{err}");
    }
}
