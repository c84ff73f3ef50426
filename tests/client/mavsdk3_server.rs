//! Our client's downloads (burst and plain) and uploads against MAVSDK
//! 3.17.4's real FtpServer
//! (`mavsdk_server` from the `mavsdk==3.17.4` wheel, driven over gRPC by
//! tests/interop/mavsdk3_ftp_server.py in the venv of
//! `tests/interop/ensure_venv.sh --mavsdk3`).
//!
//! That server (MAVSDK 2.x–3.x) streams a BurstReadFile from a thread of its
//! own, one round to the end of the file, reading each packet at the file
//! position its last ReadFile left (docs/PROTOCOL_NOTES.md §6): a hole read
//! while the round streams shifts the bytes of every later packet behind
//! offsets that look right, and its running offset then never reaches the
//! end (it loops on "Burst read failed" for ever and NAKs every later
//! request with Fail). Here our client, at its DEFAULT timeouts, downloads
//! through the seeded link simulator [`UdpProxy`] with 3–5 % loss (and a
//! 57600-baud radio with 3 % loss) and every download must be byte-exact
//! SUCCESS; the server must still be alive and answering after each case
//! (the next case proves it).
//!
//! One server process (`udpin`, behind the fixed [`Front`] of
//! tests/client/loss_matrix_mavsdk.rs: a `udpin` MAVSDK answers every
//! address it heard from recently), cases run one after the other, each
//! with its own proxy seed, link, client and file. The server's FTP
//! component is 1/191 (its components 1 and 190 have no root dir and NAK
//! everything): requests target 191.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::child::ChildGuard;
use crate::content::pattern;
use crate::loss_matrix_mavsdk::Front;
use crate::matrix::{check_local, differences};
use crate::mavsdk::free_udp_port;
use crate::mavsdk_peer::start_server_driver;
use crate::venv::ensure_venv;
use mavftp::link::Link;
use mavftp::link::sim::{Impairment, UdpProxy};
use mavftp::{Client, FtpError, FtpResult};

/// The component that carries mavsdk_server's FtpServer plugin.
const FTP_COMPID: u8 = 191;

/// The MAVSDK 3.17.4 venv's python, built once per test binary.
fn mavsdk3_python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| ensure_venv(&["--mavsdk3"], "these tests need mavsdk==3.17.4"))
}

/// MAVSDK 3.17.4's FtpServer over `root`, listening (`udpin`) on `port`;
/// returns once it printed READY.
fn start_mavsdk3_server(root: &Path, port: u16) -> ChildGuard {
    start_server_driver(
        Command::new(mavsdk3_python()),
        "mavsdk3_ftp_server.py",
        root,
        &format!("udpin://127.0.0.1:{port}"),
        &[],
    )
}

/// A profile of [`cases`]: name, impairment, seeds per size.
type Lossy = (&'static str, fn() -> Impairment, u64);

/// What a case does.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Op {
    BurstDownload,
    PlainDownload,
    Upload,
}

struct Case {
    op: Op,
    name: &'static str,
    make: fn() -> Impairment,
    size: usize,
    seed: u64,
    /// A hang fails the case after this long.
    watchdog: Duration,
}

/// 60 kB and 300 kB with 3, 5 and 15 % loss both ways, a few seeds each
/// (`MAVSDK3_SEEDS=N` runs N per combination, `MAVSDK3_ONLY=SEED` only that
/// case), and a 57600-baud radio
/// (5760 B/s, 1 s drop-tail queue, 10 ms delay) with 3 % loss: the server
/// floods it, so most of the file comes by reads. On loopback the server's
/// thread has read the whole file long before our first hole is known; what
/// reaches it in time is a read in flight when a round is asked again after
/// the round's last packet was lost (15 % loss makes that common).
fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    let lossy: [Lossy; 3] = [
        ("loss3", || Impairment::none().with_loss(0.03), 3),
        ("loss5", || Impairment::none().with_loss(0.05), 3),
        ("loss15", || Impairment::none().with_loss(0.15), 8),
    ];
    let override_seeds = std::env::var("MAVSDK3_SEEDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    for (i, (name, make, seeds)) in lossy.into_iter().enumerate() {
        for size in [60_000, 300_000] {
            for k in 0..override_seeds.unwrap_or(seeds) {
                v.push(Case {
                    op: Op::BurstDownload,
                    name,
                    make,
                    size,
                    seed: 9100 + 1000 * i as u64 + k + size as u64 / 1000,
                    watchdog: Duration::from_secs(60),
                });
            }
        }
    }
    for seed in [9201, 9202] {
        v.push(Case {
            op: Op::BurstDownload,
            name: "radio57600+loss3",
            make: || Impairment::radio_57600().with_loss(0.03),
            size: 60_000,
            seed,
            watchdog: Duration::from_secs(150),
        });
    }
    if let Some(only) = std::env::var("MAVSDK3_ONLY")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        v.retain(|c| c.seed == only);
    }
    v
}

