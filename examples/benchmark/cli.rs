//! What to run: the links, clients, servers and operations, and the options.

use std::path::PathBuf;
use std::time::Duration;

use mavftp::link::sim::{Impairment, LossMode, QueueLimit};

/// Best possible goodput fraction for MAVLink 2: 239 data bytes per 266-byte frame.
pub const MAX_EFFICIENCY: f64 = 239.0 / 266.0;

/// The most of a link's byte rate that file bytes of `op` can use: every
/// data frame full (239 B of file in a 266-B MAVLink 2 frame,
/// [`MAX_EFFICIENCY`]), times the share of data frames that count.
/// Downloads: when a lost frame takes its airtime ([`LossMode::OnAir`]) only
/// the (1 − loss) of the data frames that arrive count; with loss before the
/// link a lost frame costs nothing (89.8 %). Uploads also lose the ACKs
/// (the benchmark impairs both directions alike): a WriteFile whose ACK is
/// lost must be written again, as the client cannot know that it arrived,
/// so a write counts only when it and its ACK both arrive — (1 − loss)²
/// on air, (1 − loss) with loss before the link (only the writes that
/// arrived took airtime). Left out, as they are small: heartbeats on the
/// data direction (21 B/s, 0.4 points at 5760 B/s), the short last frame,
/// the opening and closing round trips, and the requests of a download,
/// which travel on the other direction (each simulated direction has its
/// own airtime).
pub fn ceiling(link: &LinkSpec, mode: LossMode, op: Op) -> Option<f64> {
    link.rate?;
    let arrives = 1.0 - link.loss;
    Some(match (mode, op) {
        (LossMode::OnAir, Op::Upload) => MAX_EFFICIENCY * arrives * arrives,
        (LossMode::OnAir, _) => MAX_EFFICIENCY * arrives,
        (LossMode::BeforeLink, Op::Upload) => MAX_EFFICIENCY * arrives,
        (LossMode::BeforeLink, _) => MAX_EFFICIENCY,
    })
}

/// The impairment of one direction of `link` (rate, 1 s drop-tail queue,
/// delay, loss in `mode`).
pub fn impairment(link: &LinkSpec, seed: u64, mode: LossMode) -> Impairment {
    let mut imp = Impairment::none()
        .with_delay(Duration::from_millis(link.delay_ms))
        .with_loss(link.loss)
        .with_loss_mode(mode)
        .with_seed(seed);
    if let Some(rate) = link.rate {
        imp = imp
            .with_rate(rate)
            .with_queue_limit(QueueLimit::Time(Duration::from_secs(1)));
    }
    imp
}

/// One link of the benchmark.
#[derive(Clone, Copy)]
pub struct LinkSpec {
    pub key: &'static str,
    pub label: &'static str,
    /// Bytes per second per direction; None = loopback (unlimited).
    pub rate: Option<u32>,
    pub delay_ms: u64,
    pub loss: f64,
    /// File size in bytes (before --quick / --size-scale).
    pub size: usize,
}

