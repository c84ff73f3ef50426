//! `mavftp_link`: one MAVLink connection shared by clients and servers.

use std::ffi::{c_char, c_void};

use super::boundary::{Out, UserData, borrow, c_str, free, guard};
use crate::link::{Link, SIGNING_KEY_LEN, SigningStats};
use crate::result::{FtpError, FtpResult};

/// Own system id of a link opened with own_system_id 0 (a ground station's).
pub const MAVFTP_DEFAULT_SYSTEM_ID: u8 = 245;
/// Own component id of a link opened with own_component_id 0.
pub const MAVFTP_DEFAULT_COMPONENT_ID: u8 = 190;
const _: () = assert!(
    MAVFTP_DEFAULT_SYSTEM_ID == crate::link::DEFAULT_SYSTEM_ID
        && MAVFTP_DEFAULT_COMPONENT_ID == crate::link::DEFAULT_COMPONENT_ID
);

/// Length in bytes of a MAVLink 2 signing secret key
/// (`mavftp_link_set_signing`).
pub const MAVFTP_SIGNING_KEY_LEN: usize = 32;
const _: () = assert!(MAVFTP_SIGNING_KEY_LEN == SIGNING_KEY_LEN);

/// One MAVLink connection (UDP, TCP, serial or application-owned), shared by
/// any number of clients and servers. It sends a HEARTBEAT at 1 Hz and tracks
/// which systems it hears.
///
/// Thread safety: all functions may be called from any thread.
pub struct mavftp_link {
    pub(super) inner: Link,
}

impl Drop for mavftp_link {
    /// Clients and servers hold the link too: freeing the handle closes it.
    fn drop(&mut self) {
        self.inner.close();
    }
}

/// Called by a custom link with one complete, framed MAVLink message to send.
/// `bytes` is valid only during the call. Called from library threads, one
/// frame at a time and in order. It must not call back into the same link
/// (handing the bytes to `mavftp_link_feed` of ANOTHER link is fine).
pub type mavftp_send_cb =
    Option<extern "C" fn(bytes: *const u8, len: usize, user_data: *mut c_void)>;

/// Open a link. `url` is `udpin://HOST:PORT`, `udpout://HOST:PORT`,
/// `tcpin://HOST:PORT`, `tcpout://HOST:PORT` or `serial:///dev/ttyX:BAUD`
/// (also without `//`). Own ids 0 mean MAVFTP_DEFAULT_SYSTEM_ID (245) and
/// MAVFTP_DEFAULT_COMPONENT_ID (190), a ground station's;
/// own component 1 makes the link's heartbeat that of an autopilot.
/// On success `*out_link` receives a link to free with `mavftp_link_free`.
///
/// Returns INVALID_PARAMETER for a NULL or malformed argument, FILE_IO_ERROR
/// when the socket or port cannot be opened.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_link_open(
    url: *const c_char,
    own_system_id: u8,
    own_component_id: u8,
    out_link: *mut *mut mavftp_link,
) -> FtpResult {
    guard(None, || {
        let out = Out::new(out_link, "out_link")?;
        let inner = Link::open(c_str(url, "url")?, own_system_id, own_component_id)?;
        out.put_handle(mavftp_link { inner });
        Ok(())
    })
}

/// Open a link whose bytes the application moves (it already owns the serial
/// port or socket, e.g. a Qt ground station): framed MAVLink messages go out
/// through `send` (with `user_data` as its last argument), received bytes come
/// in through `mavftp_link_feed`. `send` may be called until
/// `mavftp_link_free` returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_link_open_custom(
    own_system_id: u8,
    own_component_id: u8,
    send: mavftp_send_cb,
    user_data: *mut c_void,
    out_link: *mut *mut mavftp_link,
) -> FtpResult {
    guard(None, || {
        let out = Out::new(out_link, "out_link")?;
        let send = send.ok_or_else(|| FtpError::invalid("send is NULL"))?;
        let user = UserData(user_data);
        let sink = Box::new(move |bytes: &[u8]| {
            send(bytes.as_ptr(), bytes.len(), user.get());
        });
        let inner = Link::open_custom(own_system_id, own_component_id, sink)?;
        out.put_handle(mavftp_link { inner });
        Ok(())
    })
}

/// Feed bytes received by the application into a custom link (any chunking;
/// partial frames are kept until the rest arrives). Frames are parsed and
/// routed in the calling thread. `len` 0 is allowed; `bytes` may be NULL only
/// when `len` is 0. Returns UNSUPPORTED for a link not opened with
/// `mavftp_link_open_custom`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_link_feed(
    link: *mut mavftp_link,
    bytes: *const u8,
    len: usize,
) -> FtpResult {
    guard(None, || {
        let link = borrow(link, "link")?;
        if len == 0 {
            return Ok(());
        }
        borrow(bytes, "bytes")?;
        // SAFETY: non-null and the caller promises `len` readable bytes.
        let data = unsafe { std::slice::from_raw_parts(bytes, len) };
        link.inner.feed(data)
    })
}

