/* sccpload: N SCCP phones against a CUCM-like server on loopback. Each phone connects from one of several
 * source addresses (127.0.S.1 ..), sends RegisterReq (header version 0, 124-byte body, protocol --proto),
 * waits for RegisterAck, answers CapabilitiesReq with CapabilitiesRes, then sends KeepAliveReq every --ka
 * seconds (spread evenly) and counts KeepAliveAck. Bounded: --phones <= 19000, --hold <= 600 s, and the run
 * ends after the hold. Layouts: ../../../shared/reference/protocols.md section 1.
 * Output (stdout, last line): RESULT workload=sccp-register phones=.. registered=.. rejected=.. failed=..
 *   reg_rate=../s reg_s=.. ka_sent=.. ka_acked=.. ka_missed=.. rss_before_kb=.. rss_after_kb=.. rss_per_phone_b=..
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum { ST_FREE, ST_CONNECTING, ST_REGISTERING, ST_REGISTERED, ST_DEAD };
typedef struct { int fd, state; uint32_t have; uint8_t head[12]; uint32_t skip; double next_ka; int ka_out; } phone_t;

static phone_t *P; static int N, INFL = 500, PROTO = 17, KA = 10, HOLD = 30, PER_ADDR = 4000, SRC3 = 10;
static struct sockaddr_in target; static int ep; static long server_pid;
static long registered, rejected, failed, ka_sent, ka_acked, connected, inflight, bytes_bad;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static long rss_kb(long pid) {
  char path[64], line[256]; long kb = -1; snprintf(path, sizeof path, "/proc/%ld/status", pid);
  FILE *f = fopen(path, "r"); if (!f) return -1;
  while (fgets(line, sizeof line, f)) if (!strncmp(line, "VmRSS:", 6)) { kb = atol(line + 6); break; }
  fclose(f); return kb;
}

static void put32(uint8_t *p, uint32_t v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }
static uint32_t get32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static void die_phone(int i) {
  if (P[i].state == ST_CONNECTING || P[i].state == ST_REGISTERING) inflight--;
  if (P[i].fd >= 0) close(P[i].fd);
  P[i].fd = -1; P[i].state = ST_DEAD; failed++;
}

static int send_all(int i, const uint8_t *b, int n) {
  /* one message, one send: a 12..136-byte write on a NODELAY socket is one segment */
  ssize_t w = send(P[i].fd, b, n, MSG_NOSIGNAL);
  if (w != n) { die_phone(i); return -1; }
  return 0;
}

static void send_register(int i) {
  uint8_t m[136]; memset(m, 0, sizeof m);
  put32(m, 128); put32(m + 4, 0); put32(m + 8, 0x0001);
  uint8_t *b = m + 12;
  snprintf((char *)b, 16, "SEP%012X", 0x100000 + i);           /* DeviceName[16] */
  put32(b + 20, 1);                                               /* instance */
  struct sockaddr_in local; socklen_t l = sizeof local; getsockname(P[i].fd, (struct sockaddr *)&local, &l);
  memcpy(b + 24, &local.sin_addr, 4);                             /* stationIpAddr, network order */
  put32(b + 28, 115); put32(b + 32, 5);                           /* 7941, maxStreams */
  b[40] = (uint8_t)PROTO; b[42] = 0x72; b[43] = 0x85; put32(b + 44, 1);
  put32(b + 68, 2); memcpy(b + 92, "SCCP41.9-4-2SR3-1S", 18);
  send_all(i, m, sizeof m);
}

static void send_caps(int i) {
  uint8_t m[12 + 4 + 32]; memset(m, 0, sizeof m);
  put32(m, 4 + 4 + 32); put32(m + 4, PROTO >= 17 ? 0x11 : 0); put32(m + 8, 0x0010);
  put32(m + 12, 2); put32(m + 16, 4); put32(m + 20, 40); put32(m + 32, 2); put32(m + 36, 40);
  send_all(i, m, sizeof m);
}

