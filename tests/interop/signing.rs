//! MAVLink 2 message signing against pymavlink 2.4.50's own implementation,
//! both ways:
//! - pymavlink's MAVFTP client with `setup_signing` (it signs everything and
//!   accepts only correctly signed frames) against our server on a link that
//!   requires signing: downloads and uploads byte for byte; without a key or
//!   with another key it gets no answer and nothing changes on disk;
//! - our client on a link that requires signing, talking through
//!   `tests/interop/pymavlink_signing_relay.py`, a pymavlink peer that checks
//!   our client's signatures with pymavlink's code and signs what it sends
//!   back with pymavlink's code, to our (unsigned) server.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::child::ChildGuard;
use crate::content::pattern;
use crate::driver::script;
use crate::peers::{DriverAnswer, run_driver};
use crate::support::AnswerFields;
use crate::venv::venv_python;
use mavftp::FtpResult;
use mavftp::client::Client;
use mavftp::link::Link;
use mavftp::server::Server;

const PYMAVLINK: &str = "pymavlink_ftp_client.py";
const KEY: [u8; 32] = *b"interop signing key: 32 bytes ok";
const OTHER_KEY: [u8; 32] = [0x5a; 32];
const LIMIT: Duration = Duration::from_secs(90);
/// File sizes: empty, one byte, one and two pymavlink chunks around 239, and
/// a file of many bursts.
const SIZES: [usize; 5] = [0, 1, 239, 240, 200_000];