/// The first system (other than our own) heard on this link, by any
/// MAVLink message: `*out_system_id` receives its id. NO_SYSTEM while none
/// was heard. A client created with target_system 0 talks to this system.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_link_first_heard_system(
    link: *const mavftp_link,
    out_system_id: *mut u8,
) -> FtpResult {
    guard(None, || {
        let out = Out::new(out_system_id, "out_system_id")?;
        let system = borrow(link, "link")?
            .inner
            .first_heard_system()
            .ok_or_else(|| FtpError::new(FtpResult::NoSystem, "no system heard yet"))?;
        out.put(system);
        Ok(())
    })
}

/// Milliseconds since any MAVLink message from (`system_id`, `component_id`)
/// was last received on this link: `*out_ms_ago` receives them (e.g. to tell
/// whether a vehicle is still there: it heartbeats at 1 Hz). NO_SYSTEM when
/// that component was never heard.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_link_last_heard(
    link: *const mavftp_link,
    system_id: u8,
    component_id: u8,
    out_ms_ago: *mut u64,
) -> FtpResult {
    guard(None, || {
        let out = Out::new(out_ms_ago, "out_ms_ago")?;
        let at = borrow(link, "link")?
            .inner
            .last_heard(system_id, component_id)
            .ok_or_else(|| {
                FtpError::new(
                    FtpResult::NoSystem,
                    format!("system {system_id} component {component_id} never heard"),
                )
            })?;
        out.put(u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX));
        Ok(())
    })
}

/// Turn on MAVLink 2 message signing (mavlink.io "Message signing"): every
/// frame the link sends from now on, heartbeats included, is signed with the
/// 32-byte `secret_key` (`key_len` must be MAVFTP_SIGNING_KEY_LEN) and
/// `link_id`; its timestamp (units of 10 microseconds since 2015-01-01
/// 00:00:00 UTC) follows the system clock and grows with every frame.
/// Incoming signed
/// frames must carry a correct signature and a timestamp newer than the last
/// one accepted from the same (system, component, link id); the first frame
/// of such a stream may be at most one minute behind this link's timestamp.
/// With `require_signed` true, every other frame (unsigned, MAVLink 1, wrong
/// key, replayed) is dropped before routing, so a server on this link never
/// answers it and a client ignores it; with false such frames are accepted
/// as unsigned ones (as the MAVLink reference implementations do when they
/// accept unsigned frames). Everything is counted
/// (`mavftp_link_signing_stats`). Calling it again replaces key, link id and
/// switch; the key is copied.
///
/// Returns INVALID_PARAMETER for a NULL `link` or `secret_key` or a
/// `key_len` other than 32.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_link_set_signing(
    link: *mut mavftp_link,
    secret_key: *const u8,
    key_len: usize,
    link_id: u8,
    require_signed: bool,
) -> FtpResult {
    guard(None, || {
        let link = borrow(link, "link")?;
        borrow(secret_key, "secret_key")?;
        if key_len != MAVFTP_SIGNING_KEY_LEN {
            return Err(FtpError::invalid(format!(
                "secret_key is {key_len} bytes; a MAVLink signing key is {MAVFTP_SIGNING_KEY_LEN}"
            )));
        }
        let mut copy = [0u8; SIGNING_KEY_LEN];
        // SAFETY: non-null and the caller promises `key_len` (32) readable bytes.
        copy.copy_from_slice(unsafe { std::slice::from_raw_parts(secret_key, key_len) });
        link.inner.set_signing(&copy, link_id, require_signed);
        Ok(())
    })
}

/// Turn signing off: frames are sent unsigned and every frame is accepted
/// again. The counters stay.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_link_clear_signing(link: *mut mavftp_link) -> FtpResult {
    guard(None, || {
        borrow(link, "link")?.inner.clear_signing();
        Ok(())
    })
}

/// The link's signing counters: `*out_stats` receives them.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_link_signing_stats(
    link: *const mavftp_link,
    out_stats: *mut SigningStats,
) -> FtpResult {
    guard(None, || {
        let out = Out::new(out_stats, "out_stats")?;
        out.put(borrow(link, "link")?.inner.signing_stats());
        Ok(())
    })
}

/// Close and free a link. Operations of its clients still in flight end
/// first (their callbacks run exactly once, with CANCELLED or another final
/// result). Clients and servers on it stay valid handles that reach no one
/// (new operations return CANCELLED): free them too, as usual. NULL does
/// nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_link_free(link: *mut mavftp_link) {
    // SAFETY: the caller passes a link from mavftp_link_open* or NULL, once.
    unsafe { free(link) }
}
