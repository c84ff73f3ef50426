/*
 * mavftp.h - MAVLink FTP client and server: the C API of libmavftp.
 *
 * GENERATED from src/ffi/ by cbindgen and tests/c_abi/header.rs - DO NOT EDIT.
 * Regenerate with: MAVFTP_BLESS=1 cargo test --release --test c_abi header::
 *
 * Build against the installed library with `pkg-config --cflags --libs
 * mavftp`, or in CMake with find_package(mavftp) and the target
 * mavftp::mavftp. C++17: mavftp.hpp wraps this header in RAII types.
 *
 * Sections: 1 results, version and limits; 2 link; 3 listing; 4 client;
 * 5 server.
 *
 * THE RULES (the README states the same; they hold for every function)
 *
 * Names and arguments. Functions are mavftp_<type>_<verb>; the handle comes
 * first, then inputs, then outputs. Handles are opaque, created and freed
 * only by the library.
 *
 * Results. Every function that can fail returns mavftp_result. Values 0-12
 * are exactly MAVSDK's FtpResult (SUCCESS is 1, not 0); 13 and above are
 * mavftp extensions, never reused. mavftp_result_str() names any value.
 * Out-parameters are written only on success. NULL pointers, invalid UTF-8,
 * remote paths longer than MAVFTP_MAX_PATH_LEN bytes and ids out of range
 * give MAVFTP_RESULT_INVALID_PARAMETER; they never crash. An internal error
 * (a caught panic) gives MAVFTP_RESULT_UNKNOWN.
 *
 * Errors. Every failure also leaves its detail as text (which path, which
 * NAK code, which errno), kept where the caller will look for it. A client
 * keeps the last failure of every call on it, from any thread, and of every
 * operation it ran, blocking or _async (kept before the operation's callback
 * runs): mavftp_client_last_error(client). Every other call - the
 * mavftp_link_* and mavftp_server_* functions, mavftp_client_new, a call
 * given a NULL client - keeps it in the calling thread, where such calls
 * return: mavftp_last_error(). Not one thread-local store for all: an _async
 * operation fails on the client's worker thread, and applications read the
 * detail from their own thread (a GUI thread, an event loop). A success does
 * not clear the detail; with several threads calling one client, the last
 * failure of any of them is kept. The text returned stays valid until the
 * next mavftp_last_error() or mavftp_client_last_error() call in the same
 * thread.
 *
 * Threads and callbacks. Every function may be called from any thread.
 * Each client has a worker thread; its operations run one at a time, in
 * the order submitted (mavftp_client_set_parallel lets several run at once,
 * each on a worker thread of its own). Callbacks run on library threads (a
 * client's on its worker threads), never two at once for one client, and
 * never while the library holds a lock a callback could need: a callback may
 * start another operation with an _async or extended function (a blocking
 * call from inside one of that client's own callbacks returns BUSY). The
 * extended calls (mavftp_client_download_ex and the other functions that
 * take a mavftp_transfer_options) are asynchronous and return an operation
 * id for mavftp_client_cancel_op. user_data comes back untouched as
 * the last argument. Data passed to a callback (a listing, progress) is
 * valid only during the call. An _async function that returns SUCCESS has
 * accepted the work: its callback then runs exactly once with a final result
 * (after any NEXT progress calls); any other return value means the callback
 * never runs. Qt users re-post callbacks to the GUI thread with
 * QMetaObject::invokeMethod(obj, ..., Qt::QueuedConnection).
 *
 * Lifetimes. Links, clients and servers may be freed in any order. Freeing a
 * link ends its clients' work in flight (each callback runs once, CANCELLED
 * if cut short); its clients and servers stay valid handles that reach no
 * one (new operations return CANCELLED) until they are freed. Freeing a
 * client ends its accepted operations first (each callback runs exactly
 * once) and no callback of it runs after mavftp_client_free returns; never
 * free a client from inside one of its own callbacks. _free(NULL) does
 * nothing.
 *
 * Who frees what:
 *   object                     | created by                                  | freed by
 *   mavftp_link *              | mavftp_link_open, mavftp_link_open_custom   | mavftp_link_free
 *   mavftp_client *            | mavftp_client_new                           | mavftp_client_free (before or after its link)
 *   mavftp_server *            | mavftp_server_new                           | mavftp_server_free (before or after its link)
 *   mavftp_list * from mavftp_client_list_directory | the library            | the caller, with mavftp_list_free
 *   mavftp_list * passed to a mavftp_list_cb        | the library            | the library, after the callback returns
 *   mavftp_buffer * passed to a mavftp_buffer_cb    | the library            | the caller, with mavftp_buffer_free
 *   mavftp_transfer_progress * passed to a mavftp_transfer_cb | the library  | the library, after the callback returns
 *   const char * from mavftp_result_str, mavftp_version | static             | never
 *   const char * from mavftp_last_error, mavftp_client_last_error | the library | never; valid until the next *_last_error call from the same thread
 */

#ifndef MAVFTP_H
#define MAVFTP_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ========================================================================
 * 1. Results, version and limits
 * The result codes every function returns, the library version, limits.
 * ======================================================================== */

/**
 * Version of this header (from Cargo.toml); mavftp_version() gives the
 * version of the library loaded at run time.
 */
#define MAVFTP_VERSION_MAJOR 0
#define MAVFTP_VERSION_MINOR 1
#define MAVFTP_VERSION_PATCH 0

