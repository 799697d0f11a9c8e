//! Rejecting plugins whose command names are already taken.

use std::collections::HashMap;

use super::{LoadedPlugin, RejectedPlugin};
use maqet_command::CommandSpec;

/// Who owns a name users can type.
enum Owner {
    Builtin,
    Plugin { name: String, path: String },
}

/// Removes from `plugins` every plugin whose commands clash with a built-in name or with a
/// plugin earlier in the list (the first one wins), and returns them with the reason.
///
/// `builtin_names` holds everything users can already type: command names, aliases, group
/// names, and grouped commands as `"group name"`.
pub fn check_clashes(
    plugins: &mut Vec<LoadedPlugin>,
    builtin_names: &[&str],
) -> Vec<RejectedPlugin> {
    let mut taken: HashMap<String, Owner> = builtin_names
        .iter()
        .map(|name| ((*name).to_owned(), Owner::Builtin))
        .collect();
    let mut rejected = Vec::new();
    plugins.retain(|plugin| {
        let names = typed_names(plugin.commands());
        if let Some(reason) =
            own_duplicate(plugin.commands()).or_else(|| first_clash(&names, &taken))
        {
            rejected.push(RejectedPlugin {
                path: plugin.path().to_owned(),
                reason,
            });
            return false;
        }
        for name in names {
            taken.insert(
                name,
                Owner::Plugin {
                    name: plugin.name().to_owned(),
                    path: plugin.path().display().to_string(),
                },
            );
        }
        true
    });
    rejected
}

/// maqet invokes plugin commands by bare name, so names and aliases must be unique per plugin.
fn own_duplicate(commands: &[CommandSpec]) -> Option<String> {
    let mut seen = std::collections::HashSet::new();
    commands
        .iter()
        .flat_map(|c| std::iter::once(&c.name).chain(&c.aliases))
        .find(|name| !seen.insert(name.as_str()))
        .map(|name| format!("it offers two commands named `{name}`; the plugin must rename one"))
}

/// Every name a user can type to reach the commands (full names, aliases, group names).
fn typed_names(commands: &[CommandSpec]) -> Vec<String> {
    let mut names = Vec::new();
    for command in commands {
        let prefix = command.group.as_ref().map(|g| format!("{g} "));
        let prefix = prefix.as_deref().unwrap_or("");
        names.push(format!("{prefix}{}", command.name));
        names.extend(command.aliases.iter().map(|a| format!("{prefix}{a}")));
    }
    names
}

fn first_clash(names: &[String], taken: &HashMap<String, Owner>) -> Option<String> {
    names.iter().find_map(|name| {
        // A top-level command named like an existing group, or a group named like an existing
        // top-level command, hides one of them too.
        let group = name.split_once(' ').map(|(group, _)| group);
        let owner = taken
            .get(name)
            .or_else(|| group.and_then(|g| taken.get(g)))
            .or_else(|| {
                taken
                    .iter()
                    .find(|(other, _)| other.split_once(' ').is_some_and(|(g, _)| g == name))
                    .map(|(_, owner)| owner)
            })?;
        Some(match owner {
            Owner::Builtin => format!(
                "its command `{name}` clashes with maqet's built-in `{name}`; \
                 the plugin must rename it"
            ),
            Owner::Plugin { name: other, path } => format!(
                "its command `{name}` is already provided by plugin `{other}` ({path}), \
                 which was loaded first; remove one of the two"
            ),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(names: &[&str]) -> HashMap<String, Owner> {
        names
            .iter()
            .map(|n| ((*n).to_owned(), Owner::Builtin))
            .collect()
    }

    #[test]
    fn grouped_and_aliased_names_are_what_users_type() {
        let commands = [
            CommandSpec::new("snap", "x").group("vm").alias("sn"),
            CommandSpec::new("export", "x"),
        ];
        assert_eq!(typed_names(&commands), ["vm snap", "vm sn", "export"]);
    }

    #[test]
    fn duplicate_names_inside_one_plugin_are_caught() {
        let commands = [
            CommandSpec::new("list", "x").group("vm"),
            CommandSpec::new("list", "x").group("net"),
        ];
        assert!(
            own_duplicate(&commands)
                .unwrap()
                .contains("two commands named `list`")
        );
        assert!(own_duplicate(&commands[..1]).is_none());
    }

    #[test]
    fn clashes_cover_names_aliases_and_groups() {
        let builtins = taken(&["start", "qmp keys", "storage"]);
        assert!(first_clash(&["start".to_owned()], &builtins).is_some());
        // A command named like a built-in group, or put in a group named like a command.
        assert!(first_clash(&["qmp".to_owned()], &builtins).is_some());
        assert!(first_clash(&["storage attach".to_owned()], &builtins).is_some());
        assert!(first_clash(&["start now".to_owned()], &builtins).is_some());
        assert!(
            first_clash(
                &["qmp screenshot".to_owned(), "hello".to_owned()],
                &builtins
            )
            .is_none()
        );
        let reason = first_clash(&["start".to_owned()], &builtins).unwrap();
        assert!(reason.contains("built-in `start`"), "{reason}");
    }
}
