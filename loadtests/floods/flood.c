/* flood: bounded floods and slow clients against CucmSim on loopback (loadtests/floods/run.sh drives it).
 *   flood garbage RATE SECONDS PORT...      random datagrams (1..200 bytes) to 127.0.0.1:PORT..., RATE per second
 *                                           in total, round robin; the first byte is odd and below 64, so no datagram
 *                                           is SIP, TFTP, SNMP, RTP/RTCP (version 0) or a probe. Prints "sent PORT N".
 *   flood peers COUNT PORT                  one datagram from each of COUNT distinct source (address, port) pairs:
 *                                           ports 10000..59999 on 127.0.1.1, 127.0.2.1, ... Prints "peers N".
 *   flood idle COUNT SECONDS PORT           COUNT TCP connections that send nothing, held SECONDS; prints how many
 *                                           connected and how many were still open at the end.
 *   flood slow COUNT INTERVAL_MS SECONDS PORT TEXT
 *                                           COUNT connections each sending TEXT a byte every INTERVAL_MS (never its
 *                                           last byte); prints when the server closed them (slowloris).
 * Everything is bounded: COUNT <= 200000, SECONDS <= 600, RATE <= 2000000.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static unsigned long long rng = 0x9E3779B97F4A7C15ULL;
static unsigned long long next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }
static struct sockaddr_in to(int port, const char *addr) {
  struct sockaddr_in a; memset(&a, 0, sizeof a); a.sin_family = AF_INET; a.sin_port = htons(port); inet_pton(AF_INET, addr, &a.sin_addr); return a;
}
static void bound(long v, long max, const char *what) { if (v < 0 || v > max) { fprintf(stderr, "flood: %s out of 0..%ld\n", what, max); exit(2); } }
static void raise_nofile(void) { struct rlimit r; getrlimit(RLIMIT_NOFILE, &r); r.rlim_cur = r.rlim_max; setrlimit(RLIMIT_NOFILE, &r); }

static int garbage(int argc, char **argv) {
  long rate = atol(argv[2]); double seconds = atof(argv[3]); int n = argc - 4;
  bound(rate, 2000000, "RATE"); bound((long)seconds, 600, "SECONDS"); if (n < 1 || n > 64) return 2;
  int fd = socket(AF_INET, SOCK_DGRAM, 0); int sz = 4 << 20; setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  struct sockaddr_in dst[64]; long sent[64] = {0};
  for (int i = 0; i < n; i++) dst[i] = to(atoi(argv[4 + i]), "127.0.0.1");
  enum { BATCH = 64 }; static unsigned char buf[BATCH][200]; struct mmsghdr m[BATCH]; struct iovec io[BATCH];
  double start = now(), end = start + seconds; long total = 0; int k = 0;
  while (now() < end) {
    long due = (long)((now() - start) * rate);
    if (total >= due) { struct timespec ts = {0, 200000}; nanosleep(&ts, 0); continue; }
    long want = due - total; if (want > BATCH) want = BATCH;
    int target = k++ % n;
    for (int i = 0; i < want; i++) {
      int len = 1 + next() % 200;
      for (int j = 0; j < len; j += 8) { unsigned long long r = next(); memcpy(buf[i] + j, &r, len - j < 8 ? len - j : 8); }
      buf[i][0] = (unsigned char)((next() % 32) * 2 + 1);
      io[i].iov_base = buf[i]; io[i].iov_len = len;
      memset(&m[i], 0, sizeof m[i]); m[i].msg_hdr.msg_iov = &io[i]; m[i].msg_hdr.msg_iovlen = 1;
      m[i].msg_hdr.msg_name = &dst[target]; m[i].msg_hdr.msg_namelen = sizeof dst[target];
    }
    int r = sendmmsg(fd, m, want, 0);
    if (r > 0) { sent[target] += r; total += r; } else if (errno != EAGAIN && errno != ENOBUFS) { perror("sendmmsg"); break; }
  }
  double took = now() - start;
  for (int i = 0; i < n; i++) printf("sent %d %ld\n", ntohs(dst[i].sin_port), sent[i]);
  printf("total %ld seconds %.2f rate %.0f\n", total, took, total / took);
  return 0;
}

static int peers(char **argv) {
  long count = atol(argv[2]); int port = atoi(argv[3]); bound(count, 200000, "COUNT");
  struct sockaddr_in dst = to(port, "127.0.0.1"); long ok = 0;
  for (long i = 0; i < count; i++) {
    char src[32]; snprintf(src, sizeof src, "127.0.%ld.1", 1 + i / 50000);
    struct sockaddr_in s = to(10000 + i % 50000, src);
    int fd = socket(AF_INET, SOCK_DGRAM, 0); int one = 1; setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&s, sizeof s) == 0) {
      unsigned char b[32]; for (int j = 0; j < 32; j++) b[j] = next(); b[0] = 0x01;
      if (sendto(fd, b, sizeof b, 0, (struct sockaddr *)&dst, sizeof dst) > 0) ok++;
    }
    close(fd);
    if (i % 50 == 49) { struct timespec ts = {0, 1000000}; nanosleep(&ts, 0); } /* at most 50 new peers a millisecond */
  }
  printf("peers %ld\n", ok);
  return 0;
}

