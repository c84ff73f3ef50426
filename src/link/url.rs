//! Connection URLs: `udpin://HOST:PORT`, `udpout://HOST:PORT`,
//! `tcpin://HOST:PORT`, `tcpout://HOST:PORT`, `serial:///dev/ttyX:BAUD`
//! (the `//` is optional; an empty HOST for `udpin`/`tcpin` means every
//! interface; a serial URL without `:BAUD` uses 57600).

use crate::result::{FtpError, FtpOutcome};

/// Baud rate used when a serial URL gives none.
pub const DEFAULT_BAUD: u32 = 57_600;

/// A parsed connection URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Listen for UDP datagrams on (host, port); reply to every sender.
    UdpIn { host: String, port: u16 },
    /// Send UDP datagrams to (host, port); receive on the same socket.
    UdpOut { host: String, port: u16 },
    /// Accept TCP clients on (host, port).
    TcpIn { host: String, port: u16 },
    /// Connect to a TCP server at (host, port).
    TcpOut { host: String, port: u16 },
    /// A serial device at a baud rate.
    Serial { path: String, baud: u32 },
}

/// Parse a connection URL (see the module documentation for the forms).
/// Errors are `InvalidParameter` with the reason.
pub fn parse_url(url: &str) -> FtpOutcome<Endpoint> {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(FtpError::invalid(format!(
            "connection URL '{url}' has no scheme (e.g. udpin://0.0.0.0:14550)"
        )));
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "udpin" | "udp" => {
            let (host, port) = host_port(url, rest, true)?;
            Ok(Endpoint::UdpIn { host, port })
        }
        "udpout" => {
            let (host, port) = host_port(url, rest, false)?;
            Ok(Endpoint::UdpOut { host, port })
        }
        "tcpin" => {
            let (host, port) = host_port(url, rest, true)?;
            Ok(Endpoint::TcpIn { host, port })
        }
        "tcpout" | "tcp" => {
            let (host, port) = host_port(url, rest, false)?;
            Ok(Endpoint::TcpOut { host, port })
        }
        "serial" => serial(url, rest),
        other => Err(FtpError::invalid(format!(
            "connection URL '{url}': unknown scheme '{other}' (udpin, udpout, tcpin, tcpout, serial)"
        ))),
    }
}

fn host_port(url: &str, rest: &str, listening: bool) -> FtpOutcome<(String, u16)> {
    let Some((host, port)) = rest.rsplit_once(':') else {
        return Err(FtpError::invalid(format!(
            "connection URL '{url}' needs HOST:PORT"
        )));
    };
    // [::1]:14550 style IPv6 literals.
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port: u16 = port
        .parse()
        .map_err(|_| FtpError::invalid(format!("connection URL '{url}': bad port '{port}'")))?;
    if host.contains('/') || host.chars().any(char::is_whitespace) {
        return Err(FtpError::invalid(format!(
            "connection URL '{url}': bad host '{host}'"
        )));
    }
    let host = if host.is_empty() {
        if !listening {
            return Err(FtpError::invalid(format!(
                "connection URL '{url}' needs a host to send to"
            )));
        }
        "0.0.0.0".to_string()
    } else {
        host.to_string()
    };
    if !listening && port == 0 {
        return Err(FtpError::invalid(format!(
            "connection URL '{url}': port 0 cannot be a destination"
        )));
    }
    Ok((host, port))
}

fn serial(url: &str, rest: &str) -> FtpOutcome<Endpoint> {
    let (path, baud) = match rest.rsplit_once(':') {
        Some((path, baud)) if !baud.is_empty() && baud.chars().all(|c| c.is_ascii_digit()) => {
            let baud: u32 = baud.parse().map_err(|_| {
                FtpError::invalid(format!("connection URL '{url}': bad baud rate '{baud}'"))
            })?;
            (path, baud)
        }
        Some((_, baud)) => {
            return Err(FtpError::invalid(format!(
                "connection URL '{url}': bad baud rate '{baud}'"
            )));
        }
        None => (rest, DEFAULT_BAUD),
    };
    if path.is_empty() {
        return Err(FtpError::invalid(format!(
            "connection URL '{url}' needs a device path"
        )));
    }
    if baud == 0 {
        return Err(FtpError::invalid(format!(
            "connection URL '{url}': baud rate 0"
        )));
    }
    Ok(Endpoint::Serial {
        path: path.to_string(),
        baud,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::FtpResult;

    fn hp(host: &str, port: u16) -> (String, u16) {
        (host.to_string(), port)
    }

    #[test]
    fn accepted_urls_parse_to_their_endpoints() {
        let cases: Vec<(&str, Endpoint)> = vec![
            (
                "udpin://0.0.0.0:14550",
                Endpoint::UdpIn {
                    host: hp("0.0.0.0", 0).0,
                    port: 14550,
                },
            ),
            (
                "udpin:0.0.0.0:14550",
                Endpoint::UdpIn {
                    host: "0.0.0.0".into(),
                    port: 14550,
                },
            ),
            (
                "udpin://:14540",
                Endpoint::UdpIn {
                    host: "0.0.0.0".into(),
                    port: 14540,
                },
            ),
            (
                "udpout://127.0.0.1:14540",
                Endpoint::UdpOut {
                    host: "127.0.0.1".into(),
                    port: 14540,
                },
            ),
            (
                "udpout:localhost:1",
                Endpoint::UdpOut {
                    host: "localhost".into(),
                    port: 1,
                },
            ),
            (
                "tcpin://127.0.0.1:5760",
                Endpoint::TcpIn {
                    host: "127.0.0.1".into(),
                    port: 5760,
                },
            ),
            (
                "tcpout://127.0.0.1:5760",
                Endpoint::TcpOut {
                    host: "127.0.0.1".into(),
                    port: 5760,
                },
            ),
            (
                "tcpout://[::1]:5760",
                Endpoint::TcpOut {
                    host: "::1".into(),
                    port: 5760,
                },
            ),
            (
                "serial:///dev/ttyUSB0:57600",
                Endpoint::Serial {
                    path: "/dev/ttyUSB0".into(),
                    baud: 57600,
                },
            ),
            (
                "serial:/dev/ttyACM0:115200",
                Endpoint::Serial {
                    path: "/dev/ttyACM0".into(),
                    baud: 115200,
                },
            ),
            (
                "serial:///dev/ttyS0",
                Endpoint::Serial {
                    path: "/dev/ttyS0".into(),
                    baud: DEFAULT_BAUD,
                },
            ),
        ];
        for (url, want) in cases {
            assert_eq!(parse_url(url), Ok(want), "{url}");
        }
        let _ = hp("x", 1).1;
    }

    #[test]
    fn malformed_urls_are_invalid_parameters() {
        for url in [
            "",
            "14550",
            "udp",
            "http://1.2.3.4:80",
            "udpin://0.0.0.0",
            "udpin://0.0.0.0:",
            "udpin://0.0.0.0:70000",
            "udpin://0.0.0.0:abc",
            "udpout://:14550",
            "udpout://127.0.0.1:0",
            "tcpout://127.0.0.1",
            "tcpout://a b:1",
            "serial://",
            "serial:///dev/ttyUSB0:fast",
            "serial:///dev/ttyUSB0:0",
        ] {
            let err = parse_url(url).expect_err(url);
            assert_eq!(err.result, FtpResult::InvalidParameter, "{url}");
        }
    }
}