/**
 * The same version as text, e.g. "0.1.0".
 */
#define MAVFTP_VERSION_STRING "0.1.0"

/**
 * Longest remote path in bytes, without its NUL (a packet's 239 data bytes
 * hold the path and the NUL). A longer path gives INVALID_PARAMETER.
 */
#define MAVFTP_MAX_PATH_LEN 238

/**
 * Result of every fallible function: `mavftp_result` in C, `FtpResult` in
 * the Rust API (one type; cbindgen exports it under its C name). Values
 * 0-12 are exactly MAVSDK's `FtpResult` (SUCCESS is 1, not 0); 13 and
 * above are mavftp extensions and are never reused. The type is
 * `int32_t`-sized.
 */
enum mavftp_result
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : int32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * Unknown result (also returned when the library caught an internal
     * error; the detail says which).
     */
    MAVFTP_RESULT_UNKNOWN = 0,
    /**
     * The operation succeeded.
     */
    MAVFTP_RESULT_SUCCESS = 1,
    /**
     * Intermediate progress report (progress callbacks only); more calls follow.
     */
    MAVFTP_RESULT_NEXT = 2,
    /**
     * The target stopped answering (after all retries).
     */
    MAVFTP_RESULT_TIMEOUT = 3,
    /**
     * The target or the library is busy.
     */
    MAVFTP_RESULT_BUSY = 4,
    /**
     * A local or remote file could not be read or written.
     */
    MAVFTP_RESULT_FILE_IO_ERROR = 5,
    /**
     * The file or directory already exists.
     */
    MAVFTP_RESULT_FILE_EXISTS = 6,
    /**
     * The file or directory does not exist.
     */
    MAVFTP_RESULT_FILE_DOES_NOT_EXIST = 7,
    /**
     * The file or directory is protected (read-only server, permission denied).
     */
    MAVFTP_RESULT_FILE_PROTECTED = 8,
    /**
     * An argument was invalid: null pointer, invalid UTF-8, remote path over
     * MAVFTP_MAX_PATH_LEN bytes, id out of range.
     */
    MAVFTP_RESULT_INVALID_PARAMETER = 9,
    /**
     * The target does not support this operation.
     */
    MAVFTP_RESULT_UNSUPPORTED = 10,
    /**
     * The target answered something the protocol does not allow.
     */
    MAVFTP_RESULT_PROTOCOL_ERROR = 11,
    /**
     * No system was ever heard at the target address.
     */
    MAVFTP_RESULT_NO_SYSTEM = 12,
    /**
     * mavftp extension: the operation was cancelled (`mavftp_client_cancel`
     * or `mavftp_client_free`/`mavftp_link_free` with work in flight).
     */
    MAVFTP_RESULT_CANCELLED = 13,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum mavftp_result mavftp_result;
#else
typedef int32_t mavftp_result;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * Static, human-readable text for any value, including values that are not
 * a `mavftp_result` ("unknown result"). Never NULL; never free it.
 */
const char *mavftp_result_str(mavftp_result result);

/**
 * Detail of the calling thread's last failure as text, for the calls that
 * have no client to keep it: every `mavftp_link_*` and `mavftp_server_*`
 * function, `mavftp_client_new`, and any call given a NULL client. "" when
 * none failed in this thread yet; never NULL. A client's own failures,
 * blocking or `_async`, are kept by the client: `mavftp_client_last_error`.
 * The string belongs to the library and stays valid until the next
 * `mavftp_last_error` or `mavftp_client_last_error` call from the same
 * thread.
 */
const char *mavftp_last_error(void);

/**
 * The library version as a static string, e.g. "0.1.0" (the same as
 * MAVFTP_VERSION_MAJOR.MINOR.PATCH). Never NULL; never free it.
 */
const char *mavftp_version(void);

/* ========================================================================
 * 2. Link
 * One MAVLink connection (UDP, TCP, serial, or bytes the application moves),
 * shared by the clients and servers on it.
 * ======================================================================== */

/**
 * Own system id of a link opened with own_system_id 0 (a ground station's).
 */
#define MAVFTP_DEFAULT_SYSTEM_ID 245

/**
 * Own component id of a link opened with own_component_id 0.
 */
#define MAVFTP_DEFAULT_COMPONENT_ID 190

/**
 * Length in bytes of a MAVLink 2 signing secret key
 * (`mavftp_link_set_signing`).
 */
#define MAVFTP_SIGNING_KEY_LEN 32

/**
 * One MAVLink connection (UDP, TCP, serial or application-owned), shared by
 * any number of clients and servers. It sends a HEARTBEAT at 1 Hz and tracks
 * which systems it hears.
 *
 * Thread safety: all functions may be called from any thread.
 */
typedef struct mavftp_link mavftp_link;

/**
 * Called by a custom link with one complete, framed MAVLink message to send.
 * `bytes` is valid only during the call. Called from library threads, one
 * frame at a time and in order. It must not call back into the same link
 * (handing the bytes to `mavftp_link_feed` of ANOTHER link is fine).
 */
typedef void (*mavftp_send_cb)(const uint8_t *bytes,
                               size_t len,
                               void *user_data);

