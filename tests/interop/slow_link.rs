//! pymavlink's MAVFTP client downloading from our server through a simulated
//! slow radio link ([`UdpProxy`]: 5760 B/s, 10 ms one-way delay, 1 s drop-tail
//! queue, no loss), as in the benchmark's `5760` link. The server is told the
//! link rate, as the benchmark does. Files are checked byte for byte and every
//! download must finish well before pymavlink's own retries would give up.
//!
//! pymavlink gives up a download (RemoteReplyTimeout) when it has sent nothing
//! for its idle time, however much burst data arrives, so the server must end
//! each burst (bc=1) often enough on a slow link; MAVSDK's client runs through
//! the same link as a guard for those shorter bursts.
//!
//! `MAVFTP_TRACE=1` prints the driver's stderr (with `--debug 2`: every FTP
//! packet sent and received) for each run.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::content::pattern;
use crate::peers::{DriverAnswer, run_driver};
use crate::support::{AnswerFields, beside_others};
use mavftp::link::Link;
use mavftp::link::sim::{Impairment, QueueLimit, UdpProxy};
use mavftp::server::Server;

/// Bytes per second of the simulated link, both ways.
const RATE: u32 = 5760;
/// Size of the downloaded file: not a multiple of 80 or 239.
const SIZE: usize = 20_011;
/// Hard limit for one driver run (the transfer itself needs ~4 s).
const LIMIT: Duration = Duration::from_secs(40);
/// What a download may take (20 KB at 5760 B/s ≈ 3.9 s of frames).
const MAX_TRANSFER: Duration = Duration::from_secs(12);

fn impairment(seed: u64) -> Impairment {
    Impairment::none()
        .with_rate(RATE)
        .with_queue_limit(QueueLimit::Time(Duration::from_secs(1)))
        .with_delay(Duration::from_millis(10))
        .with_seed(seed)
}

/// Our server (told the link rate) behind a slow-link proxy.
struct SlowServed {
    root: tempfile::TempDir,
    local: tempfile::TempDir,
    proxy: UdpProxy,
    _server: Server,
    _link: Link,
}

impl SlowServed {
    fn new() -> SlowServed {
        let root = tempfile::tempdir().expect("tempdir");
        let local = tempfile::tempdir().expect("tempdir");
        let link = Link::open("udpin://127.0.0.1:0", 1, 1).expect("open server link");
        let addr = link.local_addr().expect("bound address");
        let server = Server::new(&link, root.path()).expect("start server");
        server.set_unknown_link_rate(RATE);
        let proxy = UdpProxy::start(
            ([127, 0, 0, 1], 0).into(),
            addr,
            impairment(1),
            impairment(2),
        )
        .expect("start proxy");
        SlowServed {
            root,
            local,
            proxy,
            _server: server,
            _link: link,
        }
    }

    fn mavsdk(&self, op_args: &[&str]) -> DriverAnswer {
        let url = format!("udpout://{}", self.proxy.listen_addr());
        let mut args = vec!["--url", &url, "--timeout", "30"];
        args.extend_from_slice(op_args);
        run_driver("mavsdk_ftp_client.py", &args, LIMIT)
    }

    fn pymavlink(&self, opts: &[&str], op_args: &[&str]) -> DriverAnswer {
        let url = format!("udpout:{}", self.proxy.listen_addr());
        let mut args = vec!["--url", &url, "--idle-time", "1.5", "--timeout", "30"];
        let trace = std::env::var_os("MAVFTP_TRACE").is_some();
        if trace {
            args.extend(["--debug", "2"]);
        }
        args.extend_from_slice(opts);
        args.extend_from_slice(op_args);
        let answer = run_driver("pymavlink_ftp_client.py", &args, LIMIT);
        if trace {
            eprintln!("{}\n{}", answer.line, answer.stderr);
        }
        answer
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// One burst download of a SIZE-byte file: pymavlink with burst chunk
/// `chunk`, or MAVSDK (chunk 239) when `chunk` is "mavsdk".
fn download(chunk: &str) {
    let _machine = beside_others();
    let sv = SlowServed::new();
    let want = pattern(SIZE, 7);
    fs::write(sv.root.path().join("f.bin"), &want).expect("write file");
    let start = Instant::now();
    let op = ["download", "/f.bin", s(sv.local.path())];
    let answer = if chunk == "mavsdk" {
        sv.mavsdk(&[&op[..], &["--burst"]].concat())
    } else {
        sv.pymavlink(&["--burst-size", chunk], &op)
    };
    let wall = start.elapsed();
    answer.expect_result("SUCCESS");
    let got = fs::read(sv.local.path().join("f.bin")).expect("downloaded file");
    assert!(got == want, "chunk {chunk}: content differs");
    let elapsed: f64 = answer
        .field("elapsed_s")
        .and_then(|v| v.parse().ok())
        .expect("elapsed_s");
    assert!(
        elapsed < MAX_TRANSFER.as_secs_f64(),
        "chunk {chunk}: download took {elapsed:.1} s (wall {wall:?}): {}",
        answer.line
    );
    eprintln!(
        "chunk {chunk}: {SIZE} B in {elapsed:.2} s (wall {:.1} s), proxy down {:?}",
        wall.as_secs_f64(),
        sv.proxy.down_stats()
    );
}

#[test]
fn pymavlink_burst_download_chunk_239_over_5760_bps() {
    download("239");
}

#[test]
fn pymavlink_burst_download_chunk_80_over_5760_bps() {
    download("80");
}

#[test]
fn mavsdk_burst_download_over_5760_bps() {
    download("mavsdk");
}
