//! Getting MAVLink frames in and out: URL parsing, UDP/TCP/serial transports,
//! an application-owned link (send callback + fed bytes), heartbeats, the table
//! of systems heard, and routing of FILE_TRANSFER_PROTOCOL frames to the
//! clients and servers that share the link.
//!
//! STUB: signatures are the contract between modules; bodies are being written.

use std::time::Instant;

use crossbeam_channel::Receiver;

use crate::protocol::FtpPacket;
use crate::result::FtpOutcome;

/// Ground-station defaults used when an own id of 0 is given.
pub const DEFAULT_SYSTEM_ID: u8 = 245;
/// See [`DEFAULT_SYSTEM_ID`].
pub const DEFAULT_COMPONENT_ID: u8 = 190;

/// A FILE_TRANSFER_PROTOCOL frame received on a link.
#[derive(Debug, Clone)]
pub struct IncomingFtp {
    /// Sender's system id (MAVLink header).
    pub source_system: u8,
    /// Sender's component id (MAVLink header).
    pub source_component: u8,
    /// `target_system` field of the message.
    pub target_system: u8,
    /// `target_component` field of the message.
    pub target_component: u8,
    /// The decoded FTP packet.
    pub packet: FtpPacket,
    /// When the frame was parsed.
    pub received_at: Instant,
}

/// Called with each complete, framed MAVLink message to send on a custom link.
pub type FrameSink = Box<dyn Fn(&[u8]) + Send + Sync>;

/// One MAVLink connection, shared by any number of clients and servers.
/// Cloning gives another handle to the same connection. All methods may be
/// called from any thread.
#[derive(Clone)]
pub struct Link {
    _private: (),
}

/// A registration for incoming FTP frames; dropping it unregisters.
pub struct FtpSubscription {
    /// Frames accepted by the subscription's filter, in arrival order.
    /// Disconnects when the link closes.
    pub receiver: Receiver<IncomingFtp>,
}

impl Link {
    /// Open `udpin://HOST:PORT`, `udpout://HOST:PORT`, `tcpin://HOST:PORT`,
    /// `tcpout://HOST:PORT` or `serial:///dev/ttyX:BAUD` (also without `//`).
    /// Own ids 0 mean 245/190. Starts a 1 Hz HEARTBEAT (autopilot when the own
    /// component id is 1, ground station otherwise).
    pub fn open(_url: &str, _own_system_id: u8, _own_component_id: u8) -> FtpOutcome<Link> {
        todo!()
    }

    /// A link whose bytes the application moves: framed messages go out through
    /// `send`, received bytes come in through [`Link::feed`].
    pub fn open_custom(_own_system_id: u8, _own_component_id: u8, _send: FrameSink) -> FtpOutcome<Link> {
        todo!()
    }

    /// Feed received bytes (any chunking) into a custom link.
    pub fn feed(&self, _bytes: &[u8]) -> FtpOutcome<()> {
        todo!()
    }

    /// This end's system id.
    pub fn own_system_id(&self) -> u8 {
        todo!()
    }

    /// This end's component id.
    pub fn own_component_id(&self) -> u8 {
        todo!()
    }

    /// Send one FTP packet as FILE_TRANSFER_PROTOCOL (MAVLink 2) to the target.
    pub fn send_ftp(&self, _target_system: u8, _target_component: u8, _packet: &FtpPacket) -> FtpOutcome<()> {
        todo!()
    }

    /// Receive every incoming FTP frame for which `accept` returns true.
    pub fn subscribe(&self, _accept: impl Fn(&IncomingFtp) -> bool + Send + Sync + 'static) -> FtpSubscription {
        todo!()
    }

    /// The first system id other than our own that was heard on this link.
    pub fn first_heard_system(&self) -> Option<u8> {
        todo!()
    }

    /// Whether any message from (system, component) was heard.
    pub fn has_heard(&self, _system: u8, _component: u8) -> bool {
        todo!()
    }

    /// Link capacity in bytes per second when known (serial: baud / 10).
    pub fn byte_rate(&self) -> Option<u32> {
        todo!()
    }

    /// Run `hook` once when the link closes, before its I/O stops
    /// (clients cancel their work, servers stop). Returns an id for
    /// [`Link::remove_close_hook`].
    pub fn on_close(&self, _hook: Box<dyn FnOnce() + Send>) -> u64 {
        todo!()
    }

    /// Forget a hook registered with [`Link::on_close`].
    pub fn remove_close_hook(&self, _id: u64) {
        todo!()
    }

    /// Close the link: run the close hooks, stop the I/O threads, disconnect
    /// subscriptions. Idempotent.
    pub fn close(&self) {
        todo!()
    }
}