pub const LINKS: [LinkSpec; 4] = [
    LinkSpec {
        key: "loopback",
        label: "loopback",
        rate: None,
        delay_ms: 0,
        loss: 0.0,
        size: 1_000_000,
    },
    LinkSpec {
        key: "5760",
        label: "5760 B/s 10 ms 0 %",
        rate: Some(5760),
        delay_ms: 10,
        loss: 0.0,
        size: 100_000,
    },
    LinkSpec {
        key: "5760-loss",
        label: "5760 B/s 10 ms 5 %",
        rate: Some(5760),
        delay_ms: 10,
        loss: 0.05,
        size: 100_000,
    },
    LinkSpec {
        key: "92160",
        label: "92160 B/s 20 ms 2 %",
        rate: Some(92160),
        delay_ms: 20,
        loss: 0.02,
        size: 500_000,
    },
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ClientKind {
    Ours,
    Mavsdk,
    Pymavlink,
}

impl ClientKind {
    pub const ALL: [ClientKind; 3] = [ClientKind::Ours, ClientKind::Mavsdk, ClientKind::Pymavlink];
    pub fn key(self) -> &'static str {
        match self {
            ClientKind::Ours => "ours",
            ClientKind::Mavsdk => "mavsdk",
            ClientKind::Pymavlink => "pymavlink",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            ClientKind::Ours => "ours",
            ClientKind::Mavsdk => "MAVSDK",
            ClientKind::Pymavlink => "pymavlink",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ServerKind {
    Mavsdk,
    Ours,
}

impl ServerKind {
    pub const ALL: [ServerKind; 2] = [ServerKind::Mavsdk, ServerKind::Ours];
    pub fn key(self) -> &'static str {
        match self {
            ServerKind::Mavsdk => "mavsdk",
            ServerKind::Ours => "ours",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            ServerKind::Mavsdk => "MAVSDK",
            ServerKind::Ours => "ours",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    Burst,
    Plain,
    Upload,
}

impl Op {
    pub const ALL: [Op; 3] = [Op::Burst, Op::Plain, Op::Upload];
    pub fn key(self) -> &'static str {
        match self {
            Op::Burst => "burst",
            Op::Plain => "plain",
            Op::Upload => "upload",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Op::Burst => "download burst",
            Op::Plain => "download plain",
            Op::Upload => "upload",
        }
    }
}

/// Whether a client can do an op against a server: Err(why) when it is not run.
pub fn support(
    client: ClientKind,
    server: ServerKind,
    op: Op,
    opts: &Options,
) -> Result<(), &'static str> {
    match (client, server, op) {
        (ClientKind::Pymavlink, _, Op::Plain) => Err("n/a"),
        (ClientKind::Pymavlink, ServerKind::Mavsdk, Op::Upload) if !opts.include_broken => {
            Err("skip")
        }
        _ => Ok(()),
    }
}

pub struct Options {
    pub links: Vec<LinkSpec>,
    pub clients: Vec<ClientKind>,
    pub servers: Vec<ServerKind>,
    pub ops: Vec<Op>,
    pub repeat_loopback: usize,
    pub repeat_slow: usize,
    pub seed: u64,
    pub size_scale: f64,
    pub cap_factor: f64,
    pub cap_add: f64,
    pub include_broken: bool,
    pub loopback_proxy: bool,
    pub pace_link: bool,
    pub python: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
    pub verbose: bool,
    pub quick: bool,
    pub loss_mode: LossMode,
}

pub fn usage() -> String {
    let links: Vec<&str> = LINKS.iter().map(|l| l.key).collect();
    format!(
        "usage: cargo run --release --example benchmark -- [options]\n\
         \x20 --quick               1 repeat, files 1/5 of the size (about 6 min)\n\
         \x20 --repeat N            repeats on every link (default: 3 loopback, 1 simulated)\n\
         \x20 --repeat-loopback N   repeats on loopback (default 3)\n\
         \x20 --repeat-slow N       repeats on the simulated links (default 1)\n\
         \x20 --link LIST           of {} (default all)\n\
         \x20 --client LIST         of ours,mavsdk,pymavlink (default all)\n\
         \x20 --server LIST         of mavsdk,ours (default all)\n\
         \x20 --op LIST             of burst,plain,upload (default all)\n\
         \x20 --seed N              link PRNG seed (default 1)\n\
         \x20 --loss-mode M         on-air (default: a lost frame takes its airtime, as on a radio)\n\
         \x20                       or before-link (lost frames cost no airtime: the old model)\n\
         \x20 --size-scale F        multiply every file size by F\n\
         \x20 --cap-factor F        cap = F x ideal time + cap-add (default 3)\n\
         \x20 --cap-add S           (default 30)\n\
         \x20 --include-broken      also run pymavlink upload to MAVSDK's server (never finishes)\n\
         \x20 --loopback-proxy      send loopback through an unimpaired proxy too\n\
         \x20 --server-pace default our server paces bursts at its UDP default, not the link rate\n\
         \x20 --python PATH         venv python (default: tests/interop/ensure_venv.sh)\n\
         \x20 --markdown FILE       also write the markdown table to FILE\n\
         \x20 -v, --verbose         per-run proxy counters",
        links.join(",")
    )
}

pub fn parse_list<T: Copy>(
    value: &str,
    all: &[T],
    key: impl Fn(T) -> &'static str,
) -> Result<Vec<T>, String> {
    let mut out = Vec::new();
    for word in value.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let item = all
            .iter()
            .copied()
            .find(|x| key(*x) == word)
            .ok_or_else(|| format!("unknown value '{word}'"))?;
        out.push(item);
    }
    if out.is_empty() {
        return Err(format!("empty list '{value}'"));
    }
    Ok(out)
}

pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        links: LINKS.to_vec(),
        clients: ClientKind::ALL.to_vec(),
        servers: ServerKind::ALL.to_vec(),
        ops: Op::ALL.to_vec(),
        repeat_loopback: 3,
        repeat_slow: 1,
        seed: 1,
        size_scale: 1.0,
        cap_factor: 3.0,
        cap_add: 30.0,
        include_broken: false,
        loopback_proxy: false,
        pace_link: true,
        python: None,
        markdown: None,
        verbose: false,
        quick: false,
        loss_mode: LossMode::OnAir,
    };
    let mut repeat_all = None;
    let mut repeat_loop = None;
    let mut repeat_slow = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let flag = flag.as_str();
        match flag {
            "-h" | "--help" => return Err(usage()),
            "--quick" => {
                o.quick = true;
                continue;
            }
            "--include-broken" => {
                o.include_broken = true;
                continue;
            }
            "--loopback-proxy" => {
                o.loopback_proxy = true;
                continue;
            }
            "-v" | "--verbose" => {
                o.verbose = true;
                continue;
            }
            _ => {}
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))?;
        let bad = |e: String| format!("{flag}: {e}");
        let num = |v: &str| {
            v.parse::<f64>()
                .map_err(|_| bad(format!("bad number '{v}'")))
        };
        let count = |v: &str| {
            v.parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| bad(format!("bad count '{v}'")))
        };
        match flag {
            "--repeat" => repeat_all = Some(count(value)?),
            "--repeat-loopback" => repeat_loop = Some(count(value)?),
            "--repeat-slow" => repeat_slow = Some(count(value)?),
            "--link" => o.links = parse_list(value, &LINKS, |l| l.key).map_err(bad)?,
            "--client" => {
                o.clients = parse_list(value, &ClientKind::ALL, ClientKind::key).map_err(bad)?
            }
            "--server" => {
                o.servers = parse_list(value, &ServerKind::ALL, ServerKind::key).map_err(bad)?
            }
            "--op" => o.ops = parse_list(value, &Op::ALL, Op::key).map_err(bad)?,
            "--seed" => {
                o.seed = value
                    .parse()
                    .map_err(|_| bad(format!("bad seed '{value}'")))?
            }
            "--size-scale" => o.size_scale = num(value)?,
            "--cap-factor" => o.cap_factor = num(value)?,
            "--cap-add" => o.cap_add = num(value)?,
            "--server-pace" => match value.as_str() {
                "link" => o.pace_link = true,
                "default" => o.pace_link = false,
                _ => return Err(bad(format!("'{value}' is neither link nor default"))),
            },
            "--loss-mode" => o.loss_mode = value.parse().map_err(bad)?,
            "--python" => o.python = Some(PathBuf::from(value)),
            "--markdown" => o.markdown = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown option {flag}\n{}", usage())),
        }
    }
    if o.quick {
        o.repeat_loopback = 1;
        o.repeat_slow = 1;
        o.size_scale *= 0.2;
    }
    if let Some(n) = repeat_all {
        o.repeat_loopback = n;
        o.repeat_slow = n;
    }
    if let Some(n) = repeat_loop {
        o.repeat_loopback = n;
    }
    if let Some(n) = repeat_slow {
        o.repeat_slow = n;
    }
    if o.size_scale <= 0.0 || o.size_scale.is_nan() || o.cap_factor < 0.0 || o.cap_add < 0.0 {
        return Err("sizes and caps must be positive".into());
    }
    Ok(o)
}

impl Options {
    pub fn size(&self, link: &LinkSpec) -> usize {
        ((link.size as f64 * self.size_scale).round() as usize).max(1)
    }
    pub fn repeats(&self, link: &LinkSpec) -> usize {
        if link.rate.is_none() {
            self.repeat_loopback
        } else {
            self.repeat_slow
        }
    }
    /// The time limit of one transfer of `op` on `link`.
    pub fn cap(&self, link: &LinkSpec, op: Op) -> Duration {
        let ideal = match (link.rate, ceiling(link, self.loss_mode, op)) {
            (Some(r), Some(c)) => self.size(link) as f64 / (r as f64 * c),
            _ => 0.0,
        };
        Duration::from_secs_f64(self.cap_factor * ideal + self.cap_add)
    }
    pub fn proxied(&self, link: &LinkSpec) -> bool {
        link.rate.is_some() || link.loss > 0.0 || link.delay_ms > 0 || self.loopback_proxy
    }
}