/**
 * MAVLink 2 signing counters of a link since it was opened:
 * `mavftp_signing_stats` in C (`mavftp_link_signing_stats`), `SigningStats`
 * in the Rust API (`Link::signing_stats`); one type, exported to C under its
 * C name. Counters only grow; they survive clearing signing and a new key.
 * Incoming frames are counted only while a key is set; then
 * `accepted_signed + accepted_unsigned + dropped` is every frame received
 * and `accepted_unsigned + dropped = unsigned_frames + bad_signature +
 * replay + stale_stream + too_many_streams`.
 */
typedef struct {
    /**
     * Frames this link signed and sent (heartbeats included).
     */
    uint64_t frames_signed;
    /**
     * Incoming frames with a correct signature (accepted).
     */
    uint64_t accepted_signed;
    /**
     * Incoming frames without a correct signature accepted because signing
     * is not required (unsigned ones, and signed ones that failed a check,
     * as in the MAVLink reference implementations).
     */
    uint64_t accepted_unsigned;
    /**
     * Incoming frames without a correct signature dropped because signing
     * is required: no client, server or heard table saw them.
     */
    uint64_t dropped;
    /**
     * Incoming frames without a signature (MAVLink 1 included).
     */
    uint64_t unsigned_frames;
    /**
     * Incoming signed frames with a wrong signature (another key, altered
     * bytes).
     */
    uint64_t bad_signature;
    /**
     * Correctly signed frames not newer than the last accepted one of their
     * stream (system, component, link id): replays.
     */
    uint64_t replay;
    /**
     * Correctly signed first frames of a new stream more than one minute
     * behind this link's timestamp.
     */
    uint64_t stale_stream;
    /**
     * Correctly signed first frames of a new stream while the link's table
     * of streams was full of recent ones.
     */
    uint64_t too_many_streams;
} mavftp_signing_stats;

/**
 * Open a link. `url` is `udpin://HOST:PORT`, `udpout://HOST:PORT`,
 * `tcpin://HOST:PORT`, `tcpout://HOST:PORT` or `serial:///dev/ttyX:BAUD`
 * (also without `//`). Own ids 0 mean MAVFTP_DEFAULT_SYSTEM_ID (245) and
 * MAVFTP_DEFAULT_COMPONENT_ID (190), a ground station's;
 * own component 1 makes the link's heartbeat that of an autopilot.
 * On success `*out_link` receives a link to free with `mavftp_link_free`.
 *
 * Returns INVALID_PARAMETER for a NULL or malformed argument, FILE_IO_ERROR
 * when the socket or port cannot be opened.
 */
mavftp_result mavftp_link_open(const char *url,
                               uint8_t own_system_id,
                               uint8_t own_component_id,
                               mavftp_link **out_link);

/**
 * Open a link whose bytes the application moves (it already owns the serial
 * port or socket, e.g. a Qt ground station): framed MAVLink messages go out
 * through `send` (with `user_data` as its last argument), received bytes come
 * in through `mavftp_link_feed`. `send` may be called until
 * `mavftp_link_free` returns.
 */
mavftp_result mavftp_link_open_custom(uint8_t own_system_id,
                                      uint8_t own_component_id,
                                      mavftp_send_cb send,
                                      void *user_data,
                                      mavftp_link **out_link);

/**
 * Feed bytes received by the application into a custom link (any chunking;
 * partial frames are kept until the rest arrives). Frames are parsed and
 * routed in the calling thread. `len` 0 is allowed; `bytes` may be NULL only
 * when `len` is 0. Returns UNSUPPORTED for a link not opened with
 * `mavftp_link_open_custom`.
 */
mavftp_result mavftp_link_feed(mavftp_link *link,
                               const uint8_t *bytes,
                               size_t len);

/**
 * The first system (other than our own) heard on this link, by any
 * MAVLink message: `*out_system_id` receives its id. NO_SYSTEM while none
 * was heard. A client created with target_system 0 talks to this system.
 */
mavftp_result mavftp_link_first_heard_system(const mavftp_link *link,
                                             uint8_t *out_system_id);

/**
 * Milliseconds since any MAVLink message from (`system_id`, `component_id`)
 * was last received on this link: `*out_ms_ago` receives them (e.g. to tell
 * whether a vehicle is still there: it heartbeats at 1 Hz). NO_SYSTEM when
 * that component was never heard.
 */
mavftp_result mavftp_link_last_heard(const mavftp_link *link,
                                     uint8_t system_id,
                                     uint8_t component_id,
                                     uint64_t *out_ms_ago);

/**
 * Turn on MAVLink 2 message signing (mavlink.io "Message signing"): every
 * frame the link sends from now on, heartbeats included, is signed with the
 * 32-byte `secret_key` (`key_len` must be MAVFTP_SIGNING_KEY_LEN) and
 * `link_id`; its timestamp (units of 10 microseconds since 2015-01-01
 * 00:00:00 UTC) follows the system clock and grows with every frame.
 * Incoming signed
 * frames must carry a correct signature and a timestamp newer than the last
 * one accepted from the same (system, component, link id); the first frame
 * of such a stream may be at most one minute behind this link's timestamp.
 * With `require_signed` true, every other frame (unsigned, MAVLink 1, wrong
 * key, replayed) is dropped before routing, so a server on this link never
 * answers it and a client ignores it; with false such frames are accepted
 * as unsigned ones (as the MAVLink reference implementations do when they
 * accept unsigned frames). Everything is counted
 * (`mavftp_link_signing_stats`). Calling it again replaces key, link id and
 * switch; the key is copied.
 *
 * Returns INVALID_PARAMETER for a NULL `link` or `secret_key` or a
 * `key_len` other than 32.
 */
