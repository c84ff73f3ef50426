//! include/mavftp.h is generated: cbindgen writes the declarations from
//! src/ffi/ and cbindgen.toml, and `generate_header` below arranges them in
//! sections under the preamble of cbindgen.toml, adds the version macros from
//! Cargo.toml and leaves out Rust constants without the MAVFTP_ prefix (cbindgen
//! sees every `pub const` of the crate). The first test fails when the
//! committed header differs; `MAVFTP_BLESS=1 cargo test --release --test c_abi header::`
//! rewrites it.

use crate::support::root;

/// The header's sections, in order (each may use the types of the ones
/// before it): title and what it holds.
const SECTIONS: [(&str, &str); 5] = [
    (
        "Results, version and limits",
        "The result codes every function returns, the library version, limits.",
    ),
    (
        "Link",
        "One MAVLink connection (UDP, TCP, serial, or bytes the application moves),\n * shared by the clients and servers on it.",
    ),
    (
        "Listing",
        "A remote directory listing as a client returns it.",
    ),
    (
        "Client",
        "Talks to one remote FTP server: transfers, listings, commands; each\n * operation blocking or _async.",
    ),
    (
        "Server",
        "The vehicle side: serves one directory (a jail) to every peer on a link.",
    ),
];

/// The section of a declared name; None for a name the rules do not know
/// (the generator then fails, so a new kind of item gets a deliberate place).
fn section_of(name: &str) -> Option<usize> {
    let n = name;
    if n == "mavftp_result"
        || n == "mavftp_result_str"
        || n == "mavftp_last_error"
        || n == "mavftp_version"
        || n == "MAVFTP_MAX_PATH_LEN"
    {
        Some(0)
    } else if n.starts_with("mavftp_link")
        || n == "mavftp_send_cb"
        || n == "MAVFTP_DEFAULT_SYSTEM_ID"
        || n == "MAVFTP_DEFAULT_COMPONENT_ID"
        || n == "MAVFTP_SIGNING_KEY_LEN"
        || n == "mavftp_signing_stats"
    {
        Some(1)
    } else if n.starts_with("mavftp_list") || n == "mavftp_entry" || n.starts_with("MAVFTP_ENTRY_")
    {
        Some(2)
    } else if n.starts_with("mavftp_client")
        || n.starts_with("mavftp_progress")
        || n == "mavftp_result_cb"
        || n == "mavftp_bool_cb"
        || n.starts_with("MAVFTP_MAX_WINDOW")
        || n.starts_with("mavftp_transfer")
        || n.starts_with("mavftp_buffer")
        || n == "mavftp_chunk_cb"
        || n == "MAVFTP_MAX_PARALLEL"
    {
        Some(3)
    } else if n.starts_with("mavftp_server") || n == "MAVFTP_DEFAULT_LINK_RATE" {
        Some(4)
    } else {
        None
    }
}

