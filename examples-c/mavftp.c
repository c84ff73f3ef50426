/*
 * mavftp - a MAVLink FTP command-line tool on top of libmavftp (include/mavftp.h).
 *
 *   mavftp [--url URL] [--target SYS:COMP] [--sysid N] [--compid N] [--timeout MS] COMMAND ...
 *
 *   ls DIR                      list a remote directory
 *   get REMOTE [LOCALDIR] [--burst]   download (progress on stderr)
 *   put LOCAL REMOTEDIR         upload (progress on stderr)
 *   mkdir P | rmdir P | rm P    create / remove a directory, remove a file
 *   mv A B                      rename
 *   cmp LOCAL REMOTE            compare CRC32 (exit 0 identical, 1 different, 2 error)
 *   serve ROOT [--read-only]    serve ROOT (as system 1, component 1 by default) until Ctrl-C
 *   demo                        server + client on loopback, no drone needed
 *
 * The client's default URL is udpin://0.0.0.0:14550 (where vehicles send);
 * serve's is udpout://127.0.0.1:14550. Exit status: 0 success, 1 failure,
 * 2 bad usage (cmp: 0 identical, 1 different, 2 error); Ctrl-C or SIGTERM
 * cancels the running operation through mavftp_client_cancel and exits with
 * 128 + the signal number (130, 143).
 */
#define _POSIX_C_SOURCE 200809L
#include "mavftp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Exit status (also in the usage text). */
enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,    /* the operation failed; for cmp: the files differ */
    EXIT_USAGE = 2,     /* bad command line; for cmp: the comparison failed */
    EXIT_SIGNAL = 128,  /* + the signal number: cancelled by SIGINT (130) or SIGTERM (143) */
};

static const char *opt_url;
static unsigned opt_sys = 0, opt_comp = 1;
static int opt_own_sys = -1, opt_own_comp = -1; /* -1: the command's default */
static unsigned opt_timeout_ms = 0;

static void usage(FILE *out) {
    fprintf(out,
            "usage: mavftp [OPTIONS] COMMAND ARGS\n"
            "options:\n"
            "  --url URL          link: udpin://HOST:PORT, udpout://HOST:PORT, tcpin://, tcpout://,\n"
            "                     serial:///dev/ttyX:BAUD (default udpin://0.0.0.0:14550;\n"
            "                     serve: udpout://127.0.0.1:14550)\n"
            "  --target SYS:COMP  the server to talk to (default 0:1 = first system heard, component 1)\n"
            "  --sysid N          our own MAVLink system id, 1-255 (default 245; serve: 1)\n"
            "  --compid N         our own MAVLink component id, 1-255 (default 190; serve: 1)\n"
            "  --timeout MS       reply timeout per request, 5 retries (default 500 ms, 10 retries)\n"
            "  -h, --help         this text\n"
            "commands:\n"
            "  ls DIR | get REMOTE [LOCALDIR] [--burst] | put LOCAL REMOTEDIR\n"
            "  mkdir P | rmdir P | rm P | mv A B | cmp LOCAL REMOTE\n"
            "  serve ROOT [--read-only] | demo\n"
            "exit status:\n"
            "  0 success, 1 the operation failed, 2 bad usage;\n"
            "  cmp: 0 identical, 1 different, 2 the comparison failed (or bad usage);\n"
            "  Ctrl-C (SIGINT) or SIGTERM cancels the running operation (get removes its\n"
            "  partial file) and exits with 128 + the signal: 130 or 143.\n");
}

/* ---- progress bar on stderr ---- */

/* One transfer's bar: a line is printed only when it changes, so the final
 * line (the last NEXT and the SUCCESS carry the same numbers) appears once. */
typedef struct {
    const char *label;
    char shown[128];
    bool open; /* a bar is on the current line (no newline after it yet) */
} progress_line;

