/*
 * Uses every function, every macro and every result value of the installed
 * mavftp.h, and runs them: a client against the embedded server over two
 * custom links wired to each other, plus a UDP link. Compiled as C11 and as
 * C++17 with -Wall -Wextra -Wpedantic -Werror by tests/c_abi/packaging.rs, which
 * also fails when the header declares a name this file does not use.
 *
 *   every_function WORKDIR
 */
#define _POSIX_C_SOURCE 200809L
#include <mavftp.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const mavftp_client *g_client;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

#define CHECK_RES(expr, expected)                                                      \
    do {                                                                               \
        mavftp_result r_ = (expr);                                                     \
        if (r_ != (expected)) {                                                        \
            fprintf(stderr, "%s:%d: %s = %s, expected %s (%s)\n", __FILE__, __LINE__,   \
                    #expr, mavftp_result_str(r_), mavftp_result_str(expected),         \
                    g_client ? mavftp_client_last_error(g_client) : mavftp_last_error()); \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* ---- completion of async calls ---- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int finals;
    int nexts;
    mavftp_result result;
    bool value;
    size_t entries;
    uint32_t first_type;
} waiter;

static void waiter_init(waiter *w) {
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

static void waiter_done(waiter *w, mavftp_result r) {
    pthread_mutex_lock(&w->mu);
    w->result = r;
    w->finals++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static mavftp_result waiter_wait(waiter *w) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 60;
    pthread_mutex_lock(&w->mu);
    while (w->finals == 0) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &deadline) == ETIMEDOUT) {
            fprintf(stderr, "a callback never came\n");
            exit(1);
        }
    }
    mavftp_result r = w->result;
    pthread_mutex_unlock(&w->mu);
    return r;
}

static void on_progress(mavftp_result r, mavftp_progress p, void *user_data) {
    waiter *w = (waiter *)user_data;
    if (r == MAVFTP_RESULT_NEXT) {
        pthread_mutex_lock(&w->mu);
        w->nexts++;
        pthread_mutex_unlock(&w->mu);
        CHECK(p.total_bytes == 0 || p.bytes_transferred <= p.total_bytes);
        return;
    }
    waiter_done(w, r);
}

static void on_result(mavftp_result r, void *user_data) { waiter_done((waiter *)user_data, r); }

static void on_bool(mavftp_result r, bool value, void *user_data) {
    waiter *w = (waiter *)user_data;
    w->value = value;
    waiter_done(w, r);
}

static void on_list(mavftp_result r, const mavftp_list *list, void *user_data) {
    waiter *w = (waiter *)user_data;
    if (r == MAVFTP_RESULT_SUCCESS) {
        w->entries = list->entries_len;
        w->first_type = list->entries_len > 0 ? list->entries[0].type : 0;
    }
    waiter_done(w, r);
}

/* ---- extended transfers ---- */

static void on_transfer(mavftp_result r, const mavftp_transfer_progress *p, void *user_data) {
    waiter *w = (waiter *)user_data;
    CHECK(p != NULL && p->current_file != NULL && p->op_id > 0);
    CHECK(p->total_bytes == 0 || p->bytes_transferred <= p->total_bytes);
    if (r == MAVFTP_RESULT_NEXT) {
        pthread_mutex_lock(&w->mu);
        w->nexts++;
        pthread_mutex_unlock(&w->mu);
        return;
    }
    w->value = p->files_failed == 0 && p->file_index <= p->file_count;
    waiter_done(w, r);
}

static void on_buffer(mavftp_result r, mavftp_buffer *buffer, void *user_data) {
    waiter *w = (waiter *)user_data;
    if (r == MAVFTP_RESULT_SUCCESS) {
        CHECK(buffer != NULL && buffer->data != NULL);
        w->entries = buffer->len;
        CHECK(buffer->data[1] == 7); /* write_file's pattern: i * 7 % 251 */
    }
    mavftp_buffer_free(buffer);
    waiter_done(w, r);
}

