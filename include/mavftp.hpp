/*
 * mavftp.hpp - C++17 wrapper of mavftp.h (header-only; link with libmavftp).
 *
 *   mavftp::Link    one MAVLink connection          (mavftp_link)
 *   mavftp::Client  talks to one remote FTP server  (mavftp_client)
 *   mavftp::Server  serves one directory            (mavftp_server)
 *
 * The three are move-only RAII owners of their C handle: the destructor calls
 * the C _free function, with the C API's guarantees (mavftp.h, "THE RULES"):
 * a Client's destructor waits until every accepted operation has ended and
 * its callbacks have run; Links, Clients and Servers may be destroyed in any
 * order (a Client whose Link is gone answers Result::Cancelled). Never destroy
 * a Client from inside one of its own callbacks. A moved-from object is empty
 * (its functions give Result::InvalidParameter, as the C API does for NULL).
 *
 * Errors are std::error_code values of mavftp::category(), comparable with
 * mavftp::Result (ec == mavftp::Result::Timeout); ec.message() is
 * mavftp_result_str()'s text; Client::last_error() gives the detail of a
 * Client's failures (blocking or _async), mavftp::last_error() that of this
 * thread's failed Link and Server calls and Client::create.
 * Success is an empty std::error_code (if (ec) means failure).
 * Why error codes, not exceptions: a timeout or a missing file is an everyday
 * outcome of a transfer over a radio link, not an exceptional one; completions
 * run on the library's worker thread, where an exception has no caller to
 * reach; and the codes map one to one onto the C results, so C and C++ users
 * read the same documentation. Works with -fno-exceptions.
 * ec.value() is the C mavftp_result value, except for MAVFTP_RESULT_UNKNOWN
 * (0, which std::error_code reserves for success): -1 here; to_result(ec)
 * gives back the Result.
 *
 * Extended transfers (download_ex, upload_ex, download_dir, upload_dir,
 * download_to_memory, download_stream) take TransferOptions and return an
 * Operation: its id for cancel_op() and a future of the final result and
 * last progress; they are asynchronous only (get() the future to block).
 *
 * Blocking and asynchronous calls. Every operation exists as a blocking call
 * (returns std::error_code, or a std::pair with the value) and as an _async
 * call that returns a std::future of the same and optionally takes callbacks
 * (std::function). The completion callback runs exactly once: on the client's
 * worker thread when the library accepted the work, or on the calling thread
 * before the _async call returns when it refused it. The future becomes ready
 * after the completion callback has returned. Progress callbacks run on the
 * worker thread, only for intermediate progress (the final result goes to the
 * completion). Callbacks must not throw (an exception escaping one ends the
 * program). Qt users re-post callbacks to the GUI thread with
 * QMetaObject::invokeMethod(obj, [...]{...}, Qt::QueuedConnection).
 *
 * The wrapper adds no behaviour of its own: each function calls its C
 * counterpart once; the callbacks' state lives on the heap and is freed after
 * the final callback, which the C API guarantees (so no callback outlives its
 * Client or Link).
 */
#ifndef MAVFTP_HPP
#define MAVFTP_HPP

#if !defined(__cplusplus) || (__cplusplus < 201703L && (!defined(_MSVC_LANG) || _MSVC_LANG < 201703L))
#error "mavftp.hpp needs C++17 (use mavftp.h from C)"
#endif

#include "mavftp.h"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace mavftp {

/* ---------------------------------------------------------------- results */

/** The values of mavftp_result (MAVSDK's Ftp::Result names, plus Cancelled). */
enum class Result : std::int32_t {
    Unknown = MAVFTP_RESULT_UNKNOWN,
    Success = MAVFTP_RESULT_SUCCESS,
    Next = MAVFTP_RESULT_NEXT,
    Timeout = MAVFTP_RESULT_TIMEOUT,
    Busy = MAVFTP_RESULT_BUSY,
    FileIoError = MAVFTP_RESULT_FILE_IO_ERROR,
    FileExists = MAVFTP_RESULT_FILE_EXISTS,
    FileDoesNotExist = MAVFTP_RESULT_FILE_DOES_NOT_EXIST,
    FileProtected = MAVFTP_RESULT_FILE_PROTECTED,
    InvalidParameter = MAVFTP_RESULT_INVALID_PARAMETER,
    Unsupported = MAVFTP_RESULT_UNSUPPORTED,
    ProtocolError = MAVFTP_RESULT_PROTOCOL_ERROR,
    NoSystem = MAVFTP_RESULT_NO_SYSTEM,
    Cancelled = MAVFTP_RESULT_CANCELLED,
};

/** Static text of a result (mavftp_result_str). */
inline const char *to_string(Result r) noexcept {
    return mavftp_result_str(static_cast<mavftp_result>(r));
}

/** The library version at run time, e.g. "0.1.0" (mavftp_version). */
inline const char *version() noexcept { return mavftp_version(); }

