//! Opening and closing file sessions on the server.

use super::conversation::Conversation;
use super::window::{RetryPolicy, transact};
use crate::protocol::{FtpPacket, Opcode};

/// ResetSessions once per target before the first operation.
pub(crate) fn ensure_reset(conv: &mut Conversation) {
    if !conv.memory.sessions_reset {
        reset_sessions(conv);
        conv.memory.sessions_reset = true;
    }
}

/// Best-effort ResetSessions (errors ignored).
pub(crate) fn reset_sessions(conv: &mut Conversation) {
    let req = FtpPacket::request(Opcode::ResetSessions, 0);
    cleanup(conv, req);
}

/// Best-effort TerminateSession.
pub(crate) fn terminate(conv: &mut Conversation, session: u8) {
    let mut req = FtpPacket::request(Opcode::TerminateSession, 0);
    req.session = session;
    cleanup(conv, req);
}

/// A best-effort request whose answer changes nothing.
fn cleanup(conv: &mut Conversation, req: FtpPacket) {
    let heard = conv.link.has_heard(conv.target.0, conv.target.1);
    let _ = transact(conv, req, RetryPolicy::cleanup(heard));
}

/// The session id to ask for: servers echo or force it; PX4 and MAVSDK
/// require 0.
pub(crate) fn fresh_session() -> u8 {
    0
}
