//! What the fuzz targets (tests/fuzz/support/) found, each kept as a test
//! named after the behaviour, with the frames spelled out instead of fuzz bytes.

use std::sync::{Arc, Mutex};

use mavftp::link::{FrameSink, WeakLink};
use mavftp::protocol::{FtpPacket, Opcode};
use mavftp::{Client, Link, Server};

use crate::support::wire::{FTP_ID, ftp_frame, valid_frame_at};

/// Rewrites what the server sends: `edit` gets each FTP packet (with its
/// target) and returns the packets the client receives instead.
type Edit = Box<dyn FnMut(FtpPacket) -> Vec<FtpPacket> + Send>;

/// A client of our server over two custom links, the server's frames passed
/// through `edit`. Returns (client, server, links) to keep alive.
fn client_through(root: &std::path::Path, edit: Edit) -> (Client, Server, Link, Link) {
    let to_client: Arc<Mutex<Option<WeakLink>>> = Arc::default();
    let to_server: Arc<Mutex<Option<WeakLink>>> = Arc::default();
    let edit = Arc::new(Mutex::new(edit));
    let slot = Arc::clone(&to_client);
    let server_sink: FrameSink = Box::new(move |frame: &[u8]| {
        let out: Vec<Vec<u8>> = match valid_frame_at(frame, 0) {
            Some(f) if f.message_id == FTP_ID => {
                let (ts, tc, ftp) = f.ftp_parts();
                let packet = FtpPacket::decode(ftp).expect("our server's packets decode");
                let packets = (edit.lock().expect("edit"))(packet);
                packets
                    .iter()
                    .map(|p| ftp_frame(f.sys, f.comp, ts, tc, &p.encode()))
                    .collect()
            }
            _ => vec![frame.to_vec()],
        };
        if let Some(link) = slot
            .lock()
            .expect("slot")
            .as_ref()
            .and_then(WeakLink::upgrade)
        {
            for f in out {
                let _ = link.feed(&f);
            }
        }
    });
    let slot = Arc::clone(&to_server);
    let client_sink: FrameSink = Box::new(move |frame: &[u8]| {
        if let Some(link) = slot
            .lock()
            .expect("slot")
            .as_ref()
            .and_then(WeakLink::upgrade)
        {
            let _ = link.feed(frame);
        }
    });
    let server_link = Link::open_custom(1, 1, server_sink).expect("server link");
    let client_link = Link::open_custom(245, 190, client_sink).expect("client link");
    *to_client.lock().expect("slot") = Some(client_link.downgrade());
    *to_server.lock().expect("slot") = Some(server_link.downgrade());
    let server = Server::new(&server_link, root).expect("server");
    let client = Client::new(&client_link, 1, 1).expect("client");
    (client, server, server_link, client_link)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i * 167 + (i >> 8)) as u8)
        .collect()
}

/// Found by `client_replies` at once (cargo fuzz and the stable driver's
/// seeds): the genuine ACK of the ReadFile for offset 0 arrives, then a copy
/// renumbered to seq + 1 — the answer the client expects for its ReadFile at
/// offset 239, which is in flight. The copy's own offset field says 0. The
/// client takes it as the answer for offset 239, writes the first 239 bytes
/// there and reports SUCCESS with wrong bytes (issue 9 item 2).
#[test]
fn client_download_refuses_a_read_ack_renumbered_to_another_request() {
    let _turn = crate::one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    let local = dir.path().join("local");
    std::fs::create_dir_all(&root).expect("mkdir");
    std::fs::create_dir_all(&local).expect("mkdir");
    let served = pattern(4000);
    std::fs::write(root.join("f.bin"), &served).expect("write");
    let mut injected = false;
    let edit: Edit = Box::new(move |p: FtpPacket| {
        if !injected && p.opcode == Opcode::Ack && p.req_opcode == Opcode::ReadFile && p.offset == 0
        {
            injected = true;
            let mut renumbered = p.clone();
            renumbered.seq = p.seq.wrapping_add(1);
            return vec![p, renumbered];
        }
        vec![p]
    });
    let (client, _server, _l1, _l2) = client_through(&root, edit);
    let result = client.download("/f.bin", &local, false, None);
    if result.is_ok() {
        let got = std::fs::read(local.join("f.bin")).expect("read");
        assert!(
            got == served,
            "SUCCESS with wrong bytes (first difference at {:?})",
            got.iter().zip(&served).position(|(a, b)| a != b)
        );
    }
    assert!(
        result.is_ok(),
        "a stray duplicate must not fail the download: {result:?}"
    );
}
