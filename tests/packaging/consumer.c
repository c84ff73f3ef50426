/*
 * A C program built against the INSTALLED library, as a user would build it:
 *   cc consumer.c $(pkg-config --cflags --libs mavftp)            (shared)
 *   cc consumer.c ... -Wl,-Bstatic -lmavftp ... --static ...      (static)
 * It serves ROOT with the embedded server on a UDP loopback port, downloads
 * and uploads a file with a client on a second link, and checks the bytes.
 *
 *   consumer ROOT WORKDIR
 * Built and run by tests/c_abi/packaging.rs.
 */
#define _POSIX_C_SOURCE 200809L
#include <mavftp.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SIZE 200000

static void fail(const char *what, mavftp_result r, const mavftp_client *c) {
    fprintf(stderr, "%s: %s (%s)\n", what, mavftp_result_str(r),
            c ? mavftp_client_last_error(c) : "");
    exit(1);
}

static void write_pattern(const char *path, unsigned seed) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(1); }
    for (unsigned i = 0; i < SIZE; i++) fputc((int)((i * 31u + seed) % 251u), f);
    fclose(f);
}

static int same_pattern(const char *path, unsigned seed) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return 0; }
    unsigned i = 0;
    int c, ok = 1;
    while ((c = fgetc(f)) != EOF) {
        if (i >= SIZE || c != (int)((i * 31u + seed) % 251u)) ok = 0;
        i++;
    }
    fclose(f);
    return ok && i == SIZE;
}

/* A UDP port that was free a moment ago. */
static int free_udp_port(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0) {
        perror("socket");
        exit(1);
    }
    close(s);
    return ntohs(a.sin_port);
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: consumer ROOT WORKDIR\n"); return 2; }
    char path[4096], url[64];
    snprintf(path, sizeof path, "%s/data.bin", argv[1]);
    write_pattern(path, 7);

    mavftp_link *vehicle = NULL, *gcs = NULL;
    mavftp_result r = MAVFTP_RESULT_UNKNOWN;
    int port = 0;
    for (int attempt = 0; attempt < 5 && r != MAVFTP_RESULT_SUCCESS; attempt++) {
        port = free_udp_port();
        snprintf(url, sizeof url, "udpin://127.0.0.1:%d", port);
        r = mavftp_link_open(url, 1, 1, &vehicle);
    }
    if (r != MAVFTP_RESULT_SUCCESS) fail("open vehicle link", r, NULL);
    mavftp_server *server = NULL;
    if ((r = mavftp_server_new(vehicle, argv[1], &server)) != MAVFTP_RESULT_SUCCESS)
        fail("server", r, NULL);

    snprintf(url, sizeof url, "udpout://127.0.0.1:%d", port);
    if ((r = mavftp_link_open(url, 0, 0, &gcs)) != MAVFTP_RESULT_SUCCESS) fail("open gcs link", r, NULL);
    mavftp_client *client = NULL;
    if ((r = mavftp_client_new(gcs, 1, 1, &client)) != MAVFTP_RESULT_SUCCESS) fail("client", r, NULL);

    if ((r = mavftp_client_download(client, "/data.bin", argv[2], true, NULL, NULL)) != MAVFTP_RESULT_SUCCESS)
        fail("download", r, client);
    snprintf(path, sizeof path, "%s/data.bin", argv[2]);
    if (!same_pattern(path, 7)) { fprintf(stderr, "downloaded bytes differ\n"); return 1; }

    snprintf(path, sizeof path, "%s/up.bin", argv[2]);
    write_pattern(path, 11);
    if ((r = mavftp_client_upload(client, path, "/", NULL, NULL)) != MAVFTP_RESULT_SUCCESS)
        fail("upload", r, client);
    snprintf(path, sizeof path, "%s/up.bin", argv[1]);
    if (!same_pattern(path, 11)) { fprintf(stderr, "uploaded bytes differ\n"); return 1; }

    mavftp_client_free(client);
    mavftp_server_free(server);
    mavftp_link_free(gcs);
    mavftp_link_free(vehicle);
    printf("consumer ok: libmavftp %s, header %s, %d bytes down and up\n", mavftp_version(),
           MAVFTP_VERSION_STRING, SIZE);
    return 0;
}
