//! One transfer with fresh processes, and the comparison table built from many.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use mavftp::link::sim::LossMode;
use mavftp::{Client, FtpOutcome, Link};

use crate::cli::{ClientKind, LinkSpec, Op, Options, ServerKind, support};
use crate::process::{
    free_udp_port, pattern, peer_versions, process_cpu_s, run_driver, script, spawn_ready,
    stderr_tail, venv_python,
};
use crate::report::{
    Results, ceiling_text, fmt_cpu, fmt_rate, markdown_header, render_tables, render_targets,
    utc_now,
};

/// Time allowed for discovery / first heartbeat before a transfer starts.
pub const DISCOVER_S: f64 = 15.0;
/// Name of the file served for downloads and of the one uploaded.
pub const DOWN_NAME: &str = "data.bin";
pub const UP_NAME: &str = "payload.bin";

/// How one transfer ended.
#[derive(Clone, Debug)]
pub enum RunOutcome {
    Ok {
        secs: f64,
        cpu_s: f64,
    },
    /// Still running at the cap (then cancelled / killed).
    Cap,
    /// The client itself gave up with a timeout.
    Timeout,
    Failed(String),
    Corrupt(String),
}

impl RunOutcome {
    pub fn short(&self) -> &'static str {
        match self {
            RunOutcome::Ok { .. } => "ok",
            RunOutcome::Cap => ">cap",
            RunOutcome::Timeout => "timeout",
            RunOutcome::Failed(_) => "FAIL",
            RunOutcome::Corrupt(_) => "CORRUPT",
        }
    }
}

pub struct RunContext<'a> {
    pub opts: &'a Options,
    pub python: Option<&'a Path>,
    pub link: LinkSpec,
    pub server: ServerKind,
    pub client: ClientKind,
    pub op: Op,
    pub rep: usize,
}

/// Runs one transfer with fresh processes; returns its outcome and the
/// proxy's counters (when there is a proxy).
pub fn run_once(cx: &RunContext) -> (RunOutcome, Option<String>) {
    match run_once_inner(cx) {
        Ok(x) => x,
        Err(msg) => (RunOutcome::Failed(msg), None),
    }
}

pub fn run_once_inner(cx: &RunContext) -> Result<(RunOutcome, Option<String>), String> {
    let opts = cx.opts;
    let size = opts.size(&cx.link);
    let cap = opts.cap(&cx.link, cx.op);
    let ws = Workspace::new(size, cx.rep)?;
    let (root, local_dir, up_file) = (&ws.root, &ws.local_dir, &ws.up_file);

    // The server, and the helper child with the proxy (and our server).
    let mut mavsdk_server = None;
    let seed = opts.seed.wrapping_add(1000 * cx.rep as u64);
    let mut peer_cmd = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
    peer_cmd.arg("--peer");
    let forward = match cx.server {
        ServerKind::Mavsdk => {
            let python = cx.python.ok_or("no python")?;
            let port = free_udp_port()?;
            let mut cmd = Command::new(python);
            cmd.arg(script("mavsdk_ftp_server.py"))
                .arg("--root")
                .arg(root)
                .arg("--url")
                .arg(format!("udpin://127.0.0.1:{port}"));
            let (spawned, _) = spawn_ready(cmd, "mavsdk_ftp_server.py", Duration::from_secs(30))?;
            mavsdk_server = Some(spawned);
            let addr = format!("127.0.0.1:{port}");
            peer_cmd.args(["--forward", &addr]);
            Some(addr)
        }
        ServerKind::Ours => {
            peer_cmd.arg("--serve-root").arg(root);
            if let (true, Some(rate)) = (opts.pace_link, cx.link.rate) {
                peer_cmd.args(["--server-rate", &rate.to_string()]);
            }
            None
        }
    };
    let proxied = opts.proxied(&cx.link);
    let mut peer = None;
    let target = if proxied || cx.server == ServerKind::Ours {
        if proxied {
            peer_cmd.args([
                "--rate",
                &cx.link.rate.unwrap_or(0).to_string(),
                "--delay-ms",
                &cx.link.delay_ms.to_string(),
                "--loss",
                &cx.link.loss.to_string(),
                "--seed",
                &seed.to_string(),
                "--loss-mode",
                opts.loss_mode.key(),
            ]);
        } else {
            peer_cmd.arg("--no-proxy");
        }
        let (spawned, addr) = spawn_ready(peer_cmd, "benchmark --peer", Duration::from_secs(10))?;
        peer = Some(spawned);
        addr
    } else {
        forward.clone().ok_or("no server address")?
    };

    let outcome = match cx.client {
        ClientKind::Ours => run_ours(&target, cx.op, local_dir, up_file, cap, &mut || {}),
        ClientKind::Mavsdk | ClientKind::Pymavlink => {
            run_python(cx, &target, local_dir, up_file, cap)
        }
    };
    let outcome = ws.verify(cx.op, outcome);
    let stats = peer.and_then(|p| p.finish("STATS"));
    drop(mavsdk_server);
    Ok((outcome, stats))
}

