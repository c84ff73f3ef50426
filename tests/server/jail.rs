//! The server's jail: hostile paths are refused for every opcode that takes a
//! path, and nothing inside or outside the root changes.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use crate::support::*;
use mavftp::Server;
use mavftp::protocol::{NakCode, Opcode};

/// Every entry under `dir` (not following symlinks) with its content or link target.
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let md = fs::symlink_metadata(&p).unwrap();
            let key = p.strip_prefix(dir).unwrap().display().to_string();
            let val = if md.file_type().is_symlink() {
                format!("link:{}", fs::read_link(&p).unwrap().display())
            } else if md.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else {
                format!("file:{}:{:?}", md.len(), fs::read(&p).unwrap())
            };
            out.insert(key, val);
        }
    }
    out
}

struct Fixture {
    _tmp: tempfile::TempDir,
    base: std::path::PathBuf,
    root: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().to_path_buf();
    let root = base.join("root");
    fs::create_dir_all(root.join("a/b")).unwrap();
    fs::write(root.join("a/f.txt"), b"inside").unwrap();
    fs::write(root.join("keep.txt"), b"keep").unwrap();
    fs::create_dir_all(base.join("root2")).unwrap();
    fs::write(base.join("root2/secret.txt"), b"sibling secret").unwrap();
    fs::create_dir_all(base.join("outside/sub")).unwrap();
    fs::write(base.join("outside/secret.txt"), b"outside secret").unwrap();
    symlink(base.join("root2/secret.txt"), root.join("link_out_file")).unwrap();
    symlink(base.join("outside"), root.join("link_out_dir")).unwrap();
    symlink(root.join("chain2"), root.join("chain1")).unwrap();
    symlink(base.join("outside"), root.join("chain2")).unwrap();
    symlink(base.join("outside/nonexistent"), root.join("dangling_out")).unwrap();
    symlink("../root2", root.join("a/rel_out")).unwrap();
    Fixture {
        _tmp: tmp,
        base,
        root,
    }
}

fn hostile_paths() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        "../",
        "..",
        "/..",
        "/../../etc/passwd",
        "a/../../x",
        "/../root2/secret.txt",
        "../root2",
        "../root2/secret.txt",
        "/../root2/new.txt",
        "a/../../root2",
        "link_out_file",
        "link_out_dir",
        "link_out_dir/secret.txt",
        "link_out_dir/newfile",
        "link_out_dir/sub",
        "chain1",
        "chain1/secret.txt",
        "chain1/newdir",
        "a/rel_out/secret.txt",
        "a/rel_out",
        "a/b/../../../outside/secret.txt",
        "//..",
        "./../",
        "/./../root2/new",
        "/../../../../../../../../tmp",
        "dangling_out",
        "",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    v.push(b"keep.txt\0../x".to_vec());
    v.push(b"a/\0/../../outside".to_vec());
    v.push(vec![b'x'; 239]);
    v.push(b"\xff\xfe/../x".to_vec());
    v.push(b"a/\xc3".to_vec());
    v
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Plain(Opcode),
    RenameFrom,
    RenameTo,
}

fn path_ops() -> Vec<Op> {
    vec![
        Op::Plain(Opcode::OpenFileRO),
        Op::Plain(Opcode::OpenFileWO),
        Op::Plain(Opcode::CreateFile),
        Op::Plain(Opcode::RemoveFile),
        Op::Plain(Opcode::CreateDirectory),
        Op::Plain(Opcode::RemoveDirectory),
        Op::Plain(Opcode::ListDirectory),
        Op::Plain(Opcode::ListDirectoryWithTime),
        Op::Plain(Opcode::TruncateFile),
        Op::Plain(Opcode::CalcFileCRC32),
        Op::RenameFrom,
        Op::RenameTo,
    ]
}

#[test]
fn hostile_paths_are_refused_for_every_path_opcode_and_nothing_changes() {
    let fx = fixture();
    let before = snapshot(&fx.base);
    let hub = Hub::new();
    let _server = Server::new(&hub.server, &fx.root).unwrap();
    let mut r = hub.requester(200, 190);
    let paths = hostile_paths();
    assert!(paths.len() >= 30);
    let mut checked = 0;
    for path in &paths {
        for op in path_ops() {
            let (opcode, data) = match op {
                Op::Plain(o) => (o, path.clone()),
                Op::RenameFrom => {
                    let mut d = path.clone();
                    d.push(0);
                    d.extend_from_slice(b"renamed_ok");
                    (Opcode::Rename, d)
                }
                Op::RenameTo => {
                    let mut d = b"keep.txt\0".to_vec();
                    d.extend_from_slice(path);
                    (Opcode::Rename, d)
                }
            };
            if data.len() > 239 {
                continue; // cannot be carried by one packet
            }
            // Truncate to 0 would destroy the target if it were reached.
            let reply = r.call(opcode, 0, 0, &data);
            assert_eq!(
                reply.opcode,
                Opcode::Nak,
                "{op:?} {:?} was not refused: {reply:?}",
                String::from_utf8_lossy(path)
            );
            assert!(reply.nak_code() != Some(NakCode::None));
            checked += 1;
        }
    }
    assert!(checked >= 30 * 12 - 20, "checked {checked}");
    assert_eq!(snapshot(&fx.base), before, "the filesystem changed");
    // The server still works afterwards.
    assert_eq!(read_whole(&mut r, "/a/f.txt"), b"inside");
}

