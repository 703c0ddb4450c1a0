//! "Did you mean": the known name closest to a mistyped one, for every place a user names a
//! setting, a field or a filter.

/// The candidate closest to `word` (case ignored), if one is close enough to be what was
/// meant: a Jaro-Winkler similarity of at least 0.8, as clap uses for its own suggestions.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&word, &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// `; did you mean 'x'?` when one is close, else nothing: to append to an error message.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(word, candidates)
        .map(|c| format!("; did you mean '{c}'?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_name_is_suggested_a_far_one_is_not() {
        let known = ["firstname", "lastname", "email", "overlap_window"];
        assert_eq!(closest("firstnme", known), Some("firstname"));
        assert_eq!(closest("Overlap_Windw", known), Some("overlap_window"));
        assert_eq!(closest("zzz", known), None);
        assert_eq!(did_you_mean("emial", known), "; did you mean 'email'?");
        assert_eq!(did_you_mean("zzz", known), "");
    }
}
