/*
 * linkproxy.c - a TCP proxy that makes loopback look like a poor link, for
 * the multi-process tests (tests/node/poorlink.sh) and for people who want
 * to watch stoad on a bad line.  See docs/testing.md.
 *
 *   linkproxy --listen HOST:PORT --to HOST:PORT [--delay MS] [--jitter MS]
 *             [--rate BYTES_PER_S] [--burst BYTES] [--buffer BYTES]
 *             [--stall-every A:B --stall-for S] [--cut-every A:B]
 *             [--seed N] [--stats FILE]
 *
 * Each accepted connection gets its own connection to --to, and each of the
 * two directions goes through the same model of a link, independently:
 *
 *   read -> [bottleneck: token bucket, --rate] -> [wire: --delay +- --jitter]
 *        -> write
 *
 * Bytes read wait in the bottleneck until the bucket has tokens for them,
 * then travel for delay + uniform(-jitter, +jitter) ms (at least 0).
 * Chunks leave in the order they came (one FIFO per direction) and a chunk
 * is never due before the chunk ahead of it, so jitter never reorders
 * bytes: it stretches gaps, as TCP's in-order delivery would on a real
 * link.  Both stages together hold at most --buffer bytes per direction
 * (256 KiB by default); beyond that the proxy stops reading from the
 * sender, so TCP back-pressure reaches it end to end.
 *
 * Events over the whole link, at random times (uniform in [A, B] seconds
 * after the previous one ended):
 *   stall  nothing moves in either direction for S seconds (reading goes
 *          on until the buffers are full): a link that freezes;
 *   cut    every current connection is closed on both sides with a reset
 *          (SO_LINGER 0), its buffered bytes lost; new connections are
 *          accepted as before.
 * With --seed the times of stalls and cuts are a function of the seed
 * alone; jitter draws are too, per connection, but which bytes each draw
 * applies to depends on how the kernel splits reads.
 *
 * Stats ("key value" lines) go to --stats FILE at start, every second and
 * at SIGTERM/SIGINT (atomically: written aside, then renamed); exit 0.
 *
 * Plain poll(), one thread: the proxy must not be the bottleneck it
 * simulates, and at test rates it is idle most of the time.  Everything a
 * connection holds is bounded by --buffer; the number of connections by
 * LP_CONNS_MAX.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define LP_CONNS_MAX 256
#define LP_READ_MAX (64 * 1024)
#define LP_BUFFER_DEFAULT (256 * 1024)

/* ---- randomness: splitmix64, small and reproducible everywhere ---------- */

typedef struct { uint64_t s; } lp_rng;

static uint64_t lp_rng_next(lp_rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double lp_rng_unit(lp_rng *r) { return (double)(lp_rng_next(r) >> 11) * 0x1.0p-53; }

/* ---- options and state ----------------------------------------------------- */

typedef struct {
  const char *listen, *to, *stats;
  uint64_t delay_us, jitter_us;
  uint64_t rate;                        /* bytes/s, 0: unlimited */
  uint64_t burst;                       /* bucket size, bytes */
  size_t buffer;                        /* per direction */
  double stall_a, stall_b, stall_for;   /* seconds, 0: no stalls */
  double cut_a, cut_b;                  /* seconds, 0: no cuts */
  uint64_t seed;
} lp_opts;

typedef struct lp_seg {                 /* a chunk of bytes in a direction */
  struct lp_seg *next;
  uint64_t due_us;                      /* in the wire: when it may be written */
  size_t off, len;
  uint8_t data[];
} lp_seg;

typedef struct {
  lp_seg *qh, *qt;                      /* bottleneck: waiting for tokens */
  lp_seg *ph, *pt;                      /* wire: due times non-decreasing */
  size_t qbytes, queued;                /* in the bottleneck; in both stages */
  double tokens;
  uint64_t refill_us, last_due_us;
  bool eof, shut, blocked;              /* source ended; FIN passed on; EAGAIN */
  lp_rng jit;
} lp_dir;

typedef struct {
  int fd[2];                            /* 0: accepted side, 1: upstream */
  bool connecting, dead;
  lp_dir d[2];                          /* d[i] carries fd[i] -> fd[1 - i] */
} lp_conn;

typedef struct {
  uint64_t up, down;                    /* bytes written: to upstream, to the client */
  uint64_t conns, open, connect_failures, refused;
  uint64_t cuts, cut_conns, stalls, stalled_us;
} lp_stats;

static lp_opts O;
static lp_stats S;
static lp_conn *C[LP_CONNS_MAX];
static int listen_fd = -1, listen_port;
static struct sockaddr_storage to_addr;
static socklen_t to_len;
static lp_rng rng_stall, rng_cut;
static uint64_t t0_us, stall_at_us, stall_end_us, cut_at_us, stats_at_us;
static bool stalled;
static volatile sig_atomic_t stop_sig;

static uint64_t lp_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void lp_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void lp_log(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "linkproxy [%.3f] ", (double)(lp_now_us() - t0_us) / 1e6);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* ---- parsing ------------------------------------------------------------------ */

static int lp_parse_u64(const char *s, uint64_t max, uint64_t *out) {
  char *end;
  if (!s || !*s || *s == '-') return -EINVAL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v > max) return -EINVAL;
  *out = v;
  return 0;
}