/// The files of one run in a fresh temporary directory: the server's root
/// with the file to download, the client's download directory, and the file
/// to upload.
pub struct Workspace {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub local_dir: PathBuf,
    pub up_file: PathBuf,
    down_data: Vec<u8>,
    up_data: Vec<u8>,
}

impl Workspace {
    /// Files of `size` bytes, their content different for each repeat `rep`.
    pub fn new(size: usize, rep: usize) -> Result<Workspace, String> {
        let tmp = tempfile::Builder::new()
            .prefix("mavftp-bench-")
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        let root = tmp.path().join("root");
        let local_dir = tmp.path().join("local");
        let up_dir = tmp.path().join("up");
        for d in [&root, &local_dir, &up_dir] {
            std::fs::create_dir(d).map_err(|e| format!("mkdir {}: {e}", d.display()))?;
        }
        let down_data = pattern(size, 11 + rep as u32);
        let up_data = pattern(size, 23 + rep as u32);
        let up_file = up_dir.join(UP_NAME);
        std::fs::write(root.join(DOWN_NAME), &down_data).map_err(|e| format!("write: {e}"))?;
        std::fs::write(&up_file, &up_data).map_err(|e| format!("write: {e}"))?;
        Ok(Workspace {
            _tmp: tmp,
            root,
            local_dir,
            up_file,
            down_data,
            up_data,
        })
    }

    /// A successful outcome stays one only if the bytes arrived exactly.
    pub fn verify(&self, op: Op, outcome: RunOutcome) -> RunOutcome {
        let RunOutcome::Ok { secs, cpu_s } = outcome else {
            return outcome;
        };
        let (path, want) = match op {
            Op::Upload => (self.root.join(UP_NAME), &self.up_data),
            _ => (self.local_dir.join(DOWN_NAME), &self.down_data),
        };
        match std::fs::read(&path) {
            Ok(got) if got == *want => RunOutcome::Ok { secs, cpu_s },
            Ok(got) => RunOutcome::Corrupt(format!(
                "{} has {} bytes, differs from the {} sent",
                path.display(),
                got.len(),
                want.len()
            )),
            Err(e) => RunOutcome::Corrupt(format!("{}: {e}", path.display())),
        }
    }
}

