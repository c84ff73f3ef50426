//! The examples-c CLI as a user runs it: Ctrl-C / SIGTERM cancel a transfer
//! (no hidden part file left, exit 128 + signal), cmp's three exit codes, the
//! final progress line printed once, and the own-id options on the wire.
//! Each test spawns the compiled CLI against a server in this process.

use std::io::Read;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mavftp::link::sim::{Impairment, QueueLimit, UdpProxy};
use mavftp::{Link, Server};

use crate::mavsdk_peer::start_mavsdk_server;
use crate::support::{Reap, assert_ok, build_cli, free_udp_port, run};

/// A server on loopback UDP serving `root`, reached directly or through a
/// rate-limited proxy.
struct TestServer {
    _link: Link,
    _server: Server,
    _proxy: Option<UdpProxy>,
    url: String,
}

fn serve(root: &Path, rate: Option<u32>) -> TestServer {
    let link = Link::open("udpin://127.0.0.1:0", 1, 1).expect("server link");
    let server = Server::new(&link, root).expect("server");
    let addr = link.local_addr().expect("server address");
    let (proxy, url) = match rate {
        None => (None, format!("udpout://{addr}")),
        Some(rate) => {
            let slow = Impairment::none()
                .with_rate(rate)
                .with_queue_limit(QueueLimit::Time(Duration::from_secs(1)));
            let proxy = UdpProxy::start(
                "127.0.0.1:0".parse().expect("addr"),
                addr,
                slow.clone(),
                slow,
            )
            .expect("proxy");
            let url = format!("udpout://{}", proxy.listen_addr());
            (Some(proxy), url)
        }
    };
    TestServer {
        _link: link,
        _server: server,
        _proxy: proxy,
        url,
    }
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(131).wrapping_add(seed) ^ (i >> 9)) as u8)
        .collect()
}

/// A CLI process whose stderr is collected in the background.
struct Running {
    child: Reap,
    stderr: Arc<Mutex<Vec<u8>>>,
}

fn spawn_cli(cli: &Path, url: &str, args: &[&str]) -> Running {
    let mut child: Child = Command::new(cli)
        .args(["--url", url, "--target", "1:1"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the CLI");
    let mut pipe = child.stderr.take().expect("stderr pipe");
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&stderr);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .expect("stderr buffer")
                .extend_from_slice(&buf[..n]);
        }
    });
    Running {
        child: Reap(child),
        stderr,
    }
}

