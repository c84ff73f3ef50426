//! A ground station and a fleet (issue 14): many clients on ONE ground link
//! (one UDP port), one per vehicle; each vehicle is our server with its own
//! system id behind its own simulated radio. Not timed: every transfer must
//! finish with the vehicle's bytes, whatever the two cores are doing.

use std::path::Path;
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use mavftp::link::sim::{Impairment, LossMode, UdpProxy};
use mavftp::{Client, Link, Server};

/// One vehicle: its radio, its link and its server (kept alive together).
struct Vehicle {
    _server: Server,
    link: Link,
    _proxy: UdpProxy,
}

/// A file of `len` bytes that differs from every other vehicle's.
fn content(vehicle: usize, len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (vehicle as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The radio of vehicle `k`: a fast serial-class link with delay and
/// losses that cost airtime (a lost frame still took its time on the air).
fn radio(k: usize, direction: u64) -> Impairment {
    Impairment::none()
        .with_rate(40_000)
        .with_delay(Duration::from_millis(10))
        .with_loss(0.01)
        .with_loss_mode(LossMode::OnAir)
        .with_seed(1000 + 2 * k as u64 + direction)
}

fn start_vehicle(k: usize, ground: std::net::SocketAddr, root: &Path) -> Vehicle {
    let dir = root.join(format!("vehicle{k}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("log.bin"), content(k, FILE_LEN)).unwrap();
    let proxy = UdpProxy::start(([127, 0, 0, 1], 0).into(), ground, radio(k, 0), radio(k, 1))
        .expect("proxy");
    let link =
        Link::open(&format!("udpout://{}", proxy.listen_addr()), k as u8, 1).expect("vehicle link");
    let server = Server::new(&link, &dir).expect("server");
    server.set_unknown_link_rate(40_000);
    Vehicle {
        _server: server,
        link,
        _proxy: proxy,
    }
}

const VEHICLES: usize = 20;
const FILE_LEN: usize = 48 * 1024;

#[test]
fn twenty_clients_on_one_link_each_download_from_its_own_vehicle_byte_exact() {
    let root = tempfile::tempdir().unwrap();
    let ground = Link::open("udpin://127.0.0.1:0", 245, 190).expect("ground link");
    let ground_addr = ground.local_addr().expect("ground address");
    let fleet: Vec<Vehicle> = (1..=VEHICLES)
        .map(|k| start_vehicle(k, ground_addr, root.path()))
        .collect();
    // Every vehicle's heartbeat heard (one a second each) before the start.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(1..=VEHICLES).all(|k| ground.has_heard(k as u8, 1)) {
        assert!(Instant::now() < deadline, "not every vehicle was heard");
        std::thread::sleep(Duration::from_millis(20));
    }
    let clients: Vec<Client> = (1..=VEHICLES)
        .map(|k| Client::new(&ground, k as u8, 1).expect("client"))
        .collect();
    // All at once; half of them with bursts, half with plain reads.
    let (tx, rx) = channel();
    for (i, client) in clients.iter().enumerate() {
        let k = i + 1;
        let dir = root.path().join(format!("ground{k}"));
        std::fs::create_dir_all(&dir).unwrap();
        let tx = tx.clone();
        client
            .download_async(
                "/log.bin",
                &dir,
                k % 2 == 0,
                None,
                Box::new(move |outcome| {
                    let _ = tx.send((k, outcome));
                }),
            )
            .expect("queued");
    }
    drop(tx);
    let mut finished = [false; VEHICLES + 1];
    for (k, outcome) in rx.iter().take(VEHICLES) {
        if let Err(e) = outcome {
            panic!("vehicle {k}: {e}");
        }
        let got = std::fs::read(root.path().join(format!("ground{k}/log.bin"))).unwrap();
        assert!(
            got == content(k, FILE_LEN),
            "vehicle {k}: the downloaded file differs from the vehicle's ({} bytes)",
            got.len()
        );
        finished[k] = true;
    }
    let missing: Vec<usize> = (1..=VEHICLES).filter(|k| !finished[*k]).collect();
    assert!(missing.is_empty(), "no result from vehicles {missing:?}");
    drop(clients);
    ground.close();
    for v in &fleet {
        v.link.close();
    }
}