static int connect_many(long count, int port, int *fds) {
  struct sockaddr_in dst = to(port, "127.0.0.1"); int ok = 0;
  for (long i = 0; i < count; i++) {
    char src[32]; snprintf(src, sizeof src, "127.0.%ld.2", 1 + i / 20000);
    struct sockaddr_in s = to(0, src);
    fds[i] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&s, sizeof s) != 0 || connect(fds[i], (struct sockaddr *)&dst, sizeof dst) != 0) {
      if (fds[i] >= 0) { close(fds[i]); }
      fds[i] = -1; continue;
    }
    fcntl(fds[i], F_SETFL, O_NONBLOCK); ok++;
    if (i % 500 == 499) { struct timespec ts = {0, 5000000}; nanosleep(&ts, 0); } /* about 100,000 connects/s at most */
  }
  return ok;
}

static int still_open(int fd) {
  char b[256]; ssize_t r = recv(fd, b, sizeof b, 0);
  return r > 0 || (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

static int idle(char **argv) {
  long count = atol(argv[2]); double seconds = atof(argv[3]); int port = atoi(argv[4]);
  bound(count, 200000, "COUNT"); bound((long)seconds, 600, "SECONDS"); raise_nofile();
  int *fds = calloc(count, sizeof *fds); double t0 = now();
  int ok = connect_many(count, port, fds);
  printf("connected %d of %ld in %.2f s\n", ok, count, now() - t0); fflush(stdout);
  while (now() < t0 + seconds) sleep(1);
  int open = 0; for (long i = 0; i < count; i++) if (fds[i] >= 0) { open += still_open(fds[i]); }
  printf("open %d after %.0f s\n", open, now() - t0);
  for (long i = 0; i < count; i++) if (fds[i] >= 0) close(fds[i]);
  return 0;
}

static int slow(char **argv) {
  long count = atol(argv[2]); long interval = atol(argv[3]); double seconds = atof(argv[4]); int port = atoi(argv[5]); const char *text = argv[6];
  bound(count, 10000, "COUNT"); bound(interval, 60000, "INTERVAL_MS"); bound((long)seconds, 600, "SECONDS"); raise_nofile();
  long len = strlen(text); int *fds = calloc(count, sizeof *fds); double *closed = calloc(count, sizeof *closed); long sent = 0;
  double t0 = now(); int ok = connect_many(count, port, fds); long pos = 0;
  printf("connected %d of %ld\n", ok, count); fflush(stdout);
  while (now() < t0 + seconds && pos < len - 1) {
    for (long i = 0; i < count; i++) {
      if (fds[i] < 0 || closed[i] > 0) continue;
      if (!still_open(fds[i]) || send(fds[i], text + pos, 1, MSG_NOSIGNAL) != 1) { closed[i] = now() - t0; continue; }
      sent++;
    }
    pos++;
    struct timespec ts = {interval / 1000, (interval % 1000) * 1000000}; nanosleep(&ts, 0);
  }
  int n = 0; double first = 0, last = 0;
  for (long i = 0; i < count; i++) {
    if (fds[i] >= 0 && closed[i] == 0 && !still_open(fds[i])) closed[i] = now() - t0;
    if (closed[i] > 0) { if (!n || closed[i] < first) first = closed[i]; if (closed[i] > last) last = closed[i]; n++; }
  }
  printf("closed_by_server %d of %d bytes_sent %ld first %.1f s last %.1f s run %.1f s header_bytes %ld\n", n, ok, sent, first, last, now() - t0, len);
  for (long i = 0; i < count; i++) if (fds[i] >= 0) close(fds[i]);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 5 && !strcmp(argv[1], "garbage")) return garbage(argc, argv);
  if (argc == 4 && !strcmp(argv[1], "peers")) return peers(argv);
  if (argc == 5 && !strcmp(argv[1], "idle")) return idle(argv);
  if (argc == 7 && !strcmp(argv[1], "slow")) return slow(argv);
  fprintf(stderr, "usage: flood garbage RATE SECONDS PORT... | peers COUNT PORT | idle COUNT SECONDS PORT | slow COUNT INTERVAL_MS SECONDS PORT TEXT\n");
  return 2;
}
