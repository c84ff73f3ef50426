// Tests of include/mavftp.hpp, built with CMake against the INSTALLED package
// (find_package(mavftp CONFIG REQUIRED), -Wall -Wextra -Wpedantic -Werror) and
// run by tests/c_abi/packaging.rs:  wrapper_test WORKDIR
// Every test talks to the embedded server over UDP loopback or two custom
// links, and checks bytes where files move.

#include <mavftp.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

using namespace std::chrono_literals;

namespace {

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            std::exit(1);                                                                 \
        }                                                                                 \
    } while (0)

#define CHECK_EC(expr, expected)                                                         \
    do {                                                                                 \
        const std::error_code ec_ = (expr);                                              \
        if (ec_ != (expected)) {                                                         \
            std::fprintf(stderr, "%s:%d: %s = \"%s\", expected \"%s\"\n", __FILE__,       \
                         __LINE__, #expr, ec_.message().c_str(),                         \
                         std::error_code(expected).message().c_str());                   \
            std::exit(1);                                                                \
        }                                                                                \
    } while (0)

const std::error_code ok{};

std::vector<char> pattern(std::size_t size, unsigned seed) {
    std::vector<char> bytes(size);
    for (std::size_t i = 0; i < size; ++i) {
        bytes[i] = static_cast<char>((i * 31 + seed) % 251);
    }
    return bytes;
}

void write_file(const std::string &path, const std::vector<char> &bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    CHECK(out.good());
}

std::vector<char> read_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string make_dir(const std::string &path) {
    CHECK(::mkdir(path.c_str(), 0755) == 0);
    return path;
}

