//! Path rules for the wire (docs/PROTOCOL_NOTES.md §9).

use crate::result::FtpError;

/// Longest path accepted in one packet (servers force `data[238] = 0`).
pub const MAX_PATH_LEN: usize = 238;

/// Check a remote path before it goes on the wire: not empty, at most
/// 238 bytes, no NUL byte.
pub fn validate_remote_path(path: &str) -> Result<(), FtpError> {
    if path.is_empty() {
        return Err(FtpError::invalid("remote path is empty"));
    }
    if path.len() > MAX_PATH_LEN {
        return Err(FtpError::invalid(format!(
            "remote path is {} bytes long; at most {MAX_PATH_LEN} fit in a packet",
            path.len()
        )));
    }
    if path.contains('\0') {
        return Err(FtpError::invalid("remote path contains a NUL byte"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_238_bytes_and_refuses_239() {
        assert!(validate_remote_path(&"a".repeat(238)).is_ok());
        assert!(validate_remote_path(&"a".repeat(239)).is_err());
        assert!(validate_remote_path("").is_err());
        assert!(validate_remote_path("a\0b").is_err());
    }
}
