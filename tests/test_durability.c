/*
 * test_durability.c - the store keeps everything when its map is far too
 * small, when another process grows the map under it, and when a process
 * dies holding a read transaction (issue 5).
 *
 * - A store opened with a 64 KiB map takes 20,000 records, in batches large
 *   and small, growing its map many times: every record is there after, in
 *   order, searchable, and store_verify finds nothing wrong, also after
 *   reopening.
 * - Two processes share a store with small maps: one grows it far beyond
 *   what the other mapped; the other then reads and writes on (LMDB's
 *   MDB_MAP_RESIZED path).
 * - A process holding a read transaction is killed with SIGKILL while
 *   another keeps the environment open (so that LMDB does not simply reset
 *   its lock file at the next open): its reader slot stays, and the next
 *   store_open clears it.  The reader table is read with mdb_reader_list,
 *   as `mdb_stat -r` shows it.
 *
 * Children are plain fork()s that never touch an environment of the parent
 * (the parent opens none while children run).  Records are built and signed
 * here with fixed keys, as in test_store.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <ftw.h>
#include <lmdb.h>
#include <msgpack.h>
#include <signal.h>
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/charter.h"
#include "proto/err.h"
#include "proto/record.h"
#include "store/store.h"

#define NOW 1700000000000ull
#define T0 (NOW - 100000000ull)

/* ---- records ---------------------------------------------------------------- */

typedef struct key {
  uint8_t pk[KEY_LEN];
  uint8_t sk[64];
} key;

typedef struct fed {
  uint8_t ch[CHARTER_MAX];
  size_t chlen;
  uint8_t id[HASH_LEN];
} fed;

typedef struct rb {
  size_t len;
  uint8_t hash[HASH_LEN];
  uint8_t b[400];
} rb;

static key K;
static fed F;

static int fed_setup(void) {
  uint8_t seed[crypto_sign_SEEDBYTES];
  uint8_t sks[1][64];
  charter c;
  int e;
  memset(seed, 7, sizeof seed);
  crypto_sign_seed_keypair(K.pk, K.sk, seed);
  memcpy(sks[0], K.sk, 64);
  e = charter_build("Durability federation", 1, (const uint8_t (*)[64])sks, 1,
                    NOW - 365 * 24 * 3600 * 1000ull, F.ch, sizeof F.ch, &F.chlen);
  sodium_memzero(sks, sizeof sks);
  if (e || charter_decode(F.ch, F.chlen, &c)) return -1;
  memcpy(F.id, c.id, HASH_LEN);
  return 0;
}

static void pack_str(msgpack_packer *pk, const char *s) { msgpack_pack_str_with_body(pk, s, strlen(s)); }

/* Org number i: a fixed id and timestamp per i, so that runs repeat. */
static void mk_org(rb *o, uint64_t i) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  uint8_t id[ID_LEN], c[8];
  char name[64];
  rec r;
  memcpy(c, &i, 8);
  crypto_generichash_blake2b(id, ID_LEN, c, 8, (const uint8_t *)"durab", 5);
  snprintf(name, sizeof name, "Durable association n%llu", (unsigned long long)i);
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 3);
  pack_str(&pk, "name");
  pack_str(&pk, name);
  pack_str(&pk, "country");
  pack_str(&pk, i % 2 ? "FR" : "GR");
  pack_str(&pk, "type");
  pack_str(&pk, "ngo");
  assert_int_equal(rec_build(REC_ORG, K.pk, id, T0 + i, K.sk, (const uint8_t *)sb.data, sb.size,
                             F.id, o->b, sizeof o->b, &o->len), 0);
  msgpack_sbuffer_destroy(&sb);
  assert_int_equal(rec_decode(o->b, o->len, &r), 0);
  memcpy(o->hash, r.hash, HASH_LEN);
}

