//! A UDP relay with a simulated radio link in between, for testing MAVLink
//! FTP clients and servers against rate limits, delay and loss:
//!
//! ```text
//! linkproxy --listen 127.0.0.1:14551 --forward 127.0.0.1:14550 --rate 5760 \
//!           --delay-ms 10 --loss 0.05 [--loss-mode on-air] --dup 0 --reorder 0 \
//!           --corrupt 0 --queue-ms 1000 --seed 1 [--duration-s 60] [--stats-s 5]
//! ```
//!
//! Clients send to `--listen`; their datagrams go to `--forward` and the
//! answers come back to the client heard last. Both directions get the same
//! impairments (the server → client direction uses seed + 1). `--rate 0`
//! means unlimited. `--loss-mode on-air` (the default) makes a lost datagram
//! take its airtime before it vanishes, as on a radio; `before-link` drops it
//! on entry, free of airtime (the proxy's first model). Runs until killed, or for `--duration-s`; prints the
//! counters of both directions every `--stats-s` seconds and at the end.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mavftp::link::sim::{Impairment, PipeStats, QueueLimit, UdpProxy};

struct Options {
    listen: SocketAddr,
    forward: SocketAddr,
    impairment: Impairment,
    duration: Option<Duration>,
    stats_every: Option<Duration>,
}

fn usage() -> &'static str {
    "usage: linkproxy --listen HOST:PORT --forward HOST:PORT [--rate BYTES_PER_S] [--delay-ms MS] \
     [--loss P] [--loss-mode on-air|before-link] [--dup P] [--reorder P] [--reorder-ms MS] [--corrupt P] [--queue-ms MS | --queue-bytes N] \
     [--seed N] [--duration-s S] [--stats-s S]"
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut listen = None;
    let mut forward = None;
    let mut imp = Impairment::none();
    let mut duration = None;
    let mut stats_every = None;
    let mut reorder_ms = 20u64;
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(usage().into());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))?;
        let bad = |what: &str| format!("{flag}: bad {what} '{value}'");
        let prob = |v: &str| -> Result<f64, String> {
            v.parse::<f64>()
                .ok()
                .filter(|p| (0.0..=1.0).contains(p))
                .ok_or_else(|| bad("probability"))
        };
        match flag.as_str() {
            "--listen" => listen = Some(value.parse().map_err(|_| bad("address"))?),
            "--forward" => forward = Some(value.parse().map_err(|_| bad("address"))?),
            "--rate" => {
                let rate: u32 = value.parse().map_err(|_| bad("rate"))?;
                imp.rate = (rate > 0).then_some(rate);
            }
            "--delay-ms" => {
                imp.delay = Duration::from_millis(value.parse().map_err(|_| bad("delay"))?)
            }
            "--loss" => imp.loss = prob(&value)?,
            "--loss-mode" => imp.loss_mode = value.parse().map_err(|e| format!("{flag}: {e}"))?,
            "--dup" => imp.duplicate = prob(&value)?,
            "--reorder" => imp.reorder = prob(&value)?,
            "--reorder-ms" => reorder_ms = value.parse().map_err(|_| bad("hold time"))?,
            "--corrupt" => imp.corrupt = prob(&value)?,
            "--queue-ms" => {
                let ms: u64 = value.parse().map_err(|_| bad("queue time"))?;
                imp.queue_limit = QueueLimit::Time(Duration::from_millis(ms));
            }
            "--queue-bytes" => {
                imp.queue_limit = QueueLimit::Bytes(value.parse().map_err(|_| bad("queue size"))?)
            }
            "--seed" => imp.seed = value.parse().map_err(|_| bad("seed"))?,
            "--duration-s" => {
                duration = Some(Duration::from_secs_f64(
                    value.parse().map_err(|_| bad("duration"))?,
                ))
            }
            "--stats-s" => {
                stats_every = Some(Duration::from_secs_f64(
                    value.parse().map_err(|_| bad("interval"))?,
                ))
            }
            _ => return Err(format!("unknown option {flag}\n{}", usage())),
        }
    }
    imp.reorder_hold = Duration::from_millis(reorder_ms);
    Ok(Options {
        listen: listen.ok_or_else(|| format!("--listen is required\n{}", usage()))?,
        forward: forward.ok_or_else(|| format!("--forward is required\n{}", usage()))?,
        impairment: imp,
        duration,
        stats_every,
    })
}

fn print_stats(proxy: &UdpProxy) {
    let line = |name: &str, s: PipeStats| {
        eprintln!(
            "linkproxy {name}: offered {} delivered {} ({} B) lost {} queue-dropped {} dup {} reordered {} corrupted {}",
            s.offered,
            s.delivered,
            s.delivered_bytes,
            s.lost,
            s.queue_dropped,
            s.duplicated,
            s.reordered,
            s.corrupted
        )
    };
    line("up  ", proxy.up_stats());
    line("down", proxy.down_stats());
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let down = options
        .impairment
        .clone()
        .with_seed(options.impairment.seed.wrapping_add(1));
    let proxy = match UdpProxy::start(
        options.listen,
        options.forward,
        options.impairment.clone(),
        down,
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("linkproxy: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "linkproxy: {} <-> {} with {:?}",
        proxy.listen_addr(),
        options.forward,
        options.impairment
    );
    let started = Instant::now();
    let mut last_stats = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        if options.duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        if options
            .stats_every
            .is_some_and(|every| last_stats.elapsed() >= every)
        {
            print_stats(&proxy);
            last_stats = Instant::now();
        }
    }
    print_stats(&proxy);
    ExitCode::SUCCESS
}
