//! Loss matrix with fixed seeds: impairment profile (loss 0/5/20 %,
//! duplication, reordering, corruption, a mix) × server (ours, the PX4,
//! MAVSDK 4.1 and ArduPilot fakes) × burst/plain/upload × sizes. Every transfer must end
//! byte-identical or with TIMEOUT and nothing left locally (no temp file, no
//! wrong file), within a budget derived from the configured timeout × retries.
//! Prints a summary table.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fake_server::{FakeServer, Personality, pattern};
use crate::matrix::{Budget, IMPAIRMENTS, Impaired, Mode, Verdict, check_local};
use mavftp::FtpResult;
use mavftp::client::Client;
use mavftp::link::sim::link_pair;
use mavftp::server::Server;

/// Client settings for every case.
const TIMEOUT: Duration = Duration::from_millis(60);
const RETRIES: u32 = 8;
/// Worker threads running cases.
const THREADS: usize = 4;

/// The client settings every case runs with.
const BUDGET: Budget = Budget {
    timeout: TIMEOUT,
    retries: RETRIES,
};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Peer {
    Ours,
    Fake(Personality),
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Ours => "ours",
            Peer::Fake(p) => p.name(),
        }
    }
}

/// Impairments of the case links.
const PROFILES: [Impaired; 7] = IMPAIRMENTS;

const PEERS: [Peer; 4] = [
    Peer::Ours,
    Peer::Fake(Personality::Px4),
    Peer::Fake(Personality::Mavsdk41),
    Peer::Fake(Personality::ArduPilot),
];
const MODES: [Mode; 3] = [Mode::Burst, Mode::Plain, Mode::Upload];
const SIZES: [usize; 5] = [0, 1, 239, 240, 30_000];

struct Case {
    profile: usize,
    peer: Peer,
    mode: Mode,
    size: usize,
    seed: u64,
}

struct Row {
    profile: usize,
    peer: Peer,
    mode: Mode,
    verdict: Verdict,
    secs: f64,
}

/// The remote side of a case.
enum Remote {
    Ours {
        _server: Server,
        root: tempfile::TempDir,
    },
    Fake(FakeServer),
}

impl Remote {
    fn put(&self, name: &str, data: &[u8]) {
        match self {
            Remote::Ours { root, .. } => {
                std::fs::write(root.path().join(name), data).expect("write")
            }
            Remote::Fake(f) => f.put_file(&format!("/{name}"), data),
        }
    }
    fn get(&self, name: &str) -> Option<Vec<u8>> {
        match self {
            Remote::Ours { root, .. } => std::fs::read(root.path().join(name)).ok(),
            Remote::Fake(f) => f.file(&format!("/{name}")),
        }
    }
}

fn run_case(c: &Case) -> Row {
    let profile = &PROFILES[c.profile];
    let up = (profile.make)().with_seed(c.seed * 2 + 1);
    let down = (profile.make)().with_seed(c.seed * 2 + 2);
    let (client_link, server_link) = link_pair((245, 190), (1, 1), up, down);
    let remote = match c.peer {
        Peer::Ours => {
            let root = tempfile::tempdir().expect("tempdir");
            let server = Server::new(&server_link, root.path()).expect("server");
            Remote::Ours {
                _server: server,
                root,
            }
        }
        Peer::Fake(p) => Remote::Fake(FakeServer::start(&server_link, p)),
    };
    let local = tempfile::tempdir().expect("tempdir");
    let source = tempfile::tempdir().expect("tempdir");
    let data = pattern(c.size, c.seed as u8);
    let client = Client::new(&client_link, 1, 1).expect("client");
    client.set_timeout(TIMEOUT, RETRIES);
    // The first heartbeat may be lost: wait until the server was heard, so
    // that a failure is a TIMEOUT and not NO_SYSTEM.
    let heard_by = Instant::now() + Duration::from_secs(4);
    while !client_link.has_heard(1, 1) && Instant::now() < heard_by {
        std::thread::sleep(Duration::from_millis(5));
    }
    let marks: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let m = Arc::clone(&marks);
    let progress = Box::new(move |_p: mavftp::Progress| {
        if let Ok(mut v) = m.lock() {
            v.push(Instant::now());
        }
    });
    let start = Instant::now();
    let outcome = match c.mode {
        Mode::Burst | Mode::Plain => {
            remote.put("f.bin", &data);
            client.download(
                "/f.bin",
                local.path(),
                c.mode == Mode::Burst,
                Some(progress),
            )
        }
        Mode::Upload => {
            let path = source.path().join("f.bin");
            std::fs::write(&path, &data).expect("write");
            client.upload(&path, "/", Some(progress))
        }
    };
    let end = Instant::now();
    let elapsed = end - start;
    drop(client);
    let mut problems: Vec<String> = Vec::new();
    let marks = marks.lock().map(|v| v.clone()).unwrap_or_default();
    problems.extend(BUDGET.problems(start, &marks, end, c.size));
    let verdict_ok = match (&outcome, c.mode) {
        (Ok(()), Mode::Upload) => match remote.get("f.bin") {
            Some(got) if got == data => Ok(()),
            Some(got) => Err(format!(
                "WRONG REMOTE FILE: {} bytes, expected {}",
                got.len(),
                data.len()
            )),
            None => Err("upload reported success, remote file missing".to_string()),
        },
        (Ok(()), _) => check_local(local.path(), "f.bin", Some(&data)),
        (Err(_), Mode::Upload) => Ok(()),
        (Err(_), _) => check_local(local.path(), "f.bin", None),
    };
    if let Err(e) = verdict_ok {
        problems.push(e);
    }
    let verdict = match (&outcome, problems.is_empty()) {
        (_, false) => Verdict::Bad(format!("{outcome:?}: {}", problems.join("; "))),
        (Ok(()), true) => Verdict::Ok,
        (Err(e), true) if e.result == FtpResult::Timeout => Verdict::Timeout(e.message.clone()),
        (Err(e), true) => Verdict::Bad(format!("ended with {:?}: {e}", e.result)),
    };
    drop(remote);
    Row {
        profile: c.profile,
        peer: c.peer,
        mode: c.mode,
        verdict,
        secs: elapsed.as_secs_f64(),
    }
}

