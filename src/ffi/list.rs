//! `mavftp_list` and `mavftp_entry`: a directory listing handed to C.

use std::ffi::{CString, c_char};

use crate::client::{EntryKind, Listing};

/// `mavftp_entry.type` of a file.
pub const MAVFTP_ENTRY_FILE: u32 = 1;
/// `mavftp_entry.type` of a directory.
pub const MAVFTP_ENTRY_DIRECTORY: u32 = 2;
const _: () = assert!(
    MAVFTP_ENTRY_FILE == EntryKind::File as u32
        && MAVFTP_ENTRY_DIRECTORY == EntryKind::Directory as u32
);

/// One entry of a remote directory.
#[repr(C)]
pub struct mavftp_entry {
    /// Entry name (UTF-8, NUL-terminated), without the directory.
    pub name: *const c_char,
    /// MAVFTP_ENTRY_FILE (1) or MAVFTP_ENTRY_DIRECTORY (2).
    pub r#type: u32,
    /// Size in bytes (0 for directories).
    pub size_bytes: u64,
    /// Modification time, seconds since the epoch; 0 when the server does not tell.
    pub modification_time_s: u64,
}

/// A remote directory listing: `dirs` and `files` as in MAVSDK-Python's
/// ListDirectoryData, `entries` as in MAVSDK 2+; each sorted by name, `.` and
/// `..` left out. Owned by the library: a list returned by
/// `mavftp_client_list_directory` is freed with `mavftp_list_free`; a list
/// passed to a `mavftp_list_cb` is valid only during the call (copy what you
/// need; do not free it).
#[repr(C)]
pub struct mavftp_list {
    /// Names of the subdirectories.
    pub dirs: *const *const c_char,
    /// Number of `dirs`.
    pub dirs_len: usize,
    /// Names of the files.
    pub files: *const *const c_char,
    /// Number of `files`.
    pub files_len: usize,
    /// All entries with their type, size and time.
    pub entries: *const mavftp_entry,
    /// Number of `entries`.
    pub entries_len: usize,
}

/// The C view plus the allocations it points into; `view` must stay first so
/// that a `*mut mavftp_list` is also a `*mut OwnedList`.
#[repr(C)]
pub(crate) struct OwnedList {
    view: mavftp_list,
    _names: Vec<CString>,
    _dirs: Vec<*const c_char>,
    _files: Vec<*const c_char>,
    _entries: Vec<mavftp_entry>,
}

impl OwnedList {
    /// Copy a listing into C-owned form (names with NUL bytes are cut at the NUL).
    pub(crate) fn new(listing: &Listing) -> Box<OwnedList> {
        let mut sorted: Vec<_> = listing
            .entries
            .iter()
            .filter(|e| e.name != "." && e.name != "..")
            .collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        let names: Vec<CString> = sorted
            .iter()
            .map(|e| {
                let bytes: Vec<u8> = e.name.bytes().take_while(|b| *b != 0).collect();
                CString::new(bytes).unwrap_or_default()
            })
            .collect();
        let mut dirs = Vec::new();
        let mut files = Vec::new();
        let mut entries = Vec::with_capacity(sorted.len());
        for (e, name) in sorted.iter().zip(&names) {
            match e.kind {
                EntryKind::Directory => dirs.push(name.as_ptr()),
                EntryKind::File => files.push(name.as_ptr()),
            }
            entries.push(mavftp_entry {
                name: name.as_ptr(),
                r#type: e.kind as u32,
                size_bytes: e.size_bytes,
                modification_time_s: e.modification_time_s,
            });
        }
        // The CString heap buffers and Vec buffers do not move when the Vecs are moved.
        let view = mavftp_list {
            dirs: dirs.as_ptr(),
            dirs_len: dirs.len(),
            files: files.as_ptr(),
            files_len: files.len(),
            entries: entries.as_ptr(),
            entries_len: entries.len(),
        };
        Box::new(OwnedList {
            view,
            _names: names,
            _dirs: dirs,
            _files: files,
            _entries: entries,
        })
    }

    /// The C view.
    pub(crate) fn view(&self) -> &mavftp_list {
        &self.view
    }

    /// The list as the handle C frees with `mavftp_list_free` (the view
    /// is the first field, so the pointers are the same).
    pub(crate) fn into_handle(list: Box<OwnedList>) -> *mut mavftp_list {
        Box::into_raw(list).cast()
    }
}

/// Free a list returned by `mavftp_client_list_directory`. NULL does nothing.
/// Never pass a list received in a `mavftp_list_cb`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_list_free(list: *mut mavftp_list) {
    // SAFETY: every list handed out as owned is an OwnedList (into_handle),
    // whose first field is the view; the caller frees it once.
    unsafe { super::boundary::free(list.cast::<OwnedList>()) }
}