static bool on_chunk(uint64_t offset, const uint8_t *data, size_t len, void *user_data) {
    waiter *w = (waiter *)user_data;
    CHECK(offset == w->entries && data != NULL); /* in order, no gap */
    w->entries += len;
    return true;
}

/* ---- two custom links wired to each other ---- */

typedef struct {
    pthread_mutex_t mu;
    mavftp_link *peer; /* NULL once cut */
} wire;

static void wire_send(const uint8_t *bytes, size_t len, void *user_data) {
    wire *w = (wire *)user_data;
    pthread_mutex_lock(&w->mu);
    if (w->peer != NULL) {
        CHECK(mavftp_link_feed(w->peer, bytes, len) == MAVFTP_RESULT_SUCCESS);
    }
    pthread_mutex_unlock(&w->mu);
}

static void wire_connect(wire *w, mavftp_link *peer) {
    pthread_mutex_lock(&w->mu);
    w->peer = peer;
    pthread_mutex_unlock(&w->mu);
}

static void write_file(const char *path, size_t size) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    for (size_t i = 0; i < size; i++) fputc((int)(i * 7 % 251), f);
    fclose(f);
}

static bool same_files(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa != NULL && fb != NULL;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static void test_version_and_results(void) {
    char v[64];
    snprintf(v, sizeof v, "%d.%d.%d", MAVFTP_VERSION_MAJOR, MAVFTP_VERSION_MINOR,
             MAVFTP_VERSION_PATCH);
    CHECK(strcmp(v, mavftp_version()) == 0);
    CHECK(strcmp(MAVFTP_VERSION_STRING, mavftp_version()) == 0);
    const mavftp_result all[] = {
        MAVFTP_RESULT_UNKNOWN,        MAVFTP_RESULT_SUCCESS,
        MAVFTP_RESULT_NEXT,           MAVFTP_RESULT_TIMEOUT,
        MAVFTP_RESULT_BUSY,           MAVFTP_RESULT_FILE_IO_ERROR,
        MAVFTP_RESULT_FILE_EXISTS,    MAVFTP_RESULT_FILE_DOES_NOT_EXIST,
        MAVFTP_RESULT_FILE_PROTECTED, MAVFTP_RESULT_INVALID_PARAMETER,
        MAVFTP_RESULT_UNSUPPORTED,    MAVFTP_RESULT_PROTOCOL_ERROR,
        MAVFTP_RESULT_NO_SYSTEM,      MAVFTP_RESULT_CANCELLED,
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        CHECK((int)all[i] == (int)i); /* 0-13 in order: MAVSDK's values, then ours */
        CHECK(strlen(mavftp_result_str(all[i])) > 0);
    }
}

static void test_udp_link(void) {
    mavftp_link *link = (mavftp_link *)0x1;
    CHECK_RES(mavftp_link_open("nonsense://x", 0, 0, &link), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK(strstr(mavftp_last_error(), "nonsense://x") != NULL);
    CHECK(link == (mavftp_link *)0x1); /* out-parameters are written only on success */
    link = NULL;
    CHECK_RES(mavftp_link_open("udpin://127.0.0.1:0", 0, 0, &link), MAVFTP_RESULT_SUCCESS);
    mavftp_link_free(link);
    mavftp_link_free(NULL);
}

int main(int argc, char **argv) {
    CHECK(argc == 2);
    const char *work = argv[1];
    char root[1024], local[1024], path[4096], other[4096];
    snprintf(root, sizeof root, "%s/root", work);
    snprintf(local, sizeof local, "%s/local", work);
    CHECK(mkdir(root, 0755) == 0 || errno == EEXIST);
    CHECK(mkdir(local, 0755) == 0 || errno == EEXIST);

    test_version_and_results();
    test_udp_link();

    wire to_vehicle, to_gcs;
    memset(&to_vehicle, 0, sizeof to_vehicle);
    memset(&to_gcs, 0, sizeof to_gcs);
    pthread_mutex_init(&to_vehicle.mu, NULL);
    pthread_mutex_init(&to_gcs.mu, NULL);
    mavftp_link *vehicle = NULL, *gcs = NULL;
    CHECK_RES(mavftp_link_open_custom(1, 1, wire_send, &to_gcs, &vehicle), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_link_open_custom(MAVFTP_DEFAULT_SYSTEM_ID, MAVFTP_DEFAULT_COMPONENT_ID,
                                      wire_send, &to_vehicle, &gcs),
              MAVFTP_RESULT_SUCCESS);
    /* Everything below runs MAVLink 2 signed; the vehicle answers signed requests only. */
    uint8_t key[MAVFTP_SIGNING_KEY_LEN];
    for (size_t i = 0; i < sizeof key; i++) key[i] = (uint8_t)(0xA0 + i);
    CHECK_RES(mavftp_link_set_signing(vehicle, key, 31, 1, true), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_link_set_signing(vehicle, key, sizeof key, 1, true), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_link_set_signing(gcs, key, sizeof key, 2, true), MAVFTP_RESULT_SUCCESS);
    wire_connect(&to_gcs, gcs);
    wire_connect(&to_vehicle, vehicle);

    mavftp_server *server = NULL;
    CHECK_RES(mavftp_server_new(vehicle, root, &server), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_server_set_link_rate(server, MAVFTP_DEFAULT_LINK_RATE), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_server_set_read_only(server, false), MAVFTP_RESULT_SUCCESS);

    mavftp_client *client = NULL;
    CHECK_RES(mavftp_client_new(gcs, 1, 0, &client), MAVFTP_RESULT_SUCCESS);
    g_client = client;
    CHECK_RES(mavftp_client_set_target_compid(client, 1), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_client_set_timeout(client, 200, 5), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_client_set_window_caps(client, MAVFTP_MAX_WINDOW_CAP + 1, 0),
              MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK(strlen(mavftp_client_last_error(client)) > 0);
    CHECK_RES(mavftp_client_set_window_caps(client, 0, 16), MAVFTP_RESULT_SUCCESS);

    char too_long[MAVFTP_MAX_PATH_LEN + 2];
    memset(too_long, 'a', sizeof too_long);
    too_long[0] = '/';
    too_long[MAVFTP_MAX_PATH_LEN + 1] = '\0';
    CHECK_RES(mavftp_client_remove_file(client, too_long), MAVFTP_RESULT_INVALID_PARAMETER);

    /* directories */
    CHECK_RES(mavftp_client_create_directory(client, "/d"), MAVFTP_RESULT_SUCCESS);
    waiter w;
    waiter_init(&w);
    CHECK_RES(mavftp_client_create_directory_async(client, "/e", on_result, &w), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_SUCCESS);

    /* uploads */
    snprintf(path, sizeof path, "%s/up.bin", local);
    write_file(path, 100000);
    waiter_init(&w);
    CHECK_RES(mavftp_client_upload(client, path, "/d", on_progress, &w), MAVFTP_RESULT_SUCCESS);
    CHECK(w.finals == 1 && w.result == MAVFTP_RESULT_SUCCESS);
    snprintf(other, sizeof other, "%s/d/up.bin", root);
    CHECK(same_files(path, other));
    waiter_init(&w);
    CHECK_RES(mavftp_client_upload_async(client, path, "/e", on_progress, &w), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_SUCCESS);

    /* who the links have heard (any message counts: requests and replies flowed above) */
    uint8_t heard_sys = 0;
    uint64_t heard_ms = UINT64_MAX;
    CHECK_RES(mavftp_link_first_heard_system(gcs, &heard_sys), MAVFTP_RESULT_SUCCESS);
    CHECK(heard_sys == 1);
    CHECK_RES(mavftp_link_last_heard(gcs, 1, 1, &heard_ms), MAVFTP_RESULT_SUCCESS);
    CHECK(heard_ms < 60000);
    CHECK_RES(mavftp_link_last_heard(vehicle, MAVFTP_DEFAULT_SYSTEM_ID, MAVFTP_DEFAULT_COMPONENT_ID, &heard_ms),
              MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_link_last_heard(gcs, 1, 99, &heard_ms), MAVFTP_RESULT_NO_SYSTEM);

    /* listings */
    mavftp_list *list = NULL;
    CHECK_RES(mavftp_client_list_directory(client, "/d", &list), MAVFTP_RESULT_SUCCESS);
    CHECK(list->files_len == 1 && strcmp(list->files[0], "up.bin") == 0 && list->dirs_len == 0);
    CHECK(list->entries_len == 1 && list->entries[0].type == MAVFTP_ENTRY_FILE);
    CHECK(list->entries[0].size_bytes == 100000);
    mavftp_list_free(list);
    mavftp_list_free(NULL);
    waiter_init(&w);
    CHECK_RES(mavftp_client_list_directory_async(client, "/", on_list, &w), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_SUCCESS);
    CHECK(w.entries == 2 && w.first_type == MAVFTP_ENTRY_DIRECTORY);

    /* downloads */
    CHECK_RES(mavftp_client_download(client, "/d/up.bin", local, true, NULL, NULL), MAVFTP_RESULT_SUCCESS);
    snprintf(path, sizeof path, "%s/up.bin", local);
    CHECK(same_files(path, other));
    snprintf(path, sizeof path, "%s/dl", local);
    CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
    waiter_init(&w);
    CHECK_RES(mavftp_client_download_async(client, "/e/up.bin", path, false, on_progress, &w),
              MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_SUCCESS);
    snprintf(path, sizeof path, "%s/dl/up.bin", local);
    CHECK(same_files(path, other));

    /* comparisons */
    bool same = false;
    CHECK_RES(mavftp_client_are_files_identical(client, path, "/d/up.bin", &same), MAVFTP_RESULT_SUCCESS);
    CHECK(same);
    waiter_init(&w);
    CHECK_RES(mavftp_client_are_files_identical_async(client, path, "/e/up.bin", on_bool, &w),
              MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_SUCCESS);
    CHECK(w.value);

    /* extended transfers: options, operation ids, verify, memory, stream, directories */
    mavftp_transfer_options opts;
    CHECK_RES(mavftp_transfer_options_init(&opts), MAVFTP_RESULT_SUCCESS);
    CHECK(opts.struct_size == sizeof opts && !opts.verify && opts.glob == NULL);
    opts.verify = true;
    CHECK_RES(mavftp_client_set_parallel(client, MAVFTP_MAX_PARALLEL + 1), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_set_parallel(client, 2), MAVFTP_RESULT_SUCCESS);
    uint64_t op = 0;
    snprintf(path, sizeof path, "%s/up.bin", local);
    waiter_init(&w);
    CHECK_RES(mavftp_client_upload_ex(client, path, "/d", &opts, on_transfer, &w, &op), MAVFTP_RESULT_SUCCESS);
    CHECK(op > 0);
    CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_SUCCESS);
    snprintf(path, sizeof path, "%s/ex", local);
    CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
    waiter_init(&w);
    CHECK_RES(mavftp_client_download_ex(client, "/d/up.bin", path, &opts, on_transfer, &w, &op),
              MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_SUCCESS);
    CHECK(w.value);
    snprintf(path, sizeof path, "%s/ex/up.bin", local);
    CHECK(same_files(path, other));
    waiter_init(&w);
    CHECK_RES(mavftp_client_download_to_memory(client, "/d/up.bin", &opts, on_transfer, on_buffer, &w, &op),
              MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_SUCCESS);
    CHECK(w.entries == 100000);
    waiter_init(&w);
    CHECK_RES(mavftp_client_download_stream(client, "/d/up.bin", &opts, on_chunk, on_transfer, &w, &op),
              MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_SUCCESS);
    CHECK(w.entries == 100000);
    opts.glob = "*.bin";
    snprintf(path, sizeof path, "%s/tree", local);
    CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
    waiter_init(&w);
    CHECK_RES(mavftp_client_download_dir(client, "/d", path, &opts, on_transfer, &w, &op), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_SUCCESS);
    waiter_init(&w);
    CHECK_RES(mavftp_client_upload_dir(client, path, "/e", &opts, on_transfer, &w, &op), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_client_cancel_op(client, op), MAVFTP_RESULT_INVALID_PARAMETER); /* it ended */
    mavftp_buffer_free(NULL);
    CHECK_RES(mavftp_client_set_parallel(client, 1), MAVFTP_RESULT_SUCCESS);
    snprintf(path, sizeof path, "%s/dl/up.bin", local);

    /* renames and removals */
    CHECK_RES(mavftp_client_rename(client, "/d/up.bin", "/d/a.bin"), MAVFTP_RESULT_SUCCESS);
    waiter_init(&w);
    CHECK_RES(mavftp_client_rename_async(client, "/e/up.bin", "/e/b.bin", on_result, &w), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_client_remove_file(client, "/d/a.bin"), MAVFTP_RESULT_SUCCESS);
    waiter_init(&w);
    CHECK_RES(mavftp_client_remove_file_async(client, "/e/b.bin", on_result, &w), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_client_remove_directory(client, "/d"), MAVFTP_RESULT_SUCCESS);
    waiter_init(&w);
    CHECK_RES(mavftp_client_remove_directory_async(client, "/e", on_result, &w), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_client_remove_file(client, "/missing"), MAVFTP_RESULT_FILE_DOES_NOT_EXIST);
    CHECK_RES(mavftp_client_cancel(client), MAVFTP_RESULT_SUCCESS);

    /* signing counters: every frame verified; then unsigned requests get no answer */
    mavftp_signing_stats stats;
    CHECK_RES(mavftp_link_signing_stats(vehicle, &stats), MAVFTP_RESULT_SUCCESS);
    CHECK(stats.frames_signed > 0 && stats.accepted_signed > 0 && stats.dropped == 0);
    CHECK_RES(mavftp_link_clear_signing(gcs), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_client_set_timeout(client, 100, 1), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_client_create_directory(client, "/unsigned"), MAVFTP_RESULT_TIMEOUT);
    CHECK_RES(mavftp_link_signing_stats(vehicle, &stats), MAVFTP_RESULT_SUCCESS);
    CHECK(stats.dropped > 0 && stats.unsigned_frames == stats.dropped);
    CHECK(stats.bad_signature == 0 && stats.replay == 0 && stats.stale_stream == 0 &&
          stats.too_many_streams == 0 && stats.accepted_unsigned == 0);

    /* Lifetimes: the links go first; client and server stay valid handles. */
    wire_connect(&to_gcs, NULL);
    wire_connect(&to_vehicle, NULL);
    mavftp_link_free(gcs);
    mavftp_link_free(vehicle);
    CHECK_RES(mavftp_client_create_directory(client, "/late"), MAVFTP_RESULT_CANCELLED);
    waiter_init(&w);
    CHECK_RES(mavftp_client_remove_file_async(client, "/x", on_result, &w), MAVFTP_RESULT_CANCELLED);
    CHECK(w.finals == 0); /* refused: the callback never runs */
    CHECK_RES(mavftp_server_set_read_only(server, true), MAVFTP_RESULT_SUCCESS);
    g_client = NULL;
    mavftp_client_free(client);
    mavftp_server_free(server);
    mavftp_client_free(NULL);
    mavftp_server_free(NULL);
    printf("every function ok: mavftp %s\n", mavftp_version());
    return 0;
}