#[test]
fn loss_matrix_every_transfer_ends_byte_identical_or_timeout() {
    let mut cases = Vec::new();
    let mut seed = 1000u64;
    for profile in 0..PROFILES.len() {
        for peer in PEERS {
            for mode in MODES {
                for size in SIZES {
                    seed += 1;
                    cases.push(Case {
                        profile,
                        peer,
                        mode,
                        size,
                        seed,
                    });
                }
            }
        }
    }
    // LOSS_MATRIX_ONLY="profile server mode size" runs the matching cases
    // only (any word may be "*"), for debugging one case.
    if let Ok(only) = std::env::var("LOSS_MATRIX_ONLY") {
        let want: Vec<String> = only.split_whitespace().map(str::to_string).collect();
        cases.retain(|c| {
            let have = [
                PROFILES[c.profile].name.to_string(),
                c.peer.name().to_string(),
                c.mode.name().to_string(),
                c.size.to_string(),
            ];
            want.iter().zip(&have).all(|(w, h)| w == "*" || w == h)
        });
    }
    // Largest first so the threads finish together.
    cases.sort_by_key(|c| std::cmp::Reverse(c.size));
    let t0 = Instant::now();
    let cases = Arc::new(cases);
    let next = Arc::new(AtomicUsize::new(0));
    let rows: Arc<Mutex<Vec<(usize, Row)>>> = Arc::default();
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (cases, next, rows) = (cases.clone(), next.clone(), rows.clone());
            std::thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(c) = cases.get(i) else { break };
                    let row = run_case(c);
                    rows.lock().expect("rows").push((i, row));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("case thread panicked");
    }
    let wall = t0.elapsed();
    let rows = std::mem::take(&mut *rows.lock().expect("rows"));
    assert_eq!(rows.len(), cases.len());

    // Summary: one line per profile × server, one cell per mode:
    // ok/total, timeouts, bad, slowest case.
    println!(
        "\nloss matrix: {} cases, sizes {SIZES:?}, timeout {TIMEOUT:?} × {RETRIES} retries, \
         {THREADS} threads, {:.1} s wall",
        cases.len(),
        wall.as_secs_f64()
    );
    print!("{:<9} {:<9}", "profile", "server");
    for m in MODES {
        print!(" | {:<24}", m.name());
    }
    println!();
    let mut bad = Vec::new();
    for (pi, profile) in PROFILES.iter().enumerate() {
        for peer in PEERS {
            print!("{:<9} {:<9}", profile.name, peer.name());
            for mode in MODES {
                let cell: Vec<&Row> = rows
                    .iter()
                    .map(|(_, r)| r)
                    .filter(|r| r.profile == pi && r.peer == peer && r.mode == mode)
                    .collect();
                let ok = cell
                    .iter()
                    .filter(|r| matches!(r.verdict, Verdict::Ok))
                    .count();
                let to = cell
                    .iter()
                    .filter(|r| matches!(r.verdict, Verdict::Timeout(_)))
                    .count();
                let nbad = cell.len() - ok - to;
                let slowest = cell.iter().map(|r| r.secs).fold(0.0, f64::max);
                let text = format!("{ok}/{} to{to} bad{nbad} {slowest:.2}s", cell.len());
                print!(" | {text:<24}");
            }
            println!();
        }
    }
    for (i, r) in &rows {
        let c = &cases[*i];
        match &r.verdict {
            Verdict::Bad(why) => bad.push(format!(
                "{} {} {} {} B seed {}: {why}",
                PROFILES[c.profile].name,
                c.peer.name(),
                c.mode.name(),
                c.size,
                c.seed
            )),
            Verdict::Timeout(why) if PROFILES[c.profile].name == "clean" => bad.push(format!(
                "clean {} {} {} B: TIMEOUT on a perfect link: {why}",
                c.peer.name(),
                c.mode.name(),
                c.size
            )),
            Verdict::Timeout(why) => println!(
                "timeout {} {} {} {} B seed {} after {:.2} s: {why}",
                PROFILES[c.profile].name,
                c.peer.name(),
                c.mode.name(),
                c.size,
                c.seed,
                r.secs
            ),
            Verdict::Ok => {}
        }
    }
    let timeouts = rows
        .iter()
        .filter(|(_, r)| matches!(r.verdict, Verdict::Timeout(_)))
        .count();
    for b in &bad {
        println!("FAIL {b}");
    }
    assert!(
        bad.is_empty(),
        "{} of {} cases failed",
        bad.len(),
        rows.len()
    );
    assert!(
        timeouts * 10 <= rows.len(),
        "{timeouts} of {} cases timed out: the matrix proves little",
        rows.len()
    );
}