mavftp_result mavftp_link_set_signing(mavftp_link *link,
                                      const uint8_t *secret_key,
                                      size_t key_len,
                                      uint8_t link_id,
                                      bool require_signed);

/**
 * Turn signing off: frames are sent unsigned and every frame is accepted
 * again. The counters stay.
 */
mavftp_result mavftp_link_clear_signing(mavftp_link *link);

/**
 * The link's signing counters: `*out_stats` receives them.
 */
mavftp_result mavftp_link_signing_stats(const mavftp_link *link,
                                        mavftp_signing_stats *out_stats);

/**
 * Close and free a link. Operations of its clients still in flight end
 * first (their callbacks run exactly once, with CANCELLED or another final
 * result). Clients and servers on it stay valid handles that reach no one
 * (new operations return CANCELLED): free them too, as usual. NULL does
 * nothing.
 */
void mavftp_link_free(mavftp_link *link);

/* ========================================================================
 * 3. Listing
 * A remote directory listing as a client returns it.
 * ======================================================================== */

/**
 * `mavftp_entry.type` of a file.
 */
#define MAVFTP_ENTRY_FILE 1

/**
 * `mavftp_entry.type` of a directory.
 */
#define MAVFTP_ENTRY_DIRECTORY 2

/**
 * One entry of a remote directory.
 */
typedef struct {
    /**
     * Entry name (UTF-8, NUL-terminated), without the directory.
     */
    const char *name;
    /**
     * MAVFTP_ENTRY_FILE (1) or MAVFTP_ENTRY_DIRECTORY (2).
     */
    uint32_t type;
    /**
     * Size in bytes (0 for directories).
     */
    uint64_t size_bytes;
    /**
     * Modification time, seconds since the epoch; 0 when the server does not tell.
     */
    uint64_t modification_time_s;
} mavftp_entry;

/**
 * A remote directory listing: `dirs` and `files` as in MAVSDK-Python's
 * ListDirectoryData, `entries` as in MAVSDK 2+; each sorted by name, `.` and
 * `..` left out. Owned by the library: a list returned by
 * `mavftp_client_list_directory` is freed with `mavftp_list_free`; a list
 * passed to a `mavftp_list_cb` is valid only during the call (copy what you
 * need; do not free it).
 */
typedef struct {
    /**
     * Names of the subdirectories.
     */
    const char *const *dirs;
    /**
     * Number of `dirs`.
     */
    size_t dirs_len;
    /**
     * Names of the files.
     */
    const char *const *files;
    /**
     * Number of `files`.
     */
    size_t files_len;
    /**
     * All entries with their type, size and time.
     */
    const mavftp_entry *entries;
    /**
     * Number of `entries`.
     */
    size_t entries_len;
} mavftp_list;

/**
 * Completion callback of a listing. `list` is NULL unless `result` is
 * SUCCESS, and valid only during the call (do not free it).
 */
typedef void (*mavftp_list_cb)(mavftp_result result,
                               const mavftp_list *list,
                               void *user_data);

/**
 * Free a list returned by `mavftp_client_list_directory`. NULL does nothing.
 * Never pass a list received in a `mavftp_list_cb`.
 */
void mavftp_list_free(mavftp_list *list);

/* ========================================================================
 * 4. Client
 * Talks to one remote FTP server: transfers, listings, commands; each
 * operation blocking or _async.
 * ======================================================================== */

/**
 * Largest window cap `mavftp_client_set_window_caps` accepts.
 */
#define MAVFTP_MAX_WINDOW_CAP 1024

/**
 * Most operations `mavftp_client_set_parallel` lets one client run at once.
 */
#define MAVFTP_MAX_PARALLEL 16

/**
 * A client of one remote FTP server (one target system/component) on a link.
 * Operations run one after the other in the order submitted (a second call
 * queues, it does not fail with BUSY); several clients on one link, of the
 * same target or not, work at the same time (each uses its own session ids
 * and sequence numbers).
 *
 * Sharing a vehicle: the client never sends ResetSessions and closes only
 * the sessions it opened. While the server's sessions are held by another
 * ground station, an operation waits (timeout × retries at most, then
 * BUSY); a download whose session is closed or taken over under it re-opens
 * it, goes on, and is verified by CRC32 before SUCCESS. Files of 4 GiB or
 * more cannot be transferred (FILE_IO_ERROR: the protocol's offsets are
 * 32-bit). Its callbacks run on its worker thread (see "Threads and
 * callbacks" at the top of this header).
 *
 * Thread safety: all functions may be called from any thread, also from
 * inside this client's callbacks (but a blocking operation called from one of
 * this client's own callbacks returns BUSY: use the `_async` form there).
 */
typedef struct mavftp_client mavftp_client;

/**
 * Progress of a transfer.
 */
typedef struct {
    /**
     * Bytes moved so far.
     */
    uint32_t bytes_transferred;
    /**
     * Size of the file; 0 while unknown.
     */
    uint32_t total_bytes;
} mavftp_progress;