static void progress_bar(mavftp_result result, mavftp_progress p, void *user) {
    progress_line *bar_state = user;
    if (result != MAVFTP_RESULT_NEXT && result != MAVFTP_RESULT_SUCCESS) {
        if (bar_state->open) fputc('\n', stderr);
        bar_state->open = false;
        fflush(stderr);
        return;
    }
    unsigned pct = p.total_bytes ? (unsigned)((unsigned long long)p.bytes_transferred * 100 / p.total_bytes) : 100;
    if (pct > 100) pct = 100;
    char bar[41];
    unsigned fill = pct * 40 / 100;
    for (unsigned i = 0; i < 40; i++) bar[i] = i < fill ? '#' : ' ';
    bar[40] = '\0';
    char line[sizeof bar_state->shown];
    snprintf(line, sizeof line, "%s [%s] %3u%% %u/%u bytes", bar_state->label, bar, pct, p.bytes_transferred,
             p.total_bytes);
    if (strcmp(line, bar_state->shown) != 0) {
        fprintf(stderr, "\r%s", line);
        memcpy(bar_state->shown, line, sizeof line);
        bar_state->open = true;
    }
    if (result == MAVFTP_RESULT_SUCCESS && bar_state->open) {
        fputc('\n', stderr);
        bar_state->open = false;
    }
    fflush(stderr);
}

/* ---- Ctrl-C and SIGTERM: cancel the running operation ----
 * The handler only writes the signal number into a pipe (async-signal-safe);
 * a watcher thread reads it and calls mavftp_client_cancel (again every 50 ms
 * until the command ends, so a signal that comes before the operation is
 * queued still cancels it). The blocking call in the main thread then returns
 * CANCELLED after the library has cleaned up (a download's hidden part file
 * is removed before its result is reported). */

static int signal_pipe[2] = {-1, -1};
static volatile sig_atomic_t first_signal; /* 0 until SIGINT/SIGTERM arrives */

static void on_cancel_signal(int sig) {
    int saved_errno = errno;
    if (!first_signal) first_signal = sig;
    unsigned char b = (unsigned char)sig;
    ssize_t n = write(signal_pipe[1], &b, 1); /* non-blocking; a full pipe already holds a request */
    (void)n;
    errno = saved_errno;
}

static void *cancel_watcher(void *arg) {
    mavftp_client *c = arg;
    bool cancelling = false;
    for (;;) {
        /* Once a signal came, cancel again every 50 ms: an operation queued
         * just after the first cancel is cancelled too. */
        struct pollfd p = {.fd = signal_pipe[0], .events = POLLIN};
        int ready = poll(&p, 1, cancelling ? 50 : -1);
        if (ready < 0 && errno != EINTR) return NULL;
        if (ready <= 0) {
            if (cancelling) mavftp_client_cancel(c);
            continue;
        }
        unsigned char b = 0;
        ssize_t n = read(signal_pipe[0], &b, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 || b == 0) return NULL; /* 0: the main thread is done with the client */
        cancelling = true;
        mavftp_client_cancel(c);
    }
}

/* Route SIGINT/SIGTERM into the pipe; -1 if that is impossible. */
static int catch_cancel_signals(void) {
    if (pipe(signal_pipe) != 0) return -1;
    for (int i = 0; i < 2; i++) fcntl(signal_pipe[i], F_SETFD, FD_CLOEXEC);
    fcntl(signal_pipe[1], F_SETFL, fcntl(signal_pipe[1], F_GETFL) | O_NONBLOCK);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_cancel_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) return -1;
    return 0;
}

static void stop_watcher(pthread_t watcher) {
    unsigned char stop = 0;
    while (write(signal_pipe[1], &stop, 1) < 0 && errno == EINTR) {
    }
    pthread_join(watcher, NULL);
}

static int report(const char *what, mavftp_result r, const mavftp_client *c) {
    if (r == MAVFTP_RESULT_SUCCESS) return EXIT_OK;
    if (r == MAVFTP_RESULT_CANCELLED && first_signal) {
        fprintf(stderr, "mavftp: %s cancelled by %s%s\n", what, first_signal == SIGINT ? "SIGINT" : "SIGTERM",
                strcmp(what, "get") == 0 ? " (partial download removed)" : "");
        return EXIT_SIGNAL + first_signal;
    }
    const char *detail = c ? mavftp_client_last_error(c) : "";
    fprintf(stderr, "mavftp: %s failed: %s%s%s\n", what, mavftp_result_str(r), *detail ? ": " : "", detail);
    return EXIT_FAILED;
}

/* ---- client commands ---- */

