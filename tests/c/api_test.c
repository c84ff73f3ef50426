/*
 * Drives every function of include/mavftp.h. Built and run by tests/c_abi/c_api.rs.
 *
 *   api_test args             argument checks that need no peer
 *   api_test e2e WORKDIR      client against our server over two custom links
 *                             wired to each other, and over a UDP loopback pair
 */
#define _POSIX_C_SOURCE 200809L
#include "mavftp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int checks;

#define CHECK(cond)                                                              \
    do {                                                                         \
        checks++;                                                                \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

#define CHECK_RES(expr, expected)                                                \
    do {                                                                         \
        mavftp_result r_ = (expr);                                               \
        checks++;                                                                \
        if (r_ != (expected)) {                                                  \
            fprintf(stderr, "%s:%d: %s = %d (%s), expected %d (%s)\n", __FILE__,  \
                    __LINE__, #expr, (int)r_, mavftp_result_str(r_),              \
                    (int)(expected), mavftp_result_str(expected));                \
            if (g_client) fprintf(stderr, "  last error: %s\n",                  \
                                  mavftp_client_last_error(g_client));           \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

static mavftp_client *g_client;

/* ---- waiting for async callbacks ---- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;          /* number of final callbacks */
    int next_calls;    /* NEXT progress calls */
    mavftp_result result;
    bool value;
    size_t list_entries;
    mavftp_progress last;
} waiter;

static void waiter_init(waiter *w) {
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

static void waiter_finish(waiter *w, mavftp_result r) {
    pthread_mutex_lock(&w->mu);
    w->result = r;
    w->done++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Wait (at most 60 s) for the final callback; returns its result. */
static mavftp_result waiter_wait(waiter *w) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 60;
    pthread_mutex_lock(&w->mu);
    while (w->done == 0) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &deadline) == ETIMEDOUT) {
            fprintf(stderr, "callback never came\n");
            exit(1);
        }
    }
    mavftp_result r = w->result;
    pthread_mutex_unlock(&w->mu);
    return r;
}

static void on_progress(mavftp_result r, mavftp_progress p, void *user) {
    waiter *w = user;
    if (r == MAVFTP_RESULT_NEXT) {
        pthread_mutex_lock(&w->mu);
        w->next_calls++;
        w->last = p;
        pthread_mutex_unlock(&w->mu);
        return;
    }
    pthread_mutex_lock(&w->mu);
    w->last = p;
    pthread_mutex_unlock(&w->mu);
    waiter_finish(w, r);
}

static void on_result(mavftp_result r, void *user) { waiter_finish(user, r); }

static void on_bool(mavftp_result r, bool value, void *user) {
    waiter *w = user;
    w->value = value;
    waiter_finish(w, r);
}

static void on_list(mavftp_result r, const mavftp_list *list, void *user) {
    waiter *w = user;
    if (r == MAVFTP_RESULT_SUCCESS) {
        CHECK(list != NULL);
        w->list_entries = list->entries_len;
        CHECK(list->dirs_len + list->files_len == list->entries_len);
    } else {
        CHECK(list == NULL);
    }
    waiter_finish(w, r);
}

static void never_called_result(mavftp_result r, void *user) {
    (void)r; (void)user;
    fprintf(stderr, "callback of a refused operation ran\n");
    exit(1);
}
static void never_called_progress(mavftp_result r, mavftp_progress p, void *user) {
    (void)p; never_called_result(r, user);
}
static void never_called_list(mavftp_result r, const mavftp_list *l, void *user) {
    (void)l; never_called_result(r, user);
}
static void never_called_transfer(mavftp_result r, const mavftp_transfer_progress *p, void *user) {
    (void)p; never_called_result(r, user);
}
static void never_called_buffer(mavftp_result r, mavftp_buffer *b, void *user) {
    (void)b; never_called_result(r, user);
}
static bool never_called_chunk(uint64_t offset, const uint8_t *data, size_t len, void *user) {
    (void)offset; (void)data; (void)len; never_called_result(MAVFTP_RESULT_UNKNOWN, user);
    return false;
}
static void never_called_bool(mavftp_result r, bool v, void *user) {
    (void)v; never_called_result(r, user);
}

/* ---- files ---- */

static void fill(unsigned char *buf, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)((i * 131u + seed * 7u + (i >> 8)) & 0xff);
}

static void write_file(const char *path, size_t n, unsigned seed) {
    unsigned char *buf = malloc(n ? n : 1);
    CHECK(buf != NULL);
    fill(buf, n, seed);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK(fwrite(buf, 1, n, f) == n);
    CHECK(fclose(f) == 0);
    free(buf);
}