/**
 * Transfer callback: called with NEXT and the progress so far (at least
 * every 1 % or 100 ms, whichever is rarer, at most 50 times per second), then
 * exactly once with the final result (SUCCESS or an error) and the last
 * progress.
 */
typedef void (*mavftp_progress_cb)(mavftp_result result,
                                   mavftp_progress progress,
                                   void *user_data);

/**
 * Completion callback of an operation without a value.
 */
typedef void (*mavftp_result_cb)(mavftp_result result,
                                 void *user_data);

/**
 * Completion callback of a comparison; `value` is meaningful only when
 * `result` is SUCCESS.
 */
typedef void (*mavftp_bool_cb)(mavftp_result result,
                               bool value,
                               void *user_data);

/**
 * Options of the extended transfers. Set `struct_size` to
 * `sizeof(mavftp_transfer_options)` and zero every other field for the
 * defaults (plain reads, resume on, no verification, every file, identical
 * files skipped), e.g. with `mavftp_transfer_options_init()`; a NULL
 * options pointer means the defaults too. Later versions of the library
 * add fields at the end: a program built against an older header passes
 * its smaller size and gets the defaults for the new fields; a larger size
 * than this library knows is accepted when the unknown bytes are zero,
 * otherwise the call returns INVALID_PARAMETER (the program asks for an
 * option this library lacks).
 */
typedef struct {
    /**
     * `sizeof(mavftp_transfer_options)` as the caller was compiled.
     */
    size_t struct_size;
    /**
     * Downloads: burst reads instead of plain ones (uploads ignore it).
     */
    bool use_burst;
    /**
     * After the transfer compare the MAVLink CRC32 of both ends
     * (CalcFileCRC32); on a mismatch transfer once more, then
     * FILE_IO_ERROR.
     */
    bool verify;
    /**
     * Downloads to a file: do not keep a failed download's bytes for the
     * next try (a failure then leaves nothing behind). By default a failed,
     * cancelled or killed download leaves a hidden part file and metadata
     * beside the destination (`.NAME.mavftp-resume`,
     * `.NAME.mavftp-resume.meta`) and the next download of the same remote
     * file into the same place goes on from there if the remote file's
     * size and listing time are unchanged (checked by CRC32 at the end).
     */
    bool no_resume;
    /**
     * Directory operations: transfer files even when the other side has an
     * identical copy (same size and CRC32); by default those are skipped.
     */
    bool transfer_identical;
    /**
     * Directory operations: only files whose path relative to the
     * directory matches this pattern (`*` and `?` within a path component,
     * `**` across them; a pattern without `/` matches the file name).
     * NULL: every file. Copied by the call.
     */
    const char *glob;
} mavftp_transfer_options;

/**
 * Progress of an extended transfer (directory operations count all their
 * files). Valid only during the callback.
 */
typedef struct {
    /**
     * The operation's id.
     */
    uint64_t op_id;
    /**
     * Bytes moved so far (a resumed download counts the bytes it resumed from).
     */
    uint64_t bytes_transferred;
    /**
     * Bytes to move in all; 0 while unknown.
     */
    uint64_t total_bytes;
    /**
     * Rate over the last seconds, bytes per second (0 while unknown).
     */
    double bytes_per_second;
    /**
     * Estimated seconds left; negative while unknown.
     */
    double eta_seconds;
    /**
     * Files started so far (1-based index of the newest one).
     */
    uint32_t file_index;
    /**
     * Files in the operation (1 for a single file).
     */
    uint32_t file_count;
    /**
     * Files that failed so far (a directory operation goes on with the others).
     */
    uint32_t files_failed;
    /**
     * Files left out because the other side had them already.
     */
    uint32_t files_skipped;
    /**
     * The newest file started (for a directory, relative to it); never NULL.
     */
    const char *current_file;
} mavftp_transfer_progress;

/**
 * Callback of an extended transfer: called with NEXT and the progress (at
 * most 10 times per second), then exactly once with the final result and
 * the last progress. For a directory operation the final result is SUCCESS
 * only when every file succeeded; otherwise it is the first failure's code,
 * `progress->files_failed` says how many failed and
 * `mavftp_client_last_error` names each of them.
 */
typedef void (*mavftp_transfer_cb)(mavftp_result result,
                                   const mavftp_transfer_progress *progress,
                                   void *user_data);

/**
 * A downloaded file in memory, allocated by the library.
 */
typedef struct {
    /**
     * The bytes (NULL when `len` is 0).
     */
    const uint8_t *data;
    /**
     * Number of bytes.
     */
    size_t len;
} mavftp_buffer;

/**
 * Final callback of `mavftp_client_download_to_memory`: `buffer` is NULL
 * unless `result` is SUCCESS; the caller owns it and frees it with
 * `mavftp_buffer_free` (also allowed inside the callback).
 */
typedef void (*mavftp_buffer_cb)(mavftp_result result,
                                 mavftp_buffer *buffer,
                                 void *user_data);

/**
 * Data callback of `mavftp_client_download_stream`: the next `len` bytes
 * of the file, at `offset` (each call continues the previous one: the
 * pieces arrive in file order without gaps). Return true to go on, false
 * to stop the download (it ends CANCELLED). `data` is valid only during the call.
 */
typedef bool (*mavftp_chunk_cb)(uint64_t offset,
                                const uint8_t *data,
                                size_t len,
                                void *user_data);

