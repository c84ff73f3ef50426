/*
 * mavftp - a MAVLink FTP command-line tool on top of libmavftp (include/mavftp.h).
 *
 *   mavftp [--url URL] [--target SYS:COMP] [--timeout MS] COMMAND ...
 *
 *   ls DIR                      list a remote directory
 *   get REMOTE [LOCALDIR] [--burst]   download (progress on stderr)
 *   put LOCAL REMOTEDIR         upload (progress on stderr)
 *   mkdir P | rmdir P | rm P    create / remove a directory, remove a file
 *   mv A B                      rename
 *   cmp LOCAL REMOTE            compare CRC32 (exit 0 identical, 1 different)
 *   serve ROOT [--read-only]    serve ROOT as system 1, component 1 until Ctrl-C
 *   demo                        server + client on loopback, no drone needed
 *
 * The client's default URL is udpin://0.0.0.0:14550 (where vehicles send);
 * serve's is udpout://127.0.0.1:14550. Exit code 0 on success.
 */
#define _POSIX_C_SOURCE 200809L
#include "mavftp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *opt_url;
static unsigned opt_sys = 0, opt_comp = 1;
static unsigned opt_timeout_ms = 0;

static void usage(void) {
    fprintf(stderr,
            "usage: mavftp [--url URL] [--target SYS:COMP] [--timeout MS] COMMAND\n"
            "  ls DIR | get REMOTE [LOCALDIR] [--burst] | put LOCAL REMOTEDIR\n"
            "  mkdir P | rmdir P | rm P | mv A B | cmp LOCAL REMOTE\n"
            "  serve ROOT [--read-only] | demo\n");
}

/* ---- progress bar on stderr ---- */

static void progress_bar(mavftp_result result, mavftp_progress p, void *user) {
    const char *label = user;
    if (result != MAVFTP_RESULT_NEXT && result != MAVFTP_RESULT_SUCCESS) {
        fprintf(stderr, "\n");
        return;
    }
    unsigned pct = p.total_bytes ? (unsigned)((unsigned long long)p.bytes_transferred * 100 / p.total_bytes) : 100;
    if (pct > 100) pct = 100;
    char bar[41];
    unsigned fill = pct * 40 / 100;
    for (unsigned i = 0; i < 40; i++) bar[i] = i < fill ? '#' : ' ';
    bar[40] = '\0';
    fprintf(stderr, "\r%s [%s] %3u%% %u/%u bytes", label, bar, pct, p.bytes_transferred, p.total_bytes);
    if (result == MAVFTP_RESULT_SUCCESS) fprintf(stderr, "\n");
    fflush(stderr);
}

static int report(const char *what, mavftp_result r, const mavftp_client *c) {
    if (r == MAVFTP_RESULT_SUCCESS) return 0;
    const char *detail = c ? mavftp_client_last_error(c) : "";
    fprintf(stderr, "mavftp: %s failed: %s%s%s\n", what, mavftp_result_str(r), *detail ? ": " : "", detail);
    return 1;
}

/* ---- client commands ---- */

static int print_listing(mavftp_client *c, const char *dir) {
    mavftp_list *list = NULL;
    mavftp_result r = mavftp_client_list_directory(c, dir, &list);
    if (report("ls", r, c)) return 1;
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

static int cmp_files(mavftp_client *c, const char *local, const char *remote, int *identical) {
    bool same = false;
    mavftp_result r = mavftp_client_are_files_identical(c, local, remote, &same);
    if (report("cmp", r, c)) return 1;
    *identical = same;
    return 0;
}

static int run_client_command(int argc, char **argv) {
    const char *cmd = argv[0];
    mavftp_link *link = NULL;
    const char *url = opt_url ? opt_url : "udpin://0.0.0.0:14550";
    mavftp_result r = mavftp_link_open(url, 0, 0, &link);
    if (r != MAVFTP_RESULT_SUCCESS) {
        fprintf(stderr, "mavftp: cannot open %s: %s\n", url, mavftp_result_str(r));
        return 1;
    }
    mavftp_client *c = NULL;
    r = mavftp_client_new(link, (uint8_t)opt_sys, (uint8_t)opt_comp, &c);
    if (r != MAVFTP_RESULT_SUCCESS) {
        fprintf(stderr, "mavftp: cannot create the client: %s\n", mavftp_result_str(r));
        mavftp_link_free(link);
        return 1;
    }
    if (opt_timeout_ms) mavftp_client_set_timeout(c, opt_timeout_ms, 5);
    int rc = 2;
    if (strcmp(cmd, "ls") == 0 && argc == 2) {
        rc = print_listing(c, argv[1]);
    } else if (strcmp(cmd, "get") == 0 && argc >= 2 && argc <= 4) {
        const char *dir = ".";
        bool burst = false;
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--burst") == 0) burst = true;
            else dir = argv[i];
        }
        rc = report("get", mavftp_client_download(c, argv[1], dir, burst, progress_bar, "get"), c);
    } else if (strcmp(cmd, "put") == 0 && argc == 3) {
        rc = report("put", mavftp_client_upload(c, argv[1], argv[2], progress_bar, "put"), c);
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
        if (rc == 0) {
            printf("%s and %s are %s\n", argv[1], argv[2], same ? "identical" : "different");
            rc = same ? 0 : 1;
        }
    } else {
        usage();
    }
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
    mavftp_result r = mavftp_link_open(url, 1, 1, &link);
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
    printf("serving %s%s on %s as system 1, component 1 (Ctrl-C to stop)\n", root,
           read_only ? " read-only" : "", url);
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
    r = mavftp_client_download(c, "/flight.log", local, true, progress_bar, "get");
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
    r = mavftp_client_upload(c, path, "/uploads", progress_bar, "put");
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
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
            opt_url = argv[++i];
        } else if (strcmp(argv[i], "--target") == 0 && i + 1 < argc) {
            if (parse_target(argv[++i])) {
                fprintf(stderr, "mavftp: --target wants SYS:COMP (0-255 each)\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            opt_timeout_ms = (unsigned)strtoul(argv[++i], NULL, 10);
        } else {
            usage();
            return 2;
        }
    }
    if (i >= argc) {
        usage();
        return 2;
    }
    const char *cmd = argv[i];
    if (strcmp(cmd, "demo") == 0) return demo();
    if (strcmp(cmd, "serve") == 0) {
        if (i + 1 >= argc) {
            usage();
            return 2;
        }
        bool ro = i + 2 < argc && strcmp(argv[i + 2], "--read-only") == 0;
        return serve(argv[i + 1], ro);
    }
    return run_client_command(argc - i, argv + i);
}