static int print_listing(mavftp_client *c, const char *dir) {
    mavftp_list *list = NULL;
    mavftp_result r = mavftp_client_list_directory(c, dir, &list);
    int rc = report("ls", r, c);
    if (rc) return rc;
    for (size_t i = 0; i < list->entries_len; i++) {
        const mavftp_entry *e = &list->entries[i];
        if (e->type == 2)
            printf("  %-30s <dir>\n", e->name);
        else
            printf("  %-30s %10llu\n", e->name, (unsigned long long)e->size_bytes);
    }
    printf("  (%zu directories, %zu files)\n", list->dirs_len, list->files_len);
    mavftp_list_free(list);
    return 0;
}

/* 0 with *identical set, or the exit status of the failure. */
static int cmp_files(mavftp_client *c, const char *local, const char *remote, int *identical) {
    bool same = false;
    mavftp_result r = mavftp_client_are_files_identical(c, local, remote, &same);
    int rc = report("cmp", r, c);
    if (rc) return rc;
    *identical = same;
    return 0;
}

/* Own id option value: -1 (not given) becomes `fallback`. */
static uint8_t own_id(int option, uint8_t fallback) { return option < 0 ? fallback : (uint8_t)option; }

static int run_client_command(int argc, char **argv) {
    const char *cmd = argv[0];
    mavftp_link *link = NULL;
    const char *url = opt_url ? opt_url : "udpin://0.0.0.0:14550";
    if (catch_cancel_signals() != 0) {
        fprintf(stderr, "mavftp: cannot install the signal handlers: %s\n", strerror(errno));
        return EXIT_FAILED;
    }
    /* 0 lets the library pick its ground-station ids (245:190). */
    mavftp_result r = mavftp_link_open(url, own_id(opt_own_sys, 0), own_id(opt_own_comp, 0), &link);
    if (r != MAVFTP_RESULT_SUCCESS) {
        fprintf(stderr, "mavftp: cannot open %s: %s\n", url, mavftp_result_str(r));
        return EXIT_FAILED;
    }
    mavftp_client *c = NULL;
    r = mavftp_client_new(link, (uint8_t)opt_sys, (uint8_t)opt_comp, &c);
    if (r != MAVFTP_RESULT_SUCCESS) {
        fprintf(stderr, "mavftp: cannot create the client: %s\n", mavftp_result_str(r));
        mavftp_link_free(link);
        return EXIT_FAILED;
    }
    if (opt_timeout_ms) mavftp_client_set_timeout(c, opt_timeout_ms, 5);
    pthread_t watcher;
    if (pthread_create(&watcher, NULL, cancel_watcher, c) != 0) {
        fprintf(stderr, "mavftp: cannot start the signal watcher\n");
        mavftp_client_free(c);
        mavftp_link_free(link);
        return EXIT_FAILED;
    }
    progress_line bar = {.label = cmd, .shown = "", .open = false};
    int rc = EXIT_USAGE;
    if (strcmp(cmd, "ls") == 0 && argc == 2) {
        rc = print_listing(c, argv[1]);
    } else if (strcmp(cmd, "get") == 0 && argc >= 2 && argc <= 4) {
        const char *dir = ".";
        bool burst = false;
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--burst") == 0) burst = true;
            else dir = argv[i];
        }
        rc = report("get", mavftp_client_download(c, argv[1], dir, burst, progress_bar, &bar), c);
    } else if (strcmp(cmd, "put") == 0 && argc == 3) {
        rc = report("put", mavftp_client_upload(c, argv[1], argv[2], progress_bar, &bar), c);
    } else if (strcmp(cmd, "mkdir") == 0 && argc == 2) {
        rc = report("mkdir", mavftp_client_create_directory(c, argv[1]), c);
    } else if (strcmp(cmd, "rmdir") == 0 && argc == 2) {
        rc = report("rmdir", mavftp_client_remove_directory(c, argv[1]), c);
    } else if (strcmp(cmd, "rm") == 0 && argc == 2) {
        rc = report("rm", mavftp_client_remove_file(c, argv[1]), c);
    } else if (strcmp(cmd, "mv") == 0 && argc == 3) {
        rc = report("mv", mavftp_client_rename(c, argv[1], argv[2]), c);
    } else if (strcmp(cmd, "cmp") == 0 && argc == 3) {
        int same = 0;
        rc = cmp_files(c, argv[1], argv[2], &same);
        if (rc == EXIT_FAILED) rc = EXIT_USAGE; /* cmp: 1 means "different", so a failure is 2 */
        if (rc == 0) {
            printf("%s and %s are %s\n", argv[1], argv[2], same ? "identical" : "different");
            rc = same ? EXIT_OK : EXIT_FAILED;
        }
    } else {
        usage(stderr);
    }
    stop_watcher(watcher);
    mavftp_client_free(c);
    mavftp_link_free(link);
    return rc;
}

