//! The C ABI (see include/mavftp.h). Being written.