/* Ingests r[0..n) in one batch; every one must be new. */
static int ingest(store *s, rb *r, size_t n, size_t *fresh) {
  store_item *it = calloc(n, sizeof *it);
  store_counts c = { 0 };
  int e;
  assert_non_null(it);
  for (size_t i = 0; i < n; i++) {
    it[i].buf = r[i].b;
    it[i].len = r[i].len;
    assert_int_equal(rec_decode(r[i].b, r[i].len, &it[i].r), 0);
    it[i].sig_ok = rec_verify(&it[i].r, F.id) == 0;
  }
  e = store_ingest(s, it, n, NOW, &c);
  if (!e)
    for (size_t i = 0; i < n; i++) assert_int_equal(it[i].status, ST_NEW);
  free(it);
  if (fresh) *fresh = c.fresh;
  return e;
}

static store_stats stats(store *s) {
  store_rd *rd;
  store_stats st;
  assert_int_equal(store_rd_begin(s, &rd), 0);
  assert_int_equal(store_stats_get(rd, &st), 0);
  store_rd_end(rd);
  return st;
}

typedef struct scan_ctx { uint64_t n, bad; } scan_ctx;
static int scan_cb(void *ctx, uint64_t seq, const uint8_t *buf, size_t len) {
  scan_ctx *x = ctx;
  rec r;
  if (seq != x->n + 1 || rec_decode(buf, len, &r)) x->bad++;
  x->n++;
  return 0;
}

/* Every one of r[0..n) is held, the sequence runs 1..n without a gap, and
 * store_verify finds nothing wrong. */
static void expect_all(store *s, const rb *r, size_t n) {
  store_rd *rd;
  scan_ctx sc = { 0, 0 };
  size_t missing = 0;
  assert_int_equal(store_rd_begin(s, &rd), 0);
  for (size_t i = 0; i < n; i++) missing += !store_has(rd, r[i].hash);
  assert_int_equal(store_scan(rd, 1, scan_cb, &sc), 0);
  assert_int_equal(store_last_seq(rd), n);
  store_rd_end(rd);
  assert_int_equal(missing, 0);
  assert_int_equal(sc.n, n);
  assert_int_equal(sc.bad, 0);
  assert_int_equal(stats(s).records, n);
  assert_int_equal(store_verify(s, NULL), 0);
}

/* ---- scratch folders ---------------------------------------------------------- */

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb; (void)flag; (void)ftw;
  return remove(p);
}