/// An identifier at the start of `s`.
fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The name a block of cbindgen output declares (a macro, enum, struct,
/// typedef or function), read from its code lines (doc comments skipped).
fn declared_name(block: &str) -> Option<String> {
    let code = block.lines().map(str::trim).filter(|l| {
        !(l.starts_with("/*") || l.starts_with('*') || l.starts_with("//") || l.is_empty())
    });
    for line in code {
        if let Some(rest) = line.strip_prefix("#define ") {
            return Some(ident(rest).to_string());
        }
        if line.starts_with('#') {
            continue;
        }
        if let Some(pos) = line.find("(*") {
            return Some(ident(&line[pos + 2..]).to_string());
        }
        if let Some(rest) = line.strip_prefix("enum ") {
            return Some(ident(rest).to_string());
        }
        if let Some(rest) = line.strip_prefix("typedef struct ") {
            if let Some(body) = rest.strip_suffix(';') {
                return body.split_whitespace().last().map(String::from);
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("} ") {
            return Some(ident(rest).to_string());
        }
        if let Some(pos) = line.find('(') {
            let before = line[..pos].trim_end();
            let start = before
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(0, |i| i + 1);
            return Some(before[start..].to_string());
        }
    }
    None
}

/// cbindgen's output for the crate with `config`.
fn cbindgen_output(config: cbindgen::Config) -> String {
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root())
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut out);
    String::from_utf8(out).expect("header is UTF-8")
}

fn version_macros() -> String {
    let (major, minor, patch) = (
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
    );
    format!(
        "/**\n * Version of this header (from Cargo.toml); mavftp_version() gives the\n \
         * version of the library loaded at run time.\n */\n\
         #define MAVFTP_VERSION_MAJOR {major}\n\
         #define MAVFTP_VERSION_MINOR {minor}\n\
         #define MAVFTP_VERSION_PATCH {patch}\n\n\
         /**\n * The same version as text, e.g. \"0.1.0\".\n */\n\
         #define MAVFTP_VERSION_STRING \"{major}.{minor}.{patch}\"\n"
    )
}

/// The header: preamble, guard, includes, then the sections, all inside one
/// extern "C" block for C++.
fn generate_header() -> String {
    let mut config =
        cbindgen::Config::from_file(root().join("cbindgen.toml")).expect("cbindgen.toml parses");
    let preamble = config.header.take().expect("cbindgen.toml has a header");
    let guard = config
        .include_guard
        .take()
        .expect("cbindgen.toml has an include_guard");
    let includes = std::mem::take(&mut config.sys_includes);
    config.after_includes = None;
    config.trailer = None;
    config.autogen_warning = None;
    let items = cbindgen_output(config);

    // cbindgen writes the types, then the functions inside its own extern "C" block.
    let (types, functions) = items
        .split_once("extern \"C\" {\n#endif // __cplusplus\n")
        .expect("cbindgen's extern \"C\" block");
    let types = types
        .trim_end()
        .strip_suffix("#ifdef __cplusplus")
        .expect("extern \"C\" opens with #ifdef __cplusplus");
    let functions = functions
        .split("#ifdef __cplusplus\n}  // extern \"C\"")
        .next()
        .expect("cbindgen closes extern \"C\"");

    let mut sections: Vec<Vec<String>> = vec![Vec::new(); SECTIONS.len()];
    sections[0].push(version_macros());
    let mut unplaced = Vec::new();
    for part in [types, functions] {
        for block in part.split("\n\n").map(str::trim).filter(|b| !b.is_empty()) {
            let name = declared_name(block).unwrap_or_default();
            if !(name.starts_with("mavftp_") || name.starts_with("MAVFTP_")) {
                // Only Rust-internal `pub const`s lack the prefix; any other
                // unprefixed item would be a C name of ours, and must not vanish.
                assert!(
                    block.lines().any(|l| l.starts_with("#define ")),
                    "unprefixed C declaration {name:?} in src/ffi:\n{block}"
                );
                continue;
            }
            match section_of(&name) {
                Some(s) => sections[s].push(format!("{block}\n")),
                None => unplaced.push(name),
            }
        }
    }
    assert!(
        unplaced.is_empty(),
        "no header section for {unplaced:?}: add them to section_of() in tests/c_abi/header.rs"
    );

    let mut out = String::new();
    out.push_str(preamble.trim_end());
    out.push_str(&format!("\n\n#ifndef {guard}\n#define {guard}\n\n"));
    for inc in &includes {
        out.push_str(&format!("#include <{inc}>\n"));
    }
    out.push_str("\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n");
    for (i, ((title, about), blocks)) in SECTIONS.iter().zip(&sections).enumerate() {
        out.push_str(&format!(
            "\n/* ========================================================================\n \
             * {}. {title}\n * {about}\n \
             * ======================================================================== */\n",
            i + 1
        ));
        for block in blocks {
            out.push('\n');
            out.push_str(block);
        }
    }
    out.push_str(&format!(
        "\n#ifdef __cplusplus\n}}  /* extern \"C\" */\n#endif\n\n#endif  /* {guard} */\n"
    ));
    out
}

#[test]
fn committed_header_matches_the_generator() {
    let generated = generate_header();
    let path = root().join("include/mavftp.h");
    if std::env::var_os("MAVFTP_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write include/mavftp.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let first_diff = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
        panic!(
            "include/mavftp.h differs from the generator's output (first at line {}: committed {:?}, generated {:?}).\n\
             Run `MAVFTP_BLESS=1 cargo test --release --test c_abi header::` and commit the header.",
            first_diff + 1,
            committed.lines().nth(first_diff),
            generated.lines().nth(first_diff)
        );
    }
}

#[test]
fn header_declares_only_mavftp_names() {
    let header = generate_header();
    let mut strays = Vec::new();
    for block in header.split("\n\n") {
        if let Some(name) = declared_name(block).filter(|n| !n.is_empty())
            && !(name.starts_with("mavftp_") || name.starts_with("MAVFTP_"))
        {
            strays.push(name);
        }
    }
    for line in header.lines() {
        let t = line.trim();
        // macros and enumerators (`    MAVFTP_RESULT_SUCCESS = 1,`)
        let name = match t.strip_prefix("#define ") {
            Some(rest) => ident(rest),
            None if t.contains(" = ") && !t.starts_with('*') => ident(t),
            None => continue,
        };
        if !name.starts_with("MAVFTP_") {
            strays.push(name.to_string());
        }
    }
    assert!(
        strays.is_empty(),
        "names without the mavftp prefix: {strays:?}"
    );
    assert!(
        !header.contains("[`"),
        "a Rust doc link leaked into the header"
    );
}

#[test]
fn version_macros_come_from_cargo_toml() {
    let header = generate_header();
    for (name, value) in [
        ("MAVFTP_VERSION_MAJOR", env!("CARGO_PKG_VERSION_MAJOR")),
        ("MAVFTP_VERSION_MINOR", env!("CARGO_PKG_VERSION_MINOR")),
        ("MAVFTP_VERSION_PATCH", env!("CARGO_PKG_VERSION_PATCH")),
    ] {
        assert!(
            header.contains(&format!("#define {name} {value}\n")),
            "{name} {value}"
        );
    }
    assert!(header.contains(&format!(
        "#define MAVFTP_VERSION_STRING \"{}\"",
        env!("CARGO_PKG_VERSION")
    )));
    let toml = std::fs::read_to_string(root().join("cbindgen.toml")).expect("read cbindgen.toml");
    assert!(
        !toml.contains("MAVFTP_VERSION_MAJOR"),
        "cbindgen.toml must not hard-code the version"
    );
}

#[test]
fn header_sections_come_in_order_with_every_function_placed() {
    let header = generate_header();
    let mut last = 0;
    for (i, (title, _)) in SECTIONS.iter().enumerate() {
        let banner = format!(" * {}. {title}\n", i + 1);
        let at = header
            .find(&banner)
            .unwrap_or_else(|| panic!("no section {banner:?}"));
        assert!(at > last, "section {title} out of order");
        last = at;
    }
    for fname in [
        "mavftp_link_open",
        "mavftp_client_new",
        "mavftp_server_new",
        "mavftp_list_free",
    ] {
        assert!(header.contains(&format!(" {fname}(")), "{fname} missing");
    }
}

/// Rows of a `a | b | c` table, cells trimmed and backticks removed.
fn table_rows<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<Vec<String>> {
    lines
        .map(|l| l.trim().trim_matches('|'))
        .filter(|l| l.contains('|') && !l.contains("---"))
        .map(|l| {
            l.split('|')
                .map(|c| {
                    c.replace('`', "")
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect()
        })
        .filter(|row: &Vec<String>| row.first().is_some_and(|c| c != "object"))
        .collect()
}

#[test]
fn readme_and_header_state_the_same_ownership_table() {
    let header = generate_header();
    let in_header = table_rows(
        header
            .lines()
            .skip_while(|l| !l.contains("Who frees what:"))
            .skip(1)
            .take_while(|l| l.trim() != "*/")
            .map(|l| l.trim_start().trim_start_matches('*')),
    );
    let readme = std::fs::read_to_string(root().join("README.md")).expect("read README.md");
    let in_readme = table_rows(
        readme
            .lines()
            .skip_while(|l| !l.starts_with("### Who frees what"))
            .skip(1)
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|')),
    );
    assert!(in_header.len() >= 7, "header table: {in_header:?}");
    assert_eq!(
        in_readme, in_header,
        "README's 'Who frees what' differs from the header's"
    );
}