static int lp_parse_secs(const char *s, char stop, const char **rest, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end != stop || !isfinite(v) || v <= 0 || v > 86400) return -EINVAL;
  *out = v;
  if (rest) *rest = end + 1;
  return 0;
}

/* "A:B" in seconds, 0 < A <= B. */
static int lp_parse_range(const char *s, double *a, double *b) {
  const char *rest;
  if (lp_parse_secs(s, ':', &rest, a) || lp_parse_secs(rest, '\0', NULL, b) || *a > *b) return -EINVAL;
  return 0;
}

/* Resolves "HOST:PORT" or "[V6]:PORT" (numeric or a name). */
static int lp_resolve(const char *spec, bool passive, struct sockaddr_storage *sa, socklen_t *len) {
  char host[256];
  const char *colon = strrchr(spec, ':');
  if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof host) return -EINVAL;
  size_t hl = (size_t)(colon - spec);
  memcpy(host, spec, hl);
  host[hl] = '\0';
  if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
    memmove(host, host + 1, hl - 2);
    host[hl - 2] = '\0';
  }
  uint64_t port;
  if (lp_parse_u64(colon + 1, 65535, &port)) return -EINVAL;
  struct addrinfo hints = { 0 }, *ai = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  if (getaddrinfo(host, colon + 1, &hints, &ai) || !ai) return -EHOSTUNREACH;
  if (ai->ai_addrlen > sizeof *sa) {
    freeaddrinfo(ai);
    return -EINVAL;
  }
  memcpy(sa, ai->ai_addr, ai->ai_addrlen);
  *len = ai->ai_addrlen;
  freeaddrinfo(ai);
  return 0;
}

static void lp_usage(FILE *f) {
  fprintf(f,
          "usage: linkproxy --listen HOST:PORT --to HOST:PORT [--delay MS] [--jitter MS]\n"
          "                 [--rate BYTES_PER_S] [--burst BYTES] [--buffer BYTES]\n"
          "                 [--stall-every A:B --stall-for S] [--cut-every A:B]\n"
          "                 [--seed N] [--stats FILE]\n"
          "Delay, jitter, rate and buffer apply to each direction; stalls and cuts to\n"
          "every connection at once.  A, B, S in seconds (decimals allowed).\n");
}

