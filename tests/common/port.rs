//! A free UDP port on loopback. Included (`#[path]`, as `port`) by the test
//! binaries that start peers on UDP and by the benchmark.

use std::net::UdpSocket;

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> std::io::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}