/* ---- serve ---- */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static int serve(const char *root, bool read_only) {
    const char *url = opt_url ? opt_url : "udpout://127.0.0.1:14550";
    mavftp_link *link = NULL;
    uint8_t sys = own_id(opt_own_sys, 1), comp = own_id(opt_own_comp, 1);
    mavftp_result r = mavftp_link_open(url, sys, comp, &link);
    if (r != MAVFTP_RESULT_SUCCESS) {
        fprintf(stderr, "mavftp: cannot open %s: %s\n", url, mavftp_result_str(r));
        return 1;
    }
    mavftp_server *server = NULL;
    r = mavftp_server_new(link, root, &server);
    if (r != MAVFTP_RESULT_SUCCESS) {
        fprintf(stderr, "mavftp: cannot serve %s: %s\n", root, mavftp_result_str(r));
        mavftp_link_free(link);
        return 1;
    }
    mavftp_server_set_read_only(server, read_only);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("serving %s%s on %s as system %u, component %u (Ctrl-C to stop)\n", root,
           read_only ? " read-only" : "", url, sys, comp);
    fflush(stdout);
    while (!stop_requested) {
        struct timespec t = {0, 100000000};
        nanosleep(&t, NULL);
    }
    mavftp_server_free(server);
    mavftp_link_free(link);
    printf("stopped\n");
    return 0;
}

/* ---- demo ---- */

static int write_pattern(const char *path, size_t n, unsigned seed) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    for (size_t i = 0; i < n; i++) fputc((int)((i * 131u + seed + (i >> 9)) & 0xff), f);
    return fclose(f);
}

static int write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static int free_udp_port(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(s, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(s);
    return port;
}

static int demo(void) {
    const char *tmp = getenv("TMPDIR");
    char base[512], root[600], local[600], path[700], url[64];
    snprintf(base, sizeof base, "%s/mavftp-demo-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(base)) {
        perror("mavftp demo: mkdtemp");
        return 1;
    }
    snprintf(root, sizeof root, "%s/vehicle", base);
    snprintf(local, sizeof local, "%s/ground", base);
    if (mkdir(root, 0755) || mkdir(local, 0755)) {
        perror("mavftp demo: mkdir");
        return 1;
    }
    snprintf(path, sizeof path, "%s/logs", root);
    int bad = mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/flight.log", root);
    bad |= write_pattern(path, 200 * 1024, 7);
    snprintf(path, sizeof path, "%s/params.txt", root);
    bad |= write_text(path, "SYSID_THISMAV 1\nFTP_ENABLE 1\nBATT_CAPACITY 5200\n");
    snprintf(path, sizeof path, "%s/logs/boot.txt", root);
    bad |= write_text(path, "boot ok\n");
    snprintf(path, sizeof path, "%s/mission.plan", local);
    bad |= write_pattern(path, 12345, 3);
    if (bad) {
        fprintf(stderr, "mavftp demo: cannot create the demo files in %s\n", base);
        return 1;
    }
    printf("demo directory: %s\n  vehicle side (served): %s\n  ground side: %s\n", base, root, local);

    int port = free_udp_port();
    if (port < 0) {
        fprintf(stderr, "mavftp demo: no free UDP port\n");
        return 1;
    }
    mavftp_link *vlink = NULL, *glink = NULL;
    mavftp_server *server = NULL;
    mavftp_client *c = NULL;
    int rc = 1;
    snprintf(url, sizeof url, "udpin://127.0.0.1:%d", port);
    mavftp_result r = mavftp_link_open(url, 1, 1, &vlink);
    if (report("opening the vehicle link", r, NULL)) goto out;
    r = mavftp_server_new(vlink, root, &server);
    if (report("starting the server", r, NULL)) goto out;
    printf("server: serving %s on %s as system 1, component 1\n", root, url);
    snprintf(url, sizeof url, "udpout://127.0.0.1:%d", port);
    r = mavftp_link_open(url, 0, 0, &glink);
    if (report("opening the ground link", r, NULL)) goto out;
    r = mavftp_client_new(glink, 1, 1, &c);
    if (report("creating the client", r, NULL)) goto out;
    printf("client: connected through %s (mavftp %s)\n\n", url, mavftp_version());

    printf("$ ls /\n");
    if (print_listing(c, "/")) goto out;

    printf("\n$ get /flight.log %s --burst\n", local);
    progress_line get_bar = {.label = "get", .shown = "", .open = false};
    r = mavftp_client_download(c, "/flight.log", local, true, progress_bar, &get_bar);
    if (report("get /flight.log", r, c)) goto out;
    snprintf(path, sizeof path, "%s/flight.log", local);
    int same = 0;
    if (cmp_files(c, path, "/flight.log", &same)) goto out;
    printf("$ cmp flight.log /flight.log: %s\n", same ? "identical (CRC32 matches)" : "DIFFERENT");
    if (!same) goto out;

    printf("\n$ mkdir /uploads\n");
    r = mavftp_client_create_directory(c, "/uploads");
    if (r != MAVFTP_RESULT_FILE_EXISTS && report("mkdir /uploads", r, c)) goto out;
    snprintf(path, sizeof path, "%s/mission.plan", local);
    printf("$ put mission.plan /uploads\n");
    progress_line put_bar = {.label = "put", .shown = "", .open = false};
    r = mavftp_client_upload(c, path, "/uploads", progress_bar, &put_bar);
    if (report("put mission.plan", r, c)) goto out;
    same = 0;
    if (cmp_files(c, path, "/uploads/mission.plan", &same)) goto out;
    printf("$ cmp mission.plan /uploads/mission.plan: %s\n", same ? "identical (CRC32 matches)" : "DIFFERENT");
    if (!same) goto out;

    printf("\n$ ls /uploads\n");
    if (print_listing(c, "/uploads")) goto out;
    printf("\ndemo finished: listed, downloaded 204800 bytes, uploaded 12345 bytes, both verified.\n");
    rc = 0;
out:
    mavftp_client_free(c);
    mavftp_server_free(server);
    mavftp_link_free(glink);
    mavftp_link_free(vlink);
    return rc;
}

/* A whole decimal number in [min, max], or -1. */
static long parse_number(const char *s, long min, long max) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno || v < min || v > max) return -1;
    return v;
}