impl Running {
    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("stderr buffer")).into_owned()
    }

    /// Wait until `ready()` holds (the process must still be running).
    fn wait_until(&mut self, what: &str, limit: Duration, ready: impl Fn(&str) -> bool) {
        let start = Instant::now();
        loop {
            if ready(&self.stderr_text()) {
                return;
            }
            if let Some(status) = self.child.0.try_wait().expect("try_wait") {
                panic!(
                    "the CLI ended ({status:?}) before {what}; stderr:\n{}",
                    self.stderr_text()
                );
            }
            assert!(
                start.elapsed() < limit,
                "no {what} within {limit:?}; stderr:\n{}",
                self.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = self.child.0.id() as libc::pid_t;
        // SAFETY: kill(2) on the pid of our own child, which has not been reaped.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill");
    }

    /// Exit status, or a panic after `limit`.
    fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.0.try_wait().expect("try_wait") {
                // Let the reader thread drain the pipe.
                std::thread::sleep(Duration::from_millis(50));
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "the CLI did not exit within {limit:?} of the signal; stderr:\n{}",
                self.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Bytes of a progress line "get [...]  N% a/b bytes" with a > 0 shown.
fn shows_progress(stderr: &str) -> bool {
    stderr
        .split('\r')
        .filter_map(|line| line.split("% ").nth(1))
        .any(|rest| !rest.starts_with("0/"))
}

fn dir_entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .collect()
}

/// SIGINT in the middle of a download over a slow link: the CLI cancels it
/// (mavftp_client_cancel), the hidden part file is gone, exit status 130.
fn sigint_during_get(use_burst: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = build_cli(dir.path());
    let served = dir.path().join("served");
    let local = dir.path().join("local");
    std::fs::create_dir(&served).expect("mkdir");
    std::fs::create_dir(&local).expect("mkdir");
    // About 35 s at 30 kB/s: the signal comes long before the end.
    std::fs::write(served.join("big.bin"), pattern(1_000_000, 1)).expect("write");
    let server = serve(&served, Some(30_000));
    let local_s = local.to_str().expect("utf-8 temp path");
    let mut args = vec!["get", "/big.bin", local_s];
    if use_burst {
        args.push("--burst");
    }
    let mut cli = spawn_cli(&cli, &server.url, &args);
    cli.wait_until("download progress", Duration::from_secs(30), shows_progress);
    assert!(
        !dir_entries(&local).is_empty(),
        "a download in progress has a part file in the local directory"
    );
    cli.signal(libc::SIGINT);
    let status = cli.wait_exit(Duration::from_secs(10));
    let stderr = cli.stderr_text();
    assert_eq!(
        dir_entries(&local),
        Vec::<PathBuf>::new(),
        "an interrupted download leaves nothing behind (no hidden part file)"
    );
    assert_eq!(status.code(), Some(130), "exit status; stderr:\n{stderr}");
    assert!(stderr.contains("cancelled by SIGINT"), "stderr:\n{stderr}");
}

#[test]
fn cli_sigint_during_plain_get_cancels_and_removes_the_part_file() {
    sigint_during_get(false);
}

#[test]
fn cli_sigint_during_burst_get_cancels_and_removes_the_part_file() {
    sigint_during_get(true);
}

#[test]
fn cli_sigterm_during_put_cancels_and_exits_143() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = build_cli(dir.path());
    let served = dir.path().join("served");
    std::fs::create_dir(&served).expect("mkdir");
    let up = dir.path().join("up.bin");
    std::fs::write(&up, pattern(1_000_000, 2)).expect("write");
    let server = serve(&served, Some(30_000));
    let mut cli = spawn_cli(
        &cli,
        &server.url,
        &["put", up.to_str().expect("utf-8 temp path"), "/"],
    );
    cli.wait_until("upload progress", Duration::from_secs(30), shows_progress);
    let signalled = Instant::now();
    cli.signal(libc::SIGTERM);
    let status = cli.wait_exit(Duration::from_secs(10));
    let stderr = cli.stderr_text();
    assert_eq!(status.code(), Some(143), "exit status; stderr:\n{stderr}");
    assert!(stderr.contains("cancelled by SIGTERM"), "stderr:\n{stderr}");
    assert!(signalled.elapsed() < Duration::from_secs(10));
}

#[test]
fn cli_cmp_exits_0_identical_1_different_2_on_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = build_cli(dir.path());
    let served = dir.path().join("served");
    std::fs::create_dir(&served).expect("mkdir");
    std::fs::write(served.join("f.bin"), pattern(5000, 3)).expect("write");
    let same = dir.path().join("same.bin");
    let other = dir.path().join("other.bin");
    std::fs::write(&same, pattern(5000, 3)).expect("write");
    std::fs::write(&other, pattern(5000, 4)).expect("write");
    let server = serve(&served, None);
    let cmp = |local: &Path, remote: &str| {
        let mut cmd = Command::new(&cli);
        cmd.args(["--url", &server.url, "--target", "1:1", "cmp"])
            .arg(local)
            .arg(remote);
        run(&mut cmd, Duration::from_secs(60))
    };
    let out = cmp(&same, "/f.bin");
    assert_eq!(out.status.code(), Some(0), "identical: {out:?}");
    let out = cmp(&other, "/f.bin");
    assert_eq!(out.status.code(), Some(1), "different: {out:?}");
    let out = cmp(&same, "/missing.bin");
    assert_eq!(out.status.code(), Some(2), "remote file missing: {out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let out = cmp(&dir.path().join("no-such-local"), "/f.bin");
    assert_eq!(out.status.code(), Some(2), "local file missing: {out:?}");
    // The usage text documents the codes.
    let out = run(Command::new(&cli).arg("--help"), Duration::from_secs(10));
    assert_ok(&out, "--help");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("cmp: 0 identical, 1 different, 2"),
        "usage: {help}"
    );
}