typedef struct fx {
  char dir[256];
  rb *r;
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  const char *tmp = getenv("TMPDIR");
  if (!f) return -1;
  snprintf(f->dir, sizeof f->dir, "%s/stoa-test-durab-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(f->dir)) { free(f); return -1; }
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  nftw(f->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
  free(f->r);
  free(f);
  return 0;
}

static rb *make_records(fx *f, size_t n) {
  f->r = calloc(n, sizeof *f->r);
  assert_non_null(f->r);
  for (size_t i = 0; i < n; i++) mk_org(&f->r[i], i);
  return f->r;
}

/* ---- a tiny map grows through a large ingest -------------------------------------------- */

static void test_tiny_map_large_ingest(void **state) {
  fx *f = *state;
  enum { N = 20000 };
  /* Batches of every size: one larger than the whole initial map many
   * times over, then middling ones, then single records. */
  static const size_t sizes[] = { 8192, 3000, 1000, 1000, 500, 5000, 1, 1, 1, 1 };
  store_opts o = { .map_size = 64 * 1024 };
  store *s = NULL;
  rb *r = make_records(f, N);
  size_t done = 0, fresh;

  int e = store_open(&s, f->dir, &o);
  if (e) fail_msg("store_open with a 64 KiB map: %s", stoa_strerror(e));
  assert_int_equal(store_set_charter(s, F.ch, F.chlen), 0);
  uint64_t map0 = stats(s).map_size;
  print_message("map at open: %llu bytes\n", (unsigned long long)map0);
  assert_true(map0 <= 1024 * 1024);
  for (size_t k = 0; done < N; k++) {
    size_t n = k < sizeof sizes / sizeof *sizes ? sizes[k] : 700;
    if (n > N - done) n = N - done;
    e = ingest(s, r + done, n, &fresh);
    if (e) fail_msg("batch %zu (%zu records after %zu): %s", k, n, done, stoa_strerror(e));
    assert_int_equal(fresh, n);
    done += n;
  }
  store_stats st = stats(s);
  print_message("map after %d records: %llu bytes (%llu used)\n", N,
                (unsigned long long)st.map_size, (unsigned long long)st.used_bytes);
  assert_true(st.map_size > map0);
  assert_true(st.used_bytes <= st.map_size);
  expect_all(s, r, N);

  /* Reopened with the tiny size asked again: all there, and it writes on. */
  store_close(s);
  s = NULL;
  assert_int_equal(store_open(&s, f->dir, &o), 0);
  expect_all(s, r, N);
  rb more;
  mk_org(&more, N);
  assert_int_equal(ingest(s, &more, 1, &fresh), 0);
  assert_int_equal(fresh, 1);
  store_close(s);
}

/* ---- another process grows the map ------------------------------------------------------- */

static void test_map_grown_by_other_process(void **state) {
  fx *f = *state;
  enum { N = 6000, FIRST = 200 };
  store_opts o = { .map_size = 128 * 1024 };
  store *s = NULL;
  rb *r = make_records(f, N);
  int pfd[2], status;
  char c;

  assert_int_equal(store_open(&s, f->dir, &o), 0);
  assert_int_equal(store_set_charter(s, F.ch, F.chlen), 0);
  assert_int_equal(ingest(s, r, FIRST, NULL), 0);
  uint64_t map0 = stats(s).map_size;

  /* The child opens the store on its own (fork without touching ours) and
   * ingests enough to grow the map many times. */
  assert_int_equal(pipe(pfd), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    store *cs = NULL;
    int rc = 0;
    close(pfd[0]);
    if (store_open(&cs, f->dir, &o)) _exit(10);
    for (size_t i = FIRST; i < N - 100 && !rc; i += 1000) {
      size_t n = i + 1000 <= N - 100 ? 1000 : N - 100 - i;
      store_item *it = calloc(n, sizeof *it);
      store_counts cnt = { 0 };
      if (!it) _exit(11);
      for (size_t j = 0; j < n; j++) {
        it[j].buf = r[i + j].b;
        it[j].len = r[i + j].len;
        if (rec_decode(it[j].buf, it[j].len, &it[j].r)) _exit(12);
        it[j].sig_ok = true;
      }
      rc = store_ingest(cs, it, n, NOW, &cnt) ? 13 : cnt.fresh != n ? 14 : 0;
      free(it);
    }
    store_close(cs);
    if (write(pfd[1], "x", 1) != 1) _exit(15);
    _exit(rc);
  }
  close(pfd[1]);
  assert_int_equal(read(pfd[0], &c, 1), 1);
  close(pfd[0]);
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);

  /* This process still has the small map: it must read everything the
   * child wrote and write on. */
  assert_int_equal(ingest(s, r + N - 100, 100, NULL), 0);
  store_stats st = stats(s);
  print_message("map here before %llu, after %llu bytes\n", (unsigned long long)map0,
                (unsigned long long)st.map_size);
  assert_true(st.map_size > map0);
  expect_all(s, r, N);
  store_close(s);
}

/* ---- stale reader slots ----------------------------------------------------------------------- */

typedef struct rl_ctx { pid_t pid; int n, all; } rl_ctx;

/* mdb_reader_list's lines: "    pid     thread     txnid" (a title first). */
static int rl_cb(const char *msg, void *ctx) {
  rl_ctx *x = ctx;
  long pid;
  if (sscanf(msg, " %ld", &pid) == 1) {
    x->all++;
    if (pid == (long)x->pid) x->n++;
  }
  return 0;
}

/* In a child: the slots of pid in the store's reader table, read with a
 * plain LMDB environment that clears nothing (the exit status). */
static int readers_of(const char *dir, pid_t pid) {
  pid_t c = fork();
  int status;
  if (c == 0) {
    MDB_env *env;
    rl_ctx x = { pid, 0, 0 };
    if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 32) || mdb_env_set_maxreaders(env, 254) ||
        mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0600))
      _exit(100);
    mdb_reader_list(env, rl_cb, &x);
    mdb_env_close(env);
    _exit(x.n);
  }
  assert_true(c > 0);
  assert_int_equal(waitpid(c, &status, 0), c);
  assert_true(WIFEXITED(status));
  assert_int_not_equal(WEXITSTATUS(status), 100);
  return WEXITSTATUS(status);
}