/**
 * Create a client of (target_system, target_component) on `link`.
 * target_system 0 means the first system heard (an operation waits up to
 * timeout × retries for one, then NO_SYSTEM); target_component 0 means 1
 * (the autopilot). On success `*out_client` receives a client to free with
 * `mavftp_client_free` (before or after its link).
 */
mavftp_result mavftp_client_new(mavftp_link *link,
                                uint8_t target_system,
                                uint8_t target_component,
                                mavftp_client **out_client);

/**
 * Free a client. Every accepted operation still queued or running ends
 * first: its callback runs exactly once (CANCELLED if cut short) before this
 * returns, and no callback of this client runs after it returns. Must not be
 * called from one of this client's own callbacks. NULL does nothing.
 */
void mavftp_client_free(mavftp_client *client);

/**
 * Detail of this client's last failure as text (which path, which NAK code,
 * which errno): of a call on this client, from any thread, or of an
 * operation it ran, blocking or `_async` (kept before the operation's
 * callback runs, so the callback may read it). "" when nothing failed yet
 * or `client` is NULL; never NULL. The string belongs to the library and
 * stays valid until the next `mavftp_client_last_error` or
 * `mavftp_last_error` call from the same thread.
 */
const char *mavftp_client_last_error(const mavftp_client *client);

/**
 * Address another component of the target system from the next operation
 * on. INVALID_PARAMETER above 255.
 */
mavftp_result mavftp_client_set_target_compid(mavftp_client *client,
                                              uint32_t compid);

/**
 * Reply timeout per request in milliseconds (a base: it adapts to the
 * measured round trip) and the number of retries before TIMEOUT.
 * INVALID_PARAMETER for a timeout of 0.
 */
mavftp_result mavftp_client_set_timeout(mavftp_client *client,
                                        uint32_t timeout_ms,
                                        uint32_t retries);

/**
 * Most ReadFile and WriteFile requests kept in flight (defaults 64 and 32;
 * the window adapts below these caps; 0 keeps the current value). A window
 * that grows past 5 and sees requests dropped again and again is held at 5
 * for every later transfer to that server if the drops vanish there
 * (ArduPilot queues 5 requests and drops the rest); a cap of 5 or less
 * never probes. INVALID_PARAMETER above MAVFTP_MAX_WINDOW_CAP.
 */
mavftp_result mavftp_client_set_window_caps(mavftp_client *client,
                                            uint32_t read,
                                            uint32_t write);

/**
 * End the running and all queued operations of this client; their callbacks
 * (or blocking calls) get CANCELLED.
 */
mavftp_result mavftp_client_cancel(mavftp_client *client);

/**
 * Download `remote_file_path` into the existing directory `local_dir` (same
 * file name), blocking until done. The file is written under a temporary name
 * and renamed into place only when complete: a failed download leaves no file
 * and never touches an existing one. `use_burst` selects burst reads.
 * `progress` (may be NULL) gets NEXT calls from the worker thread and then
 * the final result once, from the calling thread, before this returns.
 */
mavftp_result mavftp_client_download(mavftp_client *client,
                                     const char *remote_file_path,
                                     const char *local_dir,
                                     bool use_burst,
                                     mavftp_progress_cb progress,
                                     void *user_data);

/**
 * Start a download (see `mavftp_client_download`) and return at once.
 * Returns SUCCESS when the work was accepted: `progress` (may be NULL) then
 * gets NEXT calls and exactly one final result, on the worker thread. Any
 * other return value means the work was refused and `progress` never runs.
 */
mavftp_result mavftp_client_download_async(mavftp_client *client,
                                           const char *remote_file_path,
                                           const char *local_dir,
                                           bool use_burst,
                                           mavftp_progress_cb progress,
                                           void *user_data);

/**
 * Upload the local file `local_file_path` into `remote_dir` (same file name),
 * blocking until done. `progress` as for `mavftp_client_download`.
 */
mavftp_result mavftp_client_upload(mavftp_client *client,
                                   const char *local_file_path,
                                   const char *remote_dir,
                                   mavftp_progress_cb progress,
                                   void *user_data);

/**
 * Start an upload (see `mavftp_client_upload`); the `_async` contract of
 * `mavftp_client_download_async` applies.
 */
mavftp_result mavftp_client_upload_async(mavftp_client *client,
                                         const char *local_file_path,
                                         const char *remote_dir,
                                         mavftp_progress_cb progress,
                                         void *user_data);

/**
 * List `remote_dir`, blocking. On success `*out_list` receives a list to
 * free with `mavftp_list_free`.
 */
mavftp_result mavftp_client_list_directory(mavftp_client *client,
                                           const char *remote_dir,
                                           mavftp_list **out_list);

/**
 * Start listing `remote_dir`; `callback` (may be NULL) runs exactly once on
 * the worker thread if this returns SUCCESS, never otherwise. The list it
 * receives is valid only during the call.
 */
mavftp_result mavftp_client_list_directory_async(mavftp_client *client,
                                                 const char *remote_dir,
                                                 mavftp_list_cb callback,
                                                 void *user_data);

/**
 * Create the directory `remote_dir` (its parent must exist), blocking.
 * FILE_EXISTS when it already exists.
 */
mavftp_result mavftp_client_create_directory(mavftp_client *client,
                                             const char *remote_dir);