static int lp_opts_parse(int argc, char **argv) {
  static const struct option lo[] = {
    { "listen", required_argument, NULL, 'l' },  { "to", required_argument, NULL, 't' },
    { "delay", required_argument, NULL, 'd' },   { "jitter", required_argument, NULL, 'j' },
    { "rate", required_argument, NULL, 'r' },    { "burst", required_argument, NULL, 'B' },
    { "buffer", required_argument, NULL, 'b' },  { "stall-every", required_argument, NULL, 'S' },
    { "stall-for", required_argument, NULL, 'F' }, { "cut-every", required_argument, NULL, 'C' },
    { "seed", required_argument, NULL, 's' },    { "stats", required_argument, NULL, 'o' },
    { "help", no_argument, NULL, 'h' },          { NULL, 0, NULL, 0 },
  };
  uint64_t v;
  bool seeded = false;
  int ch, li = 0;
  O.buffer = LP_BUFFER_DEFAULT;
  while ((ch = getopt_long(argc, argv, "h", lo, &li)) != -1) {
    int bad = 0;
    switch (ch) {
    case 'l': O.listen = optarg; break;
    case 't': O.to = optarg; break;
    case 'd': bad = lp_parse_u64(optarg, 600000, &v); O.delay_us = v * 1000; break;
    case 'j': bad = lp_parse_u64(optarg, 600000, &v); O.jitter_us = v * 1000; break;
    case 'r': bad = lp_parse_u64(optarg, 10000000000ULL, &O.rate); break;
    case 'B': bad = lp_parse_u64(optarg, 1 << 30, &O.burst) || O.burst == 0; break;
    case 'b': bad = lp_parse_u64(optarg, 1 << 30, &v) || v == 0; O.buffer = (size_t)v; break;
    case 'S': bad = lp_parse_range(optarg, &O.stall_a, &O.stall_b); break;
    case 'F': bad = lp_parse_secs(optarg, '\0', NULL, &O.stall_for); break;
    case 'C': bad = lp_parse_range(optarg, &O.cut_a, &O.cut_b); break;
    case 's': bad = lp_parse_u64(optarg, UINT64_MAX, &O.seed); seeded = true; break;
    case 'o': O.stats = optarg; break;
    case 'h': lp_usage(stdout); exit(0);
    default: lp_usage(stderr); return -EINVAL;
    }
    if (bad) {
      fprintf(stderr, "linkproxy: bad value for --%s: '%s'\n", lo[li].name, optarg);
      return -EINVAL;
    }
  }
  if (optind != argc || !O.listen || !O.to) {
    lp_usage(stderr);
    return -EINVAL;
  }
  if ((O.stall_a > 0) != (O.stall_for > 0)) {
    fprintf(stderr, "linkproxy: --stall-every and --stall-for go together\n");
    return -EINVAL;
  }
  /* The bucket holds 50 ms of traffic by default: small bursts, as a
   * modem's or a radio link's queue would let through. */
  if (O.rate && !O.burst) O.burst = O.rate / 20 ? O.rate / 20 : 1;
  if (!seeded) O.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
  return 0;
}

/* ---- stats -------------------------------------------------------------------- */

/* Writes the stats file aside and renames it, so that a reader never sees
 * half of it.  Failures are reported once per call and otherwise ignored:
 * stats must not stop the traffic. */
static void lp_stats_write(uint64_t now) {
  if (!O.stats) return;
  char tmp[4096];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", O.stats) >= sizeof tmp) return;
  FILE *f = fopen(tmp, "w");
  if (!f) {
    lp_log("cannot write %s: %s", tmp, strerror(errno));
    return;
  }
  uint64_t st = S.stalled_us + (stalled ? now - (stall_end_us - (uint64_t)(O.stall_for * 1e6)) : 0);
  fprintf(f,
          "listen_port %d\nup_bytes %" PRIu64 "\ndown_bytes %" PRIu64 "\nconnections %" PRIu64
          "\nopen %" PRIu64 "\nconnect_failures %" PRIu64 "\nrefused %" PRIu64 "\ncuts %" PRIu64
          "\ncut_connections %" PRIu64 "\nstalls %" PRIu64 "\nstalled_ms %" PRIu64 "\nuptime_ms %" PRIu64
          "\nseed %" PRIu64 "\n",
          listen_port, S.up, S.down, S.conns, S.open, S.connect_failures, S.refused, S.cuts, S.cut_conns,
          S.stalls, st / 1000, (now - t0_us) / 1000, O.seed);
  if (fclose(f) || rename(tmp, O.stats)) lp_log("cannot write %s: %s", O.stats, strerror(errno));
}