#[test]
fn cli_prints_the_final_progress_line_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = build_cli(dir.path());
    let served = dir.path().join("served");
    let local = dir.path().join("local");
    std::fs::create_dir(&served).expect("mkdir");
    std::fs::create_dir(&local).expect("mkdir");
    std::fs::write(served.join("f.bin"), pattern(300_000, 5)).expect("write");
    let up = dir.path().join("up.bin");
    std::fs::write(&up, pattern(100_000, 6)).expect("write");
    let server = serve(&served, None);
    let client = |args: &[&str]| {
        let mut cmd = Command::new(&cli);
        cmd.args(["--url", &server.url, "--target", "1:1"])
            .args(args);
        run(&mut cmd, Duration::from_secs(60))
    };
    let local_s = local.to_str().expect("utf-8 temp path");
    for (args, last) in [
        (vec!["get", "/f.bin", local_s], "100% 300000/300000 bytes"),
        (
            vec!["get", "/f.bin", local_s, "--burst"],
            "100% 300000/300000 bytes",
        ),
        (
            vec!["put", up.to_str().expect("utf-8"), "/"],
            "100% 100000/100000 bytes",
        ),
    ] {
        let out = client(&args);
        assert_ok(&out, &args.join(" "));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr.matches(last).count(),
            1,
            "{}: the final line once; stderr:\n{stderr:?}",
            args.join(" ")
        );
        assert!(stderr.ends_with(&format!("{last}\n")), "stderr: {stderr:?}");
        std::fs::remove_file(local.join("f.bin")).ok();
    }
}

/// The MAVLink (system, component) of the first frame of a datagram.
fn sender_ids(datagram: &[u8]) -> Option<(u8, u8)> {
    match datagram.first()? {
        0xFD => Some((*datagram.get(5)?, *datagram.get(6)?)),
        0xFE => Some((*datagram.get(3)?, *datagram.get(4)?)),
        _ => None,
    }
}

/// A server that only hears frames from one (system, component): datagrams
/// from other ids are dropped before they reach it.
struct PickyServer {
    addr: std::net::SocketAddr,
    heard: Arc<Mutex<Vec<(u8, u8)>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    _server: Server,
    _link: Link,
}

impl PickyServer {
    fn start(root: &Path, only: (u8, u8)) -> PickyServer {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let addr = socket.local_addr().expect("addr");
        let peer: Arc<Mutex<Option<std::net::SocketAddr>>> = Arc::default();
        let out = socket.try_clone().expect("clone socket");
        let reply_to = Arc::clone(&peer);
        let link = Link::open_custom(
            1,
            1,
            Box::new(move |frame: &[u8]| {
                if let Some(to) = *reply_to.lock().expect("peer") {
                    let _ = out.send_to(frame, to);
                }
            }),
        )
        .expect("custom link");
        let server = Server::new(&link, root).expect("server");
        let heard: Arc<Mutex<Vec<(u8, u8)>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (feed, log, halt) = (link.clone(), Arc::clone(&heard), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !halt.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let Some(ids) = sender_ids(&buf[..n]) else {
                    continue;
                };
                log.lock().expect("log").push(ids);
                if ids == only {
                    *peer.lock().expect("peer") = Some(from);
                    let _ = feed.feed(&buf[..n]);
                }
            }
        });
        PickyServer {
            addr,
            heard,
            stop,
            _server: server,
            _link: link,
        }
    }

    fn take_heard(&self) -> Vec<(u8, u8)> {
        std::mem::take(&mut *self.heard.lock().expect("log"))
    }
}

impl Drop for PickyServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn cli_uses_sysid_and_compid_options_on_the_wire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = build_cli(dir.path());
    let served = dir.path().join("served");
    std::fs::create_dir(&served).expect("mkdir");
    std::fs::write(served.join("only-for-42.txt"), b"x").expect("write");
    let server = PickyServer::start(&served, (42, 77));
    let url = format!("udpout://{}", server.addr);
    let ls = |ids: &[&str]| {
        let mut cmd = Command::new(&cli);
        cmd.args(["--url", &url, "--target", "1:1", "--timeout", "100"])
            .args(ids)
            .args(["ls", "/"]);
        run(&mut cmd, Duration::from_secs(60))
    };
    let out = ls(&["--sysid", "42", "--compid", "77"]);
    assert_ok(&out, "ls as 42:77");
    assert!(String::from_utf8_lossy(&out.stdout).contains("only-for-42.txt"));
    let heard = server.take_heard();
    assert!(!heard.is_empty());
    assert!(
        heard.iter().all(|&ids| ids == (42, 77)),
        "every frame the CLI sent carries 42:77: {heard:?}"
    );
    // Without the options the CLI is 245:190, which this server ignores.
    let out = ls(&[]);
    assert_eq!(out.status.code(), Some(1), "ls as 245:190: {out:?}");
    let heard = server.take_heard();
    assert!(
        !heard.is_empty() && heard.iter().all(|&ids| ids == (245, 190)),
        "{heard:?}"
    );
    // Out-of-range ids are a usage error.
    for bad in [["--sysid", "0"], ["--compid", "256"], ["--sysid", "x"]] {
        let out = ls(&bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {out:?}");
    }
}

