//! Small text helpers shared by error messages.

/// The candidate closest to `input` by edit distance, when it is close enough to be a typo.
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(input, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    #[test]
    fn suggests_near_names_only() {
        let keys = ["memory", "cpu", "storage"];
        assert_eq!(super::closest("memroy", keys), Some("memory"));
        assert_eq!(super::closest("zzzzzz", keys), None);
    }
}