/**
 * mavftp_last_error: detail of this thread's last failed call that has no
 * Client to keep it (Link and Server functions, Client::create); "" if none.
 * A Client's own failures: Client::last_error().
 */
inline std::string last_error() { return mavftp_last_error(); }

namespace detail {
/** error_code value of UNKNOWN (its C value 0 means success to std::error_code). */
constexpr int unknown_code = -1;

class Category final : public std::error_category {
public:
    const char *name() const noexcept override { return "mavftp"; }
    std::string message(int value) const override {
        return value == unknown_code ? to_string(Result::Unknown)
                                     : to_string(static_cast<Result>(value));
    }
};
} // namespace detail

/** The error category of every error_code the wrapper returns. */
inline const std::error_category &category() noexcept {
    static const detail::Category instance;
    return instance;
}

/** Result -> error_code: Success is the empty error_code. */
inline std::error_code make_error_code(Result r) noexcept {
    if (r == Result::Success) {
        return std::error_code();
    }
    const int value = r == Result::Unknown ? detail::unknown_code : static_cast<int>(r);
    return std::error_code(value, category());
}

/** error_code -> Result (Success for an empty code, Unknown for a foreign one). */
inline Result to_result(const std::error_code &ec) noexcept {
    if (!ec) {
        return Result::Success;
    }
    if (ec.category() != category() || ec.value() == detail::unknown_code) {
        return Result::Unknown;
    }
    return static_cast<Result>(ec.value());
}

namespace detail {
inline std::error_code code(mavftp_result r) noexcept {
    return make_error_code(static_cast<Result>(r));
}
} // namespace detail

} // namespace mavftp

namespace std {
template <> struct is_error_code_enum<mavftp::Result> : true_type {};
} // namespace std

namespace mavftp {

/* ------------------------------------------------------------------ types */

/** Progress of a transfer (mavftp_progress). */
struct Progress {
    std::uint32_t bytes_transferred = 0; /**< bytes moved so far */
    std::uint32_t total_bytes = 0;       /**< size of the file; 0 while unknown */
};

/** Kind of a directory entry (mavftp_entry.type). */
enum class EntryType : std::uint32_t {
    File = MAVFTP_ENTRY_FILE,
    Directory = MAVFTP_ENTRY_DIRECTORY,
};

/** One entry of a remote directory (mavftp_entry, copied). */
struct Entry {
    std::string name;
    EntryType type = EntryType::File;
    std::uint64_t size_bytes = 0;
    std::uint64_t modification_time_s = 0; /**< 0 when the server does not tell */
};

/** A remote directory listing (mavftp_list, copied): each part sorted by name. */
struct Listing {
    std::vector<std::string> dirs;
    std::vector<std::string> files;
    std::vector<Entry> entries;
};

/**
 * Options of the extended transfers (mavftp_transfer_options); the defaults
 * are the C defaults: plain reads, resume on, no verification, every file,
 * identical files skipped.
 */
struct TransferOptions {
    bool use_burst = false;      /**< downloads: burst reads */
    bool verify = false;         /**< compare CRC32 of both ends afterwards, repeat once */
    bool resume = true;          /**< downloads to a file: keep and continue a failed download */
    bool skip_identical = true;  /**< directories: leave out files the other side has */
    std::string glob;            /**< directories: only matching files ("" = all) */
};

/** Progress of an extended transfer (mavftp_transfer_progress, copied). */
struct TransferProgress {
    std::uint64_t op_id = 0;
    std::uint64_t bytes_transferred = 0;
    std::uint64_t total_bytes = 0;          /**< 0 while unknown */
    double bytes_per_second = 0.0;
    std::optional<double> eta_seconds;      /**< empty while unknown */
    std::uint32_t file_index = 0;
    std::uint32_t file_count = 0;
    std::uint32_t files_failed = 0;
    std::uint32_t files_skipped = 0;
    std::string current_file;
};

namespace detail {
inline TransferProgress copy_progress(const mavftp_transfer_progress *p) {
    TransferProgress out;
    if (p == nullptr) {
        return out;
    }
    out.op_id = p->op_id;
    out.bytes_transferred = p->bytes_transferred;
    out.total_bytes = p->total_bytes;
    out.bytes_per_second = p->bytes_per_second;
    if (p->eta_seconds >= 0.0) {
        out.eta_seconds = p->eta_seconds;
    }
    out.file_index = p->file_index;
    out.file_count = p->file_count;
    out.files_failed = p->files_failed;
    out.files_skipped = p->files_skipped;
    out.current_file = p->current_file != nullptr ? p->current_file : "";
    return out;
}

inline mavftp_transfer_options c_options(const TransferOptions &o) {
    mavftp_transfer_options c;
    mavftp_transfer_options_init(&c);
    c.use_burst = o.use_burst;
    c.verify = o.verify;
    c.no_resume = !o.resume;
    c.transfer_identical = !o.skip_identical;
    c.glob = o.glob.empty() ? nullptr : o.glob.c_str();
    return c;
}
} // namespace detail

/**
 * An operation started by an extended call: its id (for Client::cancel_op;
 * 0 when the library refused the work) and a future of its final result
 * and last progress (for a directory, Success only when every file
 * succeeded; files_failed says how many did not).
 */
struct Operation {
    std::uint64_t id = 0;
    std::future<std::pair<std::error_code, TransferProgress>> result;
};

/** Like Operation, for Client::download_to_memory: the file's bytes. */
struct MemoryOperation {
    std::uint64_t id = 0;
    std::future<std::pair<std::error_code, std::vector<std::uint8_t>>> result;
};

namespace detail {
inline Listing copy_listing(const mavftp_list *list) {
    Listing out;
    if (list == nullptr) {
        return out;
    }
    out.dirs.assign(list->dirs, list->dirs + list->dirs_len);
    out.files.assign(list->files, list->files + list->files_len);
    out.entries.reserve(list->entries_len);
    for (std::size_t i = 0; i < list->entries_len; ++i) {
        const mavftp_entry &e = list->entries[i];
        out.entries.push_back(
            Entry{e.name, static_cast<EntryType>(e.type), e.size_bytes, e.modification_time_s});
    }
    return out;
}
} // namespace detail

/* ------------------------------------------------------------------- link */

/**
 * One MAVLink connection (UDP, TCP, serial, or bytes the application moves),
 * shared by any number of Clients and Servers. All functions may be called
 * from any thread.
 */
class Link {
public:
    /** Receives each framed MAVLink message of a custom link (valid during the call). */
    using SendFn = std::function<void(const std::uint8_t *bytes, std::size_t len)>;

