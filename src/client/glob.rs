//! The file filter of directory operations. Pure logic.

/// Whether `path` (components separated by `/`, relative to the directory
/// of the operation) matches `pattern`: `*` stands for any run of
/// characters within one component, `?` for one character other than `/`,
/// `**` for any run of characters including `/` (`**/` also for none: `**/*.bin`
/// matches `a.bin`); every other character stands for itself. A pattern
/// without `/` is matched against the last component (the file name) alone.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let subject = if pattern.contains('/') {
        path
    } else {
        path.rsplit('/').next().unwrap_or(path)
    };
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = subject.chars().collect();
    // can[i][j]: pattern from i matches subject from j.
    let mut can = vec![vec![false; s.len() + 1]; p.len() + 1];
    can[p.len()][s.len()] = true;
    for i in (0..p.len()).rev() {
        for j in (0..=s.len()).rev() {
            can[i][j] = match p[i] {
                '*' if p.get(i + 1) == Some(&'*') => {
                    // `**/` may also stand for no directory at all.
                    let after = if p.get(i + 2) == Some(&'/') {
                        i + 3
                    } else {
                        i + 2
                    };
                    (after > i + 2 && can[after][j])
                        || can[i + 2][j]
                        || (j < s.len() && can[i][j + 1])
                }
                '*' => can[i + 1][j] || (j < s.len() && s[j] != '/' && can[i][j + 1]),
                '?' => j < s.len() && s[j] != '/' && can[i + 1][j + 1],
                c => j < s.len() && s[j] == c && can[i + 1][j + 1],
            };
        }
    }
    can[0][0]
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn a_pattern_without_slash_matches_file_names() {
        assert!(glob_match("*.ulg", "2024-01-01/12_00_00.ulg"));
        assert!(glob_match("*.ulg", "a.ulg"));
        assert!(!glob_match("*.ulg", "a.ulg.bak"));
        assert!(glob_match("log_??.bin", "x/log_07.bin"));
        assert!(!glob_match("log_??.bin", "log_7.bin"));
        assert!(glob_match("*", "anything/at/all"));
    }

    #[test]
    fn a_pattern_with_slash_matches_the_relative_path() {
        assert!(glob_match("2024-*/*.ulg", "2024-01-01/a.ulg"));
        assert!(
            !glob_match("2024-*/*.ulg", "2024-01-01/x/a.ulg"),
            "* stays in a component"
        );
        assert!(glob_match("**/*.ulg", "2024-01-01/x/a.ulg"));
        assert!(glob_match("**/*.ulg", "a.ulg"), "**/ may be nothing");
        assert!(glob_match("a/**", "a/b/c"));
        assert!(!glob_match("a/**", "b/c"));
        assert!(!glob_match("a/?", "a/"));
    }
}