static void send_ka(int i) {
  uint8_t m[12] = {4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  if (send_all(i, m, 12) == 0) { ka_sent++; P[i].ka_out++; }
}

static double t_first, t_last_reg;

static void on_message(int i, uint32_t id) {
  switch (id) {
  case 0x0081:                      /* RegisterAck */
    if (P[i].state == ST_REGISTERING) {
      P[i].state = ST_REGISTERED; registered++; inflight--; t_last_reg = now();
      P[i].next_ka = now() + KA * (double)(i % 1000) / 1000.0; /* spread over the first interval */
    }
    break;
  case 0x009B: send_caps(i); break; /* CapabilitiesReq */
  case 0x0100: ka_acked++; if (P[i].ka_out > 0) P[i].ka_out--; break;
  case 0x009D: rejected++; die_phone(i); failed--; break;
  default: break;                   /* DisplayNotify mirror and the like */
  }
}

static void on_readable(int i) {
  uint8_t buf[4096];
  for (;;) {
    ssize_t r = recv(P[i].fd, buf, sizeof buf, 0);
    if (r == 0) { die_phone(i); return; }
    if (r < 0) { if (errno == EAGAIN || errno == EWOULDBLOCK) return; die_phone(i); return; }
    for (ssize_t o = 0; o < r;) {
      if (P[i].skip > 0) { uint32_t k = P[i].skip < (uint32_t)(r - o) ? P[i].skip : (uint32_t)(r - o); P[i].skip -= k; o += k; continue; }
      P[i].head[P[i].have++] = buf[o++];
      if (P[i].have == 12) {
        uint32_t len = get32(P[i].head), id = get32(P[i].head + 8);
        if (len < 4 || len > 4096) { bytes_bad++; die_phone(i); return; }
        P[i].have = 0; P[i].skip = len - 4;
        on_message(i, id);
        if (P[i].state == ST_DEAD) return;
      }
    }
  }
}

static int next_phone;
static void start_more(void) {
  while (inflight < INFL && next_phone < N) {
    int i = next_phone++;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) { P[i].state = ST_DEAD; failed++; continue; }
    int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl((127u << 24) | ((unsigned)(SRC3 + i / PER_ADDR) << 8) | 1u);
    if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) { close(fd); P[i].state = ST_DEAD; failed++; continue; }
    P[i].fd = fd; P[i].state = ST_CONNECTING; inflight++;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    if (connect(fd, (struct sockaddr *)&target, sizeof target) != 0 && errno != EINPROGRESS) die_phone(i);
  }
}