/**
 * Start `mavftp_client_create_directory`; `callback` (may be NULL) runs exactly once on
 * the worker thread if this returns SUCCESS, never otherwise.
 */
mavftp_result mavftp_client_create_directory_async(mavftp_client *client,
                                                   const char *remote_dir,
                                                   mavftp_result_cb callback,
                                                   void *user_data);

/**
 * Remove the empty directory `remote_dir`, blocking.
 */
mavftp_result mavftp_client_remove_directory(mavftp_client *client,
                                             const char *remote_dir);

/**
 * Start `mavftp_client_remove_directory`; `callback` (may be NULL) runs exactly once on
 * the worker thread if this returns SUCCESS, never otherwise.
 */
mavftp_result mavftp_client_remove_directory_async(mavftp_client *client,
                                                   const char *remote_dir,
                                                   mavftp_result_cb callback,
                                                   void *user_data);

/**
 * Remove the file `remote_file_path`, blocking.
 */
mavftp_result mavftp_client_remove_file(mavftp_client *client,
                                        const char *remote_file_path);

/**
 * Start `mavftp_client_remove_file`; `callback` (may be NULL) runs exactly once on
 * the worker thread if this returns SUCCESS, never otherwise.
 */
mavftp_result mavftp_client_remove_file_async(mavftp_client *client,
                                              const char *remote_file_path,
                                              mavftp_result_cb callback,
                                              void *user_data);

/**
 * Rename `remote_from_path` to `remote_to_path`, blocking.
 */
mavftp_result mavftp_client_rename(mavftp_client *client,
                                   const char *remote_from_path,
                                   const char *remote_to_path);

/**
 * Start a rename; `callback` (may be NULL) runs exactly once on the worker
 * thread if this returns SUCCESS, never otherwise.
 */
mavftp_result mavftp_client_rename_async(mavftp_client *client,
                                         const char *remote_from_path,
                                         const char *remote_to_path,
                                         mavftp_result_cb callback,
                                         void *user_data);

/**
 * Compare the MAVLink CRC32 of the local file `local_file_path` with the
 * server's CRC of `remote_file_path`, blocking. On success
 * `*out_identical` receives whether they match.
 */
mavftp_result mavftp_client_are_files_identical(mavftp_client *client,
                                                const char *local_file_path,
                                                const char *remote_file_path,
                                                bool *out_identical);

/**
 * Start a comparison; `callback` (may be NULL) runs exactly once on the
 * worker thread if this returns SUCCESS, never otherwise.
 */
mavftp_result mavftp_client_are_files_identical_async(mavftp_client *client,
                                                      const char *local_file_path,
                                                      const char *remote_file_path,
                                                      mavftp_bool_cb callback,
                                                      void *user_data);

/**
 * Fill `options` with the defaults and its `struct_size` (every other
 * field zero). INVALID_PARAMETER for NULL.
 */
mavftp_result mavftp_transfer_options_init(mavftp_transfer_options *options);

/**
 * Run up to `parallel` operations of this client at once, 1 to
 * MAVFTP_MAX_PARALLEL (default 1: one at a time in submission order); each
 * on its own worker thread and, for a transfer, its own server session.
 * A server that takes fewer sessions (PX4 and MAVSDK's server take one,
 * ours four per client) makes transfers wait for one in turn, never fail.
 * With 2 or more a listing is not stuck behind a long download, and a
 * directory operation moves several files at once. Applies to operations
 * started afterwards. INVALID_PARAMETER outside 1..MAVFTP_MAX_PARALLEL.
 */
mavftp_result mavftp_client_set_parallel(mavftp_client *client,
                                         uint32_t parallel);

/**
 * Cancel one operation by the id an extended call returned: a queued one
 * ends at once, a running one at its next step; its callback then gets
 * CANCELLED (on a library thread). `mavftp_client_cancel` still cancels
 * everything. INVALID_PARAMETER when no operation with this id is queued
 * or running (0, an id never issued, or one that ended already).
 */
mavftp_result mavftp_client_cancel_op(mavftp_client *client,
                                      uint64_t op_id);

/**
 * Download `remote_file_path` into the existing directory `local_dir`
 * (same file name) with `options` (NULL: defaults, see
 * `mavftp_transfer_options`); returns at once. On SUCCESS the work was
 * accepted: `*out_op_id` receives its id (for `mavftp_client_cancel_op`)
 * and `callback` (may be NULL) gets NEXT calls and exactly one final
 * result on a library thread. Any other return value: refused, the
 * callback never runs. The file appears under its name only when complete.
 */
mavftp_result mavftp_client_download_ex(mavftp_client *client,
                                        const char *remote_file_path,
                                        const char *local_dir,
                                        const mavftp_transfer_options *options,
                                        mavftp_transfer_cb callback,
                                        void *user_data,
                                        uint64_t *out_op_id);

/**
 * Upload the local file `local_file_path` into `remote_dir` (same name)
 * with `options` (`verify` applies); the contract of
 * `mavftp_client_download_ex`.
 */
mavftp_result mavftp_client_upload_ex(mavftp_client *client,
                                      const char *local_file_path,
                                      const char *remote_dir,
                                      const mavftp_transfer_options *options,
                                      mavftp_transfer_cb callback,
                                      void *user_data,
                                      uint64_t *out_op_id);

