//! `MAVFTP_TRACE` diagnostics: when the variable is set (and not `0`), the
//! client prints one line per request, resend, reply and burst event to
//! stderr, with milliseconds since the first line.

use std::time::Instant;

/// Whether `MAVFTP_TRACE` is set (read once per process).
pub(crate) fn tracing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("MAVFTP_TRACE").is_some_and(|v| !v.is_empty() && v != "0"))
}

/// Milliseconds since the first trace line.
pub(crate) fn trace_ms() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1e3
}

/// Print a trace line when `MAVFTP_TRACE` is set.
macro_rules! trace {
    ($($arg:tt)*) => {
        if $crate::client::trace::tracing() {
            eprintln!("mavftp {:10.1} {}", $crate::client::trace::trace_ms(), format_args!($($arg)*));
        }
    };
}
pub(crate) use trace;
