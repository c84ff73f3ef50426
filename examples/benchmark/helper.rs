//! `benchmark --peer`: the helper child process with our server and/or the
//! link proxy.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use mavftp::link::sim::{LossMode, PipeStats, UdpProxy};
use mavftp::{Link, Server};

use crate::cli::{LinkSpec, impairment};
use crate::process::process_cpu_s;

/// `benchmark --peer`: our server and/or the link proxy, in a child process.
/// Prints "READY <address clients send to>", answers each "CPU" line on
/// stdin with "CPU <seconds>" (its own user + system time), runs until stdin
/// closes, then prints "STATS ..." (proxy counters) and exits.
pub fn peer_main(args: &[String]) -> ExitCode {
    match peer_run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchmark --peer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn peer_run(args: &[String]) -> Result<(), String> {
    let mut forward: Option<SocketAddr> = None;
    let mut root: Option<PathBuf> = None;
    let mut server_rate: Option<u32> = None;
    let mut no_proxy = false;
    let mut rate = 0u32;
    let mut delay_ms = 0u64;
    let mut loss = 0.0f64;
    let mut seed = 1u64;
    let mut loss_mode = LossMode::OnAir;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--no-proxy" {
            no_proxy = true;
            continue;
        }
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = || format!("{flag}: bad value '{v}'");
        match flag.as_str() {
            "--forward" => forward = Some(v.parse().map_err(|_| bad())?),
            "--serve-root" => root = Some(PathBuf::from(v)),
            "--server-rate" => server_rate = Some(v.parse().map_err(|_| bad())?),
            "--rate" => rate = v.parse().map_err(|_| bad())?,
            "--delay-ms" => delay_ms = v.parse().map_err(|_| bad())?,
            "--loss" => loss = v.parse().map_err(|_| bad())?,
            "--seed" => seed = v.parse().map_err(|_| bad())?,
            "--loss-mode" => loss_mode = v.parse()?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    let mut server_parts = None;
    if let Some(root) = &root {
        let link =
            Link::open("udpin://127.0.0.1:0", 1, 1).map_err(|e| format!("server link: {e:?}"))?;
        let server = Server::new(&link, root).map_err(|e| format!("server: {e:?}"))?;
        if let Some(r) = server_rate {
            server.set_unknown_link_rate(r);
        }
        forward = link.local_addr();
        server_parts = Some((link, server));
    }
    let forward = forward.ok_or("--forward or --serve-root is required")?;
    let proxy = if no_proxy {
        None
    } else {
        let spec = LinkSpec {
            key: "",
            label: "",
            rate: (rate > 0).then_some(rate),
            delay_ms,
            loss,
            size: 0,
        };
        let up = impairment(&spec, seed, loss_mode);
        let down = impairment(&spec, seed.wrapping_add(1), loss_mode);
        let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
        Some(UdpProxy::start(listen, forward, up, down).map_err(|e| format!("proxy: {e:?}"))?)
    };
    let addr = proxy.as_ref().map_or(forward, UdpProxy::listen_addr);
    let mut out = std::io::stdout();
    let _ = writeln!(out, "READY {addr}");
    let _ = out.flush();
    // "CPU" on stdin asks for this process's CPU seconds so far (the --cpu
    // command reads them before and after a transfer); EOF means stop.
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim() == "CPU" {
            let _ = writeln!(out, "CPU {:.6}", process_cpu_s());
            let _ = out.flush();
        }
    }
    if let Some(p) = &proxy {
        let f = |s: PipeStats| {
            format!(
                "delivered {} ({} B) lost {} queue-dropped {}",
                s.delivered, s.delivered_bytes, s.lost, s.queue_dropped
            )
        };
        let _ = writeln!(
            out,
            "STATS up: {} | down: {}",
            f(p.up_stats()),
            f(p.down_stats())
        );
        let _ = out.flush();
    }
    drop(proxy);
    if let Some((link, server)) = server_parts {
        drop(server);
        link.close();
    }
    Ok(())
}