/* ---- connections ----------------------------------------------------------------- */

static void lp_dir_free(lp_dir *d) {
  for (lp_seg *s = d->qh, *n; s; s = n) {
    n = s->next;
    free(s);
  }
  for (lp_seg *s = d->ph, *n; s; s = n) {
    n = s->next;
    free(s);
  }
  memset(d, 0, sizeof *d);
}

/* Closes both sides.  With reset, SO_LINGER 0 makes close() send RST, so
 * that nothing buffered in the kernel reaches the peer after a cut. */
static void lp_conn_close(lp_conn *c, bool reset) {
  for (int i = 0; i < 2; i++) {
    if (c->fd[i] < 0) continue;
    if (reset) {
      struct linger l = { 1, 0 };
      setsockopt(c->fd[i], SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close(c->fd[i]);
    c->fd[i] = -1;
  }
  lp_dir_free(&c->d[0]);
  lp_dir_free(&c->d[1]);
  c->dead = true;
}

static void lp_accept(uint64_t now) {
  for (;;) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
        lp_log("accept: %s", strerror(errno));
      return;
    }
    int slot = -1;
    for (int i = 0; i < LP_CONNS_MAX; i++)
      if (!C[i]) {
        slot = i;
        break;
      }
    lp_conn *c = slot >= 0 ? calloc(1, sizeof *c) : NULL;
    if (!c) {
      S.refused++;
      close(fd);
      continue;
    }
    c->fd[0] = fd;
    c->fd[1] = socket(to_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (c->fd[1] < 0 ||
        (setsockopt(c->fd[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one),
         connect(c->fd[1], (struct sockaddr *)&to_addr, to_len) && errno != EINPROGRESS)) {
      lp_log("connect to %s: %s", O.to, strerror(errno));
      S.connect_failures++;
      lp_conn_close(c, true);
      free(c);
      continue;
    }
    c->connecting = true;
    S.conns++;
    S.open++;
    for (int i = 0; i < 2; i++) {
      /* One jitter stream per connection and direction, from the seed. */
      c->d[i].jit.s = O.seed ^ (S.conns * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)(i + 1) << 56;
      c->d[i].tokens = (double)O.burst;
      c->d[i].refill_us = now;
    }
    C[slot] = c;
  }
}

static void lp_conn_connected(lp_conn *c) {
  int err = 0;
  socklen_t l = sizeof err;
  if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &l) || err) {
    lp_log("connect to %s: %s", O.to, strerror(err ? err : errno));
    S.connect_failures++;
    lp_conn_close(c, true);
    return;
  }
  c->connecting = false;
}

/* Reads what the buffer has room for from side i into its bottleneck. */
static void lp_conn_read(lp_conn *c, int i) {
  static uint8_t buf[LP_READ_MAX];
  lp_dir *d = &c->d[i];
  size_t room = d->queued < O.buffer ? O.buffer - d->queued : 0;
  if (room > sizeof buf) room = sizeof buf;
  if (room == 0) return;
  ssize_t n = recv(c->fd[i], buf, room, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    lp_conn_close(c, true); /* the reset goes on to the other side */
    return;
  }
  if (n == 0) {
    d->eof = true;
    return;
  }
  lp_seg *s = malloc(sizeof *s + (size_t)n);
  if (!s) {
    lp_log("out of memory");
    lp_conn_close(c, true);
    return;
  }
  s->next = NULL;
  s->due_us = 0;
  s->off = 0;
  s->len = (size_t)n;
  memcpy(s->data, buf, (size_t)n);
  if (d->qt) d->qt->next = s;
  else d->qh = s;
  d->qt = s;
  d->qbytes += (size_t)n;
  d->queued += (size_t)n;
}

/* When bytes leaving the bottleneck now may be written: now + delay +
 * uniform(-jitter, +jitter), never before the bytes ahead of them. */