int free_udp_port() {
    const int s = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    CHECK(s >= 0);
    CHECK(::bind(s, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0);
    CHECK(::getsockname(s, reinterpret_cast<sockaddr *>(&a), &len) == 0);
    ::close(s);
    return ntohs(a.sin_port);
}

template <class T> bool ready(const std::future<T> &f) {
    return f.wait_for(0s) == std::future_status::ready;
}

template <class T> T get_within(std::future<T> &f, std::chrono::seconds limit = 60s) {
    CHECK(f.wait_for(limit) == std::future_status::ready);
    return f.get();
}

// A vehicle (server on udpin) and a ground station (client on udpout) on loopback.
struct Loopback {
    std::string root;
    mavftp::Link vehicle;
    mavftp::Server server;
    mavftp::Link gcs;
    mavftp::Client client;

    explicit Loopback(const std::string &work) : root(make_dir(work + "/root")) {
        std::error_code ec = make_error_code(mavftp::Result::Unknown);
        int port = 0;
        for (int attempt = 0; attempt < 5 && ec; ++attempt) {
            port = free_udp_port();
            auto opened = mavftp::Link::open("udpin://127.0.0.1:" + std::to_string(port), 1, 1);
            ec = opened.first;
            vehicle = std::move(opened.second);
        }
        CHECK_EC(ec, ok);
        auto served = mavftp::Server::create(vehicle, root);
        CHECK_EC(served.first, ok);
        server = std::move(served.second);
        auto opened = mavftp::Link::open("udpout://127.0.0.1:" + std::to_string(port));
        CHECK_EC(opened.first, ok);
        gcs = std::move(opened.second);
        auto created = mavftp::Client::create(gcs, 1, 1);
        CHECK_EC(created.first, ok);
        client = std::move(created.second);
    }
};

// ---------------------------------------------------------------- the tests

void results_are_error_codes_of_the_mavftp_category(const std::string &) {
    CHECK(!mavftp::make_error_code(mavftp::Result::Success));
    CHECK(mavftp::to_result(std::error_code()) == mavftp::Result::Success);
    for (int v = 0; v <= MAVFTP_RESULT_CANCELLED; ++v) {
        const auto r = static_cast<mavftp::Result>(v);
        const std::error_code ec = r;
        CHECK(mavftp::to_result(ec) == r);
        if (r == mavftp::Result::Success) {
            CHECK(!ec && ec == std::error_code());
        } else {
            CHECK(static_cast<bool>(ec)); // every other result is an error, UNKNOWN too
            CHECK(&ec.category() == &mavftp::category());
            CHECK(ec.value() == (v == 0 ? -1 : v));
            CHECK(ec.message() == mavftp_result_str(static_cast<mavftp_result>(v)));
        }
    }
    CHECK(std::error_code(mavftp::Result::Timeout) == mavftp::Result::Timeout);
    CHECK(std::error_code(mavftp::Result::Timeout) != mavftp::Result::Busy);
    CHECK(std::string(mavftp::category().name()) == "mavftp");
    CHECK(std::string(mavftp::version()) == MAVFTP_VERSION_STRING);
    CHECK(std::string(mavftp::to_string(mavftp::Result::FileExists)) ==
          mavftp_result_str(MAVFTP_RESULT_FILE_EXISTS));
}

void handles_are_move_only(const std::string &work) {
    static_assert(!std::is_copy_constructible_v<mavftp::Link>, "Link is not copyable");
    static_assert(!std::is_copy_assignable_v<mavftp::Client>, "Client is not copyable");
    static_assert(!std::is_copy_constructible_v<mavftp::Server>, "Server is not copyable");
    static_assert(std::is_nothrow_move_constructible_v<mavftp::Link>, "");
    static_assert(std::is_nothrow_move_assignable_v<mavftp::Client>, "");
    static_assert(std::is_nothrow_move_constructible_v<mavftp::Server>, "");

    Loopback net(work);
    write_file(net.root + "/f.bin", pattern(4000, 1));
    mavftp_client *raw = net.client.native_handle();
    mavftp::Client moved(std::move(net.client));
    CHECK(!net.client && moved && moved.native_handle() == raw);
    // A moved-from handle is empty: the C API answers NULL with INVALID_PARAMETER.
    CHECK_EC(net.client.create_directory("/x"), mavftp::Result::InvalidParameter);
    CHECK_EC(moved.create_directory("/x"), ok);

    // Moving a client with work in flight: the work finishes on the new owner.
    auto done = moved.download_async("/f.bin", work);
    mavftp::Client again;
    again = std::move(moved);
    CHECK_EC(get_within(done), ok);
    CHECK(read_file(work + "/f.bin") == pattern(4000, 1));

    // Move-assignment over a live client frees the old one first.
    auto second = mavftp::Client::create(net.gcs, 1, 1);
    CHECK_EC(second.first, ok);
    again = std::move(second.second);
    CHECK(again && !second.second);
    CHECK_EC(again.remove_directory("/x"), ok);

    mavftp::Server server2(std::move(net.server));
    CHECK(server2 && !net.server);
    CHECK_EC(net.server.set_read_only(true), mavftp::Result::InvalidParameter);
    mavftp::Link link2(std::move(net.gcs));
    CHECK(link2 && !net.gcs);
    CHECK_EC(net.gcs.feed(nullptr, 0), mavftp::Result::InvalidParameter);
}

void every_operation_blocking(const std::string &work) {
    Loopback net(work);
    auto &c = net.client;
    CHECK_EC(c.set_target_compid(1), ok);
    CHECK_EC(c.set_target_compid(256), mavftp::Result::InvalidParameter);
    CHECK(!c.last_error().empty());
    CHECK_EC(c.set_timeout(200ms, 5), ok);
    CHECK_EC(c.set_timeout(0ms, 5), mavftp::Result::InvalidParameter);
    CHECK_EC(c.set_window_caps(0, 16), ok);
    CHECK_EC(c.set_window_caps(MAVFTP_MAX_WINDOW_CAP + 1, 0), mavftp::Result::InvalidParameter);
    CHECK_EC(net.server.set_link_rate(MAVFTP_DEFAULT_LINK_RATE), ok);

    const auto data = pattern(300000, 3);
    const std::string local = make_dir(work + "/local");
    write_file(local + "/up.bin", data);

    CHECK_EC(c.create_directory("/d"), ok);
    CHECK_EC(c.create_directory("/d"), mavftp::Result::FileExists);
    int progress_calls = 0;
    CHECK_EC(c.upload(local + "/up.bin", "/d",
                      [&](const mavftp::Progress &p) {
                          ++progress_calls;
                          CHECK(p.bytes_transferred <= 300000);
                      }),
             ok);
    CHECK(progress_calls > 0);
    CHECK(read_file(net.root + "/d/up.bin") == data);

    auto listed = c.list_directory("/d");
    CHECK_EC(listed.first, ok);
    CHECK(listed.second.files == std::vector<std::string>{"up.bin"});
    CHECK(listed.second.dirs.empty());
    CHECK(listed.second.entries.size() == 1);
    CHECK(listed.second.entries[0].type == mavftp::EntryType::File);
    CHECK(listed.second.entries[0].size_bytes == 300000);
    auto top = c.list_directory("/");
    CHECK_EC(top.first, ok);
    CHECK(top.second.dirs == std::vector<std::string>{"d"});
    CHECK(top.second.entries[0].type == mavftp::EntryType::Directory);

    const std::string down = make_dir(work + "/down");
    for (bool burst : {false, true}) {
        ::unlink((down + "/up.bin").c_str());
        CHECK_EC(c.download("/d/up.bin", down, burst), ok);
        CHECK(read_file(down + "/up.bin") == data);
    }
    auto same = c.are_files_identical(down + "/up.bin", "/d/up.bin");
    CHECK_EC(same.first, ok);
    CHECK(same.second);
    write_file(local + "/other.bin", pattern(10, 9));
    auto differs = c.are_files_identical(local + "/other.bin", "/d/up.bin");
    CHECK_EC(differs.first, ok);
    CHECK(!differs.second);

    CHECK_EC(c.rename("/d/up.bin", "/d/moved.bin"), ok);
    CHECK(read_file(net.root + "/d/moved.bin") == data);
    CHECK_EC(c.remove_file("/d/moved.bin"), ok);
    CHECK_EC(c.remove_file("/d/moved.bin"), mavftp::Result::FileDoesNotExist);
    CHECK(c.last_error().find("moved.bin") != std::string::npos);
    CHECK_EC(c.download("/nope.bin", down), mavftp::Result::FileDoesNotExist);
    CHECK_EC(c.remove_directory("/d"), ok);
    CHECK_EC(c.cancel(), ok);

    CHECK_EC(net.server.set_read_only(true), ok);
    CHECK_EC(c.create_directory("/ro"), mavftp::Result::FileProtected);
    CHECK_EC(net.server.set_read_only(false), ok);
    CHECK_EC(c.create_directory("/ro"), ok);
}

// Counts completions per operation; each must be 1.
struct Once {
    std::atomic<int> calls{0};
    std::atomic<bool> on_worker{false};
    std::thread::id caller = std::this_thread::get_id();
    void hit() {
        calls.fetch_add(1);
        on_worker.store(std::this_thread::get_id() != caller);
    }
};

void every_operation_async_completes_exactly_once(const std::string &work) {
    Loopback net(work);
    auto &c = net.client;
    const auto data = pattern(500000, 5);
    const std::string local = make_dir(work + "/local");
    write_file(local + "/up.bin", data);
    Once mk, up, ls, dl, cmp, mv, rm, rmd;
    std::atomic<int> progress{0};

    auto f_mk = c.create_directory_async("/a", [&](std::error_code ec) {
        mk.hit();
        CHECK_EC(ec, ok);
    });
    // Queued behind the mkdir: operations of one client run in order.
    auto f_up = c.upload_async(local + "/up.bin", "/a", [&](const mavftp::Progress &) { ++progress; },
                               [&](std::error_code ec) {
                                   up.hit();
                                   CHECK_EC(ec, ok);
                               });
    auto f_ls = c.list_directory_async("/a", [&](std::error_code ec, const mavftp::Listing &l) {
        ls.hit();
        CHECK_EC(ec, ok);
        CHECK(l.files == std::vector<std::string>{"up.bin"});
    });
    const std::string down = make_dir(work + "/down");
    auto f_dl = c.download_async("/a/up.bin", down, true, {}, [&](std::error_code ec) {
        dl.hit();
        CHECK_EC(ec, ok);
    });
    auto f_cmp = c.are_files_identical_async(local + "/up.bin", "/a/up.bin",
                                             [&](std::error_code ec, bool same) {
                                                 cmp.hit();
                                                 CHECK_EC(ec, ok);
                                                 CHECK(same);
                                             });
    auto f_mv = c.rename_async("/a/up.bin", "/a/b.bin", [&](std::error_code) { mv.hit(); });
    auto f_rm = c.remove_file_async("/a/b.bin", [&](std::error_code) { rm.hit(); });
    auto f_rmd = c.remove_directory_async("/a", [&](std::error_code) { rmd.hit(); });

    CHECK_EC(get_within(f_mk), ok);
    CHECK_EC(get_within(f_up), ok);
    auto listing = get_within(f_ls);
    CHECK_EC(listing.first, ok);
    CHECK(listing.second.entries.size() == 1 && listing.second.entries[0].size_bytes == 500000);
    CHECK_EC(get_within(f_dl), ok);
    CHECK(read_file(down + "/up.bin") == data);
    auto same = get_within(f_cmp);
    CHECK_EC(same.first, ok);
    CHECK(same.second);
    CHECK_EC(get_within(f_mv), ok);
    CHECK_EC(get_within(f_rm), ok);
    CHECK_EC(get_within(f_rmd), ok);
    CHECK(progress.load() > 0);
    for (Once *o : {&mk, &up, &ls, &dl, &cmp, &mv, &rm, &rmd}) {
        CHECK(o->calls.load() == 1); // the future was ready only after the callback returned
        CHECK(o->on_worker.load());
    }
    std::this_thread::sleep_for(100ms); // nothing arrives late
    for (Once *o : {&mk, &up, &ls, &dl, &cmp, &mv, &rm, &rmd}) {
        CHECK(o->calls.load() == 1);
    }
    c.create_directory_async("/late"); // a future may be dropped unused
}

void refused_async_work_completes_once_on_the_calling_thread(const std::string &work) {
    Loopback net(work);
    Once once;
    const std::string too_long(MAVFTP_MAX_PATH_LEN + 1, 'a');
    auto f = net.client.remove_file_async("/" + too_long, [&](std::error_code ec) {
        once.hit();
        CHECK_EC(ec, mavftp::Result::InvalidParameter);
    });
    CHECK(ready(f)); // refused: complete before the call returned
    CHECK(once.calls.load() == 1 && !once.on_worker.load());
    CHECK_EC(f.get(), mavftp::Result::InvalidParameter);
    mavftp::Client empty;
    auto g = empty.list_directory_async("/");
    CHECK(ready(g));
    CHECK_EC(g.get().first, mavftp::Result::InvalidParameter);
}

void client_destroyed_with_work_in_flight(const std::string &work) {
    Loopback net(work);
    const auto big = pattern(3000000, 7);
    write_file(net.root + "/big.bin", big);
    const std::string down = make_dir(work + "/down");
    std::vector<std::future<std::error_code>> futures;
    std::vector<std::unique_ptr<Once>> counts;
    {
        auto created = mavftp::Client::create(net.gcs, 1, 1);
        CHECK_EC(created.first, ok);
        mavftp::Client doomed = std::move(created.second);
        for (int i = 0; i < 4; ++i) {
            counts.push_back(std::make_unique<Once>());
            Once *once = counts.back().get();
            futures.push_back(doomed.download_async("/big.bin", down, i % 2 == 0,
                                                    [](const mavftp::Progress &) {},
                                                    [once](std::error_code) { once->hit(); }));
        }
        std::this_thread::sleep_for(20ms);
    } // ~Client: every accepted operation ends (its callback runs once) before it returns
    int cancelled = 0;
    for (std::size_t i = 0; i < futures.size(); ++i) {
        CHECK(ready(futures[i]));
        CHECK(counts[i]->calls.load() == 1);
        const std::error_code ec = futures[i].get();
        CHECK(!ec || ec == mavftp::Result::Cancelled);
        cancelled += ec == mavftp::Result::Cancelled;
    }
    CHECK(cancelled > 0); // 4 x 3 MB cannot have finished in 20 ms: work was in flight
    std::this_thread::sleep_for(100ms);
    for (auto &o : counts) {
        CHECK(o->calls.load() == 1);
    }
    // A failed or cancelled download leaves no partial file.
    const auto got = read_file(down + "/big.bin");
    CHECK(got.empty() || got == big);
    // The other client on the link still works.
    CHECK_EC(net.client.create_directory("/after"), ok);
}

void client_and_server_outlive_their_links(const std::string &work) {
    Loopback net(work);
    write_file(net.root + "/f.bin", pattern(1000, 2));
    CHECK_EC(net.client.download("/f.bin", work), ok);
    net.gcs.reset();
    net.vehicle.reset();
    CHECK_EC(net.client.create_directory("/late"), mavftp::Result::Cancelled);
    auto f = net.client.list_directory_async("/");
    CHECK(ready(f));
    CHECK_EC(f.get().first, mavftp::Result::Cancelled);
    CHECK_EC(net.server.set_read_only(true), ok);
    net.client.reset();
    net.server.reset();
}

// Two custom links wired to each other: the std::function send callbacks.
void custom_links_carry_a_transfer(const std::string &work) {
    struct Wire {
        std::mutex mu;
        mavftp::Link *peer = nullptr;
    };
    Wire to_vehicle, to_gcs;
    auto sender = [](Wire &w) {
        return [&w](const std::uint8_t *bytes, std::size_t len) {
            std::lock_guard<std::mutex> lock(w.mu);
            if (w.peer != nullptr) {
                CHECK_EC(w.peer->feed(bytes, len), ok);
            }
        };
    };
    auto v = mavftp::Link::open_custom(sender(to_gcs), 1, 1);
    auto g = mavftp::Link::open_custom(sender(to_vehicle));
    CHECK_EC(v.first, ok);
    CHECK_EC(g.first, ok);
    {
        std::lock_guard<std::mutex> a(to_gcs.mu);
        to_gcs.peer = &g.second;
    }
    {
        std::lock_guard<std::mutex> b(to_vehicle.mu);
        to_vehicle.peer = &v.second;
    }
    CHECK_EC(mavftp::Link::open_custom({}).first, mavftp::Result::InvalidParameter);
    CHECK_EC(mavftp::Link::open("udpout://").first, mavftp::Result::InvalidParameter);
    CHECK(mavftp::last_error().find("udpout://") != std::string::npos);

    // Signed both ways; the vehicle requires it.
    mavftp::Link::SigningKey key{};
    for (std::size_t i = 0; i < key.size(); ++i) {
        key[i] = static_cast<std::uint8_t>(i * 7 + 1);
    }
    CHECK_EC(v.second.set_signing(key, 1, true), ok);
    CHECK_EC(g.second.set_signing(key, 2, true), ok);
    CHECK_EC(mavftp::Link().set_signing(key, 0, false), mavftp::Result::InvalidParameter);
    CHECK_EC(mavftp::Link().clear_signing(), mavftp::Result::InvalidParameter);

    const std::string root = make_dir(work + "/root");
    const auto data = pattern(200000, 4);
    write_file(root + "/c.bin", data);
    auto server = mavftp::Server::create(v.second, root);
    CHECK_EC(server.first, ok);
    auto client = mavftp::Client::create(g.second, 1, 1);
    CHECK_EC(client.first, ok);
    const std::string down = make_dir(work + "/down");
    CHECK_EC(client.second.download("/c.bin", down, true), ok);
    CHECK(read_file(down + "/c.bin") == data);
    const auto stats = v.second.signing_stats();
    CHECK_EC(stats.first, ok);
    CHECK(stats.second.accepted_signed > 0 && stats.second.dropped == 0);
    CHECK(stats.second.frames_signed > 100);
    CHECK_EC(g.second.clear_signing(), ok);
    CHECK_EC(mavftp::Link().signing_stats().first, mavftp::Result::InvalidParameter);
    {
        std::lock_guard<std::mutex> a(to_gcs.mu);
        to_gcs.peer = nullptr;
    }
    {
        std::lock_guard<std::mutex> b(to_vehicle.mu);
        to_vehicle.peer = nullptr;
    }
}

// Extended transfers: options, operation ids, progress, verify, directories
// (a second run skips every file), memory, stream, per-operation cancel.
void extended_transfers(const std::string &work) {
    Loopback lb(work);
    mavftp::Client &c = lb.client;
    const auto big = pattern(400000, 3);
    write_file(lb.root + "/big.bin", big);
    make_dir(lb.root + "/t");
    make_dir(lb.root + "/t/a");
    for (unsigned i = 0; i < 6; ++i) {
        write_file(lb.root + (i % 2 ? "/t/a/f" : "/t/f") + std::to_string(i) + ".bin",
                   pattern(i * 5000, i));
    }
    const std::string dl = make_dir(work + "/dl");
    CHECK_EC(c.set_parallel(0), mavftp::Result::InvalidParameter);
    CHECK_EC(c.set_parallel(2), ok);

    mavftp::TransferOptions verify;
    verify.verify = true;
    std::atomic<int> nexts{0};
    std::atomic<int> dones{0};
    mavftp::Operation op = c.download_ex(
        "/big.bin", dl, verify, [&](const mavftp::TransferProgress &p) {
            CHECK(p.total_bytes == 0 || p.bytes_transferred <= p.total_bytes);
            ++nexts;
        },
        [&](std::error_code ec, const mavftp::TransferProgress &p) {
            CHECK(!ec && p.bytes_transferred == 400000);
            ++dones;
        });
    CHECK(op.id > 0);
    auto [ec, last] = get_within(op.result);
    CHECK_EC(ec, ok);
    CHECK(dones == 1 && last.op_id == op.id && last.file_count == 1);
    CHECK(last.current_file == "/big.bin");
    CHECK(read_file(dl + "/big.bin") == big);

    mavftp::Operation dir = c.download_dir("/t", dl);
    auto [dec, dlast] = get_within(dir.result);
    CHECK_EC(dec, ok);
    CHECK(dlast.file_count == 6 && dlast.files_failed == 0 && dlast.files_skipped == 0);
    CHECK(read_file(dl + "/a/f5.bin") == pattern(25000, 5));
    mavftp::Operation again = c.download_dir("/t", dl);
    auto [aec, alast] = get_within(again.result);
    CHECK_EC(aec, ok);
    CHECK(alast.files_skipped == 6);

    CHECK_EC(c.create_directory("/back"), ok);
    mavftp::TransferOptions only_a;
    only_a.glob = "a/*";
    mavftp::Operation up = c.upload_dir(dl, "/back", only_a);
    auto [uec, ulast] = get_within(up.result);
    CHECK_EC(uec, ok);
    CHECK(ulast.file_count == 3);
    CHECK(read_file(lb.root + "/back/a/f3.bin") == pattern(15000, 3));

    mavftp::MemoryOperation mem = c.download_to_memory("/big.bin", verify);
    auto [mec, bytes] = get_within(mem.result);
    CHECK_EC(mec, ok);
    CHECK(bytes.size() == big.size() && std::equal(bytes.begin(), bytes.end(), big.begin(),
                                                   [](std::uint8_t a, char b) {
                                                       return a == static_cast<std::uint8_t>(b);
                                                   }));
    std::vector<char> streamed;
    mavftp::Operation st = c.download_stream(
        "/big.bin", [&](std::uint64_t offset, const std::uint8_t *data, std::size_t len) {
            CHECK(offset == streamed.size());
            streamed.insert(streamed.end(), data, data + len);
            return true;
        });
    CHECK_EC(get_within(st.result).first, ok);
    CHECK(streamed == big);

    // Refused work: id 0, the future ready at once, the completion run once.
    int refused = 0;
    mavftp::Operation bad = c.download_ex("/big.bin", work + "/no/such/dir", {}, {},
                                          [&](std::error_code, const mavftp::TransferProgress &) {
                                              ++refused;
                                          });
    CHECK(bad.id == 0 && ready(bad.result) && refused == 1);
    CHECK_EC(bad.result.get().first, mavftp::Result::FileIoError);
    CHECK_EC(c.cancel_op(op.id), mavftp::Result::InvalidParameter); // it ended

    // Per-operation cancel of a queued operation behind a running one.
    CHECK_EC(c.set_parallel(1), ok);
    mavftp::Operation first = c.download_ex("/big.bin", make_dir(work + "/x"));
    mavftp::Operation second = c.download_ex("/big.bin", make_dir(work + "/y"));
    CHECK_EC(c.cancel_op(second.id), ok);
    CHECK_EC(get_within(second.result).first, mavftp::Result::Cancelled);
    CHECK_EC(get_within(first.result).first, ok);
}

struct TestCase {
    const char *name;
    void (*run)(const std::string &work);
};

const TestCase tests[] = {
    {"results_are_error_codes_of_the_mavftp_category",
     results_are_error_codes_of_the_mavftp_category},
    {"handles_are_move_only", handles_are_move_only},
    {"every_operation_blocking", every_operation_blocking},
    {"every_operation_async_completes_exactly_once",
     every_operation_async_completes_exactly_once},
    {"refused_async_work_completes_once_on_the_calling_thread",
     refused_async_work_completes_once_on_the_calling_thread},
    {"client_destroyed_with_work_in_flight", client_destroyed_with_work_in_flight},
    {"client_and_server_outlive_their_links", client_and_server_outlive_their_links},
    {"custom_links_carry_a_transfer", custom_links_carry_a_transfer},
    {"extended_transfers", extended_transfers},
};

} // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: wrapper_test WORKDIR\n");
        return 2;
    }
    int passed = 0;
    for (const TestCase &t : tests) {
        const std::string work = make_dir(std::string(argv[1]) + "/" + t.name);
        const auto start = std::chrono::steady_clock::now();
        t.run(work);
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - start)
                            .count();
        std::printf("ok %s (%lld ms)\n", t.name, static_cast<long long>(ms));
        ++passed;
    }
    std::printf("%d passed, 0 failed\n", passed);
    return 0;
}