int main(int argc, char **argv) {
  const char *tgt = "127.0.0.1:2000";
  for (int a = 1; a + 1 < argc; a += 2) {
    if (!strcmp(argv[a], "--target")) tgt = argv[a + 1];
    else if (!strcmp(argv[a], "--phones")) N = atoi(argv[a + 1]);
    else if (!strcmp(argv[a], "--proto")) PROTO = atoi(argv[a + 1]);
    else if (!strcmp(argv[a], "--ka")) KA = atoi(argv[a + 1]);
    else if (!strcmp(argv[a], "--hold")) HOLD = atoi(argv[a + 1]);
    else if (!strcmp(argv[a], "--inflight")) INFL = atoi(argv[a + 1]);
    else if (!strcmp(argv[a], "--src3")) SRC3 = atoi(argv[a + 1]);
    else if (!strcmp(argv[a], "--server-pid")) server_pid = atol(argv[a + 1]);
    else { fprintf(stderr, "unknown arg %s\n", argv[a]); return 2; }
  }
  if (N <= 0 || N > 19000 || HOLD < 0 || HOLD > 600 || KA < 1) { fprintf(stderr, "bounds: 1..19000 phones, hold 0..600 s\n"); return 2; }
  char host[64]; snprintf(host, sizeof host, "%s", tgt); char *colon = strrchr(host, ':'); if (!colon) return 2; *colon = 0;
  target.sin_family = AF_INET; target.sin_port = htons(atoi(colon + 1));
  if (inet_pton(AF_INET, host, &target.sin_addr) != 1 || (ntohl(target.sin_addr.s_addr) >> 24) != 127) { fprintf(stderr, "target must be 127.0.0.0/8\n"); return 2; }
  struct rlimit rl; getrlimit(RLIMIT_NOFILE, &rl); rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl);
  P = calloc(N, sizeof *P); for (int i = 0; i < N; i++) P[i].fd = -1;
  ep = epoll_create1(0);
  long rss0 = server_pid ? rss_kb(server_pid) : -1, rss1 = -1;
  t_first = now();
  double deadline = t_first + 120; /* registration phase bound */
  struct epoll_event evs[512];
  double hold_end = 0; int sampled = 0;
  for (;;) {
    start_more();
    double t = now();
    if (!hold_end && (next_phone >= N && inflight == 0)) {
      hold_end = t + HOLD;
      fprintf(stderr, "registration phase: %ld registered, %ld rejected, %ld failed in %.2f s\n", registered, rejected, failed, t_last_reg - t_first);
    }
    if (!hold_end && t > deadline) { fprintf(stderr, "registration phase timed out\n"); hold_end = t + HOLD; }
    /* RSS after all registered and one full keepalive round (KA + 1 s) */
    if (hold_end && !sampled && t > hold_end - HOLD + KA + 1) { rss1 = server_pid ? rss_kb(server_pid) : -1; sampled = 1;
      fprintf(stderr, "after one keepalive round: server rss %ld kB (before %ld kB), ka sent %ld acked %ld\n", rss1, rss0, ka_sent, ka_acked); }
    if (hold_end && t > hold_end) break;
    int n = epoll_wait(ep, evs, 512, 10);
    for (int k = 0; k < n; k++) {
      int i = (int)evs[k].data.u32;
      if (P[i].state == ST_DEAD || P[i].fd < 0) continue;
      if (P[i].state == ST_CONNECTING) {
        int err = 0; socklen_t el = sizeof err; getsockopt(P[i].fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) { die_phone(i); continue; }
        if (evs[k].events & EPOLLOUT) {
          connected++; P[i].state = ST_REGISTERING;
          struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)i};
          epoll_ctl(ep, EPOLL_CTL_MOD, P[i].fd, &ev);
          send_register(i);
          continue;
        }
      }
      if (evs[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(i);
    }
    if (hold_end) {
      double t2 = now();
      for (int i = 0; i < N; i++)
        if (P[i].state == ST_REGISTERED && t2 >= P[i].next_ka && t2 < hold_end - 1) { send_ka(i); P[i].next_ka += KA; }
    }
  }
  /* grace: collect the last acks */
  double grace = now() + 2;
  while (now() < grace && ka_acked < ka_sent) {
    int n = epoll_wait(ep, evs, 512, 10);
    for (int k = 0; k < n; k++) { int i = (int)evs[k].data.u32; if (P[i].state != ST_DEAD && P[i].fd >= 0) on_readable(i); }
  }
  long rss2 = server_pid ? rss_kb(server_pid) : -1; /* at the end of the hold */
  double reg_s = t_last_reg - t_first;
  long held = 0; for (int i = 0; i < N; i++) if (P[i].state == ST_REGISTERED) held++;
  printf("RESULT workload=sccp-register phones=%d proto=%d registered=%ld held=%ld rejected=%ld failed=%ld reg_s=%.3f reg_rate=%.0f "
         "ka_interval=%d ka_sent=%ld ka_acked=%ld ka_missed=%ld rss_before_kb=%ld rss_after_kb=%ld rss_per_phone_b=%.0f rss_end_kb=%ld rss_end_per_phone_b=%.0f\n",
         N, PROTO, registered, held, rejected, failed, reg_s, reg_s > 0 ? registered / reg_s : 0, KA, ka_sent, ka_acked, ka_sent - ka_acked,
         rss0, rss1, (rss1 > 0 && rss0 > 0 && held > 0) ? (rss1 - rss0) * 1024.0 / held : -1,
         rss2, (rss2 > 0 && rss0 > 0 && held > 0) ? (rss2 - rss0) * 1024.0 / held : -1);
  for (int i = 0; i < N; i++) if (P[i].fd >= 0) close(P[i].fd);
  return 0;
}