static uint64_t lp_dir_due(lp_dir *d, uint64_t now) {
  int64_t t = (int64_t)O.delay_us;
  if (O.jitter_us) t += (int64_t)(lp_rng_unit(&d->jit) * (double)(2 * O.jitter_us + 1)) - (int64_t)O.jitter_us;
  uint64_t due = now + (uint64_t)(t > 0 ? t : 0);
  if (due < d->last_due_us) due = d->last_due_us;
  d->last_due_us = due;
  return due;
}

static void lp_wire_push(lp_dir *d, lp_seg *s) {
  s->next = NULL;
  if (d->pt) d->pt->next = s;
  else d->ph = s;
  d->pt = s;
}

/* Moves up to k bytes from the bottleneck onto the wire. */
static int lp_dir_release(lp_dir *d, size_t k, uint64_t now) {
  while (k > 0 && d->qh) {
    lp_seg *h = d->qh, *s;
    size_t left = h->len - h->off;
    if (left <= k) {
      d->qh = h->next;
      if (!d->qh) d->qt = NULL;
      s = h;
    } else {
      if (!(s = malloc(sizeof *s + k))) return -ENOMEM;
      memcpy(s->data, h->data + h->off, k);
      s->off = 0;
      s->len = k;
      h->off += k;
      left = k;
    }
    s->due_us = lp_dir_due(d, now);
    lp_wire_push(d, s);
    d->qbytes -= left;
    k -= left;
  }
  return 0;
}

/* Moves direction i as far as time, tokens and the socket allow; passes on
 * the end of the stream once everything before it went out. */
static void lp_dir_pump(lp_conn *c, int i, uint64_t now) {
  lp_dir *d = &c->d[i];
  int to = c->fd[1 - i];
  if (O.rate) {
    d->tokens += (double)(now - d->refill_us) * (double)O.rate / 1e6;
    if (d->tokens > (double)O.burst) d->tokens = (double)O.burst;
  }
  d->refill_us = now;
  if (stalled) return;
  size_t k = d->qbytes;
  if (O.rate && (double)k > d->tokens) k = (size_t)d->tokens;
  if (k && lp_dir_release(d, k, now)) {
    lp_conn_close(c, true);
    return;
  }
  if (O.rate) d->tokens -= (double)k;
  while (d->ph && d->ph->due_us <= now && !d->blocked) {
    lp_seg *h = d->ph;
    ssize_t n = send(to, h->data + h->off, h->len - h->off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) d->blocked = true;
      else if (errno != EINTR) {
        lp_conn_close(c, true);
        return;
      }
      continue;
    }
    if (i == 0) S.up += (uint64_t)n;
    else S.down += (uint64_t)n;
    h->off += (size_t)n;
    d->queued -= (size_t)n;
    if (h->off == h->len) {
      d->ph = h->next;
      if (!d->ph) d->pt = NULL;
      free(h);
    }
  }
  if (d->eof && d->queued == 0 && !d->shut) {
    shutdown(to, SHUT_WR);
    d->shut = true;
  }
}

/* ---- events over the whole link --------------------------------------------------- */

static uint64_t lp_draw(lp_rng *r, double a, double b, uint64_t from) {
  return from + (uint64_t)((a + (b - a) * lp_rng_unit(r)) * 1e6);
}

static void lp_events(uint64_t now) {
  if (O.cut_a > 0 && now >= cut_at_us) {
    uint64_t n = 0;
    for (int i = 0; i < LP_CONNS_MAX; i++)
      if (C[i] && !C[i]->dead) {
        lp_conn_close(C[i], true);
        n++;
      }
    S.cuts++;
    S.cut_conns += n;
    cut_at_us = lp_draw(&rng_cut, O.cut_a, O.cut_b, now);
    lp_log("cut %" PRIu64 ": closed %" PRIu64 " connection(s); next cut in %.3f s", S.cuts, n,
           (double)(cut_at_us - now) / 1e6);
  }
  if (O.stall_a > 0) {
    if (!stalled && now >= stall_at_us) {
      stalled = true;
      stall_end_us = now + (uint64_t)(O.stall_for * 1e6);
      S.stalls++;
      lp_log("stall %" PRIu64 " for %.3f s", S.stalls, O.stall_for);
    } else if (stalled && now >= stall_end_us) {
      stalled = false;
      S.stalled_us += (uint64_t)(O.stall_for * 1e6);
      stall_at_us = lp_draw(&rng_stall, O.stall_a, O.stall_b, now);
      lp_log("stall %" PRIu64 " over; next stall in %.3f s", S.stalls, (double)(stall_at_us - now) / 1e6);
    }
  }
}

