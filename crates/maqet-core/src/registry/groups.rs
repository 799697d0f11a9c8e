//! Command groups (`qmp`, `storage`, ...): they exist because methods name them.
//!
//! A method's `group = "x"` puts it under `maqet x`; exactly one method of the group also
//! says `group_about = ".."`, which registers the [`ApiGroup`] that describes `maqet x`, unless
//! `maqet x` is itself a command (`qmp`), whose description then serves. [`check_groups`] finds
//! a group without a description, or with two.

use super::methods_unordered;

/// The description of one command group, registered next to a method of the group.
#[derive(Debug)]
pub struct ApiGroup {
    /// The group's command word.
    pub name: &'static str,
    /// One-line description of the parent command.
    pub about: &'static str,
}

inventory::collect!(ApiGroup);

/// Every group some registered method belongs to, sorted, with its description (empty when
/// none is registered: [`check_groups`] reports that).
pub fn groups() -> Vec<(&'static str, &'static str)> {
    let mut names: Vec<&'static str> = methods_unordered().filter_map(|m| m.group).collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|name| (name, group_about(name).unwrap_or_default()))
        .collect()
}

/// The description of a group: its [`ApiGroup`], else the top-level command of that name.
pub fn group_about(name: &str) -> Option<&'static str> {
    inventory::iter::<ApiGroup>
        .into_iter()
        .find(|g| g.name == name)
        .map(|g| g.about)
        .or_else(|| own_command(name).map(|m| m.about))
}

fn own_command(name: &str) -> Option<&'static super::ApiMethod> {
    methods_unordered().find(|m| m.group.is_none() && m.name == name)
}

/// Every problem with the group declarations: a group used by methods without a description,
/// a group described twice, or a description of a group no method uses.
pub fn check_groups() -> Vec<String> {
    let mut problems = Vec::new();
    let used: Vec<&str> = groups().into_iter().map(|(name, _)| name).collect();
    for name in &used {
        let declared = inventory::iter::<ApiGroup>
            .into_iter()
            .filter(|g| g.name == *name)
            .count()
            + usize::from(own_command(name).is_some());
        match declared {
            1 => {}
            0 => problems.push(format!(
                "group `{name}` has no description: add `group_about = \"..\"` to one of its methods"
            )),
            n => problems.push(format!(
                "group `{name}` is described {n} times: keep one `group_about` (none when `maqet {name}` is itself a command)"
            )),
        }
    }
    for group in inventory::iter::<ApiGroup> {
        if !used.contains(&group.name) {
            problems.push(format!(
                "group `{}` is described but no method belongs to it",
                group.name
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_group_has_exactly_one_description() {
        assert_eq!(super::check_groups(), Vec::<String>::new());
        assert!(!super::groups().is_empty());
    }
}
