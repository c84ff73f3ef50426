//! The fuzz targets on the stable toolchain: every seed, then mutants of the
//! seeds from a fixed PRNG seed per target, each case under a time bound, the
//! whole run bounded (about 50 s of the 60 s CI allowance, split between the
//! targets, which run one after the other). A failing case is written to target/fuzz-failures/ so that
//! `cargo fuzz run <target> <file>` replays it. The same targets run with
//! coverage feedback under `cargo fuzz` (see the README's Fuzzing section).
//!
//! A panic inside the library is a failure even when the library catches it
//! (the server answers a panicking handler with NAK Fail): a panic hook counts them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mavftp::link::sim::SplitMix64;

use crate::one_at_a_time;
use crate::support::input::mutate;
use crate::support::{Target, targets};

static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

/// Stable PRNG seed from the target name (FNV-1a).
fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn save_failure(name: &str, case: usize, input: &[u8]) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
    let path = dir.join(format!("{name}-{case}.bin"));
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(&path, input);
    path.display().to_string()
}

/// Run `target` on its seeds, then on mutants until `cases` ran or `budget`
/// is spent; each case must end within `case_limit`.
fn drive(name: &str, cases: usize, budget: Duration, case_limit: Duration) {
    let _turn = one_at_a_time();
    count_panics();
    let (_, target, seeds, max_len) = targets()
        .into_iter()
        .find(|t| t.0 == name)
        .expect("known target");
    let mut rng = SplitMix64::new(seed_of(name));
    let start = Instant::now();
    let mut ran = 0;
    let mut inputs = seeds.clone().into_iter();
    // MAVFTP_FUZZ_KEEP_GOING=1: report every failing case, not only the first (triage).
    let keep_going = std::env::var_os("MAVFTP_FUZZ_KEEP_GOING").is_some();
    let mut failures = 0;
    // MAVFTP_FUZZ_VERBOSE=1: the time of every case.
    let verbose = std::env::var_os("MAVFTP_FUZZ_VERBOSE").is_some();
    while ran < seeds.len() + cases && (ran < seeds.len() || start.elapsed() < budget) {
        let input = inputs.next().unwrap_or_else(|| {
            let base = &seeds[rng.below(seeds.len() as u64) as usize];
            let mut m = mutate(&mut rng, base, &seeds, max_len);
            for _ in 0..rng.below(3) {
                m = mutate(&mut rng, &m, &seeds, max_len);
            }
            m
        });
        let case_start = Instant::now();
        let outcome = run_case(name, target, ran, input.clone(), case_limit);
        if verbose {
            eprintln!(
                "{name} case {ran}: {:.1} ms, {} B",
                case_start.elapsed().as_secs_f64() * 1e3,
                input.len()
            );
        }
        if let Err(failure) = outcome {
            if !keep_going {
                panic!("{failure}");
            }
            eprintln!("FAILURE {failure}");
            failures += 1;
        }
        ran += 1;
    }
    println!(
        "{name}: {ran} cases ({} seeds) in {:.1} s",
        seeds.len(),
        start.elapsed().as_secs_f64()
    );
    assert_eq!(failures, 0, "{name}: {failures} failing cases");
}

/// Run one case; Err(description) when it fails.
fn run_case(
    name: &str,
    target: Target,
    case: usize,
    input: Vec<u8>,
    limit: Duration,
) -> Result<(), String> {
    let panics_before = PANICS.load(Ordering::SeqCst);
    let (tx, rx) = mpsc::channel();
    let worker_input = input.clone();
    std::thread::Builder::new()
        .name(format!("fuzz-{name}"))
        .spawn(move || {
            let outcome = std::panic::catch_unwind(|| target(&worker_input));
            let _ = tx.send(outcome.map_err(|e| {
                e.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            }));
        })
        .expect("spawn case");
    let failure = match rx.recv_timeout(limit) {
        Ok(Ok(())) => match PANICS.load(Ordering::SeqCst) - panics_before {
            0 => return Ok(()),
            caught => format!("{caught} panic(s) inside the library (caught there)"),
        },
        Ok(Err(message)) => format!("broke an invariant: {message}"),
        Err(_) => format!("did not finish within {limit:?} (hang)"),
    };
    let file = save_failure(name, case, &input);
    Err(format!(
        "{name} case {case} {failure}\ninput {file}: {}",
        hex(&input)
    ))
}

#[test]
fn fuzz_frame_parser_mutations() {
    drive(
        "frame_parser",
        20_000,
        Duration::from_secs(8),
        Duration::from_secs(10),
    );
}

#[test]
fn fuzz_ftp_packet_mutations() {
    drive(
        "ftp_packet",
        50_000,
        Duration::from_secs(3),
        Duration::from_secs(10),
    );
}

#[test]
fn fuzz_listing_mutations() {
    drive(
        "listing",
        50_000,
        Duration::from_secs(3),
        Duration::from_secs(10),
    );
}

#[test]
fn fuzz_server_requests_mutations() {
    drive(
        "server_requests",
        2_000,
        Duration::from_secs(15),
        Duration::from_secs(30),
    );
}

#[test]
fn fuzz_client_replies_mutations() {
    drive(
        "client_replies",
        2_000,
        Duration::from_secs(20),
        Duration::from_secs(40),
    );
}

/// Store the seeds as cargo-fuzz corpora (fuzz/corpus/<target>/seed-N).
#[test]
#[ignore = "writes files: run before the first `cargo fuzz run`"]
fn write_cargo_fuzz_seed_corpus() {
    for (name, _, seeds, _) in targets() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        for (i, seed) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), seed).expect("write");
        }
    }
}

/// Run one saved input: `FUZZ_TARGET=client_replies FUZZ_INPUT=path cargo test
/// --release --test fuzz -- --ignored mutation::replay_fuzz_input --nocapture`
/// (add MAVFTP_TRACE=1 to see the client's requests and replies).
#[test]
#[ignore = "needs FUZZ_TARGET and FUZZ_INPUT"]
fn replay_fuzz_input() {
    let _turn = one_at_a_time();
    let name = std::env::var("FUZZ_TARGET").expect("FUZZ_TARGET");
    let input = std::fs::read(std::env::var("FUZZ_INPUT").expect("FUZZ_INPUT")).expect("read");
    let (_, target, _, _) = targets()
        .into_iter()
        .find(|t| t.0 == name)
        .expect("known target");
    target(&input);
}