/* ---- main loop ------------------------------------------------------------------------ */

static void lp_on_signal(int sig) { stop_sig = sig; }

static int lp_listen(void) {
  struct sockaddr_storage sa;
  socklen_t len;
  int one = 1, r;
  if ((r = lp_resolve(O.listen, true, &sa, &len))) {
    fprintf(stderr, "linkproxy: cannot resolve --listen %s\n", O.listen);
    return r;
  }
  if ((r = lp_resolve(O.to, false, &to_addr, &to_len))) {
    fprintf(stderr, "linkproxy: cannot resolve --to %s\n", O.to);
    return r;
  }
  listen_fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd < 0) return -errno;
  setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listen_fd, (struct sockaddr *)&sa, len) || listen(listen_fd, 128)) {
    r = -errno;
    fprintf(stderr, "linkproxy: cannot listen on %s: %s\n", O.listen, strerror(errno));
    return r;
  }
  len = sizeof sa;
  if (getsockname(listen_fd, (struct sockaddr *)&sa, &len)) return -errno;
  listen_port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                                : ((struct sockaddr_in *)&sa)->sin_port);
  return 0;
}

/* Microseconds until something needs doing, at most a second. */
static uint64_t lp_next_wait(uint64_t now) {
  uint64_t w = 1000000;
#define LP_SOONER(t) do { uint64_t t_ = (t); w = t_ <= now ? 0 : (t_ - now < w ? t_ - now : w); } while (0)
  if (O.stats) LP_SOONER(stats_at_us);
  if (O.cut_a > 0) LP_SOONER(cut_at_us);
  if (O.stall_a > 0) LP_SOONER(stalled ? stall_end_us : stall_at_us);
  if (stalled) return w;
  for (int i = 0; i < LP_CONNS_MAX; i++) {
    lp_conn *c = C[i];
    if (!c || c->dead || c->connecting) continue;
    for (int k = 0; k < 2; k++) {
      lp_dir *d = &c->d[k];
      if (d->ph && !d->blocked) LP_SOONER(d->ph->due_us);
      if (d->qbytes && O.rate) {
        /* Wake when ~10 ms of traffic (or all that waits) can go, not
         * for every byte: at 8000 B/s a byte is due every 125 us. */
        double need = (double)(O.rate / 100 ? O.rate / 100 : 1);
        if (need > (double)O.burst) need = (double)O.burst;
        if (need > (double)d->qbytes) need = (double)d->qbytes;
        double lack = need - d->tokens;
        LP_SOONER(now + (lack > 0 ? (uint64_t)(lack * 1e6 / (double)O.rate) + 1 : 0));
      }
    }
  }
#undef LP_SOONER
  return w;
}