static int parse_target(const char *s) {
    char *end = NULL;
    unsigned long sys = strtoul(s, &end, 10);
    if (end == s || *end != ':' || sys > 255) return -1;
    const char *comp_s = end + 1;
    unsigned long comp = strtoul(comp_s, &end, 10);
    if (end == comp_s || *end != '\0' || comp > 255) return -1;
    opt_sys = (unsigned)sys;
    opt_comp = (unsigned)comp;
    return 0;
}

int main(int argc, char **argv) {
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *opt = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(opt, "-h") == 0 || strcmp(opt, "--help") == 0) {
            usage(stdout);
            return EXIT_OK;
        } else if (strcmp(opt, "--url") == 0 && has_value) {
            opt_url = argv[++i];
        } else if (strcmp(opt, "--target") == 0 && has_value) {
            if (parse_target(argv[++i])) {
                fprintf(stderr, "mavftp: --target wants SYS:COMP (0-255 each)\n");
                return EXIT_USAGE;
            }
        } else if ((strcmp(opt, "--sysid") == 0 || strcmp(opt, "--compid") == 0) && has_value) {
            long id = parse_number(argv[++i], 1, 255);
            if (id < 0) {
                fprintf(stderr, "mavftp: %s wants a number from 1 to 255\n", opt);
                return EXIT_USAGE;
            }
            if (strcmp(opt, "--sysid") == 0)
                opt_own_sys = (int)id;
            else
                opt_own_comp = (int)id;
        } else if (strcmp(opt, "--timeout") == 0 && has_value) {
            long ms = parse_number(argv[++i], 1, 3600000);
            if (ms < 0) {
                fprintf(stderr, "mavftp: --timeout wants milliseconds from 1 to 3600000\n");
                return EXIT_USAGE;
            }
            opt_timeout_ms = (unsigned)ms;
        } else {
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[i];
    if (strcmp(cmd, "demo") == 0) return demo();
    if (strcmp(cmd, "serve") == 0) {
        if (i + 1 >= argc) {
            usage(stderr);
            return EXIT_USAGE;
        }
        bool ro = i + 2 < argc && strcmp(argv[i + 2], "--read-only") == 0;
        return serve(argv[i + 1], ro);
    }
    return run_client_command(argc - i, argv + i);
}
