//! include/mavftp.h is exactly what cbindgen generates from src/ffi/ and
//! cbindgen.toml. `MAVFTP_BLESS=1 cargo test --test header` rewrites it.

use std::path::Path;

#[test]
fn committed_header_matches_cbindgen_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml parses");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("header is UTF-8");
    let path = root.join("include/mavftp.h");
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
            "include/mavftp.h differs from cbindgen's output (first at line {}: committed {:?}, generated {:?}).\n\
             Run `MAVFTP_BLESS=1 cargo test --test header` and commit the header.",
            first_diff + 1,
            committed.lines().nth(first_diff),
            generated.lines().nth(first_diff)
        );
    }
}