#[test]
fn the_root_itself_cannot_be_removed_renamed_or_truncated() {
    let fx = fixture();
    let before = snapshot(&fx.base);
    let hub = Hub::new();
    let _server = Server::new(&hub.server, &fx.root).unwrap();
    let mut r = hub.requester(201, 190);
    for path in [".", "/", "a/..", "/./", "//"] {
        for (op, data) in [
            (Opcode::RemoveDirectory, path.as_bytes().to_vec()),
            (Opcode::RemoveFile, path.as_bytes().to_vec()),
            (Opcode::TruncateFile, path.as_bytes().to_vec()),
            (Opcode::OpenFileWO, path.as_bytes().to_vec()),
            (Opcode::CreateFile, path.as_bytes().to_vec()),
            (Opcode::CreateDirectory, path.as_bytes().to_vec()),
            (Opcode::OpenFileRO, path.as_bytes().to_vec()),
            (Opcode::CalcFileCRC32, path.as_bytes().to_vec()),
            (Opcode::Rename, format!("{path}\0moved").into_bytes()),
            (Opcode::Rename, format!("keep.txt\0{path}").into_bytes()),
        ] {
            let reply = r.call(op, 0, 0, &data);
            assert_eq!(reply.opcode, Opcode::Nak, "{op:?} {path:?}: {reply:?}");
        }
        // Listing the root through these spellings is allowed and stays inside.
        let list = r.call(Opcode::ListDirectory, 0, 0, path.as_bytes());
        assert!(is_ack(&list), "list {path:?}");
        let text = String::from_utf8_lossy(&list.data).to_string();
        assert!(text.contains("Fkeep.txt\t4\0"), "{text:?}");
        assert!(!text.contains("secret"));
    }
    assert_eq!(snapshot(&fx.base), before);
}

#[test]
fn symlinks_inside_the_root_work_and_listing_shows_them_as_placeholders() {
    let fx = fixture();
    symlink(fx.root.join("a"), fx.root.join("in_dir")).unwrap();
    let hub = Hub::new();
    let _server = Server::new(&hub.server, &fx.root).unwrap();
    let mut r = hub.requester(202, 190);
    assert_eq!(read_whole(&mut r, "in_dir/f.txt"), b"inside");
    let list = r.call(Opcode::ListDirectory, 0, 0, b"/");
    let (entries, _) = mavftp::protocol::parse_listing(&list.data);
    // a, chain1, chain2, dangling_out, in_dir, keep.txt, link_out_dir, link_out_file
    assert_eq!(entries.len(), 8, "{entries:?}");
    assert!(
        matches!(&entries[0], mavftp::protocol::ListingEntry::Directory { name, .. } if name == "a")
    );
    assert_eq!(entries[1], mavftp::protocol::ListingEntry::Skip);
}

#[test]
fn read_only_mode_refuses_every_change() {
    let fx = fixture();
    let before = snapshot(&fx.base);
    let hub = Hub::new();
    let server = Server::new(&hub.server, &fx.root).unwrap();
    server.set_read_only(true);
    let mut r = hub.requester(203, 190);
    for (op, data) in [
        (Opcode::OpenFileWO, b"keep.txt".to_vec()),
        (Opcode::CreateFile, b"new.txt".to_vec()),
        (Opcode::RemoveFile, b"keep.txt".to_vec()),
        (Opcode::CreateDirectory, b"d".to_vec()),
        (Opcode::RemoveDirectory, b"a/b".to_vec()),
        (Opcode::TruncateFile, b"keep.txt".to_vec()),
        (Opcode::Rename, b"keep.txt\0k2".to_vec()),
    ] {
        let reply = r.call(op, 0, 0, &data);
        assert_eq!(reply.nak_code(), Some(NakCode::FileProtected), "{op:?}");
    }
    assert_eq!(read_whole(&mut r, "keep.txt"), b"keep");
    assert_eq!(snapshot(&fx.base), before);
    server.set_read_only(false);
    assert!(is_ack(&r.call(Opcode::CreateDirectory, 0, 0, b"d")));
    assert!(fx.root.join("d").is_dir());
}

#[test]
fn server_new_refuses_a_missing_root_or_a_file() {
    let fx = fixture();
    let hub = Hub::new();
    let e = Server::new(&hub.server, &fx.root.join("missing"))
        .err()
        .unwrap();
    assert_eq!(e.result, mavftp::FtpResult::FileDoesNotExist);
    let e = Server::new(&hub.server, &fx.root.join("keep.txt"))
        .err()
        .unwrap();
    assert_eq!(e.result, mavftp::FtpResult::FileDoesNotExist);
}