    /** An empty link. */
    Link() noexcept = default;
    ~Link() { reset(); }
    Link(Link &&other) noexcept
        : handle_(std::exchange(other.handle_, nullptr)), send_(std::move(other.send_)) {}
    Link &operator=(Link &&other) noexcept {
        if (this != &other) {
            reset();
            handle_ = std::exchange(other.handle_, nullptr);
            send_ = std::move(other.send_);
        }
        return *this;
    }
    Link(const Link &) = delete;
    Link &operator=(const Link &) = delete;

    /**
     * mavftp_link_open: `udpin://HOST:PORT`, `udpout://HOST:PORT`,
     * `tcpin://...`, `tcpout://...`, `serial:///dev/ttyX:BAUD`. Own ids 0 mean
     * MAVFTP_DEFAULT_SYSTEM_ID / MAVFTP_DEFAULT_COMPONENT_ID.
     */
    static std::pair<std::error_code, Link> open(const std::string &url,
                                                 std::uint8_t own_system_id = 0,
                                                 std::uint8_t own_component_id = 0) {
        Link link;
        const mavftp_result r =
            mavftp_link_open(url.c_str(), own_system_id, own_component_id, &link.handle_);
        return {detail::code(r), std::move(link)};
    }

    /**
     * mavftp_link_open_custom: frames go out through `send` (called from
     * library threads until this Link is destroyed), received bytes come in
     * through feed().
     */
    static std::pair<std::error_code, Link> open_custom(SendFn send,
                                                        std::uint8_t own_system_id = 0,
                                                        std::uint8_t own_component_id = 0) {
        Link link;
        if (send) {
            link.send_ = std::make_unique<SendFn>(std::move(send));
        }
        const mavftp_result r =
            mavftp_link_open_custom(own_system_id, own_component_id,
                                    link.send_ ? &Link::send_trampoline : nullptr,
                                    link.send_.get(), &link.handle_);
        if (r != MAVFTP_RESULT_SUCCESS) {
            link.send_.reset();
        }
        return {detail::code(r), std::move(link)};
    }

    /** mavftp_link_feed: bytes received by the application (custom links). */
    std::error_code feed(const std::uint8_t *bytes, std::size_t len) noexcept {
        return detail::code(mavftp_link_feed(handle_, bytes, len));
    }

    /** A MAVLink 2 signing secret key. */
    using SigningKey = std::array<std::uint8_t, MAVFTP_SIGNING_KEY_LEN>;

    /**
     * mavftp_link_set_signing: sign every frame sent from now on with `key`
     * and `link_id`; incoming signed frames must verify (signature, newer
     * timestamp per stream); with `require_signed` every other frame is
     * dropped before any Client or Server sees it.
     */
    std::error_code set_signing(const SigningKey &key, std::uint8_t link_id,
                                bool require_signed) noexcept {
        return detail::code(
            mavftp_link_set_signing(handle_, key.data(), key.size(), link_id, require_signed));
    }

    /** mavftp_link_clear_signing: send unsigned frames and accept every frame again. */
    std::error_code clear_signing() noexcept {
        return detail::code(mavftp_link_clear_signing(handle_));
    }