/// Plain downloads and uploads of 60 kB and 300 kB through 5 and 15 % loss,
/// two seeds each.
fn plain_and_upload_cases() -> Vec<Case> {
    let mut v = Vec::new();
    let lossy: [Lossy; 2] = [
        ("loss5", || Impairment::none().with_loss(0.05), 2),
        ("loss15", || Impairment::none().with_loss(0.15), 2),
    ];
    for (i, (name, make, seeds)) in lossy.into_iter().enumerate() {
        for op in [Op::PlainDownload, Op::Upload] {
            for size in [60_000, 300_000] {
                for k in 0..seeds {
                    v.push(Case {
                        op,
                        name,
                        make,
                        size,
                        seed: 9500 + 100 * i as u64 + 10 * op as u64 + k + size as u64 / 1000,
                        watchdog: Duration::from_secs(60),
                    });
                }
            }
        }
    }
    v
}

/// One transfer through a fresh proxy, link and client (default timeouts).
fn run_case(front: &Front, root: &Path, c: &Case) -> Result<f64, String> {
    let name = format!("m3_{:?}_{}_{}_{}.bin", c.op, c.name, c.size, c.seed);
    let data = pattern(c.size, c.seed as u32);
    let local = tempfile::tempdir().expect("tempdir");
    if c.op == Op::Upload {
        std::fs::write(local.path().join(&name), &data).expect("write local");
    } else {
        std::fs::write(root.join(&name), &data).expect("write remote");
    }
    let proxy = UdpProxy::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        front.addr,
        (c.make)().with_seed(c.seed * 2 + 1),
        (c.make)().with_seed(c.seed * 2 + 2),
    )
    .expect("start proxy");
    let link = Link::open(&format!("udpout://{}", proxy.listen_addr()), 0, 0).expect("link");
    let client = Client::new(&link, 1, FTP_COMPID).expect("client");
    let (tx, rx) = mpsc::channel::<Result<(), FtpError>>();
    let done = Box::new(move |r| {
        let _ = tx.send(r);
    });
    let start = Instant::now();
    match c.op {
        Op::Upload => client.upload_async(&local.path().join(&name), "/", None, done),
        op => client.download_async(
            &format!("/{name}"),
            local.path(),
            op == Op::BurstDownload,
            None,
            done,
        ),
    }
    .expect("transfer accepted");
    let outcome = match rx.recv_timeout(c.watchdog) {
        Ok(r) => r,
        Err(_) => {
            client.cancel();
            let _ = rx.recv_timeout(Duration::from_secs(10));
            Err(FtpError::new(
                FtpResult::Unknown,
                format!("HANG: no completion within {:?}", c.watchdog),
            ))
        }
    };
    let secs = start.elapsed().as_secs_f64();
    let (up, down) = (proxy.up_stats(), proxy.down_stats());
    drop(client);
    drop(link);
    drop(proxy);
    front.next_case();
    let stats = format!(
        "up lost {}+{} of {}, down lost {}+{} of {} (loss+queue)",
        up.lost, up.queue_dropped, up.offered, down.lost, down.queue_dropped, down.offered
    );
    match outcome {
        Ok(()) if c.op == Op::Upload => {
            let got = std::fs::read(root.join(&name)).unwrap_or_default();
            if got != data {
                return Err(format!(
                    "SUCCESS with WRONG BYTES on the server after {secs:.2} s: {}; {stats}",
                    differences(&got, &data)
                ));
            }
            Ok(secs)
        }
        Ok(()) => {
            let got = std::fs::read(local.path().join(&name)).unwrap_or_default();
            if got != data {
                return Err(format!(
                    "SUCCESS with WRONG BYTES after {secs:.2} s: {}; {stats}",
                    differences(&got, &data)
                ));
            }
            check_local(local.path(), &name, Some(&data))?;
            Ok(secs)
        }
        Err(e) => Err(format!(
            "{:?} after {secs:.2} s: {}; {stats}",
            e.result, e.message
        )),
    }
}

/// Every case byte-exact SUCCESS against the real MAVSDK 3.17.4 server.
#[test]
fn mavsdk3_real_server_burst_downloads_through_loss() {
    run_all("burst download", cases());
}

/// Plain downloads and uploads against the real MAVSDK 3.17.4 server, every
/// one byte-exact SUCCESS (an upload: the server's file).
#[test]
fn mavsdk3_real_server_plain_downloads_and_uploads_through_loss() {
    run_all("plain download and upload", plain_and_upload_cases());
}

/// Run `cases` one after the other against one server process.
fn run_all(what: &str, cases: Vec<Case>) {
    let root = tempfile::tempdir().expect("tempdir");
    let port = free_udp_port();
    let mut server = start_mavsdk3_server(root.path(), port);
    let front = Front::start(SocketAddr::from(([127, 0, 0, 1], port)));
    let mut table = format!("\nMAVSDK 3.17.4 FtpServer, {what}, default timeouts\n");
    let mut bad = Vec::new();
    for c in cases {
        let label = format!("{:?} {} {} B seed {}", c.op, c.name, c.size, c.seed);
        let r = run_case(&front, root.path(), &c);
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("MAVSDK 3.17.4 FtpServer exited ({status}) after {label}");
        }
        match r {
            Ok(secs) => table += &format!("{label:<36} ok {secs:>7.2} s\n"),
            Err(why) => {
                table += &format!("{label:<36} FAIL {why}\n");
                bad.push(format!("{label}: {why}"));
            }
        }
    }
    println!("{table}");
    assert!(
        bad.is_empty(),
        "{} cases failed:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
