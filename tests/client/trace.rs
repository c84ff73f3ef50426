//! `MAVFTP_TRACE=1` (a diagnostic switch users turn on in the field) must
//! not change what the client does. The switch is read once per process, so
//! the traced run is a child process of its own with the switch set from the
//! start (`own_process`).

use std::time::Duration;

use mavftp::client::Client;
use mavftp::link::sim::{Impairment, link_pair};
use mavftp::server::Server;

use crate::own_process;

/// The traced run (this file's first test, alone in a child process).
const TRACED: &str = "trace::every_operation_works_with_tracing_on";

#[test]
fn every_operation_works_with_tracing_on() {
    if !own_process::is_child() {
        own_process::run_alone(TRACED, &[("MAVFTP_TRACE", "1")]);
        return;
    }
    let lossy = |seed| Impairment::none().with_loss(0.05).with_seed(seed);
    let (client_link, server_link) = link_pair((245, 190), (1, 1), lossy(1), lossy(2));
    let root = tempfile::tempdir().expect("tempdir");
    let local = tempfile::tempdir().expect("tempdir");
    let _server = Server::new(&server_link, root.path()).expect("server");
    let client = Client::new(&client_link, 1, 1).expect("client");
    client.set_timeout(Duration::from_millis(200), 10);

    let data: Vec<u8> = (0..30_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(root.path().join("log.bin"), &data).expect("write");
    for burst in [false, true] {
        let out = local.path().join("log.bin");
        let _ = std::fs::remove_file(&out);
        client
            .download("/log.bin", local.path(), burst, None)
            .unwrap_or_else(|e| panic!("traced download burst={burst}: {e}"));
        assert_eq!(std::fs::read(&out).expect("read"), data, "burst={burst}");
    }
    client.create_directory("/up").expect("traced mkdir");
    let up = local.path().join("up.bin");
    std::fs::write(&up, &data).expect("write");
    client.upload(&up, "/up", None).expect("traced upload");
    assert_eq!(
        std::fs::read(root.path().join("up/up.bin")).expect("read"),
        data
    );
    assert_eq!(client.are_files_identical(&up, "/up/up.bin"), Ok(true));
    let listing = client.list_directory("/up").expect("traced listing");
    assert_eq!(listing.files(), vec!["up.bin"]);
}

/// Issue 9 item 17: the trace shows every request, the session closes
/// included (session interplay with other ground stations is visible).
/// Runs the test above in a child process and reads its stderr.
#[test]
fn trace_shows_every_request_including_terminate() {
    let out = own_process::run_alone(TRACED, &[("MAVFTP_TRACE", "1")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "traced test failed:\n{stderr}");
    for what in [
        "send OpenFileRO",
        "send ReadFile",
        "burst seq",
        "send TerminateSession",
        "send CreateDirectory",
        "send CreateFile",
        "send WriteFile",
        "send CalcFileCRC32",
        "send ListDirectory",
    ] {
        assert!(stderr.contains(what), "no '{what}' in the trace:\n{stderr}");
    }
    let opens =
        stderr.matches("send OpenFileRO").count() + stderr.matches("send CreateFile").count();
    let closes = stderr.matches("send TerminateSession").count();
    assert!(closes >= opens, "{opens} opens but {closes} closes traced");
}