    /** mavftp_link_signing_stats: the signing counters (zeros with the error). */
    std::pair<std::error_code, mavftp_signing_stats> signing_stats() const noexcept {
        mavftp_signing_stats stats{};
        const mavftp_result r = mavftp_link_signing_stats(handle_, &stats);
        return {detail::code(r), stats};
    }

    /** mavftp_link_free now; the Link is empty afterwards. */
    void reset() noexcept {
        mavftp_link_free(std::exchange(handle_, nullptr));
        send_.reset(); // only after mavftp_link_free: send may run until then
    }

    explicit operator bool() const noexcept { return handle_ != nullptr; }
    mavftp_link *native_handle() const noexcept { return handle_; }

private:
    static void send_trampoline(const std::uint8_t *bytes, std::size_t len,
                                void *user_data) noexcept {
        (*static_cast<SendFn *>(user_data))(bytes, len);
    }

    mavftp_link *handle_ = nullptr;
    std::unique_ptr<SendFn> send_;
};

/* ----------------------------------------------------------------- client */

/**
 * A client of one remote FTP server (target system/component) on a Link.
 * Operations run one at a time in the order submitted, on the client's
 * worker thread. All functions may be called from any thread, also from
 * inside this client's callbacks (a blocking call there returns
 * Result::Busy: use the _async form).
 */
class Client {
public:
    /** Intermediate progress of a transfer (worker thread). */
    using ProgressFn = std::function<void(const Progress &)>;
    /** Completion of an operation without a value. */
    using DoneFn = std::function<void(std::error_code)>;
    /** Completion of a listing (the Listing is empty unless ec is empty). */
    using ListFn = std::function<void(std::error_code, const Listing &)>;
    /** Completion of a comparison (the bool is meaningful only if ec is empty). */
    using BoolFn = std::function<void(std::error_code, bool)>;
    /** Progress of an extended transfer (worker thread, at most 10 per second). */
    using TransferProgressFn = std::function<void(const TransferProgress &)>;
    /** Completion of an extended transfer: its result and last progress. */
    using TransferDoneFn = std::function<void(std::error_code, const TransferProgress &)>;
    /** Completion of a download to memory (the bytes are empty unless ec is empty). */
    using MemoryDoneFn = std::function<void(std::error_code, const std::vector<std::uint8_t> &)>;
    /** The next piece of a streamed download, in file order; return false to stop it. */
    using ChunkFn = std::function<bool(std::uint64_t offset, const std::uint8_t *data, std::size_t len)>;

