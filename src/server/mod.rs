//! The vehicle side: an FTP server jailed to a root directory.
//!
//! STUB: signatures are the contract between modules; bodies are being written.

use std::path::Path;

use crate::link::Link;
use crate::result::FtpOutcome;

/// Serves one root directory to every peer on a link. Dropping it closes all
/// sessions and files. All methods may be called from any thread.
pub struct Server {
    _private: (),
}

impl Server {
    /// Serve `root_dir` (which must exist) to requests addressed to the
    /// link's own system/component id (or component 0).
    pub fn new(_link: &Link, _root_dir: &Path) -> FtpOutcome<Server> {
        todo!()
    }

    /// Refuse (or allow again) every write, create, remove and rename with
    /// NAK FileProtected.
    pub fn set_read_only(&self, _read_only: bool) {
        todo!()
    }
}
