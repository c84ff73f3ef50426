//! File sessions, with manners that are safe when other ground stations
//! use the same server (docs/PROTOCOL_NOTES.md §5):
//!
//! - no ResetSessions, ever (on ArduPilot and PX4 it closes another
//!   station's open file);
//! - the session id asked for is claimed on the link (no other client of
//!   the link uses it meanwhile, and it is random, so another process
//!   rarely asks for the same); the id in the Open/Create ACK is the one
//!   used afterwards (PX4 and MAVSDK force 0);
//! - only sessions this client opened are terminated, and a session lost
//!   to another client is not terminated (it is no longer ours);
//! - "busy" answers (InvalidSession, NoSessionsAvailable) are waited out
//!   with back-off within the operation's timeout × retries, then BUSY.
//!   ArduPilot refuses other session ids until 3 s after its last reply to
//!   anyone, and each refusal is a reply: after the first retry the client
//!   stays quiet for longer than that.
//! - a client running several operations at once holds no more sessions
//!   than the server takes (see `parallel`): an open refused while this
//!   client holds other sessions waits for one of them to end.

use std::time::{Duration, Instant};

use super::conversation::Conversation;
use super::parallel::GateSlot;
use super::trace::trace;
use super::window::{Reply, RetryPolicy, is_nak, transact};
use crate::link::{SessionIdClaim, random_u64};
use crate::protocol::{FtpPacket, NakCode, Opcode, nak_to_error};
use crate::result::{FtpError, FtpOutcome, FtpResult};

/// Silence after which ArduPilot lets another session id in (its 3 s
/// session timeout plus a margin).
const QUIET_FOR_ARDUPILOT: Duration = Duration::from_millis(3200);

/// A file session this client opened (and closes).
pub(crate) struct OpenSession {
    /// The id the server assigned (from its ACK).
    pub id: u8,
    /// The size OpenFileRO announced (advisory); 0 for write sessions.
    pub size: u32,
    /// The id asked for stays claimed on the link while the session lives.
    _claim: SessionIdClaim,
    /// Its place among the sessions this client holds at once.
    _slot: GateSlot,
}

/// Waits between "busy" answers: back-off within a budget of timeout ×
/// retries from the first one, then BUSY.
pub(crate) struct BusyWait {
    deadline: Option<Instant>,
    waits: u32,
    what: String,
}

impl BusyWait {
    pub fn new(what: impl Into<String>) -> BusyWait {
        BusyWait {
            deadline: None,
            waits: 0,
            what: what.into(),
        }
    }

    /// Wait before the next try after `why`; BUSY once the budget is spent.
    /// ArduPilot's refusals (InvalidSession) restart its 3 s timer, so after
    /// one quick retry the wait is longer than that, and the last one is not
    /// cut short by the budget (the last try may then come up to one such
    /// wait after it).
    pub fn wait(&mut self, conv: &mut Conversation, why: &str, quiet: bool) -> FtpOutcome<()> {
        let s = conv.settings();
        let now = Instant::now();
        let deadline = *self
            .deadline
            .get_or_insert(now + s.timeout * s.retries.max(1));
        if now >= deadline {
            return Err(FtpError::new(
                FtpResult::Busy,
                format!(
                    "{}: the server stayed busy ({why}) for {} tries over {:.1} s",
                    self.what,
                    self.waits + 1,
                    (s.timeout * s.retries.max(1)).as_secs_f64()
                ),
            ));
        }
        let rto = conv.rto();
        let step = if self.waits == 0 {
            rto
        } else if quiet {
            QUIET_FOR_ARDUPILOT
        } else {
            (rto * (1u32 << self.waits.min(5))).min(QUIET_FOR_ARDUPILOT)
        };
        // Up to a quarter more, at random: two waiting clients drift apart.
        let jitter = step.mul_f64((random_u64() % 1000) as f64 / 4000.0);
        // A quiet wait is never cut short by the budget: a try sooner than
        // ArduPilot's 3 s after its last refusal is refused for sure (and
        // restarts its timer), so the last try comes a full wait after the
        // one before, even past the budget.
        let span = if quiet {
            step + jitter
        } else {
            (step + jitter).min(deadline - now)
        };
        self.waits += 1;
        trace!(
            "{}: busy ({why}), waiting {:.0} ms (wait {})",
            self.what,
            span.as_secs_f64() * 1e3,
            self.waits
        );
        conv.pause(span, true)
    }
}

/// Whether a NAK says the server is busy with another client's session.
pub(crate) fn is_busy(p: &FtpPacket) -> bool {
    is_nak(p, NakCode::InvalidSession) || is_nak(p, NakCode::NoSessionsAvailable)
}

/// One request with the standard retries; a "busy" NAK is waited out and
/// the request sent again (with a new seq) within the budget.
pub(crate) fn transact_when_free(
    conv: &mut Conversation,
    req: FtpPacket,
    what: &str,
) -> FtpOutcome<Reply> {
    let mut busy = BusyWait::new(what);
    loop {
        let policy = RetryPolicy::standard(&conv.settings());
        match transact(conv, req.clone(), policy)? {
            Reply::Nak(p) if is_busy(&p) => {
                let quiet = is_nak(&p, NakCode::InvalidSession);
                busy.wait(conv, &nak_name(&p), quiet)?;
            }
            reply => return Ok(reply),
        }
    }
}

