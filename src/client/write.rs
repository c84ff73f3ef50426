//! Upload body: a window of WriteFile requests, then the close that makes
//! the data final.

use super::conversation::Conversation;
use super::progress::ProgressGate;
use super::types::Progress;
use super::window::{Reply, Window, is_nak};
use crate::protocol::{FtpPacket, MAX_DATA, NakCode, Opcode, nak_to_error};
use crate::result::FtpOutcome;

/// TerminateSession after an upload, retried like any request. A NAK
/// InvalidSession or Fail to a *resent* close means the first one closed the
/// session and only its ACK was lost.
pub(crate) fn close_upload(conv: &mut Conversation, session: u8, remote: &str) -> FtpOutcome<()> {
    let mut req = FtpPacket::request(Opcode::TerminateSession, 0);
    req.session = session;
    let mut win: Window<()> = Window::new(conv, 1);
    win.send(conv, req, ())?;
    let ((), reply) = win.next_reply(conv)?;
    match reply {
        Reply::Ack(_) => Ok(()),
        Reply::Nak(p)
            if win.counts().resends > 0
                && (is_nak(&p, NakCode::InvalidSession) || is_nak(&p, NakCode::Fail)) =>
        {
            Ok(())
        }
        Reply::Nak(p) => Err(nak_to_error(&p, &format!("close {remote}"))),
    }
}

/// Write `data` with a window of WriteFile requests; only unacknowledged
/// blocks are resent (by the window, with their own seq).
pub(crate) fn write_body(
    conv: &mut Conversation,
    session: u8,
    data: &[u8],
    remote: &str,
    progress: &mut ProgressGate,
) -> FtpOutcome<()> {
    let total = data.len() as u32;
    let mut win: Window<usize> = Window::for_data(conv, conv.settings().write_window);
    let mut next = 0usize;
    let mut acked = 0u32;
    let result = loop {
        conv.check_cancel()?;
        while win.has_room() && next < data.len() {
            let n = (data.len() - next).min(MAX_DATA);
            let mut req = FtpPacket::request(Opcode::WriteFile, 0);
            req.session = session;
            req.offset = next as u32;
            req.data = data[next..next + n].to_vec();
            win.send(conv, req, next)?;
            next += n;
        }
        if win.in_flight() == 0 {
            break Ok(());
        }
        let (offset, reply) = match win.next_reply(conv) {
            Ok(r) => r,
            Err(e) => break Err(e),
        };
        match reply {
            Reply::Ack(_) => {
                acked += (data.len() - offset).min(MAX_DATA) as u32;
                progress.report(
                    Progress {
                        bytes_transferred: acked,
                        total_bytes: total,
                    },
                    false,
                );
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