/// Our client, in this process. `before_start` runs once the server was
/// heard and the client exists, right before the transfer (and its clock
/// and CPU count) starts.
pub fn run_ours(
    target: &str,
    op: Op,
    local_dir: &Path,
    up_file: &Path,
    cap: Duration,
    before_start: &mut dyn FnMut(),
) -> RunOutcome {
    let link = match Link::open(&format!("udpout://{target}"), 245, 190) {
        Ok(l) => l,
        Err(e) => return RunOutcome::Failed(format!("link: {e:?}")),
    };
    // Like the drivers' discovery: start once the server's heartbeat is heard.
    let deadline = Instant::now() + Duration::from_secs_f64(DISCOVER_S);
    while !link.has_heard(1, 1) {
        if Instant::now() > deadline {
            link.close();
            return RunOutcome::Failed("no HEARTBEAT from 1/1".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let client = match Client::new(&link, 1, 1) {
        Ok(c) => c,
        Err(e) => {
            link.close();
            return RunOutcome::Failed(format!("client: {e:?}"));
        }
    };
    // Library defaults throughout (the upload window probes past 5 itself).
    let (tx, rx) = channel::<(FtpOutcome<()>, Instant)>();
    let done: Box<dyn FnOnce(FtpOutcome<()>) + Send> = Box::new(move |r| {
        let _ = tx.send((r, Instant::now()));
    });
    before_start();
    let cpu0 = process_cpu_s();
    let t0 = Instant::now();
    let started = match op {
        Op::Burst | Op::Plain => client.download_async(
            &format!("/{DOWN_NAME}"),
            local_dir,
            op == Op::Burst,
            None,
            done,
        ),
        Op::Upload => client.upload_async(up_file, "/", None, done),
    };
    let outcome = match started {
        Err(e) => RunOutcome::Failed(format!("{}: {}", e.result, e.message)),
        Ok(()) => match rx.recv_timeout(cap) {
            Ok((Ok(()), at)) => RunOutcome::Ok {
                secs: at.duration_since(t0).as_secs_f64(),
                cpu_s: process_cpu_s() - cpu0,
            },
            Ok((Err(e), _)) if e.result == mavftp::FtpResult::Timeout => RunOutcome::Timeout,
            Ok((Err(e), _)) => RunOutcome::Failed(format!("{}: {}", e.result, e.message)),
            Err(_) => {
                client.cancel();
                let _ = rx.recv_timeout(Duration::from_secs(10));
                RunOutcome::Cap
            }
        },
    };
    drop(client);
    link.close();
    outcome
}

/// MAVSDK's or pymavlink's client, through its driver script.
pub fn run_python(
    cx: &RunContext,
    target: &str,
    local_dir: &Path,
    up_file: &Path,
    cap: Duration,
) -> RunOutcome {
    let Some(python) = cx.python else {
        return RunOutcome::Failed("no python".into());
    };
    let script_name = match cx.client {
        ClientKind::Mavsdk => "mavsdk_ftp_client.py",
        _ => "pymavlink_ftp_client.py",
    };
    let mut args: Vec<String> = vec![
        "--url".into(),
        format!("udpout://{target}"),
        "--discover-timeout".into(),
        DISCOVER_S.to_string(),
        "--timeout".into(),
        // pymavlink wants a limit above its 3.7 s idle time.
        format!("{:.1}", cap.as_secs_f64().max(5.0)),
    ];
    if cx.client == ClientKind::Pymavlink {
        args.extend(["--burst-size", "239", "--write-size", "239"].map(String::from));
    }
    match cx.op {
        Op::Burst | Op::Plain => {
            args.extend(["download".into(), format!("/{DOWN_NAME}")]);
            args.push(local_dir.display().to_string());
            if cx.op == Op::Burst {
                args.push("--burst".into());
            }
        }
        Op::Upload => {
            args.extend(["upload".into(), up_file.display().to_string(), "/".into()]);
        }
    }
    let limit = cap + Duration::from_secs_f64(DISCOVER_S + 20.0);
    let answer = match run_driver(python, script_name, &args, limit) {
        Ok(Some(a)) => a,
        Ok(None) => return RunOutcome::Cap,
        Err(e) => return RunOutcome::Failed(e),
    };
    let number = |key: &str| answer.field(key).and_then(|v| v.parse::<f64>().ok());
    let elapsed = number("elapsed_s").unwrap_or(0.0);
    match answer.result().as_str() {
        "SUCCESS" => match number("cpu_s") {
            Some(cpu_s) => RunOutcome::Ok {
                secs: elapsed,
                cpu_s,
            },
            None => RunOutcome::Failed(format!("{script_name} reports no cpu_s: {}", answer.line)),
        },
        "HARNESS_TIMEOUT" => RunOutcome::Cap,
        "TIMEOUT" if elapsed + 0.5 >= cap.as_secs_f64() => RunOutcome::Cap,
        "TIMEOUT" => RunOutcome::Timeout,
        other => RunOutcome::Failed(format!(
            "{other}: {} ({})",
            answer.line,
            stderr_tail(&answer.stderr)
        )),
    }
}

/// The comparison table: every planned run, then the tables and the targets.
pub fn table(opts: Options) -> ExitCode {
    let needs_python = opts.servers.contains(&ServerKind::Mavsdk)
        || opts.clients.iter().any(|c| *c != ClientKind::Ours);
    let python: Option<PathBuf> = if needs_python {
        match &opts.python {
            Some(p) => Some(p.clone()),
            None => match venv_python() {
                Ok(p) => Some(p),
                Err(e) => {
                    eprintln!("benchmark: {e}");
                    return ExitCode::FAILURE;
                }
            },
        }
    } else {
        None
    };

    // The plan, in an order that interleaves clients so load drifts hit all alike.
    let mut plan = Vec::new();
    for (li, link) in opts.links.iter().enumerate() {
        for rep in 0..opts.repeats(link) {
            for server in &opts.servers {
                for op in &opts.ops {
                    for client in &opts.clients {
                        if support(*client, *server, *op, &opts).is_ok() {
                            plan.push((li, rep, *server, *op, *client));
                        }
                    }
                }
            }
        }
    }

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let mut header = String::new();
    let _ = writeln!(header, "mavftp benchmark — {}", utc_now());
    let _ = writeln!(
        header,
        "machine: {cores} cores, load {load}; mavftp {}; peers: {}",
        env!("CARGO_PKG_VERSION"),
        python.as_deref().map_or("none".into(), peer_versions)
    );
    let _ = writeln!(
        header,
        "seed {} (repeat r uses seed + 1000 r); repeats: loopback {}, simulated links {}; \
         cap = {} × ideal + {} s{}",
        opts.seed,
        opts.repeat_loopback,
        opts.repeat_slow,
        opts.cap_factor,
        opts.cap_add,
        if opts.quick {
            "; --quick (files 1/5)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        header,
        "links: UDP via the seeded proxy, same impairment both ways, 1 s drop-tail queue{}, {}; \
         our server in a child process{}; pymavlink chunks 239 B",
        if opts.loopback_proxy {
            ""
        } else {
            " (loopback: direct)"
        },
        match opts.loss_mode {
            LossMode::OnAir => "lost frames take their airtime (--loss-mode on-air)",
            LossMode::BeforeLink => "lost frames cost no airtime (--loss-mode before-link)",
        },
        if opts.pace_link {
            ", told the link rate"
        } else {
            ", default pacing"
        }
    );
    let _ = writeln!(header, "{} runs planned", plan.len());
    print!("{header}");
    let _ = std::io::stdout().flush();

    let started = Instant::now();
    let mut results = Results { runs: Vec::new() };
    for (n, (li, rep, server, op, client)) in plan.iter().copied().enumerate() {
        let link = opts.links[li];
        let cx = RunContext {
            opts: &opts,
            python: python.as_deref(),
            link,
            server,
            client,
            op,
            rep,
        };
        let t = Instant::now();
        let (outcome, stats) = run_once(&cx);
        let size = opts.size(&link);
        let detail = match &outcome {
            RunOutcome::Ok { secs, cpu_s } => {
                let g = size as f64 / secs.max(1e-6);
                let pct = link.rate.map_or(String::new(), |r| {
                    format!(
                        " {:.1} % (ceiling {})",
                        100.0 * g / r as f64,
                        ceiling_text(&opts, &link, op)
                    )
                });
                format!(
                    "{}{pct} in {secs:.2} s, cpu {}",
                    fmt_rate(g),
                    fmt_cpu(cpu_s / (size as f64 / 1e6))
                )
            }
            RunOutcome::Failed(m) | RunOutcome::Corrupt(m) => format!("{} {m}", outcome.short()),
            other => other.short().to_string(),
        };
        eprintln!(
            "[{}/{}] {} | server {} | {} {} | rep {}: {detail} ({:.0} s)",
            n + 1,
            plan.len(),
            link.label,
            server.label(),
            client.label(),
            op.key(),
            rep + 1,
            t.elapsed().as_secs_f64()
        );
        if opts.verbose
            && let Some(s) = stats
        {
            eprintln!("    proxy {s}");
        }
        match results
            .runs
            .iter_mut()
            .find(|(l, s, o, c, _)| *l == li && *s == server && *o == op && *c == client)
        {
            Some((.., v)) => v.push(outcome),
            None => results.runs.push((li, server, op, client, vec![outcome])),
        }
    }

    let (text, md) = render_tables(&opts, &results);
    println!();
    print!("{text}");
    println!(
        "\nwall time {:.1} min\n\n{}",
        started.elapsed().as_secs_f64() / 60.0,
        render_targets(&opts, &results)
    );
    println!(
        "Markdown:\n\n{header_md}{md}",
        header_md = markdown_header(&header)
    );
    if let Some(path) = &opts.markdown
        && let Err(e) = std::fs::write(path, format!("{}{md}", markdown_header(&header)))
    {
        eprintln!("benchmark: cannot write {}: {e}", path.display());
    }
    ExitCode::SUCCESS
}