/// Two CLI processes with the same own id (the default 245:190) each
/// downloading a different 1 MiB file at the same time, `rounds` times,
/// alternating plain and burst. Returns how many of the downloads ended
/// with exit 0; every exit 0 must have the remote file's bytes and every
/// failure must leave no file behind.
fn two_cli_processes_race(
    cli: &Path,
    url: &str,
    served: &Path,
    work: &Path,
    rounds: usize,
) -> usize {
    let files = [pattern(1 << 20, 101), pattern(1 << 20, 202)];
    for (i, f) in files.iter().enumerate() {
        std::fs::write(served.join(format!("f{i}.bin")), f).expect("write");
    }
    let mut succeeded = 0;
    for round in 0..rounds {
        let dirs: Vec<PathBuf> = (0..2).map(|i| work.join(format!("r{round}-{i}"))).collect();
        let mut running: Vec<Running> = (0..2)
            .map(|i| {
                std::fs::create_dir(&dirs[i]).expect("mkdir");
                let remote = format!("/f{i}.bin");
                let local = dirs[i].to_str().expect("utf-8 temp path");
                let mut args = vec!["get", remote.as_str(), local];
                if round % 2 == 1 {
                    args.push("--burst");
                }
                spawn_cli(cli, url, &args)
            })
            .collect();
        for (i, process) in running.iter_mut().enumerate() {
            let status = process.wait_exit(Duration::from_secs(120));
            let got = dir_entries(&dirs[i]);
            if status.success() {
                succeeded += 1;
                assert_eq!(
                    got,
                    vec![dirs[i].join(format!("f{i}.bin"))],
                    "round {round}"
                );
                let bytes = std::fs::read(&got[0]).expect("read");
                assert!(
                    bytes == files[i],
                    "round {round}, process {i}: exit 0 with {} bytes that are not the remote file's",
                    bytes.len()
                );
            } else {
                assert_eq!(
                    status.code(),
                    Some(1),
                    "round {round}: {}",
                    process.stderr_text()
                );
                assert_eq!(
                    got,
                    Vec::<PathBuf>::new(),
                    "a failed download leaves nothing"
                );
            }
        }
    }
    succeeded
}

/// Issue 9, item 1 as reported: two CLI processes, both 245:190, against our
/// `udpin` server (which keys sessions by route, ids and session id): 20
/// rounds of simultaneous 1 MiB downloads, every one exit 0 and byte-exact.
#[test]
fn cli_two_processes_with_the_same_id_against_our_server_20_rounds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = build_cli(dir.path());
    let served = dir.path().join("served");
    std::fs::create_dir(&served).expect("mkdir");
    let server = serve(&served, None);
    let ok = two_cli_processes_race(&cli, &server.url, &served, dir.path(), 20);
    assert_eq!(ok, 40, "every download against our server succeeds");
}

/// The same against MAVSDK 4.1's FtpServer (one session, reopened by every
/// open): each download byte-exact or a clean failure, never exit 0 with
/// wrong bytes. Five rounds: the two clients take the one session from each
/// other (takeover, re-open, CRC check), so a round lasts about 10 s; the
/// 20-round version with two links in one process is in
/// interop_ground_stations.rs.
#[test]
fn cli_two_processes_with_the_same_id_against_mavsdk_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = build_cli(dir.path());
    let served = dir.path().join("served");
    std::fs::create_dir(&served).expect("mkdir");
    let port = free_udp_port();
    let _server = start_mavsdk_server(&served, &format!("udpin://127.0.0.1:{port}"), &[]);
    let url = format!("udpout://127.0.0.1:{port}");
    let ok = two_cli_processes_race(&cli, &url, &served, dir.path(), 5);
    println!("mavsdk server, two CLI processes: {ok} of 10 downloads succeeded");
}
