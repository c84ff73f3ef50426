//! The comparison table as text and markdown, and the targets checked against it.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use mavftp::link::sim::LossMode;

use crate::cli::{ClientKind, LinkSpec, Op, Options, ServerKind, ceiling, support};
use crate::run::RunOutcome;

/// The numbers of one table cell (medians over the successful repeats).
pub struct CellStats {
    pub goodput: f64,
    pub cpu_per_mb: f64,
    pub ok: usize,
    pub total: usize,
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

pub fn cell_stats(runs: &[RunOutcome], size: usize) -> Option<CellStats> {
    let oks: Vec<(f64, f64)> = runs
        .iter()
        .filter_map(|r| match r {
            RunOutcome::Ok { secs, cpu_s } => Some((*secs, *cpu_s)),
            _ => None,
        })
        .collect();
    if oks.is_empty() {
        return None;
    }
    let mb = size as f64 / 1e6;
    Some(CellStats {
        goodput: median(oks.iter().map(|(s, _)| size as f64 / s.max(1e-6)).collect()),
        cpu_per_mb: median(oks.iter().map(|(_, c)| c / mb).collect()),
        ok: oks.len(),
        total: runs.len(),
    })
}

pub fn fmt_rate(bytes_per_s: f64) -> String {
    if bytes_per_s >= 1e6 {
        format!("{:.2} MB/s", bytes_per_s / 1e6)
    } else if bytes_per_s >= 1e4 {
        format!("{:.1} KB/s", bytes_per_s / 1e3)
    } else {
        format!("{:.2} KB/s", bytes_per_s / 1e3)
    }
}

pub fn fmt_cpu(s_per_mb: f64) -> String {
    if s_per_mb >= 10.0 {
        format!("{s_per_mb:.1}")
    } else if s_per_mb >= 0.1 {
        format!("{s_per_mb:.2}")
    } else {
        format!("{s_per_mb:.3}")
    }
}

/// UTC date and time of now, "YYYY-MM-DD HH:MM UTC".
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Results of every (link, server, op, client).
pub struct Results {
    pub runs: Vec<(usize, ServerKind, Op, ClientKind, Vec<RunOutcome>)>,
}

impl Results {
    pub fn get(
        &self,
        link: usize,
        server: ServerKind,
        op: Op,
        client: ClientKind,
    ) -> Option<&[RunOutcome]> {
        self.runs
            .iter()
            .find(|(l, s, o, c, _)| *l == link && *s == server && *o == op && *c == client)
            .map(|(.., v)| v.as_slice())
    }
    pub fn goodput(
        &self,
        opts: &Options,
        link: usize,
        server: ServerKind,
        op: Op,
        client: ClientKind,
    ) -> Option<f64> {
        let runs = self.get(link, server, op, client)?;
        cell_stats(runs, opts.size(&opts.links[link])).map(|c| c.goodput)
    }
}

/// The text of one client's cell: (goodput, % of link, CPU s/MB).
pub fn cell_texts(
    opts: &Options,
    results: &Results,
    li: usize,
    server: ServerKind,
    op: Op,
    client: ClientKind,
) -> (String, String, String) {
    let link = &opts.links[li];
    if let Err(why) = support(client, server, op, opts) {
        return (why.into(), String::new(), String::new());
    }
    let Some(runs) = results.get(li, server, op, client) else {
        return ("–".into(), String::new(), String::new());
    };
    match cell_stats(runs, opts.size(link)) {
        Some(c) => {
            let mut rate = fmt_rate(c.goodput);
            if c.ok < c.total {
                let _ = write!(rate, " ({}/{})", c.ok, c.total);
            }
            let pct = link.rate.map_or("–".into(), |r| {
                format!("{:.1} %", 100.0 * c.goodput / r as f64)
            });
            (rate, pct, fmt_cpu(c.cpu_per_mb))
        }
        None => {
            let first = runs.first().map_or("–", RunOutcome::short);
            (first.into(), String::new(), String::new())
        }
    }
}

/// Our goodput over the best other client's in the same row.
pub fn ratio_text(
    opts: &Options,
    results: &Results,
    li: usize,
    server: ServerKind,
    op: Op,
) -> String {
    if !opts.clients.contains(&ClientKind::Ours) {
        return "–".into();
    }
    let ours = results.goodput(opts, li, server, op, ClientKind::Ours);
    let best_other = opts
        .clients
        .iter()
        .filter(|c| **c != ClientKind::Ours)
        .filter_map(|c| results.goodput(opts, li, server, op, *c))
        .fold(None, |acc: Option<f64>, g| {
            Some(acc.map_or(g, |a| a.max(g)))
        });
    match (ours, best_other) {
        (Some(o), Some(b)) => format!("×{:.2}", o / b),
        (None, Some(_)) if results.get(li, server, op, ClientKind::Ours).is_some() => "×0".into(),
        _ => "–".into(),
    }
}

pub fn render_tables(opts: &Options, results: &Results) -> (String, String) {
    let clients = &opts.clients;
    let mut head = vec![
        "link".to_string(),
        "server".into(),
        "op".into(),
        "ceiling".into(),
    ];
    for c in clients {
        head.push(format!("{} goodput", c.label()));
        head.push("% link".into());
        head.push("CPU s/MB".into());
    }
    head.push("ours / best other".into());
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut md = String::new();
    let _ = write!(md, "| link | server | op | ceiling |");
    for c in clients {
        let _ = write!(md, " {} |", c.label());
    }
    let _ = writeln!(md, " ours / best other |");
    let _ = writeln!(md, "|{}", "---|".repeat(5 + clients.len()));
    for (li, link) in opts.links.iter().enumerate() {
        for server in &opts.servers {
            for op in &opts.ops {
                let link_text = format!("{} ({})", link.label, fmt_size(opts.size(link)));
                let ceiling = ceiling_text(opts, link, *op);
                let mut row = vec![
                    link_text.clone(),
                    server.label().into(),
                    op.label().into(),
                    ceiling.clone(),
                ];
                let _ = write!(
                    md,
                    "| {link_text} | {} | {} | {ceiling} |",
                    server.label(),
                    op.label()
                );
                for c in clients {
                    let (g, p, cpu) = cell_texts(opts, results, li, *server, *op, *c);
                    let md_cell = match (p.is_empty(), cpu.is_empty()) {
                        (true, true) => g.clone(),
                        _ => format!("{g} · {p} · {cpu}"),
                    };
                    let _ = write!(md, " {md_cell} |");
                    row.extend([g, p, cpu]);
                }
                let ratio = ratio_text(opts, results, li, *server, *op);
                let _ = writeln!(md, " {ratio} |");
                row.push(ratio);
                rows.push(row);
            }
        }
    }
    let _ = writeln!(
        md,
        "\nCells: median goodput · % of the link byte rate · client CPU s per MB. \
         Ceiling: the most of the link's byte rate file bytes can use, 239/266 (full \
         MAVLink 2 frames) × (1 − loss) when a lost frame takes its airtime; uploads \
         × (1 − loss)² (a write whose ACK is lost is written again). \
         MB = 10^6 B. (k/n): only k of n repeats finished. \
         n/a: pymavlink has no plain download. skip: pymavlink upload to MAVSDK's server \
         never finishes (WriteFile ACK offset 0), not run."
    );
    // Aligned text table.
    let ncol = head.len();
    let mut width = vec![0usize; ncol];
    for r in std::iter::once(&head).chain(rows.iter()) {
        for (i, cell) in r.iter().enumerate() {
            width[i] = width[i].max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let line = |r: &Vec<String>, text: &mut String| {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = width[i] - c.chars().count();
                if i < 3 {
                    format!("{c}{}", " ".repeat(pad))
                } else {
                    format!("{}{c}", " ".repeat(pad))
                }
            })
            .collect();
        let _ = writeln!(text, "{}", cells.join("  ").trim_end());
    };
    line(&head, &mut text);
    let _ = writeln!(
        text,
        "{}",
        "-".repeat(width.iter().sum::<usize>() + 2 * (ncol - 1))
    );
    for r in &rows {
        line(r, &mut text);
    }
    (text, md)
}

pub fn fmt_size(bytes: usize) -> String {
    if bytes >= 1_000_000 && bytes.is_multiple_of(1000) {
        format!("{} MB", bytes as f64 / 1e6)
    } else if bytes >= 1000 && bytes.is_multiple_of(1000) {
        format!("{} KB", bytes / 1000)
    } else {
        format!("{bytes} B")
    }
}

/// A link's ceiling as a table cell ("–" without a rate).
pub fn ceiling_text(opts: &Options, link: &LinkSpec, op: Op) -> String {
    ceiling(link, opts.loss_mode, op).map_or("–".into(), |c| format!("{:.1} %", 100.0 * c))
}

/// The targets, checked against this run's medians.
pub fn render_targets(opts: &Options, results: &Results) -> String {
    let mut out = String::from("Targets (issue 4");
    if opts.loss_mode == LossMode::OnAir {
        out.push_str("; its lossy targets were set when lost frames cost no airtime");
    }
    out.push_str("):\n");
    let find = |key: &str| opts.links.iter().position(|l| l.key == key);
    let pct = |li: usize, s: ServerKind, op: Op| -> Option<f64> {
        let rate = opts.links[li].rate? as f64;
        results
            .goodput(opts, li, s, op, ClientKind::Ours)
            .map(|g| 100.0 * g / rate)
    };
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    for (key, down_min, up_min) in [
        ("5760", 87.0, 87.0),
        ("5760-loss", 82.0, 80.0),
        ("92160", 82.0, 80.0),
    ] {
        let Some(li) = find(key) else { continue };
        for s in &opts.servers {
            for op in &opts.ops {
                let min = if *op == Op::Upload { up_min } else { down_min };
                let got = pct(li, *s, *op);
                let text = got.map_or("not measured".into(), |p| {
                    format!("{p:.1} % → {}", verdict(p >= min))
                });
                let _ = writeln!(
                    out,
                    "- {}, server {}, ours {}: ≥ {min} % of link: {text}",
                    opts.links[li].label,
                    s.label(),
                    op.label()
                );
            }
        }
    }
    if let Some(li) = find("loopback") {
        let g = |s, op, c| results.goodput(opts, li, s, op, c);
        let m = ServerKind::Mavsdk;
        for (op, factor) in [(Op::Plain, 3.0), (Op::Upload, 3.0), (Op::Burst, 1.0)] {
            let text = match (g(m, op, ClientKind::Ours), g(m, op, ClientKind::Mavsdk)) {
                (Some(o), Some(b)) => format!("×{:.2} → {}", o / b, verdict(o >= factor * b)),
                _ => "not measured".into(),
            };
            let _ = writeln!(
                out,
                "- loopback, MAVSDK server, {}: ours ≥ {factor}× MAVSDK client: {text}",
                op.label()
            );
        }
        let text = match (
            g(ServerKind::Ours, Op::Burst, ClientKind::Ours),
            g(m, Op::Burst, ClientKind::Mavsdk),
        ) {
            (Some(o), Some(b)) => format!("×{:.2} → {}", o / b, verdict(o >= 10.0 * b)),
            _ => "not measured".into(),
        };
        let _ = writeln!(
            out,
            "- loopback burst: ours+our server ≥ 10× MAVSDK client+MAVSDK server: {text}"
        );
    }
    // Issue 14: in the realistic mode, each lossy single-link row within 4
    // points of its ceiling.
    if opts.loss_mode == LossMode::OnAir {
        out.push_str("Targets (issue 14, lost frames take their airtime):\n");
        for key in ["5760-loss", "92160"] {
            let Some(li) = find(key) else { continue };
            let link = &opts.links[li];
            for s in &opts.servers {
                for op in &opts.ops {
                    let Some(c) = ceiling(link, opts.loss_mode, *op) else {
                        continue;
                    };
                    let c = 100.0 * c;
                    let text = pct(li, *s, *op).map_or("not measured".into(), |p| {
                        format!("{p:.1} % → {}", verdict(p >= c - 4.0))
                    });
                    let _ = writeln!(
                        out,
                        "- {}, server {}, ours {}: ≥ ceiling {c:.1} % − 4 = {:.1} %: {text}",
                        link.label,
                        s.label(),
                        op.label(),
                        c - 4.0
                    );
                }
            }
        }
    }
    out
}

/// The run parameters as a markdown paragraph.
pub fn markdown_header(header: &str) -> String {
    let lines: Vec<&str> = header
        .lines()
        .filter(|l| !l.ends_with("runs planned"))
        .collect();
    format!("{}\n\n", lines.join("  \n"))
}