    /** An empty client. */
    Client() noexcept = default;
    ~Client() { reset(); }
    Client(Client &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Client &operator=(Client &&other) noexcept {
        if (this != &other) {
            reset();
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    Client(const Client &) = delete;
    Client &operator=(const Client &) = delete;

    /**
     * mavftp_client_new: target_system 0 = the first system heard;
     * target_component 0 = 1 (the autopilot).
     */
    static std::pair<std::error_code, Client> create(Link &link, std::uint8_t target_system = 0,
                                                     std::uint8_t target_component = 0) {
        Client client;
        const mavftp_result r = mavftp_client_new(link.native_handle(), target_system,
                                                  target_component, &client.handle_);
        return {detail::code(r), std::move(client)};
    }

    /**
     * mavftp_client_free now (every accepted operation ends first, its
     * callbacks run once); the Client is empty afterwards.
     */
    void reset() noexcept { mavftp_client_free(std::exchange(handle_, nullptr)); }

    explicit operator bool() const noexcept { return handle_ != nullptr; }
    mavftp_client *native_handle() const noexcept { return handle_; }

    /* settings and control */

    /** mavftp_client_last_error: detail of this client's last failure, of a
     *  call or of an operation, blocking or _async ("" if none). */
    std::string last_error() const { return mavftp_client_last_error(handle_); }

    /** Address another component of the target system (above 255: InvalidParameter). */
    std::error_code set_target_compid(std::uint32_t compid) noexcept {
        return detail::code(mavftp_client_set_target_compid(handle_, compid));
    }
    /** Base reply timeout (0 or less: InvalidParameter) and retries before Timeout. */
    std::error_code set_timeout(std::chrono::milliseconds timeout, std::uint32_t retries) noexcept {
        const auto ms = timeout.count();
        const std::uint32_t c_ms = ms <= 0 ? 0u
                                   : ms >= 0xffffffffLL ? 0xffffffffu
                                                        : static_cast<std::uint32_t>(ms);
        return detail::code(mavftp_client_set_timeout(handle_, c_ms, retries));
    }
    /** Most reads/writes in flight (0 keeps the value; above MAVFTP_MAX_WINDOW_CAP: InvalidParameter). */
    std::error_code set_window_caps(std::uint32_t read, std::uint32_t write) noexcept {
        return detail::code(mavftp_client_set_window_caps(handle_, read, write));
    }
    /** End the running and all queued operations (they complete with Cancelled). */
    std::error_code cancel() noexcept { return detail::code(mavftp_client_cancel(handle_)); }
    /** End one operation of an extended call (InvalidParameter when it is not queued or running). */
    std::error_code cancel_op(std::uint64_t op_id) noexcept {
        return detail::code(mavftp_client_cancel_op(handle_, op_id));
    }
    /** Operations run at once (1 to MAVFTP_MAX_PARALLEL; default 1). */
    std::error_code set_parallel(std::uint32_t parallel) noexcept {
        return detail::code(mavftp_client_set_parallel(handle_, parallel));
    }

    /* blocking operations */

    std::error_code download(const std::string &remote_file_path, const std::string &local_dir,
                             bool use_burst = false, ProgressFn on_progress = {}) {
        return detail::code(mavftp_client_download(
            handle_, remote_file_path.c_str(), local_dir.c_str(), use_burst,
            on_progress ? &Client::blocking_progress : nullptr, &on_progress));
    }
    std::error_code upload(const std::string &local_file_path, const std::string &remote_dir,
                           ProgressFn on_progress = {}) {
        return detail::code(mavftp_client_upload(
            handle_, local_file_path.c_str(), remote_dir.c_str(),
            on_progress ? &Client::blocking_progress : nullptr, &on_progress));
    }
    std::pair<std::error_code, Listing> list_directory(const std::string &remote_dir) {
        mavftp_list *list = nullptr;
        const mavftp_result r = mavftp_client_list_directory(handle_, remote_dir.c_str(), &list);
        std::pair<std::error_code, Listing> out{detail::code(r), Listing{}};
        if (r == MAVFTP_RESULT_SUCCESS) {
            const std::unique_ptr<mavftp_list, void (*)(mavftp_list *)> owned(list,
                                                                              &mavftp_list_free);
            out.second = detail::copy_listing(owned.get());
        }
        return out;
    }
    std::error_code create_directory(const std::string &remote_dir) {
        return detail::code(mavftp_client_create_directory(handle_, remote_dir.c_str()));
    }
    std::error_code remove_directory(const std::string &remote_dir) {
        return detail::code(mavftp_client_remove_directory(handle_, remote_dir.c_str()));
    }
    std::error_code remove_file(const std::string &remote_file_path) {
        return detail::code(mavftp_client_remove_file(handle_, remote_file_path.c_str()));
    }
    std::error_code rename(const std::string &remote_from_path, const std::string &remote_to_path) {
        return detail::code(
            mavftp_client_rename(handle_, remote_from_path.c_str(), remote_to_path.c_str()));
    }
    std::pair<std::error_code, bool> are_files_identical(const std::string &local_file_path,
                                                         const std::string &remote_file_path) {
        bool same = false;
        const mavftp_result r = mavftp_client_are_files_identical(
            handle_, local_file_path.c_str(), remote_file_path.c_str(), &same);
        return {detail::code(r), same};
    }

    /* asynchronous operations: see "Blocking and asynchronous calls" above */

    std::future<std::error_code> download_async(const std::string &remote_file_path,
                                                const std::string &local_dir,
                                                bool use_burst = false,
                                                ProgressFn on_progress = {},
                                                DoneFn on_done = {}) {
        auto op = std::make_unique<TransferOp>(std::move(on_progress), std::move(on_done));
        return start(std::move(op), [&](TransferOp *raw) {
            return mavftp_client_download_async(handle_, remote_file_path.c_str(),
                                                local_dir.c_str(), use_burst,
                                                &Client::transfer_trampoline, raw);
        });
    }
    std::future<std::error_code> upload_async(const std::string &local_file_path,
                                              const std::string &remote_dir,
                                              ProgressFn on_progress = {}, DoneFn on_done = {}) {
        auto op = std::make_unique<TransferOp>(std::move(on_progress), std::move(on_done));
        return start(std::move(op), [&](TransferOp *raw) {
            return mavftp_client_upload_async(handle_, local_file_path.c_str(), remote_dir.c_str(),
                                              &Client::transfer_trampoline, raw);
        });
    }
    std::future<std::pair<std::error_code, Listing>>
    list_directory_async(const std::string &remote_dir, ListFn on_done = {}) {
        auto op = std::make_unique<ListOp>(std::move(on_done));
        return start(std::move(op), [&](ListOp *raw) {
            return mavftp_client_list_directory_async(handle_, remote_dir.c_str(),
                                                      &Client::list_trampoline, raw);
        });
    }
    std::future<std::error_code> create_directory_async(const std::string &remote_dir,
                                                        DoneFn on_done = {}) {
        auto op = std::make_unique<ResultOp>(std::move(on_done));
        return start(std::move(op), [&](ResultOp *raw) {
            return mavftp_client_create_directory_async(handle_, remote_dir.c_str(),
                                                        &Client::result_trampoline, raw);
        });
    }
    std::future<std::error_code> remove_directory_async(const std::string &remote_dir,
                                                        DoneFn on_done = {}) {
        auto op = std::make_unique<ResultOp>(std::move(on_done));
        return start(std::move(op), [&](ResultOp *raw) {
            return mavftp_client_remove_directory_async(handle_, remote_dir.c_str(),
                                                        &Client::result_trampoline, raw);
        });
    }
    std::future<std::error_code> remove_file_async(const std::string &remote_file_path,
                                                   DoneFn on_done = {}) {
        auto op = std::make_unique<ResultOp>(std::move(on_done));
        return start(std::move(op), [&](ResultOp *raw) {
            return mavftp_client_remove_file_async(handle_, remote_file_path.c_str(),
                                                   &Client::result_trampoline, raw);
        });
    }
    std::future<std::error_code> rename_async(const std::string &remote_from_path,
                                              const std::string &remote_to_path,
                                              DoneFn on_done = {}) {
        auto op = std::make_unique<ResultOp>(std::move(on_done));
        return start(std::move(op), [&](ResultOp *raw) {
            return mavftp_client_rename_async(handle_, remote_from_path.c_str(),
                                              remote_to_path.c_str(), &Client::result_trampoline,
                                              raw);
        });
    }
    std::future<std::pair<std::error_code, bool>>
    are_files_identical_async(const std::string &local_file_path,
                              const std::string &remote_file_path, BoolFn on_done = {}) {
        auto op = std::make_unique<BoolOp>(std::move(on_done));
        return start(std::move(op), [&](BoolOp *raw) {
            return mavftp_client_are_files_identical_async(handle_, local_file_path.c_str(),
                                                           remote_file_path.c_str(),
                                                           &Client::bool_trampoline, raw);
        });
    }

    /* extended transfers: asynchronous, with an operation id (mavftp.h,
       mavftp_client_download_ex and the functions after it) */

    Operation download_ex(const std::string &remote_file_path, const std::string &local_dir,
                          const TransferOptions &options = {}, TransferProgressFn on_progress = {},
                          TransferDoneFn on_done = {}) {
        return start_ex(options, std::move(on_progress), std::move(on_done), {},
                        [&](const mavftp_transfer_options *o, ExOp *raw, std::uint64_t *id) {
                            return mavftp_client_download_ex(handle_, remote_file_path.c_str(),
                                                             local_dir.c_str(), o,
                                                             &Client::ex_trampoline, raw, id);
                        });
    }
    Operation upload_ex(const std::string &local_file_path, const std::string &remote_dir,
                        const TransferOptions &options = {}, TransferProgressFn on_progress = {},
                        TransferDoneFn on_done = {}) {
        return start_ex(options, std::move(on_progress), std::move(on_done), {},
                        [&](const mavftp_transfer_options *o, ExOp *raw, std::uint64_t *id) {
                            return mavftp_client_upload_ex(handle_, local_file_path.c_str(),
                                                           remote_dir.c_str(), o,
                                                           &Client::ex_trampoline, raw, id);
                        });
    }
    Operation download_dir(const std::string &remote_dir, const std::string &local_dir,
                           const TransferOptions &options = {}, TransferProgressFn on_progress = {},
                           TransferDoneFn on_done = {}) {
        return start_ex(options, std::move(on_progress), std::move(on_done), {},
                        [&](const mavftp_transfer_options *o, ExOp *raw, std::uint64_t *id) {
                            return mavftp_client_download_dir(handle_, remote_dir.c_str(),
                                                              local_dir.c_str(), o,
                                                              &Client::ex_trampoline, raw, id);
                        });
    }
    Operation upload_dir(const std::string &local_dir, const std::string &remote_dir,
                         const TransferOptions &options = {}, TransferProgressFn on_progress = {},
                         TransferDoneFn on_done = {}) {
        return start_ex(options, std::move(on_progress), std::move(on_done), {},
                        [&](const mavftp_transfer_options *o, ExOp *raw, std::uint64_t *id) {
                            return mavftp_client_upload_dir(handle_, local_dir.c_str(),
                                                            remote_dir.c_str(), o,
                                                            &Client::ex_trampoline, raw, id);
                        });
    }
    Operation download_stream(const std::string &remote_file_path, ChunkFn on_chunk,
                              const TransferOptions &options = {},
                              TransferProgressFn on_progress = {}, TransferDoneFn on_done = {}) {
        const bool has_chunk = static_cast<bool>(on_chunk);
        return start_ex(options, std::move(on_progress), std::move(on_done), std::move(on_chunk),
                        [&](const mavftp_transfer_options *o, ExOp *raw, std::uint64_t *id) {
                            return mavftp_client_download_stream(
                                handle_, remote_file_path.c_str(), o,
                                has_chunk ? &Client::chunk_trampoline : nullptr,
                                &Client::ex_trampoline, raw, id);
                        });
    }
    MemoryOperation download_to_memory(const std::string &remote_file_path,
                                       const TransferOptions &options = {},
                                       TransferProgressFn on_progress = {},
                                       MemoryDoneFn on_done = {}) {
        auto op = std::make_unique<MemOp>(std::move(on_progress), std::move(on_done));
        MemoryOperation out;
        out.result = op->promise.get_future();
        const mavftp_transfer_options c = detail::c_options(options);
        const mavftp_result r = mavftp_client_download_to_memory(
            handle_, remote_file_path.c_str(), &c, &Client::mem_progress_trampoline,
            &Client::buffer_trampoline, op.get(), &out.id);
        if (r == MAVFTP_RESULT_SUCCESS) {
            op.release(); // owned by the pending callback now
        } else {
            out.id = 0;
            op->finish(r, nullptr);
        }
        return out;
    }

private:
    /* One heap object per accepted operation: callbacks and promise; deleted
       by the final callback (or at once when the library refused the work). */
    struct TransferOp {
        TransferOp(ProgressFn p, DoneFn d) : progress(std::move(p)), done(std::move(d)) {}
        using Value = std::error_code;
        ProgressFn progress;
        DoneFn done;
        std::promise<Value> promise;
        void finish(mavftp_result r) {
            const std::error_code ec = detail::code(r);
            if (done) {
                done(ec);
            }
            promise.set_value(ec);
        }
    };
    struct ResultOp {
        explicit ResultOp(DoneFn d) : done(std::move(d)) {}
        using Value = std::error_code;
        DoneFn done;
        std::promise<Value> promise;
        void finish(mavftp_result r) {
            const std::error_code ec = detail::code(r);
            if (done) {
                done(ec);
            }
            promise.set_value(ec);
        }
    };
    struct ListOp {
        explicit ListOp(ListFn d) : done(std::move(d)) {}
        using Value = std::pair<std::error_code, Listing>;
        ListFn done;
        std::promise<Value> promise;
        void finish(mavftp_result r, const mavftp_list *list = nullptr) {
            Value v{detail::code(r), detail::copy_listing(list)};
            if (done) {
                done(v.first, v.second);
            }
            promise.set_value(std::move(v));
        }
    };
    struct BoolOp {
        explicit BoolOp(BoolFn d) : done(std::move(d)) {}
        using Value = std::pair<std::error_code, bool>;
        BoolFn done;
        std::promise<Value> promise;
        void finish(mavftp_result r, bool value = false) {
            const Value v{detail::code(r), value};
            if (done) {
                done(v.first, v.second);
            }
            promise.set_value(v);
        }
    };

    /* Submit with `call`; hand the op to the library if it accepted the work,
       else complete it here (the completion still runs exactly once). */
    template <class Op, class Call>
    static std::future<typename Op::Value> start(std::unique_ptr<Op> op, Call call) {
        std::future<typename Op::Value> future = op->promise.get_future();
        const mavftp_result r = call(op.get());
        if (r == MAVFTP_RESULT_SUCCESS) {
            op.release(); // owned by the pending callback now
        } else {
            op->finish(r);
        }
        return future;
    }

    static void blocking_progress(mavftp_result r, mavftp_progress p, void *user_data) noexcept {
        if (r == MAVFTP_RESULT_NEXT) {
            (*static_cast<ProgressFn *>(user_data))(Progress{p.bytes_transferred, p.total_bytes});
        }
    }
    static void transfer_trampoline(mavftp_result r, mavftp_progress p, void *user_data) noexcept {
        auto *op = static_cast<TransferOp *>(user_data);
        if (r == MAVFTP_RESULT_NEXT) {
            if (op->progress) {
                op->progress(Progress{p.bytes_transferred, p.total_bytes});
            }
            return;
        }
        const std::unique_ptr<TransferOp> owned(op);
        owned->finish(r);
    }
    static void result_trampoline(mavftp_result r, void *user_data) noexcept {
        const std::unique_ptr<ResultOp> owned(static_cast<ResultOp *>(user_data));
        owned->finish(r);
    }
    static void list_trampoline(mavftp_result r, const mavftp_list *list,
                                void *user_data) noexcept {
        const std::unique_ptr<ListOp> owned(static_cast<ListOp *>(user_data));
        owned->finish(r, list);
    }
    static void bool_trampoline(mavftp_result r, bool value, void *user_data) noexcept {
        const std::unique_ptr<BoolOp> owned(static_cast<BoolOp *>(user_data));
        owned->finish(r, value);
    }

    struct ExOp {
        ExOp(TransferProgressFn p, TransferDoneFn d, ChunkFn c)
            : progress(std::move(p)), done(std::move(d)), chunk(std::move(c)) {}
        TransferProgressFn progress;
        TransferDoneFn done;
        ChunkFn chunk;
        std::promise<std::pair<std::error_code, TransferProgress>> promise;
        void finish(mavftp_result r, const mavftp_transfer_progress *p) {
            std::pair<std::error_code, TransferProgress> v{detail::code(r), detail::copy_progress(p)};
            if (done) {
                done(v.first, v.second);
            }
            promise.set_value(std::move(v));
        }
    };
    struct MemOp {
        MemOp(TransferProgressFn p, MemoryDoneFn d) : progress(std::move(p)), done(std::move(d)) {}
        TransferProgressFn progress;
        MemoryDoneFn done;
        std::promise<std::pair<std::error_code, std::vector<std::uint8_t>>> promise;
        void finish(mavftp_result r, mavftp_buffer *buffer) {
            std::pair<std::error_code, std::vector<std::uint8_t>> v{detail::code(r), {}};
            if (buffer != nullptr) {
                v.second.assign(buffer->data, buffer->data + buffer->len);
                mavftp_buffer_free(buffer);
            }
            if (done) {
                done(v.first, v.second);
            }
            promise.set_value(std::move(v));
        }
    };

    template <class Call>
    static Operation start_ex(const TransferOptions &options, TransferProgressFn on_progress,
                              TransferDoneFn on_done, ChunkFn on_chunk, Call call) {
        auto op = std::make_unique<ExOp>(std::move(on_progress), std::move(on_done),
                                         std::move(on_chunk));
        Operation out;
        out.result = op->promise.get_future();
        const mavftp_transfer_options c = detail::c_options(options);
        const mavftp_result r = call(&c, op.get(), &out.id);
        if (r == MAVFTP_RESULT_SUCCESS) {
            op.release(); // owned by the pending callback now
        } else {
            out.id = 0;
            op->finish(r, nullptr);
        }
        return out;
    }

    static void ex_trampoline(mavftp_result r, const mavftp_transfer_progress *p,
                              void *user_data) noexcept {
        auto *op = static_cast<ExOp *>(user_data);
        if (r == MAVFTP_RESULT_NEXT) {
            if (op->progress) {
                op->progress(detail::copy_progress(p));
            }
            return;
        }
        const std::unique_ptr<ExOp> owned(op);
        owned->finish(r, p);
    }
    static bool chunk_trampoline(std::uint64_t offset, const std::uint8_t *data, std::size_t len,
                                 void *user_data) noexcept {
        return static_cast<ExOp *>(user_data)->chunk(offset, data, len);
    }
    static void mem_progress_trampoline(mavftp_result r, const mavftp_transfer_progress *p,
                                        void *user_data) noexcept {
        auto *op = static_cast<MemOp *>(user_data);
        if (r == MAVFTP_RESULT_NEXT && op->progress) {
            op->progress(detail::copy_progress(p));
        }
    }
    static void buffer_trampoline(mavftp_result r, mavftp_buffer *buffer,
                                  void *user_data) noexcept {
        const std::unique_ptr<MemOp> owned(static_cast<MemOp *>(user_data));
        owned->finish(r, buffer);
    }

    mavftp_client *handle_ = nullptr;
};

/* ----------------------------------------------------------------- server */

/**
 * Serves one root directory (a jail) to every peer on a Link. All functions
 * may be called from any thread.
 */
class Server {
public:
    /** An empty server. */
    Server() noexcept = default;
    ~Server() { reset(); }
    Server(Server &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Server &operator=(Server &&other) noexcept {
        if (this != &other) {
            reset();
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    Server(const Server &) = delete;
    Server &operator=(const Server &) = delete;

    /** mavftp_server_new: serve the existing directory `root_dir`. */
    static std::pair<std::error_code, Server> create(Link &link, const std::string &root_dir) {
        Server server;
        const mavftp_result r =
            mavftp_server_new(link.native_handle(), root_dir.c_str(), &server.handle_);
        return {detail::code(r), std::move(server)};
    }

    /** mavftp_server_free now; the Server is empty afterwards. */
    void reset() noexcept { mavftp_server_free(std::exchange(handle_, nullptr)); }

    explicit operator bool() const noexcept { return handle_ != nullptr; }
    mavftp_server *native_handle() const noexcept { return handle_; }

    /** Refuse (true) or allow (false) writes, creates, removes, renames. */
    std::error_code set_read_only(bool read_only) noexcept {
        return detail::code(mavftp_server_set_read_only(handle_, read_only));
    }
    /** Burst pacing on links of unknown rate, as on a link of that rate (0: as
     *  fast as possible; MAVFTP_DEFAULT_LINK_RATE: the default adaptive flow control). */
    std::error_code set_link_rate(std::uint32_t bytes_per_second) noexcept {
        return detail::code(mavftp_server_set_link_rate(handle_, bytes_per_second));
    }

private:
    mavftp_server *handle_ = nullptr;
};

} // namespace mavftp

#endif /* MAVFTP_HPP */
