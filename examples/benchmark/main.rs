//! Transfer benchmark: goodput, % of the link and client CPU per MB for
//! download (burst and plain) and upload, for three clients (ours, MAVSDK
//! 4.1.0, pymavlink) against two servers (MAVSDK 4.1.0's FtpServer, ours),
//! over loopback and simulated radio links (issue 4).
//!
//! ```text
//! cargo run --release --example benchmark -- [--quick] [--repeat N]
//!     [--link loopback,5760,5760-loss,92160] [--client ours,mavsdk,pymavlink]
//!     [--server mavsdk,ours] [--op burst,plain,upload] [--seed N]
//!     [--loss-mode on-air|before-link] [--help]
//! ```
//!
//! How each run is set up (one fresh set of processes per run):
//! - the server: MAVSDK's FtpServer (`tests/interop/mavsdk_ftp_server.py`,
//!   `udpin`), or ours ([`mavftp::Server`]) in a helper child process (this
//!   same executable with `--peer`), so that its CPU never counts as the
//!   client's;
//! - the link: loopback is direct UDP; the simulated links go through
//!   [`UdpProxy`](mavftp::link::sim::UdpProxy) (in the helper child) with the
//!   same impairment in both directions: byte rate, a 1 s drop-tail queue,
//!   one-way delay, loss, seeded with `seed + 1000 × repeat` (so every client
//!   sees the same loss pattern in a given repeat). A lost frame takes its
//!   airtime, as on a radio (`--loss-mode before-link`: the old model, where
//!   it costs none); each row shows its ceiling ([`cli::ceiling`]). Our server is told the
//!   link rate (`set_unknown_link_rate`), as it would know a serial link's
//!   baud rate;
//! - the client: ours in this process ([`mavftp::Client`], public API only;
//!   CPU = getrusage(RUSAGE_SELF) around the transfer, which covers its worker
//!   and link threads and nothing else busy), or a Python driver
//!   (`mavsdk_ftp_client.py`, `pymavlink_ftp_client.py`, whose `elapsed_s`
//!   and `cpu_s` = process_time() cover the operation only, not start-up or
//!   discovery). pymavlink uses 239-byte burst and write chunks (its best).
//!
//! Every transfer is checked byte for byte; each is capped at
//! `cap-factor × ideal time + cap-add` (ideal = size at the row's ceiling).
//!
//! Modules: [`cli`] (what to run), [`run`] (one transfer, the table's run
//! loop), [`report`] (tables and targets), [`process`] (child processes,
//! drivers, CPU time), [`helper`] (the `--peer` child). The small helpers
//! the tests have too come from tests/common: [`child`] (a child killed
//! with its guard), [`content`] (test file content), [`driver`] (a driver
//! script run to its answer), [`json`] (the drivers' answers), [`port`] (a
//! free UDP port).

#[path = "../../tests/common/child.rs"]
mod child;
#[path = "../../tests/common/content.rs"]
mod content;
#[path = "../../tests/common/driver.rs"]
mod driver;
#[path = "../../tests/common/json.rs"]
mod json;
#[path = "../../tests/common/port.rs"]
mod port;

mod cli;
mod cpu;
mod fleet;
mod helper;
mod process;
mod report;
mod run;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--peer") => return helper::peer_main(&args[1..]),
        Some("--cpu") => return cpu::cpu_main(&args[1..]),
        Some("--cpu-client") => return cpu::client_main(&args[1..]),
        Some("--fleet") => return fleet::fleet_main(&args[1..]),
        Some("--fleet-ground") => return fleet::ground_main(&args[1..]),
        Some("--fleet-vehicles") => return fleet::vehicles_main(&args[1..]),
        _ => {}
    }
    let opts = match cli::parse_args(&args) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    run::table(opts)
}
