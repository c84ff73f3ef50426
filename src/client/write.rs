//! Upload body: a window of WriteFile requests fed from the local file as
//! it goes (never the whole file in memory), then the close that makes the
//! data final.

use std::io::Read;

use super::conversation::Conversation;
use super::progress::ProgressGate;
use super::session::OpenSession;
use super::window::{Reply, RetryPolicy, Window, is_nak};
use crate::protocol::{FtpPacket, MAX_DATA, NakCode, Opcode, nak_to_error};
use crate::result::{FtpError, FtpOutcome, FtpResult};

/// How the close of an upload was answered.
pub(crate) enum Closed {
    /// ACK: the data is final.
    Acked,
    /// NAK InvalidSession or Fail to a *resent* close: ambiguous. The first
    /// close may have closed the session and only its ACK was lost, or the
    /// close failed (a server that holds writes until the close); the
    /// caller compares CRCs.
    NakAfterResend(FtpPacket),
}

/// TerminateSession after an upload, retried like any request (see
/// [`Closed`]).
pub(crate) fn close_upload(
    conv: &mut Conversation,
    session: &OpenSession,
    remote: &str,
) -> FtpOutcome<Closed> {
    let policy = RetryPolicy::standard(&conv.settings());
    // Not waiting out an RTO sized by the write window's queue when the
    // close or its ACK is lost (see `Window::after_transfer`).
    let mut win: Window<()> = Window::with_policy(conv, 1, policy).after_transfer(conv);
    conv.watch_session(None);
    let mut req = FtpPacket::request(Opcode::TerminateSession, 0);
    req.session = session.id;
    win.send(conv, req, ())?;
    let ((), reply) = win.next_reply(conv)?;
    match reply {
        Reply::Ack(_) => Ok(Closed::Acked),
        Reply::Nak(p)
            if win.counts().resends > 0
                && (is_nak(&p, NakCode::InvalidSession) || is_nak(&p, NakCode::Fail)) =>
        {
            Ok(Closed::NakAfterResend(p))
        }
        Reply::Nak(p) => Err(nak_to_error(&p, &format!("close {remote}"))),
    }
}

/// Write `len` bytes read from `source` with a window of WriteFile
/// requests; only unacknowledged blocks are resent (by the window, with
/// their own seq). Blocks are read from `source` when first sent.
pub(crate) fn write_body(
    conv: &mut Conversation,
    session: &OpenSession,
    source: &mut dyn Read,
    len: u32,
    remote: &str,
    progress: &mut ProgressGate,
) -> FtpOutcome<()> {
    let mut win: Window<u32> = Window::for_data(conv, conv.settings().write_window);
    let mut next = 0u32;
    let mut acked = 0u32;
    let result = loop {
        conv.check_cancel()?;
        while win.has_room() && next < len {
            let n = (len - next).min(MAX_DATA as u32);
            let mut req = FtpPacket::request(Opcode::WriteFile, 0);
            req.session = session.id;
            req.offset = next;
            req.data = vec![0u8; n as usize];
            if let Err(e) = source.read_exact(&mut req.data) {
                let e = FtpError::new(
                    FtpResult::FileIoError,
                    format!("read the local file at offset {next} (did it shrink?): {e}"),
                );
                win.save_probe(conv);
                return Err(e);
            }
            win.send(conv, req, next)?;
            next += n;
        }
        win.set_tail(next >= len);
        if win.in_flight() == 0 {
            break Ok(());
        }
        let (offset, reply) = match win.next_reply(conv) {
            Ok(r) => r,
            Err(e) => break Err(e),
        };
        if let Some(why) = conv.session_taken() {
            break Err(FtpError::new(
                FtpResult::Busy,
                format!("upload to {remote} interrupted: {why}"),
            ));
        }
        match reply {
            Reply::Ack(_) => {
                acked += (len - offset).min(MAX_DATA as u32);
                progress.report(u64::from(acked), u64::from(len), false);
            }
            Reply::Nak(p) => {
                break Err(nak_to_error(
                    &p,
                    &format!("write {remote} at offset {offset}"),
                ));
            }
        }
    };
    win.save_probe(conv);
    result
}