static int lp_run(void) {
  static struct pollfd pf[1 + 2 * LP_CONNS_MAX];
  static lp_conn *owner[1 + 2 * LP_CONNS_MAX];
  static int side[1 + 2 * LP_CONNS_MAX];
  while (!stop_sig) {
    uint64_t now = lp_now_us();
    lp_events(now);
    for (int i = 0; i < LP_CONNS_MAX; i++) {
      lp_conn *c = C[i];
      if (c && !c->dead && !c->connecting) {
        lp_dir_pump(c, 0, now);
        if (!c->dead) lp_dir_pump(c, 1, now);
        if (!c->dead && c->d[0].shut && c->d[1].shut) lp_conn_close(c, false);
      }
      if (c && c->dead) {
        S.open--;
        free(c);
        C[i] = NULL;
      }
    }
    if (O.stats && now >= stats_at_us) {
      lp_stats_write(now);
      stats_at_us = now + 1000000;
    }
    /* Only descriptors with something to wait for are polled (the others
     * are -1), so that a hung-up socket we do not read cannot spin us. */
    int n = 0;
    pf[n] = (struct pollfd){ listen_fd, POLLIN, 0 };
    owner[n++] = NULL;
    for (int i = 0; i < LP_CONNS_MAX; i++) {
      lp_conn *c = C[i];
      if (!c) continue;
      for (int k = 0; k < 2; k++) {
        short ev = 0;
        if (c->connecting) ev = k == 1 ? POLLOUT : 0;
        else {
          if (!c->d[k].eof && c->d[k].queued < O.buffer) ev |= POLLIN;
          if (c->d[1 - k].blocked) ev |= POLLOUT;
        }
        pf[n] = (struct pollfd){ ev ? c->fd[k] : -1, ev, 0 };
        owner[n] = c;
        side[n++] = k;
      }
    }
    uint64_t w = lp_next_wait(now);
    int r = poll(pf, (nfds_t)n, (int)((w + 999) / 1000));
    if (r < 0) {
      if (errno == EINTR) continue;
      lp_log("poll: %s", strerror(errno));
      return -errno;
    }
    now = lp_now_us();
    if (pf[0].revents) lp_accept(now);
    for (int j = 1; j < n; j++) {
      lp_conn *c = owner[j];
      int k = side[j];
      short re = pf[j].revents;
      if (!re || c->dead) continue;
      if (c->connecting) {
        lp_conn_connected(c);
        continue;
      }
      if (re & POLLOUT) c->d[1 - k].blocked = false;
      if (re & (POLLIN | POLLHUP | POLLERR)) {
        if (pf[j].events & POLLIN) lp_conn_read(c, k);
        else if (re & (POLLERR | POLLHUP)) c->d[1 - k].blocked = false; /* the send will say */
      }
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  int r;
  t0_us = lp_now_us();
  if (lp_opts_parse(argc, argv)) return 2;
  struct sigaction sa = { 0 };
  sa.sa_handler = lp_on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  if ((r = lp_listen())) return 1;
  rng_stall.s = O.seed ^ 0x5354414c4cULL; /* "STALL" */
  rng_cut.s = O.seed ^ 0x435554ULL;       /* "CUT" */
  uint64_t now = lp_now_us();
  if (O.cut_a > 0) {
    cut_at_us = lp_draw(&rng_cut, O.cut_a, O.cut_b, now);
    lp_log("first cut in %.3f s", (double)(cut_at_us - now) / 1e6);
  }
  if (O.stall_a > 0) {
    stall_at_us = lp_draw(&rng_stall, O.stall_a, O.stall_b, now);
    lp_log("first stall in %.3f s", (double)(stall_at_us - now) / 1e6);
  }
  lp_log("listening on port %d, to %s: delay %" PRIu64 " ms, jitter %" PRIu64 " ms, rate %" PRIu64
         " B/s, buffer %zu B, stalls %g-%g s for %g s, cuts %g-%g s, seed %" PRIu64,
         listen_port, O.to, O.delay_us / 1000, O.jitter_us / 1000, O.rate, O.buffer, O.stall_a, O.stall_b,
         O.stall_for, O.cut_a, O.cut_b, O.seed);
  r = lp_run();
  now = lp_now_us();
  lp_stats_write(now);
  lp_log("stopping (signal %d): up %" PRIu64 " B, down %" PRIu64 " B, %" PRIu64 " connection(s), %" PRIu64
         " cut(s), %" PRIu64 " stall(s)",
         (int)stop_sig, S.up, S.down, S.conns, S.cuts, S.stalls);
  for (int i = 0; i < LP_CONNS_MAX; i++)
    if (C[i]) {
      lp_conn_close(C[i], false);
      free(C[i]);
    }
  close(listen_fd);
  return r ? 1 : 0;
}
