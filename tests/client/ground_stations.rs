//! Several ground stations at once (issue 9 items 1 and 15): our client next
//! to another of ours on the same link, next to a process with the same own
//! ids on another link, and next to stock pymavlink (MAVProxy's FTP), against
//! our server, MAVSDK 4.1's real FtpServer and the ArduPilot fake. A
//! download may fail cleanly; it must never end in SUCCESS with bytes that
//! are not the file's.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::content::pattern;
use crate::fake_server::{FakeServer, Personality};
use crate::mavsdk::{free_udp_port, start_mavsdk_server};
use crate::peers::run_driver;
use crate::venv::venv_python;
use mavftp::client::Client;
use mavftp::link::Link;
use mavftp::link::sim::{Impairment, link_pair};
use mavftp::server::Server;
use mavftp::{FtpError, FtpResult};

const MIB: usize = 1 << 20;
const ROUNDS: usize = 20;

/// Waits until `link` heard (sys, comp), up to 10 s.
fn wait_heard(link: &Link, sys: u8, comp: u8) {
    let start = Instant::now();
    while !link.has_heard(sys, comp) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "nothing heard from {sys}/{comp}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How one download ended.
enum Outcome {
    Exact,
    CleanError(FtpError),
}

/// Download `remote` with `client` into a fresh directory under `base` and
/// check it against `want`: SUCCESS must mean byte-exact, and a failure
/// must leave nothing behind.
fn fetch(client: &Client, remote: &str, burst: bool, base: &Path, want: &[u8]) -> Outcome {
    let dir = tempfile::tempdir_in(base).expect("tempdir");
    let name = remote.rsplit('/').next().expect("name");
    match client.download(remote, dir.path(), burst, None) {
        Ok(()) => {
            let got = std::fs::read(dir.path().join(name)).expect("downloaded file");
            assert!(
                got == want,
                "SUCCESS with wrong bytes for {remote}: {} bytes, expected {} (first \
                 difference at {:?})",
                got.len(),
                want.len(),
                got.iter().zip(want).position(|(a, b)| a != b)
            );
            Outcome::Exact
        }
        Err(e) => {
            let names: Vec<PathBuf> = std::fs::read_dir(dir.path())
                .expect("read_dir")
                .map(|e| e.expect("entry").path())
                .collect();
            assert!(names.is_empty(), "failed download left {names:?}");
            Outcome::CleanError(e)
        }
    }
}

/// Two clients download `files[0]` and `files[1]` at the same time for
/// `ROUNDS` rounds (burst on odd rounds); returns how many of the
/// downloads were byte-exact, after printing every error.
fn race(clients: [&Client; 2], files: &[Vec<u8>; 2], base: &Path, what: &str) -> usize {
    let mut exact = 0;
    for round in 0..ROUNDS {
        let burst = round % 2 == 1;
        let outcomes: Vec<Outcome> = std::thread::scope(|s| {
            let joins: Vec<_> = (0..2)
                .map(|i| {
                    let client = clients[i];
                    s.spawn(move || fetch(client, &format!("/f{i}.bin"), burst, base, &files[i]))
                })
                .collect();
            joins
                .into_iter()
                .map(|j| j.join().expect("client"))
                .collect()
        });
        for (i, o) in outcomes.into_iter().enumerate() {
            match o {
                Outcome::Exact => exact += 1,
                Outcome::CleanError(e) => {
                    println!("{what} round {round} client {i} burst={burst}: {e}");
                    assert!(
                        e.result != FtpResult::Unknown && e.result != FtpResult::Success,
                        "{what}: {e}"
                    );
                }
            }
        }
    }
    println!("{what}: {exact} of {} downloads byte-exact", 2 * ROUNDS);
    exact
}

fn two_files(root: &Path) -> [Vec<u8>; 2] {
    let files = [pattern(MIB, 101), pattern(MIB, 202)];
    for (i, f) in files.iter().enumerate() {
        std::fs::write(root.join(format!("f{i}.bin")), f).expect("write");
    }
    files
}

/// Two clients on one link (same own ids, one UDP socket) against MAVSDK
/// 4.1's FtpServer, which has one session (always 0) and switches files on
/// every open: each download byte-exact or a clean error.
#[test]
fn two_clients_on_one_link_against_mavsdk_server() {
    let root = tempfile::tempdir().expect("tempdir");
    let local = tempfile::tempdir().expect("tempdir");
    let files = two_files(root.path());
    let link = Link::open("udpin://127.0.0.1:0", 0, 0).expect("link");
    let port = link.local_addr().expect("bound").port();
    let _server = start_mavsdk_server(root.path(), &format!("udpout://127.0.0.1:{port}"), &[]);
    wait_heard(&link, 1, 1);
    let a = Client::new(&link, 1, 1).expect("client");
    let b = Client::new(&link, 1, 1).expect("client");
    race([&a, &b], &files, local.path(), "mavsdk, one link");
}

/// Two processes' worth of links with the same own id 245:190 (two UDP
/// sockets) against MAVSDK 4.1's FtpServer: each download byte-exact or a
/// clean error.
#[test]
fn two_links_with_the_same_id_against_mavsdk_server() {
    let root = tempfile::tempdir().expect("tempdir");
    let local = tempfile::tempdir().expect("tempdir");
    let files = two_files(root.path());
    let port = free_udp_port();
    let _server = start_mavsdk_server(root.path(), &format!("udpin://127.0.0.1:{port}"), &[]);
    let url = format!("udpout://127.0.0.1:{port}");
    let links = [
        Link::open(&url, 245, 190).expect("link"),
        Link::open(&url, 245, 190).expect("link"),
    ];
    for l in &links {
        wait_heard(l, 1, 1);
    }
    let a = Client::new(&links[0], 1, 1).expect("client");
    let b = Client::new(&links[1], 1, 1).expect("client");
    race([&a, &b], &files, local.path(), "mavsdk, two links");
}

/// The same with our server on UDP: every download SUCCESS and byte-exact
/// (session ids and seqs differ per client; our server keys sessions by
/// peer and id).
#[test]
fn two_links_with_the_same_id_against_our_server() {
    let root = tempfile::tempdir().expect("tempdir");
    let local = tempfile::tempdir().expect("tempdir");
    let files = two_files(root.path());
    let server_link = Link::open("udpin://127.0.0.1:0", 1, 1).expect("link");
    let port = server_link.local_addr().expect("bound").port();
    let _server = Server::new(&server_link, root.path()).expect("server");
    let url = format!("udpout://127.0.0.1:{port}");
    let links = [
        Link::open(&url, 245, 190).expect("link"),
        Link::open(&url, 245, 190).expect("link"),
    ];
    for l in &links {
        wait_heard(l, 1, 1);
    }
    let a = Client::new(&links[0], 1, 1).expect("client");
    let b = Client::new(&links[1], 1, 1).expect("client");
    let exact = race([&a, &b], &files, local.path(), "ours, two links");
    assert_eq!(
        exact,
        2 * ROUNDS,
        "every download against our server must succeed"
    );
}

/// Our client and stock pymavlink (2.4.50) on two links to the ArduPilot
/// fake at the same time. ArduPilot has one session for everybody; pymavlink
/// sends ResetSessions first and always uses session 0. Neither ever ends
/// with SUCCESS on wrong bytes; ours waits for the session and succeeds.
#[test]
fn ours_and_pymavlink_share_an_ardupilot() {
    venv_python();
    // Our link is a 150 kB/s radio: our download lasts about 2 s, long
    // enough for pymavlink to start in the middle of it.
    let radio = || Impairment::none().with_rate(150_000);
    let (ours_link, fake_side) = link_pair((245, 190), (1, 1), radio(), radio());
    let fake = FakeServer::start(&fake_side, Personality::ArduPilot);
    let udp = Link::open("udpin://127.0.0.1:0", 1, 1).expect("udp link");
    let port = udp.local_addr().expect("bound").port();
    fake.serve_link(&udp);
    // pymavlink holds the session for its whole download; ours waits for it
    // within its budget of timeout × retries. Both run at their defaults.
    let ours_data = pattern(300_000, 7);
    let theirs_data = pattern(50_000, 8);
    fake.put_file("/ours.bin", &ours_data);
    fake.put_file("/theirs.bin", &theirs_data);
    let client = Client::new(&ours_link, 1, 1).expect("client");
    let local = tempfile::tempdir().expect("tempdir");
    let mut pymavlink_ok = 0;
    for round in 0..4 {
        let burst = round % 2 == 0;
        // Rounds 0, 1: pymavlink starts first; 2, 3: ours does.
        let ours_first = round >= 2;
        let theirs_dir = tempfile::tempdir().expect("tempdir");
        let (ours, theirs) = std::thread::scope(|s| {
            let url = format!("udpout:127.0.0.1:{port}");
            let dir = theirs_dir.path().to_str().expect("utf-8").to_string();
            let chunk = if round % 2 == 0 { "80" } else { "239" };
            let them = s.spawn(move || {
                if ours_first {
                    std::thread::sleep(Duration::from_millis(100));
                }
                run_driver(
                    "pymavlink_ftp_client.py",
                    &[
                        "--url",
                        &url,
                        "--target-sysid",
                        "1",
                        "--target-compid",
                        "1",
                        "--timeout",
                        "60",
                        "--burst-size",
                        chunk,
                        "download",
                        "/theirs.bin",
                        &dir,
                    ],
                    Duration::from_secs(90),
                )
            });
            if !ours_first {
                // pymavlink needs about a second to start and open.
                std::thread::sleep(Duration::from_millis(1500));
            }
            let ours = fetch(&client, "/ours.bin", burst, local.path(), &ours_data);
            (ours, them.join().expect("pymavlink"))
        });
        let result = theirs.result();
        println!("round {round}: pymavlink {result} ({})", theirs.line);
        match ours {
            Outcome::Exact => {}
            Outcome::CleanError(e) => panic!(
                "round {round}: our download failed: {e}\npymavlink stderr:\n{}",
                theirs.stderr
            ),
        }
        if result == "SUCCESS" {
            let got = std::fs::read(theirs_dir.path().join("theirs.bin")).expect("their file");
            assert!(
                got == theirs_data,
                "round {round}: pymavlink SUCCESS with wrong bytes ({} bytes)",
                got.len()
            );
            pymavlink_ok += 1;
        }
    }
    println!("pymavlink: {pymavlink_ok} of 4 downloads succeeded");
    assert_eq!(
        fake.stats().count(mavftp::protocol::Opcode::ResetSessions) as usize,
        4,
        "only pymavlink's opening ResetSessions"
    );
}