/**
 * Download the remote directory `remote_dir` recursively into the existing
 * `local_dir` (subdirectories are created): files matching `options->glob`,
 * identical ones skipped (so a second run moves only what is new), each
 * with the options (burst, resume, verify), up to
 * `mavftp_client_set_parallel` at once. A file that fails does not stop
 * the others; the final result counts them (see `mavftp_transfer_cb`).
 * The contract of `mavftp_client_download_ex`.
 */
mavftp_result mavftp_client_download_dir(mavftp_client *client,
                                         const char *remote_dir,
                                         const char *local_dir,
                                         const mavftp_transfer_options *options,
                                         mavftp_transfer_cb callback,
                                         void *user_data,
                                         uint64_t *out_op_id);

/**
 * Upload the local directory `local_dir` recursively into the existing
 * remote directory `remote_dir` (subdirectories are created), like
 * `mavftp_client_download_dir` the other way.
 */
mavftp_result mavftp_client_upload_dir(mavftp_client *client,
                                       const char *local_dir,
                                       const char *remote_dir,
                                       const mavftp_transfer_options *options,
                                       mavftp_transfer_cb callback,
                                       void *user_data,
                                       uint64_t *out_op_id);

/**
 * Download `remote_file_path` into a buffer the library allocates (for
 * `@PARAM/param.pck`, the text files under `@SYS`, mission files), with the same loss
 * handling as a download to a file; `options`: `use_burst`, `verify`.
 * `progress` (may be NULL) gets NEXT calls only; `on_done` (may be NULL)
 * runs exactly once with the result and, on SUCCESS, the buffer, which the
 * caller frees with `mavftp_buffer_free`. The contract of
 * `mavftp_client_download_ex` otherwise.
 */
mavftp_result mavftp_client_download_to_memory(mavftp_client *client,
                                               const char *remote_file_path,
                                               const mavftp_transfer_options *options,
                                               mavftp_transfer_cb progress,
                                               mavftp_buffer_cb on_done,
                                               void *user_data,
                                               uint64_t *out_op_id);

/**
 * Download `remote_file_path` handing each contiguous piece to `on_chunk`
 * in file order (bytes that arrive ahead of a gap are held until it is
 * filled); `on_chunk` returning false stops the download (CANCELLED).
 * `callback` gets NEXT calls and exactly one final result. With
 * `options->verify` a CRC32 mismatch is FILE_IO_ERROR (what was handed over
 * cannot be taken back). INVALID_PARAMETER when `on_chunk` is NULL. The
 * contract of `mavftp_client_download_ex` otherwise.
 */
mavftp_result mavftp_client_download_stream(mavftp_client *client,
                                            const char *remote_file_path,
                                            const mavftp_transfer_options *options,
                                            mavftp_chunk_cb on_chunk,
                                            mavftp_transfer_cb callback,
                                            void *user_data,
                                            uint64_t *out_op_id);

/**
 * Free a buffer from `mavftp_client_download_to_memory`. NULL does nothing.
 */
void mavftp_buffer_free(mavftp_buffer *buffer);

/* ========================================================================
 * 5. Server
 * The vehicle side: serves one directory (a jail) to every peer on a link.
 * ======================================================================== */

/**
 * The `mavftp_server_set_link_rate` value that selects the default burst
 * pacing of links of unknown rate: not a rate but adaptive flow control
 * (rounds of at most 128 packets at a per-client rate that adapts to what
 * the client shows it received).
 */
#define MAVFTP_DEFAULT_LINK_RATE UINT32_MAX

/**
 * Serves one root directory (a jail: nothing outside it is reachable) to
 * every peer on a link.
 *
 * Thread safety: all functions may be called from any thread.
 */
typedef struct mavftp_server mavftp_server;

/**
 * Serve `root_dir` to every peer on `link`, answering requests addressed to
 * the link's own system/component id (or to component 0). `root_dir` must be
 * an existing directory (FILE_DOES_NOT_EXIST otherwise). A client and a
 * server may share one link. On success `*out_server` receives a server to
 * free with `mavftp_server_free` (before or after its link).
 */
mavftp_result mavftp_server_new(mavftp_link *link,
                                const char *root_dir,
                                mavftp_server **out_server);

/**
 * Refuse (true) or allow again (false) every write, create, remove and
 * rename, with NAK FileProtected (the client sees FILE_PROTECTED).
 */
mavftp_result mavftp_server_set_read_only(mavftp_server *server,
                                          bool read_only);

/**
 * Pace bursts at `bytes_per_second` of frames on links that do not know
 * their rate (UDP, TCP, custom links: e.g. a radio behind a UDP bridge of
 * known speed), as on a link of that rate; 0 sends as fast as possible;
 * MAVFTP_DEFAULT_LINK_RATE restores the default. Serial links are always
 * paced at their baud rate. By default bursts on links of unknown rate are
 * sent in rounds of at most 128 packets (they fit a default socket receive
 * buffer, so a slow reader loses nothing) at a per-client rate that halves
 * when the client's next request shows it lost data and grows when it did
 * not: no setting is needed for any client (MAVSDK, QGC, pymavlink).
 */
mavftp_result mavftp_server_set_link_rate(mavftp_server *server,
                                          uint32_t bytes_per_second);

/**
 * Stop serving, close all sessions and files, and free the server.
 * NULL does nothing.
 */
void mavftp_server_free(mavftp_server *server);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif  /* MAVFTP_H */
