//! Plain download: a window of ReadFile requests from a start offset to
//! the end of the file.

use super::conversation::Conversation;
use super::part_file::PartFile;
use super::progress::ProgressGate;
use super::types::Progress;
use super::window::{Reply, Window, is_nak};
use crate::protocol::{FtpPacket, MAX_DATA, NakCode, Opcode, nak_to_error};
use crate::result::FtpOutcome;

/// Read with the window `win` of ReadFile requests (empty; its estimates
/// may come from earlier reads) from `start` until EOF. Returns the file
/// length. The open size only shapes the requests: the end is a short read,
/// an empty ACK or NAK EOF (NAK Fail past the size, MAVSDK).
pub(crate) fn read_body(
    conv: &mut Conversation,
    win: &mut Window<(u32, u32)>,
    session: u8,
    size: u32,
    part: &mut PartFile,
    progress: &mut ProgressGate,
    start: u32,
) -> FtpOutcome<u32> {
    let mut next = start; // next offset to request
    let mut end: Option<u32> = None; // known end of file
    let mut done_bytes = 0u32;
    loop {
        conv.check_cancel()?;
        while win.has_room() && end.is_none_or(|e| next < e) {
            // Past the advertised size, probe one read at a time.
            if size > 0 && next >= size && win.any(|&(o, _)| o >= size) {
                break;
            }
            // Ask exactly the remainder when the size is known; past it, probe with a full read.
            let want = if size > next {
                (size - next).min(MAX_DATA as u32)
            } else {
                MAX_DATA as u32
            };
            let mut req = FtpPacket::request(Opcode::ReadFile, 0);
            req.session = session;
            req.offset = next;
            // ReadFile carries the wanted size in `size` (data.len()), zero bytes.
            req.data = vec![0u8; want as usize];
            win.send(conv, req, (next, want))?;
            next += want;
        }
        if win.in_flight() == 0 {
            let e = end.unwrap_or(next);
            part.truncate(e as u64)?;
            return Ok(e);
        }
        let ((offset, want), reply) = win.next_reply(conv)?;
        let eof_at = match reply {
            Reply::Ack(p) => {
                let n = (p.data.len() as u32).min(want);
                if n > 0 && end.is_none_or(|e| offset < e) {
                    part.write_at(offset as u64, &p.data[..n as usize])?;
                    done_bytes += n;
                    progress.report(
                        Progress {
                            bytes_transferred: start + done_bytes,
                            total_bytes: size.max(start + done_bytes),
                        },
                        false,
                    );
                }
                (n < want).then_some(offset + n)
            }
            Reply::Nak(p) => {
                if is_nak(&p, NakCode::Eof)
                    || (is_nak(&p, NakCode::Fail) && size > 0 && offset >= size)
                {
                    Some(offset)
                } else {
                    return Err(nak_to_error(&p, &format!("read at offset {offset}")));
                }
            }
        };
        if let Some(e) = eof_at {
            let e = end.map_or(e, |old| old.min(e));
            end = Some(e);
            win.drop_where(|&(o, _)| o >= e);
        }
    }
}
