//! The one field reader of the drivers' one-line JSON answers (the Python
//! drivers of tests/interop print flat objects). Included (`#[path]`, as
//! `json`) by the test binaries that run drivers and by the benchmark.

/// The value of the top-level `key` in `line`: a string's text (only `\"`
/// and `\\` are unescaped), any other value (number, boolean, null) as
/// written; None when the key is missing or its string is unterminated.
pub fn field(line: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\": ");
    let rest = &line[line.find(&pat)? + pat.len()..];
    let Some(text) = rest.strip_prefix('"') else {
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        return Some(rest[..end].trim().to_string());
    };
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return Some(out),
            c => out.push(c),
        }
    }
    None
}