/* In a child: store_open, store_close (the exit status: 0 or 1). */
static int open_close(const char *dir) {
  pid_t c = fork();
  int status;
  if (c == 0) {
    store *s = NULL;
    int e = store_open(&s, dir, NULL);
    store_close(s);
    _exit(e ? 1 : 0);
  }
  assert_true(c > 0);
  assert_int_equal(waitpid(c, &status, 0), c);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}

static void test_stale_reader_cleared(void **state) {
  fx *f = *state;
  int kp[2], kr[2], hp[2], status;
  char c;
  rb *r = make_records(f, 50);

  {
    store *s = NULL;
    assert_int_equal(store_open(&s, f->dir, NULL), 0);
    assert_int_equal(store_set_charter(s, F.ch, F.chlen), 0);
    assert_int_equal(ingest(s, r, 50, NULL), 0);
    store_close(s);
  }
  /* The keeper holds the environment open (as a running stoad would) until
   * its pipe closes: LMDB resets a lock file nobody holds, which would hide
   * what this test is about. */
  assert_int_equal(pipe(kp), 0);
  assert_int_equal(pipe(kr), 0);
  pid_t keeper = fork();
  assert_true(keeper >= 0);
  if (keeper == 0) {
    store *s = NULL;
    close(kp[1]);
    close(kr[0]);
    if (store_open(&s, f->dir, NULL)) _exit(1);
    if (write(kr[1], "k", 1) != 1) _exit(2);
    if (read(kp[0], &c, 1) < 0) _exit(3);
    store_close(s);
    _exit(0);
  }
  close(kp[0]);
  close(kr[1]);
  assert_int_equal(read(kr[0], &c, 1), 1);
  close(kr[0]);

  /* The holder opens the store, begins a read snapshot, says so, waits. */
  assert_int_equal(pipe(hp), 0);
  pid_t holder = fork();
  assert_true(holder >= 0);
  if (holder == 0) {
    store *s = NULL;
    store_rd *rd;
    close(hp[0]);
    if (store_open(&s, f->dir, NULL) || store_rd_begin(s, &rd)) _exit(1);
    if (write(hp[1], "r", 1) != 1) _exit(2);
    for (;;) pause();
  }
  close(hp[1]);
  assert_int_equal(read(hp[0], &c, 1), 1);
  close(hp[0]);
  assert_int_equal(readers_of(f->dir, holder), 1);

  assert_int_equal(kill(holder, SIGKILL), 0);
  assert_int_equal(waitpid(holder, &status, 0), holder);
  assert_true(WIFSIGNALED(status));
  /* Dead, and its slot still taken: nothing has looked yet. */
  assert_int_equal(readers_of(f->dir, holder), 1);

  /* The next store_open clears it. */
  assert_int_equal(open_close(f->dir), 0);
  assert_int_equal(readers_of(f->dir, holder), 0);

  close(kp[1]);
  assert_int_equal(waitpid(keeper, &status, 0), keeper);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}


/* ---- helper: a sender that logs what it saw acknowledged ---------------------------- */

