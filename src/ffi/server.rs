//! `mavftp_server`: the vehicle side, serving one root directory.

use std::ffi::c_char;

use super::boundary::{Out, borrow, free, guard, local_path};
use super::link::mavftp_link;
use crate::result::FtpResult;
use crate::server::{Pacing, Server};

/// The `mavftp_server_set_link_rate` value that selects the default burst
/// pacing of links of unknown rate: not a rate but adaptive flow control
/// (rounds of at most 128 packets at a per-client rate that adapts to what
/// the client shows it received).
pub const MAVFTP_DEFAULT_LINK_RATE: u32 = u32::MAX;
const _: () = assert!(MAVFTP_DEFAULT_LINK_RATE == crate::server::ADAPTIVE_LINK_RATE);

/// Serves one root directory (a jail: nothing outside it is reachable) to
/// every peer on a link.
///
/// Thread safety: all functions may be called from any thread.
pub struct mavftp_server {
    inner: Server,
}

/// Serve `root_dir` to every peer on `link`, answering requests addressed to
/// the link's own system/component id (or to component 0). `root_dir` must be
/// an existing directory (FILE_DOES_NOT_EXIST otherwise). A client and a
/// server may share one link. On success `*out_server` receives a server to
/// free with `mavftp_server_free` (before or after its link).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_server_new(
    link: *mut mavftp_link,
    root_dir: *const c_char,
    out_server: *mut *mut mavftp_server,
) -> FtpResult {
    guard(None, || {
        let out = Out::new(out_server, "out_server")?;
        let link = borrow(link, "link")?;
        let inner = Server::new(&link.inner, &local_path(root_dir, "root_dir")?)?;
        out.put_handle(mavftp_server { inner });
        Ok(())
    })
}

/// Refuse (true) or allow again (false) every write, create, remove and
/// rename, with NAK FileProtected (the client sees FILE_PROTECTED).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_server_set_read_only(
    server: *mut mavftp_server,
    read_only: bool,
) -> FtpResult {
    guard(None, || {
        borrow(server, "server")?.inner.set_read_only(read_only);
        Ok(())
    })
}

/// Pace bursts at `bytes_per_second` of frames on links that do not know
/// their rate (UDP, TCP, custom links: e.g. a radio behind a UDP bridge of
/// known speed), as on a link of that rate; 0 sends as fast as possible;
/// MAVFTP_DEFAULT_LINK_RATE restores the default. Serial links are always
/// paced at their baud rate. By default bursts on links of unknown rate are
/// sent in rounds of at most 128 packets (they fit a default socket receive
/// buffer, so a slow reader loses nothing) at a per-client rate that halves
/// when the client's next request shows it lost data and grows when it did
/// not: no setting is needed for any client (MAVSDK, QGC, pymavlink).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_server_set_link_rate(
    server: *mut mavftp_server,
    bytes_per_second: u32,
) -> FtpResult {
    guard(None, || {
        borrow(server, "server")?
            .inner
            .set_burst_pacing(match bytes_per_second {
                0 => Pacing::Unpaced,
                MAVFTP_DEFAULT_LINK_RATE => Pacing::Adaptive,
                rate => Pacing::Fixed(rate),
            });
        Ok(())
    })
}

/// Stop serving, close all sessions and files, and free the server.
/// NULL does nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_server_free(server: *mut mavftp_server) {
    // SAFETY: the caller passes a server from mavftp_server_new or NULL, once.
    unsafe { free(server) }
}
