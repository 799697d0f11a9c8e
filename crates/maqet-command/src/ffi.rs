//! The FFI-safe forms of [`CommandSpec`] and [`ParamSpec`], which cross the dynamic-library
//! boundary between maqet and a plugin (`abi_stable` checks their layout when a plugin loads).
//!
//! Changing a field here changes the plugin interface: bump
//! `maqet_plugin_api::INTERFACE_VERSION`.

use abi_stable::StableAbi;
use abi_stable::std_types::{ROption, RString, RVec};

use crate::{CommandSpec, ParamKind, ParamSpec};

/// FFI form of [`ParamSpec`].
#[repr(C)]
#[derive(StableAbi)]
pub struct ParamSpecFfi {
    name: RString,
    kind: ParamKind,
    default: ROption<RString>,
    help: RString,
    positional: bool,
    repeatable: bool,
    required: bool,
    short: ROption<u32>,
    value_name: ROption<RString>,
    choices: RVec<RString>,
    long: ROption<RString>,
    confirm: ROption<RString>,
    answers_yes: bool,
    one_of: ROption<RString>,
}

/// FFI form of [`CommandSpec`].
#[repr(C)]
#[derive(StableAbi)]
pub struct CommandSpecFfi {
    name: RString,
    group: ROption<RString>,
    category: RString,
    about: RString,
    examples: RVec<RString>,
    aliases: RVec<RString>,
    hidden: bool,
    params: RVec<ParamSpecFfi>,
}

fn strings_to_ffi(list: &[String]) -> RVec<RString> {
    list.iter().map(|s| RString::from(s.as_str())).collect()
}

fn strings_from_ffi(list: &RVec<RString>) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn text_to_ffi(text: Option<&str>) -> ROption<RString> {
    text.map(RString::from).into()
}

fn text_from_ffi(text: &ROption<RString>) -> Option<String> {
    text.as_ref().map(|t| t.to_string()).into_option()
}

impl From<&ParamSpec> for ParamSpecFfi {
    fn from(p: &ParamSpec) -> Self {
        Self {
            name: p.name.as_str().into(),
            kind: p.kind,
            default: text_to_ffi(p.default.as_deref()),
            help: p.help.as_str().into(),
            positional: p.positional,
            repeatable: p.repeatable,
            required: p.required,
            short: p.short.map(u32::from).into(),
            value_name: text_to_ffi(p.value_name.as_deref()),
            choices: strings_to_ffi(&p.choices),
            long: text_to_ffi(p.long.as_deref()),
            confirm: text_to_ffi(p.confirm.as_deref()),
            answers_yes: p.answers_yes,
            one_of: text_to_ffi(p.one_of.as_deref()),
        }
    }
}

impl From<&ParamSpecFfi> for ParamSpec {
    fn from(p: &ParamSpecFfi) -> Self {
        Self {
            name: p.name.to_string(),
            kind: p.kind,
            default: text_from_ffi(&p.default),
            help: p.help.to_string(),
            positional: p.positional,
            repeatable: p.repeatable,
            required: p.required,
            short: p.short.into_option().and_then(char::from_u32),
            value_name: text_from_ffi(&p.value_name),
            choices: strings_from_ffi(&p.choices),
            long: text_from_ffi(&p.long),
            confirm: text_from_ffi(&p.confirm),
            answers_yes: p.answers_yes,
            one_of: text_from_ffi(&p.one_of),
        }
    }
}

impl From<&CommandSpec> for CommandSpecFfi {
    fn from(c: &CommandSpec) -> Self {
        Self {
            name: c.name.as_str().into(),
            group: text_to_ffi(c.group.as_deref()),
            category: c.category.as_str().into(),
            about: c.about.as_str().into(),
            examples: strings_to_ffi(&c.examples),
            aliases: strings_to_ffi(&c.aliases),
            hidden: c.hidden,
            params: c.params.iter().map(ParamSpecFfi::from).collect(),
        }
    }
}

impl From<&CommandSpecFfi> for CommandSpec {
    fn from(c: &CommandSpecFfi) -> Self {
        Self {
            name: c.name.to_string(),
            group: text_from_ffi(&c.group),
            category: c.category.to_string(),
            about: c.about.to_string(),
            examples: strings_from_ffi(&c.examples),
            aliases: strings_from_ffi(&c.aliases),
            hidden: c.hidden,
            params: c.params.iter().map(ParamSpec::from).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_spec_survives_ffi_round_trip() {
        let mut confirmed = ParamSpec::flag("all", ParamKind::Bool, "Every one");
        confirmed.confirm = Some("Remove every VM?".to_owned());
        confirmed.one_of = Some("which".to_owned());
        let spec = CommandSpec::new("cloud-init", "Attach a seed ISO")
            .group("vm")
            .alias("ci")
            .example("maqet cloud-init web --user-data u.yaml")
            .param(ParamSpec::positional("vm", ParamKind::String, "The VM"))
            .param(ParamSpec::flag("set", ParamKind::KeyValues, "Pairs").default_value("a=b"))
            .param(
                ParamSpec::flag("to", ParamKind::String, "Target")
                    .short('t')
                    .value_name("FORMAT")
                    .choices(&["libvirt", "nomad"]),
            )
            .param(confirmed);
        let back = CommandSpec::from(&CommandSpecFfi::from(&spec));
        assert_eq!(back, spec);
    }
}