fn hex(key: &[u8; 32]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn content(size: usize) -> Vec<u8> {
    pattern(size, size as u32 + 11)
}

/// Our server on `udpin://127.0.0.1:0` as 1/1, its link requiring signing
/// with KEY when `signed`.
struct Served {
    root: tempfile::TempDir,
    local: tempfile::TempDir,
    port: u16,
    link: Link,
    _server: Server,
}

impl Served {
    fn new(signed: bool) -> Served {
        let root = tempfile::tempdir().expect("tempdir");
        let local = tempfile::tempdir().expect("tempdir");
        let link = Link::open("udpin://127.0.0.1:0", 1, 1).expect("open server link");
        if signed {
            link.set_signing(&KEY, 1, true);
        }
        let port = link.local_addr().expect("bound address").port();
        let server = Server::new(&link, root.path()).expect("start server");
        Served {
            root,
            local,
            port,
            link,
            _server: server,
        }
    }

    /// pymavlink's client with `key` (none: unsigned), op and its args.
    fn pymavlink(&self, key: Option<&[u8; 32]>, extra: &[&str], op: &[&str]) -> DriverAnswer {
        let url = format!("udpout:127.0.0.1:{}", self.port);
        let key_hex = key.map(hex);
        let mut args = vec!["--url", &url, "--idle-time", "1.5", "--timeout", "60"];
        if let Some(k) = &key_hex {
            args.extend_from_slice(&["--signing-key", k, "--signing-link-id", "4"]);
        }
        args.extend_from_slice(extra);
        args.extend_from_slice(op);
        run_driver(PYMAVLINK, &args, LIMIT)
    }
}

fn number(ans: &DriverAnswer, key: &str) -> u64 {
    ans.field(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number {key} in {}", ans.line))
}

/// pymavlink verified our frames: good signatures only, none refused.
fn assert_pymavlink_verified_us(ans: &DriverAnswer, what: &str) {
    assert!(number(ans, "goodsig_count") > 0, "{what}: {}", ans.line);
    assert_eq!(number(ans, "badsig_count"), 0, "{what}: {}", ans.line);
    assert_eq!(number(ans, "reject_count"), 0, "{what}: {}", ans.line);
}

#[test]
fn pymavlink_signing_client_downloads_and_uploads_from_our_server_requiring_signing() {
    venv_python();
    let sv = Served::new(true);
    for size in SIZES {
        fs::write(sv.root.path().join(format!("f{size}")), content(size)).expect("write");
    }
    let out = sv.local.path().join("dl");
    for (size, chunk) in SIZES.into_iter().zip(["80", "239", "239", "80", "239"]) {
        let remote = format!("/f{size}");
        let ans = sv.pymavlink(
            Some(&KEY),
            &["--burst-size", chunk],
            &["download", &remote, s(&out)],
        );
        let what = format!("signed pymavlink download of {size} B (chunk {chunk})");
        ans.expect_result("SUCCESS");
        assert_pymavlink_verified_us(&ans, &what);
        assert!(
            fs::read(out.join(format!("f{size}"))).expect("read") == content(size),
            "{what}: content differs"
        );
    }
    let src = sv.local.path().join("src");
    fs::create_dir(&src).expect("mkdir");
    fs::create_dir(sv.root.path().join("up")).expect("mkdir");
    for size in [1usize, 240, 200_000] {
        let local = src.join(format!("u{size}"));
        fs::write(&local, content(size)).expect("write");
        let ans = sv.pymavlink(Some(&KEY), &[], &["upload", s(&local), "/up"]);
        let what = format!("signed pymavlink upload of {size} B");
        ans.expect_result("SUCCESS");
        assert_pymavlink_verified_us(&ans, &what);
        assert!(
            fs::read(sv.root.path().join(format!("up/u{size}"))).expect("read") == content(size),
            "{what}: content differs"
        );
    }
    let ans = sv.pymavlink(Some(&KEY), &[], &["list", "/up"]);
    ans.expect_result("SUCCESS");
    assert!(ans.line.contains("\"u200000\""), "{}", ans.line);

    let stats = sv.link.signing_stats();
    assert!(stats.accepted_signed > 100, "{stats:?}");
    assert_eq!(stats.dropped, 0, "{stats:?}");
    assert!(stats.frames_signed > 100, "{stats:?}");
}

#[test]
fn pymavlink_without_the_key_gets_no_answer_from_our_server_requiring_signing() {
    venv_python();
    let sv = Served::new(true);
    fs::write(sv.root.path().join("a.bin"), content(5000)).expect("write");
    let src = sv.local.path().join("up.bin");
    fs::write(&src, content(3000)).expect("write");
    let before = sv.link.signing_stats();

    // Our udpin link never learns a sender whose frames it drops, so it
    // sends no heartbeat there: the drivers are told the target instead of
    // waiting for one.
    let told = [
        "--no-heartbeat",
        "--target-sysid",
        "1",
        "--target-compid",
        "1",
        "--timeout",
        "10",
    ];
    let no_key = std::thread::scope(|scope| {
        let unsigned = scope.spawn(|| {
            (
                sv.pymavlink(None, &told, &["upload", s(&src), "/"]),
                sv.pymavlink(None, &told, &["mkdir", "/d"]),
            )
        });
        let wrong = scope.spawn(|| {
            let out = sv.local.path().join("dl");
            sv.pymavlink(Some(&OTHER_KEY), &told, &["download", "/a.bin", s(&out)])
        });
        (
            unsigned.join().expect("unsigned"),
            wrong.join().expect("wrong"),
        )
    });
    let ((upload, mkdir), wrong) = no_key;
    // No answer at all: pymavlink 2.4.50 reports it as RemoteReplyTimeout
    // for an upload and as Fail for a command or a download.
    let no_answer = |ans: &DriverAnswer| {
        let pymavlink = ans.field("pymavlink_result");
        assert!(
            matches!(pymavlink.as_deref(), Some("RemoteReplyTimeout" | "Fail")),
            "{}\n{}",
            ans.line,
            ans.stderr
        );
    };
    upload.expect_result("TIMEOUT");
    no_answer(&upload);
    no_answer(&mkdir);
    no_answer(&wrong);
    assert_eq!(number(&wrong, "goodsig_count"), 0, "{}", wrong.line);

    let names: Vec<String> = fs::read_dir(sv.root.path())
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["a.bin".to_string()], "server disk changed");
    assert!(!sv.local.path().join("dl/a.bin").exists());
    let stats = sv.link.signing_stats();
    assert!(stats.unsigned_frames > before.unsigned_frames, "{stats:?}");
    assert!(stats.bad_signature > before.bad_signature, "{stats:?}");
    assert_eq!(stats.accepted_signed, before.accepted_signed, "{stats:?}");
    assert_eq!(stats.accepted_unsigned, 0, "{stats:?}");
}

/// `tests/interop/pymavlink_signing_relay.py` between a signed udpin side
/// (where our client sends) and our unsigned server.
struct Relay {
    guard: ChildGuard,
    stdout: BufReader<std::process::ChildStdout>,
    signed_port: u16,
}

impl Relay {
    fn start(server_port: u16, key: &[u8; 32]) -> Relay {
        let mut child = Command::new(venv_python())
            .arg(script("pymavlink_signing_relay.py"))
            .args(["--signed-url", "udpin:127.0.0.1:0"])
            .args(["--plain-url", &format!("udpout:127.0.0.1:{server_port}")])
            .args(["--key", &hex(key), "--link-id", "5", "--timeout", "120"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn pymavlink_signing_relay.py");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("relay READY line");
        let signed_port = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("relay said {line:?}"));
        Relay {
            guard: ChildGuard { child, stdin },
            stdout,
            signed_port,
        }
    }

    /// Stop it (close its stdin) and return its JSON report.
    fn finish(mut self) -> DriverAnswer {
        drop(self.guard.stdin.take());
        let mut rest = String::new();
        let _ = self.stdout.read_to_string(&mut rest);
        let line = rest
            .lines()
            .find(|l| l.trim_start().starts_with('{'))
            .unwrap_or_else(|| panic!("relay printed no report: {rest:?}"))
            .to_string();
        DriverAnswer {
            line,
            stderr: String::new(),
        }
    }
}

/// Our client (245/190) on `udpout` to the relay's signed side, its link
/// signing with `key` and requiring signatures.
fn signing_client(relay: &Relay, key: &[u8; 32]) -> (Link, Client) {
    let link = Link::open(&format!("udpout://127.0.0.1:{}", relay.signed_port), 0, 0)
        .expect("open client link");
    link.set_signing(key, 9, true);
    let client = Client::new(&link, 1, 1).expect("client");
    (link, client)
}

#[test]
fn our_signing_client_works_through_a_pymavlink_signing_peer() {
    venv_python();
    let sv = Served::new(false);
    for size in SIZES {
        fs::write(sv.root.path().join(format!("f{size}")), content(size)).expect("write");
    }
    let relay = Relay::start(sv.port, &KEY);
    let (link, client) = signing_client(&relay, &KEY);
    let t = Instant::now();
    for size in SIZES {
        for burst in [false, true] {
            let out = sv.local.path().join(format!("f{size}"));
            let _ = fs::remove_file(&out);
            client
                .download(&format!("/f{size}"), sv.local.path(), burst, None)
                .unwrap_or_else(|e| panic!("download {size} B burst={burst}: {e}"));
            assert!(
                fs::read(&out).expect("read") == content(size),
                "{size} B burst={burst}: content differs"
            );
        }
    }
    let up = sv.local.path().join("up.bin");
    fs::write(&up, content(30_000)).expect("write");
    client.create_directory("/in").expect("mkdir");
    client.upload(&up, "/in", None).expect("upload");
    assert!(fs::read(sv.root.path().join("in/up.bin")).expect("read") == content(30_000));
    assert_eq!(
        client.list_directory("/in").expect("list").files(),
        vec!["up.bin"]
    );
    eprintln!("through the pymavlink signing relay: {:.1?}", t.elapsed());

    let stats = link.signing_stats();
    drop(client);
    drop(link);
    let report = relay.finish();
    // pymavlink checked every signed frame of ours and found none bad; the
    // FTP traffic went both ways through it.
    assert!(number(&report, "goodsig_count") > 100, "{}", report.line);
    assert_eq!(number(&report, "badsig_count"), 0, "{}", report.line);
    assert_eq!(number(&report, "reject_count"), 0, "{}", report.line);
    assert!(number(&report, "to_plain_ftp") > 10, "{}", report.line);
    assert!(number(&report, "to_signed_ftp") > 100, "{}", report.line);
    // Our link checked pymavlink's signatures: all good, nothing unsigned.
    assert!(stats.accepted_signed > 100, "{stats:?}");
    assert_eq!(stats.dropped, 0, "{stats:?}");
}

#[test]
fn our_signing_client_and_a_pymavlink_peer_with_another_key_refuse_each_other() {
    venv_python();
    let sv = Served::new(false);
    fs::write(sv.root.path().join("a.bin"), content(1000)).expect("write");
    let relay = Relay::start(sv.port, &OTHER_KEY);
    let (link, client) = signing_client(&relay, &KEY);
    client.set_timeout(Duration::from_millis(300), 3);
    let e = client
        .download("/a.bin", sv.local.path(), false, None)
        .expect_err("another key");
    // Our link drops everything pymavlink signs with the other key, so the
    // server is never heard.
    assert_eq!(e.result, FtpResult::NoSystem, "{e}");
    assert!(!sv.local.path().join("a.bin").exists());
    let stats = link.signing_stats();
    assert!(stats.bad_signature > 0, "{stats:?}");
    assert_eq!(
        stats.accepted_signed + stats.accepted_unsigned,
        0,
        "{stats:?}"
    );
    drop(client);
    drop(link);
    let report = relay.finish();
    assert!(number(&report, "badsig_count") > 0, "{}", report.line);
    assert_eq!(number(&report, "goodsig_count"), 0, "{}", report.line);
    assert_eq!(number(&report, "to_plain_ftp"), 0, "{}", report.line);
}