/// Like [`transact_when_free`], but a NAK becomes an error.
pub(crate) fn request_ok_when_free(
    conv: &mut Conversation,
    req: FtpPacket,
    what: &str,
) -> FtpOutcome<FtpPacket> {
    match transact_when_free(conv, req, what)? {
        Reply::Ack(p) => Ok(p),
        Reply::Nak(p) => Err(nak_to_error(&p, what)),
    }
}

/// Open `path` with `op` (OpenFileRO or CreateFile) on a claimed session
/// id, waiting while the server is busy. The session is then watched for a
/// takeover.
pub(crate) fn open(conv: &mut Conversation, op: Opcode, path: &str) -> FtpOutcome<OpenSession> {
    // A session left to close after the last result goes first (PX4 and
    // ArduPilot serve one session at a time).
    conv.run_deferred();
    let what = format!(
        "{} {path}",
        if op == Opcode::CreateFile {
            "create"
        } else {
            "open"
        }
    );
    let mut busy = BusyWait::new(what.clone());
    let mut failed_once = false;
    loop {
        let mut slot = wait_for_slot(conv)?;
        let claim = conv.link.claim_session_id()?;
        let mut req = FtpPacket::request(op, 0);
        req.session = claim.id();
        req.data = path.as_bytes().to_vec();
        let policy = RetryPolicy::standard(&conv.settings());
        match transact(conv, req, policy)? {
            Reply::Ack(p) => {
                let size = if op == Opcode::OpenFileRO {
                    p.data_u32().ok_or_else(|| {
                        FtpError::new(
                            FtpResult::ProtocolError,
                            format!(
                                "{what}: the ACK carries no file size ({} bytes)",
                                p.data.len()
                            ),
                        )
                    })?
                } else {
                    0
                };
                trace!("{what}: session {} (asked {})", p.session, claim.id());
                slot.opened(p.session == claim.id());
                conv.watch_session(Some(p.session));
                return Ok(OpenSession {
                    id: p.session,
                    size,
                    _claim: claim,
                    _slot: slot,
                });
            }
            // Refused while this client holds other sessions: the server
            // takes no more than those; wait for one to end (not BUSY).
            Reply::Nak(p)
                if conv.control.sessions.held() > 1
                    && (is_busy(&p) || is_nak(&p, NakCode::Fail)) =>
            {
                let others = conv.control.sessions.held() - 1;
                trace!(
                    "{what}: {} with {others} other sessions open: at most {others}",
                    nak_name(&p)
                );
                slot.refused(others);
            }
            Reply::Nak(p) if is_busy(&p) => {
                drop(slot);
                let quiet = is_nak(&p, NakCode::InvalidSession);
                busy.wait(conv, &nak_name(&p), quiet)?;
            }
            // ArduPilot: "a file is already open on this session" — the id
            // we asked for may be another station's: once more with another.
            Reply::Nak(p) if is_nak(&p, NakCode::Fail) && !failed_once => failed_once = true,
            Reply::Nak(p) => return Err(nak_to_error(&p, &what)),
        }
    }
}

/// A place for one more session of this client (waits, cancellably, while
/// its other operations hold as many as the server takes).
fn wait_for_slot(conv: &mut Conversation) -> FtpOutcome<GateSlot> {
    loop {
        if let Some(slot) = conv.control.sessions.try_acquire(conv.target) {
            return Ok(slot);
        }
        conv.pause(Duration::from_millis(20), true)?;
    }
}

/// Close a session this client opened, tried with `policy`; its ACK or NAK.
pub(crate) fn close(
    conv: &mut Conversation,
    session: &OpenSession,
    policy: RetryPolicy,
) -> FtpOutcome<Reply> {
    conv.watch_session(None);
    let mut req = FtpPacket::request(Opcode::TerminateSession, 0);
    req.session = session.id;
    transact(conv, req, policy)
}

/// Close a session this client opened after the operation's result is
/// decided (errors ignored).
pub(crate) fn close_quietly(conv: &mut Conversation, session: &OpenSession) {
    let heard = conv.link.has_heard(conv.target.0, conv.target.1);
    let _ = close(conv, session, RetryPolicy::cleanup(heard));
}

/// Close the session a panicked operation held (the one watched for a
/// takeover), if any, unless it was lost to another client.
pub(crate) fn close_abandoned(conv: &mut Conversation) {
    let Some(id) = conv.watched_session() else {
        return;
    };
    if conv.session_taken().is_some() {
        return;
    }
    conv.watch_session(None);
    let mut req = FtpPacket::request(Opcode::TerminateSession, 0);
    req.session = id;
    let heard = conv.link.has_heard(conv.target.0, conv.target.1);
    let _ = transact(conv, req, RetryPolicy::cleanup(heard));
}

/// Short name of a NAK for messages.
fn nak_name(p: &FtpPacket) -> String {
    match p.nak_code() {
        Some(c) => format!("NAK {c:?}"),
        None => "NAK".into(),
    }
}