/*
 *   test_durability sender HOME HOST:PORT BUNDLE PER_MSG WINDOW ACK_WAIT_MS
 *
 * Plays a peer for tests/node/crash.sh (STYLE 11: helper processes play the
 * other peers).  Dials a stoad as the node of HOME (its node key, endorsed
 * by its network), and sends the records of BUNDLE in RECORDS messages of
 * PER_MSG records, at most WINDOW messages unacknowledged.  A stoad sends
 * one ACK per RECORDS message, in order, after the transaction holding it
 * committed (node/peer.c node_commit).  For each ACK this prints
 * "acked HASH" for every record of the oldest unacknowledged message, HASH
 * being the BLAKE2b-256 of the record's envelope as tests/cli/lib.sh's
 * `bundle records` prints it; "noack I" when message I was not
 * acknowledged within ACK_WAIT_MS (it is then given up, and the next sent);
 * "closed" when the daemon went away.  Output is flushed line by line, so
 * what was printed before a SIGKILL of the daemon is what it acknowledged.
 * Exit: 0 all sent (or closed), 1 setup failed.
 */
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include "cli/keys.h"
#include "proto/bundle.h"
#include "proto/noise.h"
#include "proto/wire.h"

static int sfd = -1;
static noise_cs stx, srx;
static uint8_t sframe[WIRE_FRAME_MAX], spt[WIRE_FRAME_MAX];

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int s_write_all(const uint8_t *p, size_t n) {
  while (n) {
    ssize_t w = send(sfd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int s_send_frame(const uint8_t *p, size_t n) {
  uint8_t hdr[2] = { (uint8_t)(n >> 8), (uint8_t)n };
  return s_write_all(hdr, 2) || s_write_all(p, n) ? -1 : 0;
}

/* n bytes before the deadline: 1; 0 closed; -1 late. */
static int s_read_all(uint8_t *p, size_t n, uint64_t deadline) {
  while (n) {
    uint64_t t = now_ms();
    if (t >= deadline) return -1;
    struct pollfd pf = { sfd, POLLIN, 0 };
    int r = poll(&pf, 1, (int)(deadline - t));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return -1;
    ssize_t got = recv(sfd, p, n, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return 0;
    p += got;
    n -= (size_t)got;
  }
  return 1;
}

static int s_recv_frame(size_t *n, uint64_t deadline) {
  uint8_t hdr[2];
  int r = s_read_all(hdr, 2, deadline);
  if (r != 1) return r;
  *n = (size_t)hdr[0] << 8 | hdr[1];
  return s_read_all(sframe, *n, deadline);
}

static int s_send_msg(const uint8_t *m, size_t n) {
  static uint8_t ct[WIRE_FRAME_MAX];
  size_t cl;
  if (noise_cs_encrypt(&stx, NULL, 0, m, n, ct, sizeof ct, &cl)) return -1;
  return s_send_frame(ct, cl);
}

/* The next message: 1 decoded into *m, 0 closed, -1 late. */
static int s_recv_msg(wire_msg *m, uint64_t deadline) {
  for (;;) {
    size_t fl, n;
    int r = s_recv_frame(&fl, deadline);
    if (r != 1) return r;
    if (noise_cs_decrypt(&srx, NULL, 0, sframe, fl, spt, sizeof spt, &n)) return 0;
    if (wire_decode(spt, n, m)) continue;
    if (m->type == W_PING) {
      uint8_t o[32];
      size_t ol;
      if (!wire_encode_u64(W_PONG, m->u.nonce, o, sizeof o, &ol)) s_send_msg(o, ol);
      continue;
    }
    return 1;
  }
}

static int s_die(const char *what, int e) {
  fprintf(stderr, "sender: %s: %s\n", what, e ? stoa_strerror(e) : "failed");
  return 1;
}

static int s_connect(const char *home, const char *addr, stoa_key *node, uint8_t network[KEY_LEN],
                     uint8_t fid[HASH_LEN]) {
  char p[4096], host[256];
  int e;
  snprintf(p, sizeof p, "%s/keys/node.key", home);
  if ((e = keys_read(p, NULL, 0, node))) return s_die(p, e);
  snprintf(p, sizeof p, "%s/keys/network.pub", home);
  if ((e = keys_pub_read(p, network))) return s_die(p, e);
  snprintf(p, sizeof p, "%s/charter.stoa", home);
  static uint8_t cb[CHARTER_MAX + 1];
  FILE *f = fopen(p, "rb");
  size_t n = f ? fread(cb, 1, sizeof cb, f) : 0;
  charter ch;
  if (f) fclose(f);
  if (!n || charter_decode(cb, n, &ch)) return s_die(p, STOA_ECHARTER);
  memcpy(fid, ch.id, HASH_LEN);

  const char *colon = strrchr(addr, ':');
  if (!colon || (size_t)(colon - addr) >= sizeof host) return s_die("address", STOA_EINVAL);
  memcpy(host, addr, (size_t)(colon - addr));
  host[colon - addr] = 0;
  struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res;
  if (getaddrinfo(host, colon + 1, &hints, &res)) return s_die("resolve", STOA_EINVAL);
  sfd = socket(res->ai_family, SOCK_STREAM, 0);
  e = sfd < 0 || connect(sfd, res->ai_addr, res->ai_addrlen) ? -errno : 0;
  freeaddrinfo(res);
  if (e) return s_die("connect", e);

  uint8_t prologue[7 + HASH_LEN], xpriv[32], m[256], payload[64];
  size_t len, pl;
  noise_hs hs;
  memcpy(prologue, WIRE_PROLOGUE, 7);
  memcpy(prologue + 7, fid, HASH_LEN);
  if (noise_key_from_ed25519(node->sk, xpriv)) return s_die("node key", STOA_EINVAL);
  e = noise_hs_init(&hs, NOISE_XX, true, prologue, sizeof prologue, xpriv, NULL);
  sodium_memzero(xpriv, sizeof xpriv);
  if (e) return s_die("noise", e);
  uint64_t deadline = now_ms() + 30000;
  while (!noise_hs_done(&hs)) {
    if (noise_hs_my_turn(&hs)) {
      if (noise_hs_write(&hs, NULL, 0, m, sizeof m, &len) || s_send_frame(m, len))
        return s_die("handshake", STOA_EHANDSHAKE);
    } else {
      size_t fl;
      if (s_recv_frame(&fl, deadline) != 1 || noise_hs_read(&hs, sframe, fl, payload, sizeof payload, &pl))
        return s_die("handshake", STOA_EHANDSHAKE);
    }
  }
  e = noise_hs_split(&hs, &stx, &srx);
  noise_hs_wipe(&hs);
  if (e) return s_die("handshake", e);

  static uint8_t hm[WIRE_MSG_MAX];
  wire_hello h;
  wire_msg w;
  memset(&h, 0, sizeof h);
  h.version = WIRE_VERSION;
  h.node = node->pk;
  h.network = network;
  h.agent = "durability-sender";
  h.agent_len = (uint32_t)strlen(h.agent);
  if (wire_encode_hello(&h, hm, sizeof hm, &len) || s_send_msg(hm, len)) return s_die("HELLO", STOA_EPROTOCOL);
  if (s_recv_msg(&w, now_ms() + 30000) != 1 || w.type != W_HELLO) return s_die("no HELLO from the daemon", 0);
  return 0;
}

static int sender_main(int argc, char **argv) {
  stoa_key node;
  uint8_t network[KEY_LEN], fid[HASH_LEN];
  if (argc != 8) {
    fprintf(stderr, "usage: test_durability sender HOME HOST:PORT BUNDLE PER_MSG WINDOW ACK_WAIT_MS\n");
    return 2;
  }
  size_t per = strtoul(argv[5], NULL, 10), window = strtoul(argv[6], NULL, 10);
  uint64_t wait = strtoull(argv[7], NULL, 10);
  if (per < 1 || per > 200 || window < 1 || window > 64) return s_die("PER_MSG or WINDOW", STOA_EINVAL);

  FILE *f = fopen(argv[4], "rb");
  if (!f) return s_die(argv[4], -errno);
  fseek(f, 0, SEEK_END);
  long fsz = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *file = fsz > 0 ? malloc((size_t)fsz) : NULL;
  if (!file || fread(file, 1, (size_t)fsz, f) != (size_t)fsz) { fclose(f); free(file); return s_die(argv[4], -EIO); }
  fclose(f);
  bundle_reader br;
  int e = bundle_reader_init(&br, file, (size_t)fsz);
  if (e) { free(file); return s_die(argv[4], e); }
  if (s_connect(argv[2], argv[3], &node, network, fid)) { free(file); return 1; }
  sodium_memzero(&node, sizeof node);
  setvbuf(stdout, NULL, _IOLBF, 0);

  /* Messages in flight: the envelopes of each, oldest first. */
  enum { QMAX = 64 };
  static const uint8_t *recs[QMAX][200];
  static size_t lens[QMAX][200], cnt[QMAX], seqno[QMAX];
  size_t head = 0, nq = 0, sent = 0;
  uint64_t oldest_at = 0;
  bool more = true, closed = false;
  static uint8_t m[WIRE_MSG_MAX];
  const uint8_t *carry = NULL; /* read, did not fit the last message */
  size_t carry_len = 0;
  while ((more || carry || nq) && !closed) {
    if ((more || carry) && nq < window) {
      size_t slot = (head + nq) % QMAX, k = 0, bytes = WIRE_RECORDS_OVERHEAD, len;
      const uint8_t *buf;
      while (k < per) {
        if (carry) {
          buf = carry;
          len = carry_len;
          carry = NULL;
        } else if (!more || (e = bundle_reader_next(&br, &buf, &len)) != 1) {
          more = false;
          break;
        }
        if (k && bytes + len + 5 > WIRE_MSG_MAX) {
          carry = buf;
          carry_len = len;
          break;
        }
        recs[slot][k] = buf;
        lens[slot][k++] = len;
        bytes += len + 5;
      }
      if (k) {
        size_t ml;
        if (wire_encode_records(recs[slot], lens[slot], (uint32_t)k, m, sizeof m, &ml) || s_send_msg(m, ml)) {
          printf("closed\n");
          closed = true;
          break;
        }
        cnt[slot] = k;
        seqno[slot] = ++sent;
        if (!nq) oldest_at = now_ms();
        nq++;
      }
      continue;
    }
    wire_msg w;
    int r = s_recv_msg(&w, oldest_at + wait);
    if (r == 0) { printf("closed\n"); closed = true; break; }
    if (r < 0) { /* the oldest was not acknowledged in time: give it up */
      printf("noack %zu\n", seqno[head]);
      head = (head + 1) % QMAX;
      nq--;
      oldest_at = now_ms();
      continue;
    }
    if (w.type == W_ERROR) {
      printf("closed (the daemon says: %.*s)\n", (int)w.u.error.reason_len, w.u.error.reason);
      closed = true;
      break;
    }
    if (w.type != W_ACK || !nq) continue;
    for (size_t i = 0; i < cnt[head]; i++) {
      uint8_t hh[32];
      char hex[65];
      crypto_generichash_blake2b(hh, sizeof hh, recs[head][i], lens[head][i], NULL, 0);
      sodium_bin2hex(hex, sizeof hex, hh, sizeof hh);
      printf("acked %s\n", hex);
    }
    head = (head + 1) % QMAX;
    nq--;
    oldest_at = now_ms();
  }
  if (!closed) printf("done %zu\n", sent);
  close(sfd);
  free(file);
  return 0;
}

int main(int argc, char **argv) {
  if (sodium_init() < 0) return 1;
  if (argc > 1 && !strcmp(argv[1], "sender")) return sender_main(argc, argv);
  if (fed_setup()) return 1;
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_tiny_map_large_ingest, setup, teardown),
    cmocka_unit_test_setup_teardown(test_map_grown_by_other_process, setup, teardown),
    cmocka_unit_test_setup_teardown(test_stale_reader_cleared, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