/* 1 when both files exist and are byte-for-byte equal. */
static int same_bytes(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa != NULL && fb != NULL;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* ---- argument checks ---- */

static void test_result_str_and_version(void) {
    static const char *expected[] = {
        "unknown", "success", "next (in progress)", "timeout", "busy", "file I/O error",
        "file exists", "file does not exist", "file protected", "invalid parameter",
        "unsupported", "protocol error", "no system", "cancelled"};
    for (int i = 0; i <= 13; i++) CHECK(strcmp(mavftp_result_str((mavftp_result)i), expected[i]) == 0);
    CHECK(strcmp(mavftp_result_str((mavftp_result)14), "unknown result") == 0);
    CHECK(strcmp(mavftp_result_str((mavftp_result)-1), "unknown result") == 0);
    CHECK(strcmp(mavftp_result_str((mavftp_result)1000000), "unknown result") == 0);
    CHECK(MAVFTP_RESULT_SUCCESS == 1 && MAVFTP_RESULT_NO_SYSTEM == 12 && MAVFTP_RESULT_CANCELLED == 13);
    CHECK(sizeof(mavftp_result) == 4);
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", MAVFTP_VERSION_MAJOR, MAVFTP_VERSION_MINOR, MAVFTP_VERSION_PATCH);
    CHECK(strcmp(mavftp_version(), v) == 0);
}

static void drop_frame(const uint8_t *bytes, size_t len, void *user) {
    (void)bytes; (void)len; (void)user;
}

static void test_null_arguments(void) {
    mavftp_link *link = (mavftp_link *)0x1;
    CHECK(mavftp_last_error() != NULL);
    CHECK_RES(mavftp_link_open(NULL, 0, 0, &link), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK(strstr(mavftp_last_error(), "url is NULL") != NULL);
    CHECK(link == (mavftp_link *)0x1); /* out-param untouched on failure */
    CHECK_RES(mavftp_link_open("udpin://127.0.0.1:0", 0, 0, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_link_open("bogus://x", 0, 0, &link), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK(strstr(mavftp_last_error(), "bogus://x") != NULL); /* the detail names the URL */
    CHECK_RES(mavftp_link_open("udpin://\xff\xfe:1", 0, 0, &link), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK(link == (mavftp_link *)0x1);
    CHECK_RES(mavftp_link_open_custom(0, 0, NULL, NULL, &link), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_link_open_custom(0, 0, drop_frame, NULL, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_link_feed(NULL, (const uint8_t *)"x", 1), MAVFTP_RESULT_INVALID_PARAMETER);

    link = NULL;
    CHECK_RES(mavftp_link_open_custom(1, 1, drop_frame, NULL, &link), MAVFTP_RESULT_SUCCESS);
    CHECK(link != NULL);
    CHECK_RES(mavftp_link_feed(link, NULL, 5), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_link_feed(link, NULL, 0), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_link_feed(link, (const uint8_t *)"garbage\xfd\x01", 9), MAVFTP_RESULT_SUCCESS);

    /* nothing heard yet: NO_SYSTEM, out-params untouched */
    uint8_t heard_sys = 77;
    uint64_t heard_ms = 77;
    CHECK_RES(mavftp_link_first_heard_system(link, &heard_sys), MAVFTP_RESULT_NO_SYSTEM);
    CHECK(strlen(mavftp_last_error()) > 0);
    CHECK_RES(mavftp_link_last_heard(link, 1, 1, &heard_ms), MAVFTP_RESULT_NO_SYSTEM);
    CHECK(heard_sys == 77 && heard_ms == 77);
    CHECK_RES(mavftp_link_first_heard_system(NULL, &heard_sys), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_link_first_heard_system(link, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_link_last_heard(NULL, 1, 1, &heard_ms), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_link_last_heard(link, 1, 1, NULL), MAVFTP_RESULT_INVALID_PARAMETER);

    /* signing: NULLs, key length, out-params untouched on failure */
    uint8_t key[MAVFTP_SIGNING_KEY_LEN + 1];
    memset(key, 0x42, sizeof key);
    mavftp_signing_stats stats;
    memset(&stats, 0x77, sizeof stats);
    CHECK_RES(mavftp_link_set_signing(NULL, key, MAVFTP_SIGNING_KEY_LEN, 0, true), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_link_set_signing(link, NULL, MAVFTP_SIGNING_KEY_LEN, 0, true), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_link_set_signing(link, key, MAVFTP_SIGNING_KEY_LEN - 1, 0, true), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_link_set_signing(link, key, MAVFTP_SIGNING_KEY_LEN + 1, 0, true), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_link_set_signing(link, key, 0, 0, true), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_link_clear_signing(NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_link_signing_stats(NULL, &stats), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_link_signing_stats(link, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK(stats.frames_signed == 0x7777777777777777ULL && stats.dropped == 0x7777777777777777ULL);
    CHECK_RES(mavftp_link_signing_stats(link, &stats), MAVFTP_RESULT_SUCCESS);
    CHECK(stats.frames_signed == 0 && stats.accepted_signed == 0 && stats.dropped == 0);
    CHECK_RES(mavftp_link_set_signing(link, key, MAVFTP_SIGNING_KEY_LEN, 255, true), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_link_clear_signing(link), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_link_clear_signing(link), MAVFTP_RESULT_SUCCESS);

    mavftp_server *server = (mavftp_server *)0x1;
    CHECK_RES(mavftp_server_new(NULL, "/tmp", &server), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_server_new(link, NULL, &server), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_server_new(link, "/tmp", NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_server_new(link, "/nonexistent/mavftp-root", &server), MAVFTP_RESULT_FILE_DOES_NOT_EXIST);
    CHECK(strstr(mavftp_last_error(), "/nonexistent/mavftp-root") != NULL);
    CHECK(server == (mavftp_server *)0x1);
    CHECK_RES(mavftp_server_set_read_only(NULL, true), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK(strcmp(mavftp_last_error(), "server is NULL") == 0);

    mavftp_client *client = (mavftp_client *)0x1;
    CHECK_RES(mavftp_client_new(NULL, 1, 1, &client), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_new(link, 1, 1, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK(client == (mavftp_client *)0x1);

    /* every client function with a NULL client */
    mavftp_list *list = (mavftp_list *)0x1;
    bool same = true;
    CHECK_RES(mavftp_client_set_target_compid(NULL, 1), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK(strcmp(mavftp_last_error(), "client is NULL") == 0); /* no client to keep it */
    CHECK_RES(mavftp_client_set_timeout(NULL, 100, 1), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_cancel(NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_download(NULL, "/a", "/tmp", false, NULL, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_download_async(NULL, "/a", "/tmp", true, never_called_progress, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_upload(NULL, "/tmp/a", "/", NULL, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_upload_async(NULL, "/tmp/a", "/", never_called_progress, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_list_directory(NULL, "/", &list), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_list_directory_async(NULL, "/", never_called_list, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_create_directory(NULL, "/d"), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_create_directory_async(NULL, "/d", never_called_result, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_remove_directory(NULL, "/d"), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_remove_directory_async(NULL, "/d", never_called_result, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_remove_file(NULL, "/f"), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_remove_file_async(NULL, "/f", never_called_result, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_rename(NULL, "/a", "/b"), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_rename_async(NULL, "/a", "/b", never_called_result, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_are_files_identical(NULL, "/tmp/a", "/a", &same), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_are_files_identical_async(NULL, "/tmp/a", "/a", never_called_bool, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK(list == (mavftp_list *)0x1 && same == true);
    CHECK(mavftp_client_last_error(NULL) != NULL);
    CHECK(strcmp(mavftp_client_last_error(NULL), "") == 0);

    /* the extended calls with a NULL client; options_init; buffer_free(NULL) */
    uint64_t op = 77;
    CHECK_RES(mavftp_client_download_ex(NULL, "/a", "/tmp", NULL, never_called_transfer, NULL, &op), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_upload_ex(NULL, "/tmp/a", "/", NULL, never_called_transfer, NULL, &op), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_download_dir(NULL, "/", "/tmp", NULL, never_called_transfer, NULL, &op), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_upload_dir(NULL, "/tmp", "/", NULL, never_called_transfer, NULL, &op), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_download_to_memory(NULL, "/a", NULL, never_called_transfer, never_called_buffer, NULL, &op), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_download_stream(NULL, "/a", NULL, never_called_chunk, never_called_transfer, NULL, &op), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_cancel_op(NULL, 1), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_set_parallel(NULL, 2), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK(op == 77);
    CHECK_RES(mavftp_transfer_options_init(NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    mavftp_transfer_options o;
    memset(&o, 0x5a, sizeof o);
    CHECK_RES(mavftp_transfer_options_init(&o), MAVFTP_RESULT_SUCCESS);
    CHECK(o.struct_size == sizeof o && !o.use_burst && !o.verify && !o.no_resume &&
          !o.transfer_identical && o.glob == NULL);
    mavftp_buffer_free(NULL);

    mavftp_client_free(NULL);
    mavftp_server_free(NULL);
    mavftp_link_free(NULL);
    mavftp_list_free(NULL);
    mavftp_link_free(link);
}

/* Arguments refused by a real client (no peer needed: refusals are up front). */
static void test_client_argument_refusals(mavftp_client *c) {
    char long_path[300];
    memset(long_path, 'a', sizeof long_path);
    long_path[0] = '/';
    long_path[239] = '\0'; /* 239 bytes: one too many */
    const char *bad_utf8 = "/bad\xc3\x28name";
    mavftp_list *list = (mavftp_list *)0x1;
    bool same = true;

    const char *before = mavftp_last_error();
    char thread_detail[256];
    snprintf(thread_detail, sizeof thread_detail, "%s", before);
    CHECK_RES(mavftp_client_set_target_compid(c, 256), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK(strstr(mavftp_client_last_error(c), "256") != NULL);
    CHECK(strcmp(mavftp_last_error(), thread_detail) == 0); /* kept by the client, not the thread */
    CHECK_RES(mavftp_client_set_target_compid(c, 100000), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_set_timeout(c, 0, 1), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_set_window_caps(NULL, 8, 8), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_set_window_caps(c, 1025, 8), MAVFTP_RESULT_INVALID_PARAMETER);

    const char *bad[] = {NULL, bad_utf8, long_path, ""};
    for (int i = 0; i < 4; i++) {
        const char *p = bad[i];
        CHECK_RES(mavftp_client_download(c, p, "/tmp", false, never_called_progress, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
        CHECK_RES(mavftp_client_download_async(c, p, "/tmp", true, never_called_progress, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
        CHECK_RES(mavftp_client_upload(c, "/tmp/x", p, never_called_progress, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
        CHECK_RES(mavftp_client_upload_async(c, "/tmp/x", p, never_called_progress, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
        CHECK_RES(mavftp_client_list_directory(c, p, &list), MAVFTP_RESULT_INVALID_PARAMETER);
        CHECK_RES(mavftp_client_list_directory_async(c, p, never_called_list, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
        CHECK_RES(mavftp_client_create_directory(c, p), MAVFTP_RESULT_INVALID_PARAMETER);
        CHECK_RES(mavftp_client_create_directory_async(c, p, never_called_result, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
        CHECK_RES(mavftp_client_remove_directory(c, p), MAVFTP_RESULT_INVALID_PARAMETER);
        CHECK_RES(mavftp_client_remove_directory_async(c, p, never_called_result, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
        CHECK_RES(mavftp_client_remove_file(c, p), MAVFTP_RESULT_INVALID_PARAMETER);
        CHECK_RES(mavftp_client_remove_file_async(c, p, never_called_result, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
        CHECK_RES(mavftp_client_rename(c, p, "/b"), MAVFTP_RESULT_INVALID_PARAMETER);
        CHECK_RES(mavftp_client_rename(c, "/a", p), MAVFTP_RESULT_INVALID_PARAMETER);
        CHECK_RES(mavftp_client_rename_async(c, p, "/b", never_called_result, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
        CHECK_RES(mavftp_client_are_files_identical(c, "/tmp/x", p, &same), MAVFTP_RESULT_INVALID_PARAMETER);
        CHECK_RES(mavftp_client_are_files_identical_async(c, "/tmp/x", p, never_called_bool, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    }
    CHECK_RES(mavftp_client_download(c, "/a", NULL, false, NULL, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_upload(c, NULL, "/", NULL, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_list_directory(c, "/", NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_are_files_identical(c, NULL, "/a", &same), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_are_files_identical(c, "/tmp/x", "/a", NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK(list == (mavftp_list *)0x1 && same == true);
    CHECK(strlen(mavftp_client_last_error(c)) > 0);
}

/* ---- two custom links wired to each other ---- */

typedef struct {
    pthread_mutex_t mu;
    mavftp_link *peer; /* where this link's frames go; NULL once torn down */
} wire;

static void wire_send(const uint8_t *bytes, size_t len, void *user) {
    wire *w = user;
    pthread_mutex_lock(&w->mu);
    if (w->peer) mavftp_link_feed(w->peer, bytes, len);
    pthread_mutex_unlock(&w->mu);
}

static void wire_cut(wire *w) {
    pthread_mutex_lock(&w->mu);
    w->peer = NULL;
    pthread_mutex_unlock(&w->mu);
}

/* ---- operations against a server ---- */

static const size_t sizes[] = {0, 1, 239, 240, 1000000};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void run_operations(mavftp_client *c, const char *root, const char *work, int with_async) {
    char remote[256], local[1024], a[1024], b[1024];
    char dl[512], up[512];
    CHECK(strlen(work) < 400);
    snprintf(dl, sizeof dl, "%s/dl", work);
    snprintf(up, sizeof up, "%s/up", work);
    mkdir(dl, 0755);
    mkdir(up, 0755);

    /* downloads: blocking plain, blocking burst, async */
    for (size_t i = 0; i < NSIZES; i++) {
        snprintf(a, sizeof a, "%s/f%zu.bin", root, sizes[i]);
        write_file(a, sizes[i], (unsigned)i + 1);
        snprintf(remote, sizeof remote, "/f%zu.bin", sizes[i]);
        snprintf(b, sizeof b, "%s/f%zu.bin", dl, sizes[i]);
        for (int mode = 0; mode < (with_async ? 3 : 2); mode++) {
            unlink(b);
            waiter w;
            waiter_init(&w);
            if (mode < 2) {
                CHECK_RES(mavftp_client_download(c, remote, dl, mode == 1, on_progress, &w), MAVFTP_RESULT_SUCCESS);
                CHECK(w.done == 1 && w.result == MAVFTP_RESULT_SUCCESS);
            } else {
                CHECK_RES(mavftp_client_download_async(c, remote, dl, true, on_progress, &w), MAVFTP_RESULT_SUCCESS);
                CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_SUCCESS);
                nanosleep(&(struct timespec){0, 20000000}, NULL);
                CHECK(w.done == 1);
            }
            CHECK(same_bytes(a, b));
            if (sizes[i] == 1000000) CHECK(w.next_calls > 0 && w.last.total_bytes == 1000000);
        }
    }
    /* a missing file: error, no local file left */
    snprintf(b, sizeof b, "%s/missing.bin", dl);
    CHECK_RES(mavftp_client_download(c, "/missing.bin", dl, false, NULL, NULL), MAVFTP_RESULT_FILE_DOES_NOT_EXIST);
    CHECK(!exists(b));
    CHECK(strlen(mavftp_client_last_error(c)) > 0);

    /* directories */
    mavftp_list *list = NULL;
    CHECK_RES(mavftp_client_create_directory(c, "/uploads"), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_client_create_directory(c, "/uploads"), MAVFTP_RESULT_FILE_EXISTS);
    if (with_async) {
        waiter w;
        waiter_init(&w);
        CHECK_RES(mavftp_client_create_directory_async(c, "/adir", on_result, &w), MAVFTP_RESULT_SUCCESS);
        CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_SUCCESS);
    } else {
        CHECK_RES(mavftp_client_create_directory(c, "/adir"), MAVFTP_RESULT_SUCCESS);
    }
    snprintf(a, sizeof a, "%s/adir", root);
    CHECK(exists(a));

    /* uploads: blocking and async, byte for byte */
    for (size_t i = 0; i < NSIZES; i++) {
        snprintf(local, sizeof local, "%s/u%zu.bin", up, sizes[i]);
        write_file(local, sizes[i], (unsigned)i + 50);
        snprintf(b, sizeof b, "%s/uploads/u%zu.bin", root, sizes[i]);
        waiter w;
        waiter_init(&w);
        CHECK_RES(mavftp_client_upload(c, local, "/uploads", on_progress, &w), MAVFTP_RESULT_SUCCESS);
        CHECK(w.done == 1 && w.result == MAVFTP_RESULT_SUCCESS);
        CHECK(same_bytes(local, b));
        bool same = false;
        snprintf(remote, sizeof remote, "/uploads/u%zu.bin", sizes[i]);
        CHECK_RES(mavftp_client_are_files_identical(c, local, remote, &same), MAVFTP_RESULT_SUCCESS);
        CHECK(same);
        if (with_async) {
            CHECK(unlink(b) == 0);
            waiter_init(&w);
            CHECK_RES(mavftp_client_upload_async(c, local, "/uploads", on_progress, &w), MAVFTP_RESULT_SUCCESS);
            CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_SUCCESS);
            CHECK(same_bytes(local, b));
            waiter_init(&w);
            w.value = false;
            CHECK_RES(mavftp_client_are_files_identical_async(c, local, remote, on_bool, &w), MAVFTP_RESULT_SUCCESS);
            CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_SUCCESS);
            CHECK(w.value);
        }
    }
    /* a different file compares unequal */
    bool same = true;
    snprintf(local, sizeof local, "%s/u1.bin", up);
    CHECK_RES(mavftp_client_are_files_identical(c, local, "/f1.bin", &same), MAVFTP_RESULT_SUCCESS);
    CHECK(!same);

    /* listing */
    CHECK_RES(mavftp_client_list_directory(c, "/", &list), MAVFTP_RESULT_SUCCESS);
    CHECK(list != NULL);
    CHECK(list->dirs_len == 2 && list->files_len == NSIZES);
    CHECK(strcmp(list->dirs[0], "adir") == 0 && strcmp(list->dirs[1], "uploads") == 0);
    for (size_t i = 1; i < list->entries_len; i++) CHECK(strcmp(list->entries[i - 1].name, list->entries[i].name) < 0);
    for (size_t i = 0; i < list->entries_len; i++) {
        const mavftp_entry *e = &list->entries[i];
        CHECK(e->type == 1 || e->type == 2);
        if (strcmp(e->name, "f1000000.bin") == 0) CHECK(e->type == 1 && e->size_bytes == 1000000);
        if (strcmp(e->name, "f239.bin") == 0) CHECK(e->size_bytes == 239);
    }
    mavftp_list_free(list);
    if (with_async) {
        waiter w;
        waiter_init(&w);
        CHECK_RES(mavftp_client_list_directory_async(c, "/uploads", on_list, &w), MAVFTP_RESULT_SUCCESS);
        CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_SUCCESS);
        CHECK(w.list_entries == NSIZES);
        waiter_init(&w);
        CHECK_RES(mavftp_client_list_directory_async(c, "/nodir", on_list, &w), MAVFTP_RESULT_SUCCESS);
        CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_FILE_DOES_NOT_EXIST);
    }

    /* rename, remove file, remove directory */
    CHECK_RES(mavftp_client_rename(c, "/f1.bin", "/g1.bin"), MAVFTP_RESULT_SUCCESS);
    snprintf(a, sizeof a, "%s/g1.bin", root);
    CHECK(exists(a));
    CHECK_RES(mavftp_client_remove_file(c, "/g1.bin"), MAVFTP_RESULT_SUCCESS);
    CHECK(!exists(a));
    CHECK_RES(mavftp_client_remove_file(c, "/g1.bin"), MAVFTP_RESULT_FILE_DOES_NOT_EXIST);
    CHECK_RES(mavftp_client_remove_directory(c, "/adir"), MAVFTP_RESULT_SUCCESS);
    snprintf(a, sizeof a, "%s/adir", root);
    CHECK(!exists(a));
    if (with_async) {
        waiter w;
        waiter_init(&w);
        CHECK_RES(mavftp_client_rename_async(c, "/f0.bin", "/g0.bin", on_result, &w), MAVFTP_RESULT_SUCCESS);
        CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_SUCCESS);
        waiter_init(&w);
        CHECK_RES(mavftp_client_remove_file_async(c, "/g0.bin", on_result, &w), MAVFTP_RESULT_SUCCESS);
        CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_SUCCESS);
        snprintf(a, sizeof a, "%s/g0.bin", root);
        CHECK(!exists(a));
        CHECK_RES(mavftp_client_create_directory(c, "/bdir"), MAVFTP_RESULT_SUCCESS);
        waiter_init(&w);
        CHECK_RES(mavftp_client_remove_directory_async(c, "/bdir", on_result, &w), MAVFTP_RESULT_SUCCESS);
        CHECK_RES(waiter_wait(&w), MAVFTP_RESULT_SUCCESS);
        snprintf(a, sizeof a, "%s/bdir", root);
        CHECK(!exists(a));
    }
}

/* Read-only server: every change refused with FILE_PROTECTED. */
static void test_read_only(mavftp_server *s, mavftp_client *c, const char *root, const char *work) {
    char local[1024], a[1024];
    CHECK_RES(mavftp_server_set_read_only(s, true), MAVFTP_RESULT_SUCCESS);
    snprintf(local, sizeof local, "%s/up/u1.bin", work);
    CHECK_RES(mavftp_client_create_directory(c, "/ro"), MAVFTP_RESULT_FILE_PROTECTED);
    CHECK_RES(mavftp_client_upload(c, local, "/", NULL, NULL), MAVFTP_RESULT_FILE_PROTECTED);
    CHECK_RES(mavftp_client_remove_file(c, "/f239.bin"), MAVFTP_RESULT_FILE_PROTECTED);
    CHECK_RES(mavftp_client_rename(c, "/f239.bin", "/x"), MAVFTP_RESULT_FILE_PROTECTED);
    snprintf(a, sizeof a, "%s/f239.bin", root);
    CHECK(exists(a));
    snprintf(a, sizeof a, "%s/ro", root);
    CHECK(!exists(a));
    CHECK_RES(mavftp_server_set_read_only(s, false), MAVFTP_RESULT_SUCCESS);
}

/* Burst pacing: at 100 000 B/s of frames a 60 000-byte burst cannot take
 * less than ~0.67 s (a lower bound only: a slow machine just takes longer). */
static void test_paced_burst(mavftp_server *s, mavftp_client *c, const char *root, const char *work) {
    char a[1024], b[1024], dl[512];
    snprintf(a, sizeof a, "%s/paced.bin", root);
    write_file(a, 60000, 9);
    snprintf(dl, sizeof dl, "%s/dl", work);
    snprintf(b, sizeof b, "%s/paced.bin", dl);
    CHECK_RES(mavftp_server_set_link_rate(NULL, 1000), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_server_set_link_rate(s, 100000), MAVFTP_RESULT_SUCCESS);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_RES(mavftp_client_download(c, "/paced.bin", dl, true, NULL, NULL), MAVFTP_RESULT_SUCCESS);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK(same_bytes(a, b));
    CHECK(took >= 0.5);
    /* Back to the default (adaptive flow control). */
    CHECK_RES(mavftp_server_set_link_rate(s, MAVFTP_DEFAULT_LINK_RATE), MAVFTP_RESULT_SUCCESS);
    CHECK(remove(b) == 0);
    CHECK_RES(mavftp_client_download(c, "/paced.bin", dl, true, NULL, NULL), MAVFTP_RESULT_SUCCESS);
    CHECK(same_bytes(a, b));
}

/* Cancel: queued work ends with CANCELLED (or finished before), callbacks once each. */
static void test_cancel_and_free_in_flight(mavftp_link *link, const char *work) {
    char dl[1024];
    snprintf(dl, sizeof dl, "%s/dl", work);
    mavftp_client *c = NULL;
    CHECK_RES(mavftp_client_new(link, 1, 1, &c), MAVFTP_RESULT_SUCCESS);
    waiter w[4];
    for (int i = 0; i < 4; i++) {
        waiter_init(&w[i]);
        CHECK_RES(mavftp_client_download_async(c, "/f1000000.bin", dl, i % 2 == 0, on_progress, &w[i]), MAVFTP_RESULT_SUCCESS);
    }
    CHECK_RES(mavftp_client_cancel(c), MAVFTP_RESULT_SUCCESS);
    for (int i = 0; i < 4; i++) {
        mavftp_result r = waiter_wait(&w[i]);
        CHECK(r == MAVFTP_RESULT_CANCELLED || r == MAVFTP_RESULT_SUCCESS);
    }
    CHECK(w[3].result == MAVFTP_RESULT_CANCELLED);
    /* free with work in flight: the callback has run once when free returns */
    waiter x;
    waiter_init(&x);
    CHECK_RES(mavftp_client_download_async(c, "/f1000000.bin", dl, false, on_progress, &x), MAVFTP_RESULT_SUCCESS);
    mavftp_client_free(c);
    CHECK(x.done == 1);
    for (int i = 0; i < 4; i++) CHECK(w[i].done == 1);
}

static void test_no_system(mavftp_link *link) {
    mavftp_client *c = NULL;
    CHECK_RES(mavftp_client_new(link, 42, 1, &c), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_client_set_timeout(c, 50, 1), MAVFTP_RESULT_SUCCESS);
    mavftp_list *list = (mavftp_list *)0x1;
    CHECK_RES(mavftp_client_list_directory(c, "/", &list), MAVFTP_RESULT_NO_SYSTEM);
    CHECK(list == (mavftp_list *)0x1);
    CHECK(strlen(mavftp_client_last_error(c)) > 0);
    mavftp_client_free(c);
}

static void make_root(const char *work, const char *name, char *out, size_t n) {
    snprintf(out, n, "%s/%s", work, name);
    CHECK(mkdir(out, 0755) == 0 || errno == EEXIST);
}

static void test_custom_links(const char *work) {
    char root[1024];
    make_root(work, "root_custom", root, sizeof root);
    wire to_client, to_server;
    pthread_mutex_init(&to_client.mu, NULL);
    pthread_mutex_init(&to_server.mu, NULL);
    to_client.peer = NULL;
    to_server.peer = NULL;
    mavftp_link *server_link = NULL, *client_link = NULL;
    CHECK_RES(mavftp_link_open_custom(1, 1, wire_send, &to_client, &server_link), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_link_open_custom(0, 0, wire_send, &to_server, &client_link), MAVFTP_RESULT_SUCCESS);
    pthread_mutex_lock(&to_client.mu);
    to_client.peer = client_link;
    pthread_mutex_unlock(&to_client.mu);
    pthread_mutex_lock(&to_server.mu);
    to_server.peer = server_link;
    pthread_mutex_unlock(&to_server.mu);

    mavftp_server *server = NULL;
    CHECK_RES(mavftp_server_new(server_link, root, &server), MAVFTP_RESULT_SUCCESS);
    mavftp_client *c = NULL;
    CHECK_RES(mavftp_client_new(client_link, 1, 0, &c), MAVFTP_RESULT_SUCCESS);
    g_client = c;
    CHECK_RES(mavftp_client_set_target_compid(c, 1), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_client_set_timeout(c, 200, 5), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_client_set_window_caps(c, 0, 16), MAVFTP_RESULT_SUCCESS);
    test_client_argument_refusals(c);
    run_operations(c, root, work, 1);
    test_read_only(server, c, root, work);
    test_paced_burst(server, c, root, work);
    test_cancel_and_free_in_flight(client_link, work);
    test_no_system(client_link);
    g_client = NULL;
    mavftp_client_free(c);
    mavftp_server_free(server);
    wire_cut(&to_client);
    wire_cut(&to_server);
    mavftp_link_free(client_link);
    mavftp_link_free(server_link);
}

/* Signing over custom links: a server whose link requires signing answers a
 * client with its key, and neither one with another key nor an unsigned one
 * (no answer: TIMEOUT, nothing on disk, the drops counted). */
static void test_signing(const char *work) {
    char root[1024], dl[1024], path[1200], other[1200];
    make_root(work, "root_signing", root, sizeof root);
    snprintf(dl, sizeof dl, "%s/dl_signing", work);
    CHECK(mkdir(dl, 0755) == 0 || errno == EEXIST);
    uint8_t key[MAVFTP_SIGNING_KEY_LEN], wrong[MAVFTP_SIGNING_KEY_LEN];
    for (size_t i = 0; i < sizeof key; i++) {
        key[i] = (uint8_t)(i * 29 + 3);
        wrong[i] = (uint8_t)(i * 29 + 4);
    }
    wire to_client, to_server;
    pthread_mutex_init(&to_client.mu, NULL);
    pthread_mutex_init(&to_server.mu, NULL);
    to_client.peer = NULL;
    to_server.peer = NULL;
    mavftp_link *server_link = NULL, *client_link = NULL;
    CHECK_RES(mavftp_link_open_custom(1, 1, wire_send, &to_client, &server_link), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_link_open_custom(0, 0, wire_send, &to_server, &client_link), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_link_set_signing(server_link, key, sizeof key, 1, true), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_link_set_signing(client_link, key, sizeof key, 2, true), MAVFTP_RESULT_SUCCESS);
    pthread_mutex_lock(&to_client.mu);
    to_client.peer = client_link;
    pthread_mutex_unlock(&to_client.mu);
    pthread_mutex_lock(&to_server.mu);
    to_server.peer = server_link;
    pthread_mutex_unlock(&to_server.mu);

    mavftp_server *server = NULL;
    CHECK_RES(mavftp_server_new(server_link, root, &server), MAVFTP_RESULT_SUCCESS);
    mavftp_client *c = NULL;
    CHECK_RES(mavftp_client_new(client_link, 1, 1, &c), MAVFTP_RESULT_SUCCESS);
    g_client = c;
    CHECK_RES(mavftp_client_set_timeout(c, 100, 2), MAVFTP_RESULT_SUCCESS);

    /* signed both ways: byte for byte */
    snprintf(path, sizeof path, "%s/signed.bin", work);
    write_file(path, 30000, 11);
    CHECK_RES(mavftp_client_upload(c, path, "/", NULL, NULL), MAVFTP_RESULT_SUCCESS);
    snprintf(other, sizeof other, "%s/signed.bin", root);
    CHECK(same_bytes(path, other));
    CHECK_RES(mavftp_client_download(c, "/signed.bin", dl, true, NULL, NULL), MAVFTP_RESULT_SUCCESS);
    snprintf(path, sizeof path, "%s/signed.bin", dl);
    CHECK(same_bytes(path, other));
    mavftp_signing_stats s0, s1, cs;
    CHECK_RES(mavftp_link_signing_stats(server_link, &s0), MAVFTP_RESULT_SUCCESS);
    CHECK(s0.frames_signed > 100 && s0.accepted_signed > 0 && s0.dropped == 0 && s0.unsigned_frames == 0);
    CHECK_RES(mavftp_link_signing_stats(client_link, &cs), MAVFTP_RESULT_SUCCESS);
    CHECK(cs.frames_signed > 0 && cs.accepted_signed > 100 && cs.dropped == 0);

    /* another key (the client accepts the server's frames as unsigned ones) */
    CHECK_RES(mavftp_link_set_signing(client_link, wrong, sizeof wrong, 2, false), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_client_create_directory(c, "/wrong"), MAVFTP_RESULT_TIMEOUT);
    snprintf(dl, sizeof dl, "%s/dl_wrong_key", work);
    CHECK(mkdir(dl, 0755) == 0 || errno == EEXIST);
    CHECK_RES(mavftp_client_download(c, "/signed.bin", dl, false, NULL, NULL), MAVFTP_RESULT_TIMEOUT);
    snprintf(path, sizeof path, "%s/wrong", root);
    CHECK(!exists(path));
    snprintf(path, sizeof path, "%s/signed.bin", dl);
    CHECK(!exists(path));
    CHECK_RES(mavftp_link_signing_stats(server_link, &s1), MAVFTP_RESULT_SUCCESS);
    CHECK(s1.bad_signature > s0.bad_signature && s1.dropped > s0.dropped);
    CHECK(s1.accepted_signed == s0.accepted_signed);

    /* unsigned */
    CHECK_RES(mavftp_link_clear_signing(client_link), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_client_remove_file(c, "/signed.bin"), MAVFTP_RESULT_TIMEOUT);
    CHECK(exists(other));
    CHECK_RES(mavftp_link_signing_stats(server_link, &s0), MAVFTP_RESULT_SUCCESS);
    CHECK(s0.unsigned_frames > 0 && s0.dropped > s1.dropped);
    CHECK(s0.dropped == s0.unsigned_frames + s0.bad_signature + s0.replay + s0.stale_stream + s0.too_many_streams);

    /* the right key again: answered */
    CHECK_RES(mavftp_link_set_signing(client_link, key, sizeof key, 2, true), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_client_remove_file(c, "/signed.bin"), MAVFTP_RESULT_SUCCESS);
    CHECK(!exists(other));

    g_client = NULL;
    mavftp_client_free(c);
    mavftp_server_free(server);
    wire_cut(&to_client);
    wire_cut(&to_server);
    mavftp_link_free(client_link);
    mavftp_link_free(server_link);
}

/* ---- extended transfers ---- */

/* What an extended operation's callbacks saw. */
typedef struct {
    waiter w;
    int nexts;
    double min_gap_ms;            /* shortest time between two NEXT calls */
    struct timespec last_next;
    mavftp_transfer_progress last; /* copied; current_file below */
    char current_file[256];
    uint64_t streamed;             /* bytes handed to the chunk callback */
    bool stop_stream_at_100k;
    unsigned char *stream_copy;
    size_t buffer_len;
    unsigned char *buffer_copy;
} ex_state;

static void ex_init(ex_state *e) {
    memset(e, 0, sizeof *e);
    waiter_init(&e->w);
    e->min_gap_ms = 1e9;
}

static double ms_between(struct timespec a, struct timespec b) {
    return (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
}

static void on_transfer(mavftp_result r, const mavftp_transfer_progress *p, void *user) {
    ex_state *e = user;
    CHECK(p != NULL && p->current_file != NULL);
    CHECK(p->total_bytes == 0 || p->bytes_transferred <= p->total_bytes);
    pthread_mutex_lock(&e->w.mu);
    e->last = *p;
    snprintf(e->current_file, sizeof e->current_file, "%s", p->current_file);
    e->last.current_file = NULL; /* valid only during the call */
    if (r == MAVFTP_RESULT_NEXT) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (e->nexts > 0) {
            double gap = ms_between(e->last_next, now);
            if (gap < e->min_gap_ms) e->min_gap_ms = gap;
        }
        e->last_next = now;
        e->nexts++;
        pthread_mutex_unlock(&e->w.mu);
        return;
    }
    pthread_mutex_unlock(&e->w.mu);
    waiter_finish(&e->w, r);
}

static void on_buffer(mavftp_result r, mavftp_buffer *b, void *user) {
    ex_state *e = user;
    if (r == MAVFTP_RESULT_SUCCESS) {
        CHECK(b != NULL);
        e->buffer_len = b->len;
        e->buffer_copy = malloc(b->len ? b->len : 1);
        CHECK(e->buffer_copy != NULL);
        if (b->len) memcpy(e->buffer_copy, b->data, b->len);
        mavftp_buffer_free(b); /* the caller owns it; freeing inside the callback is allowed */
    } else {
        CHECK(b == NULL);
    }
    waiter_finish(&e->w, r);
}

static bool on_chunk(uint64_t offset, const uint8_t *data, size_t len, void *user) {
    ex_state *e = user;
    CHECK(offset == e->streamed); /* in order, no gap */
    if (e->stream_copy) memcpy(e->stream_copy + offset, data, len);
    e->streamed += len;
    return !(e->stop_stream_at_100k && e->streamed >= 100000);
}

static bool same_as_buffer(const char *path, const unsigned char *buf, size_t len) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    bool same = true;
    for (size_t i = 0; i < len && same; i++) same = fgetc(f) == buf[i];
    same = same && fgetc(f) == EOF;
    fclose(f);
    return same;
}

/* A wire that delays every frame (slows the vehicle -> ground direction). */
typedef struct {
    wire w;
    atomic_uint delay_us;
    atomic_ullong bytes;
} slow_wire;

static void sleep_us(unsigned us) {
    struct timespec t = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    nanosleep(&t, NULL);
}

static void slow_send(const uint8_t *bytes, size_t len, void *user) {
    slow_wire *s = user;
    unsigned delay = atomic_load(&s->delay_us);
    if (delay) sleep_us(delay);
    atomic_fetch_add(&s->bytes, (unsigned long long)len);
    wire_send(bytes, len, &s->w);
}

typedef struct {
    slow_wire down;   /* server -> client */
    wire up;          /* client -> server */
    mavftp_link *server_link, *client_link;
    mavftp_server *server;
    mavftp_client *client;
} ex_rig;

static void ex_rig_client(ex_rig *r) {
    CHECK_RES(mavftp_link_open_custom(0, 0, wire_send, &r->up, &r->client_link), MAVFTP_RESULT_SUCCESS);
    pthread_mutex_lock(&r->down.w.mu);
    r->down.w.peer = r->client_link;
    pthread_mutex_unlock(&r->down.w.mu);
    pthread_mutex_lock(&r->up.mu);
    r->up.peer = r->server_link;
    pthread_mutex_unlock(&r->up.mu);
    CHECK_RES(mavftp_client_new(r->client_link, 1, 1, &r->client), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_client_set_timeout(r->client, 300, 10), MAVFTP_RESULT_SUCCESS);
    g_client = r->client;
}

/* The server's file-system accesses as user nobody when this runs as root
 * (root reads files whatever their mode): its threads inherit the fs ids of
 * the thread that creates it. */
typedef struct { mavftp_link *link; const char *root; mavftp_server *server; } server_start;

static void *start_server_as_nobody(void *arg) {
    server_start *s = arg;
    if (geteuid() == 0) {
        setfsgid(65534);
        setfsuid(65534);
    }
    CHECK_RES(mavftp_server_new(s->link, s->root, &s->server), MAVFTP_RESULT_SUCCESS);
    return NULL;
}

static void ex_rig_open(ex_rig *r, const char *root, unsigned delay_us) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->down.w.mu, NULL);
    pthread_mutex_init(&r->up.mu, NULL);
    atomic_init(&r->down.delay_us, delay_us);
    atomic_init(&r->down.bytes, 0);
    CHECK_RES(mavftp_link_open_custom(1, 1, slow_send, &r->down, &r->server_link), MAVFTP_RESULT_SUCCESS);
    server_start s = {r->server_link, root, NULL};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, start_server_as_nobody, &s) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    r->server = s.server;
    ex_rig_client(r);
}

/* Close the client's side (the link goes first, as when a radio dies). */
static void ex_rig_drop_client(ex_rig *r) {
    wire_cut(&r->down.w);
    wire_cut(&r->up);
    mavftp_link_free(r->client_link);
    g_client = NULL;
    mavftp_client_free(r->client);
    r->client = NULL;
    r->client_link = NULL;
}

static void ex_rig_close(ex_rig *r) {
    if (r->client) ex_rig_drop_client(r);
    mavftp_server_free(r->server);
    mavftp_link_free(r->server_link);
}

static void write_pattern(const char *path, size_t n, unsigned seed) {
    write_file(path, n, seed);
    chmod(path, 0644);
}

static void test_extended(const char *work) {
    char root[1024], dl[1024], path[1400], other[1400];
    make_root(work, "root_ex", root, sizeof root);
    chmod(work, 0755);
    chmod(root, 0777); /* the server may run as nobody (see start_server_as_nobody) */
    snprintf(dl, sizeof dl, "%s/dl_ex", work);
    CHECK(mkdir(dl, 0755) == 0 || errno == EEXIST);
    snprintf(path, sizeof path, "%s/big.bin", root);
    write_pattern(path, 1000000, 5);

    /* 1. options: struct_size, newer fields, parallel, refusals; callbacks never run */
    ex_rig r;
    ex_rig_open(&r, root, 0);
    mavftp_client *c = r.client;
    uint64_t op = 99;
    mavftp_transfer_options o;
    CHECK_RES(mavftp_transfer_options_init(&o), MAVFTP_RESULT_SUCCESS);
    o.struct_size = 0;
    CHECK_RES(mavftp_client_download_ex(c, "/big.bin", dl, &o, never_called_transfer, NULL, &op), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK(strstr(mavftp_client_last_error(c), "struct_size") != NULL);
    struct { mavftp_transfer_options v1; uint64_t newer; } bigger;
    memset(&bigger, 0, sizeof bigger);
    bigger.v1.struct_size = sizeof bigger;
    bigger.newer = 1; /* an option this library does not know */
    CHECK_RES(mavftp_client_download_ex(c, "/big.bin", dl, &bigger.v1, never_called_transfer, NULL, &op), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK(op == 99);
    CHECK_RES(mavftp_client_download_ex(c, "/big.bin", dl, NULL, never_called_transfer, NULL, NULL), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_download_ex(c, NULL, dl, NULL, never_called_transfer, NULL, &op), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_download_ex(c, "/big.bin", "/nonexistent/dir", NULL, never_called_transfer, NULL, &op), MAVFTP_RESULT_FILE_IO_ERROR);
    CHECK_RES(mavftp_client_download_stream(c, "/big.bin", NULL, NULL, never_called_transfer, NULL, &op), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_upload_ex(c, "/nonexistent/file", "/", NULL, never_called_transfer, NULL, &op), MAVFTP_RESULT_FILE_DOES_NOT_EXIST);
    CHECK_RES(mavftp_client_upload_dir(c, "/nonexistent/dir", "/", NULL, never_called_transfer, NULL, &op), MAVFTP_RESULT_FILE_DOES_NOT_EXIST);
    CHECK_RES(mavftp_client_set_parallel(c, 0), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_set_parallel(c, MAVFTP_MAX_PARALLEL + 1), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_cancel_op(c, 0), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK_RES(mavftp_client_cancel_op(c, 123456), MAVFTP_RESULT_INVALID_PARAMETER);
    CHECK(op == 99);
    bigger.newer = 0; /* a larger struct whose unknown tail is zero is fine */
    bigger.v1.verify = true;
    ex_state e;
    ex_init(&e);
    CHECK_RES(mavftp_client_download_ex(c, "/big.bin", dl, &bigger.v1, on_transfer, &e, &op), MAVFTP_RESULT_SUCCESS);
    CHECK(op > 0 && op != 99);
    CHECK_RES(waiter_wait(&e.w), MAVFTP_RESULT_SUCCESS);
    CHECK(e.last.op_id == op && e.last.bytes_transferred == 1000000 && e.last.total_bytes == 1000000);
    CHECK(e.last.file_index == 1 && e.last.file_count == 1 && strcmp(e.current_file, "/big.bin") == 0);
    snprintf(other, sizeof other, "%s/big.bin", dl);
    CHECK(same_bytes(path, other));
    CHECK_RES(mavftp_client_cancel_op(c, op), MAVFTP_RESULT_INVALID_PARAMETER); /* it ended */
    CHECK(remove(other) == 0);
    ex_rig_close(&r);

    /* 2. progress at most 10 per second, rate and ETA; per-operation cancel */
    ex_rig_open(&r, root, 700); /* ~1 frame per 0.7 ms: about 300 kB/s */
    c = r.client;
    ex_init(&e);
    mavftp_transfer_options no_resume;
    mavftp_transfer_options_init(&no_resume);
    no_resume.no_resume = true;
    CHECK_RES(mavftp_client_download_ex(c, "/big.bin", dl, &no_resume, on_transfer, &e, &op), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&e.w), MAVFTP_RESULT_SUCCESS);
    CHECK(e.nexts >= 5 && e.min_gap_ms >= 95.0);
    CHECK(e.last.bytes_per_second > 0.0);
    CHECK(same_bytes(path, other));
    CHECK(remove(other) == 0);
    ex_state a, b;
    ex_init(&a);
    ex_init(&b);
    uint64_t op_a = 0, op_b = 0;
    CHECK_RES(mavftp_client_download_ex(c, "/big.bin", dl, &no_resume, on_transfer, &a, &op_a), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_client_download_ex(c, "/big.bin", dl, &no_resume, on_transfer, &b, &op_b), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(mavftp_client_cancel_op(c, op_b), MAVFTP_RESULT_SUCCESS); /* queued: ends at once */
    CHECK_RES(waiter_wait(&b.w), MAVFTP_RESULT_CANCELLED);
    CHECK(a.w.done == 0);
    sleep_us(300000);
    CHECK_RES(mavftp_client_cancel_op(c, op_a), MAVFTP_RESULT_SUCCESS); /* running: ends at its next step */
    CHECK_RES(waiter_wait(&a.w), MAVFTP_RESULT_CANCELLED);
    CHECK(!exists(other));

    /* 3. resume: the link closed at about half; the next download fetches the rest */
    ex_init(&e);
    CHECK_RES(mavftp_client_download_ex(c, "/big.bin", dl, NULL, on_transfer, &e, &op), MAVFTP_RESULT_SUCCESS);
    for (int i = 0; i < 6000; i++) {
        pthread_mutex_lock(&e.w.mu);
        uint64_t got = e.last.bytes_transferred;
        pthread_mutex_unlock(&e.w.mu);
        if (got >= 500000) break;
        sleep_us(5000);
    }
    ex_rig_drop_client(&r); /* frees the link first: the download ends CANCELLED */
    CHECK(e.w.done == 1 && e.w.result == MAVFTP_RESULT_CANCELLED);
    char part[1400], meta[1400];
    snprintf(part, sizeof part, "%s/.big.bin.mavftp-resume", dl);
    snprintf(meta, sizeof meta, "%s/.big.bin.mavftp-resume.meta", dl);
    CHECK(exists(part) && exists(meta) && !exists(other));
    atomic_store(&r.down.delay_us, 0);
    ex_rig_client(&r);
    c = r.client;
    unsigned long long before = atomic_load(&r.down.bytes);
    ex_init(&e);
    CHECK_RES(mavftp_client_download_ex(c, "/big.bin", dl, NULL, on_transfer, &e, &op), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&e.w), MAVFTP_RESULT_SUCCESS);
    unsigned long long second = atomic_load(&r.down.bytes) - before;
    printf("resume (C): the second download moved %llu frame bytes for a 1000000-byte file\n", second);
    CHECK(second < 1000000ull * 266 / 239 * 60 / 100); /* well under the whole file */
    CHECK(same_bytes(path, other));
    CHECK(!exists(part) && !exists(meta));

    /* 4. memory and stream */
    ex_init(&e);
    CHECK_RES(mavftp_client_download_to_memory(c, "/big.bin", NULL, on_transfer, on_buffer, &e, &op), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&e.w), MAVFTP_RESULT_SUCCESS);
    CHECK(e.buffer_len == 1000000 && same_as_buffer(path, e.buffer_copy, e.buffer_len));
    free(e.buffer_copy);
    ex_init(&e);
    CHECK_RES(mavftp_client_download_to_memory(c, "/missing.bin", NULL, NULL, on_buffer, &e, &op), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&e.w), MAVFTP_RESULT_FILE_DOES_NOT_EXIST);
    ex_init(&e);
    e.stream_copy = malloc(1000000);
    CHECK(e.stream_copy != NULL);
    mavftp_transfer_options burst;
    mavftp_transfer_options_init(&burst);
    burst.use_burst = true;
    burst.verify = true;
    CHECK_RES(mavftp_client_download_stream(c, "/big.bin", &burst, on_chunk, on_transfer, &e, &op), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&e.w), MAVFTP_RESULT_SUCCESS);
    CHECK(e.streamed == 1000000 && same_as_buffer(path, e.stream_copy, 1000000));
    free(e.stream_copy);
    ex_init(&e);
    e.stop_stream_at_100k = true;
    CHECK_RES(mavftp_client_download_stream(c, "/big.bin", NULL, on_chunk, on_transfer, &e, &op), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&e.w), MAVFTP_RESULT_CANCELLED);

    /* 5. verified upload */
    snprintf(other, sizeof other, "%s/up_ex.bin", dl);
    write_pattern(other, 300000, 6);
    CHECK_RES(mavftp_client_create_directory(c, "/in"), MAVFTP_RESULT_SUCCESS);
    ex_init(&e);
    CHECK_RES(mavftp_client_upload_ex(c, other, "/in", &burst, on_transfer, &e, &op), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&e.w), MAVFTP_RESULT_SUCCESS);
    snprintf(path, sizeof path, "%s/in/up_ex.bin", root);
    CHECK(same_bytes(path, other));

    /* 6. directories: a tree with an unreadable file, parallel 3, a second run
     *    that skips everything, a glob, and an upload of the tree */
    const char *dirs[] = {"t", "t/a", "t/a/b", "t/c"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", root, dirs[i]);
        CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
        chmod(path, 0755);
    }
    for (int i = 0; i < 12; i++) {
        snprintf(path, sizeof path, "%s/%s/f%02d.%s", root, dirs[i % 4], i, i % 3 ? "bin" : "txt");
        write_pattern(path, (size_t)(i * 7919) % 50000, (unsigned)i);
    }
    snprintf(path, sizeof path, "%s/t/a/f05.bin", root);
    chmod(path, 0000);
    CHECK_RES(mavftp_client_set_parallel(c, 3), MAVFTP_RESULT_SUCCESS);
    char tree[1200];
    snprintf(tree, sizeof tree, "%s/tree", dl);
    CHECK(mkdir(tree, 0755) == 0 || errno == EEXIST);
    ex_init(&e);
    CHECK_RES(mavftp_client_download_dir(c, "/t", tree, NULL, on_transfer, &e, &op), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&e.w), MAVFTP_RESULT_FILE_PROTECTED);
    CHECK(e.last.file_count == 12 && e.last.files_failed == 1);
    CHECK(strstr(mavftp_client_last_error(c), "1 of 12 files failed: a/f05.bin") != NULL);
    for (int i = 0; i < 12; i++) {
        if (i == 5) continue;
        snprintf(path, sizeof path, "%s/%s/f%02d.%s", root, dirs[i % 4], i, i % 3 ? "bin" : "txt");
        snprintf(other, sizeof other, "%s%s/f%02d.%s", tree, dirs[i % 4] + 1, i, i % 3 ? "bin" : "txt");
        CHECK(same_bytes(path, other));
    }
    snprintf(path, sizeof path, "%s/t/a/f05.bin", root);
    chmod(path, 0644);
    unsigned long long b0 = atomic_load(&r.down.bytes);
    ex_init(&e);
    CHECK_RES(mavftp_client_download_dir(c, "/t", tree, NULL, on_transfer, &e, &op), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&e.w), MAVFTP_RESULT_SUCCESS);
    CHECK(e.last.files_skipped == 11 && e.last.files_failed == 0);
    unsigned long long moved = atomic_load(&r.down.bytes) - b0;
    /* the one new file (f05: 39595 B, 44 kB in frames), listings and CRCs */
    CHECK(moved > 39595 && moved < 60000);
    mavftp_transfer_options glob;
    mavftp_transfer_options_init(&glob);
    glob.glob = "*.txt";
    char only[1200];
    snprintf(only, sizeof only, "%s/txt_only", dl);
    CHECK(mkdir(only, 0755) == 0 || errno == EEXIST);
    ex_init(&e);
    CHECK_RES(mavftp_client_download_dir(c, "/t", only, &glob, on_transfer, &e, &op), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&e.w), MAVFTP_RESULT_SUCCESS);
    CHECK(e.last.file_count == 4);
    snprintf(path, sizeof path, "%s/a/b/f06.txt", only);
    CHECK(exists(path));
    snprintf(path, sizeof path, "%s/a/f01.bin", only);
    CHECK(!exists(path));
    CHECK_RES(mavftp_client_create_directory(c, "/back"), MAVFTP_RESULT_SUCCESS);
    ex_init(&e);
    CHECK_RES(mavftp_client_upload_dir(c, tree, "/back", NULL, on_transfer, &e, &op), MAVFTP_RESULT_SUCCESS);
    CHECK_RES(waiter_wait(&e.w), MAVFTP_RESULT_SUCCESS);
    CHECK(e.last.file_count == 12 && e.last.files_failed == 0);
    snprintf(path, sizeof path, "%s/back/a/b/f06.txt", root);
    snprintf(other, sizeof other, "%s/t/a/b/f06.txt", root);
    CHECK(same_bytes(path, other));
    ex_rig_close(&r);
}

static int free_udp_port(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(s >= 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(s, (struct sockaddr *)&addr, sizeof addr) == 0);
    socklen_t len = sizeof addr;
    CHECK(getsockname(s, (struct sockaddr *)&addr, &len) == 0);
    close(s);
    return ntohs(addr.sin_port);
}

static void test_udp_links(const char *work) {
    char root[1024], url[64];
    make_root(work, "root_udp", root, sizeof root);
    int port = free_udp_port();
    mavftp_link *server_link = NULL, *client_link = NULL;
    snprintf(url, sizeof url, "udpin://127.0.0.1:%d", port);
    CHECK_RES(mavftp_link_open(url, 1, 1, &server_link), MAVFTP_RESULT_SUCCESS);
    snprintf(url, sizeof url, "udpout:127.0.0.1:%d", port);
    CHECK_RES(mavftp_link_open(url, 0, 0, &client_link), MAVFTP_RESULT_SUCCESS);
    mavftp_server *server = NULL;
    CHECK_RES(mavftp_server_new(server_link, root, &server), MAVFTP_RESULT_SUCCESS);
    mavftp_client *c = NULL;
    CHECK_RES(mavftp_client_new(client_link, 1, 1, &c), MAVFTP_RESULT_SUCCESS);
    g_client = c;
    char workudp[1024];
    snprintf(workudp, sizeof workudp, "%s/udpwork", work);
    mkdir(workudp, 0755);
    run_operations(c, root, workudp, 0);

    /* each side has heard the other (server 1/1, client 245/190) within seconds */
    uint8_t heard_sys = 0;
    uint64_t heard_ms = UINT64_MAX;
    CHECK_RES(mavftp_link_first_heard_system(client_link, &heard_sys), MAVFTP_RESULT_SUCCESS);
    CHECK(heard_sys == 1);
    CHECK_RES(mavftp_link_last_heard(client_link, 1, 1, &heard_ms), MAVFTP_RESULT_SUCCESS);
    CHECK(heard_ms < 5000);
    CHECK_RES(mavftp_link_first_heard_system(server_link, &heard_sys), MAVFTP_RESULT_SUCCESS);
    CHECK(heard_sys == 245);
    CHECK_RES(mavftp_link_last_heard(server_link, 245, 190, &heard_ms), MAVFTP_RESULT_SUCCESS);
    heard_ms = 77;
    CHECK_RES(mavftp_link_last_heard(client_link, 1, 99, &heard_ms), MAVFTP_RESULT_NO_SYSTEM);
    CHECK(heard_ms == 77);
    g_client = NULL;
    mavftp_client_free(c);
    mavftp_server_free(server);
    mavftp_link_free(client_link);
    mavftp_link_free(server_link);
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "args") == 0) {
        test_result_str_and_version();
        test_null_arguments();
    } else if (argc >= 3 && strcmp(argv[1], "e2e") == 0) {
        test_custom_links(argv[2]);
        test_extended(argv[2]);
        test_signing(argv[2]);
        test_udp_links(argv[2]);
    } else {
        fprintf(stderr, "usage: %s args | e2e WORKDIR\n", argv[0]);
        return 2;
    }
    printf("ok: %d checks\n", checks);
    return 0;
}
