/*
 * evil_peer.c - a hostile peer, for tests/node/hostile.sh.
 *
 *   evil_peer HOME HOST:PORT MODE [OTHER_HOME]
 *
 * Dials a running stoad as the node of HOME (HOME/keys/node.key, a node
 * key its network endorsed: the daemon has no reason to refuse it), with
 * the real transport (proto/noise.h, proto/wire.h), then misbehaves as MODE
 * says.  Modes, and what the victim must do:
 *
 *   forged     completes the handshake and HELLO, then sends one RECORDS
 *              message per forgery, waiting for each ACK: a record with a
 *              flipped signature byte, records of another federation (that
 *              of OTHER_HOME, and HOME's keys signing for OTHER_HOME's
 *              federation), records signed by keys no member endorsed, a
 *              body that breaks its schema, a body that does not match its
 *              hash, bytes that are no record.  Last, a valid control
 *              record (HOME's editor key), so that the test can tell "the
 *              forgeries were judged and refused" from "nothing got
 *              through at all".  Prints "forged WHAT ENTRY-ID" for each,
 *              "control ENTRY-ID" at the end.  The victim must store none
 *              of the forgeries, store the control record, and not close.
 *   garbage-hs 16 random bytes instead of the first handshake message
 *   stall      connects and says nothing (the handshake must time out)
 *   garbage    after the handshake, a frame of random bytes (fails to decrypt)
 *   zero       after the handshake, a frame of length 0
 *   oversize   after HELLO, a frame of the largest length (65,535) of junk
 *   nohello    after the handshake, a PING instead of HELLO
 *   badhello   a HELLO whose node key is not the handshake's
 *   overcount  after HELLO, RECORDS claiming 1,000,000 records in a few bytes
 *   bigrecord  after HELLO, RECORDS holding one 65,100-byte "record"
 *   badmsg     after HELLO, a message of unknown type 99
 *   garbage-ready  after HELLO, a frame of random bytes
 *   truncated  after HELLO, a frame header announcing 1,000 bytes, 500 of
 *              them, then end of stream
 *   truncated-hs  half of a first handshake message, then silence (the
 *              handshake must time out)
 *   rehs       after the handshake, the last handshake message once more
 *   replay-hs  a whole handshake on one connection; on a second one, its
 *              first message, then its last message replayed
 * For these, the victim must close the connection; what it said (an
 * ERROR's reason) is printed as "victim says: ...".
 *
 * Modes for tests/node/hostile2.sh, after HELLO, each message acknowledged
 * (the victim must keep the connection open; what it stores is for the
 * test to check):
 *   future     a record of HOME's editor dated an hour ahead: "future ID ENV"
 *   revoked OTHER_HOME  a record for HOME's network signed by OTHER_HOME's
 *              editor key (which the test had HOME endorse, then revoke):
 *              "revoked ID ENV"
 *   versions   a new version, then one a second older, of a fresh entry,
 *              each twice: "versions ID OLD-HASH NEW-HASH OLD-ENV NEW-ENV"
 *              (ENV: BLAKE2b-256 of the envelope, as `bundle records` says)
 *   replay FILE  every record of the bundle FILE again: "replayed N"
 *   flood N    N records signed by a fresh key nobody endorsed, for HOME's
 *              network, in full RECORDS messages as fast as the victim
 *              reads them; waits until all are acknowledged and prints the
 *              timings: "flood records N messages M bytes B signed-ms S
 *              sent-ms T acked-ms A"
 *   pingflood BYTES  PINGs without ever reading the PONGs: the victim must
 *              stop reading before BYTES went through ("victim stopped
 *              reading after B bytes"; exit 3 when it read them all)
 *   pongs BYTES  unasked PONGs as fast as the victim reads them, then a
 *              PING; prints when its answer came: "pongs bytes B ms T"
 *   announce N [HOLD_S]  N random hashes in ANNOUNCE (records nobody
 *              holds), then HOLD_S seconds (5) reading and dropping the
 *              victim's WANTs: "announced N"
 * And one that does not dial once but many times:
 *   halfopen N PER_IP HOLD_S OCTET  N connections from 127.OCTET.x.y,
 *              PER_IP from each address, that never finish the handshake
 *              (a third say nothing, a third send half a frame, a third the
 *              first handshake message); then watches them for HOLD_S
 *              seconds: "halfopen opened N failed F open-after-2s A
 *              open-at-end E last-close-ms L"
 *
 * Exit: 0 the victim behaved as required; 3 it did not (kept a bad
 * connection open, or closed on the forged records, or never acknowledged);
 * 1 setup failed (keys, connect, handshake); 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>
#include <sodium.h>

#include "cli/keys.h"
#include "proto/bundle.h"
#include "proto/charter.h"
#include "proto/err.h"
#include "proto/noise.h"
#include "proto/record.h"
#include "proto/wire.h"

#define WAIT_MS 60000 /* how long the victim gets to answer or close */

static int fd = -1;
static noise_cs tx, rx;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void die(const char *what, int e) {
  fprintf(stderr, "evil_peer: %s: %s\n", what, e ? stoa_strerror(e) : "failed");
  exit(1);
}

/* ---- the home's keys and federation -------------------------------------- */

typedef struct home {
  stoa_key node, editor;
  uint8_t network[KEY_LEN];
  uint8_t fed[HASH_LEN];
} home;

static void home_load(home *h, const char *dir) {
  char p[4096];
  int e;
  snprintf(p, sizeof p, "%s/keys/node.key", dir);
  if ((e = keys_read(p, NULL, 0, &h->node))) die(p, e);
  snprintf(p, sizeof p, "%s/keys/editor.key", dir);
  if ((e = keys_read(p, NULL, 0, &h->editor))) die(p, e);
  snprintf(p, sizeof p, "%s/keys/network.pub", dir);
  if ((e = keys_pub_read(p, h->network))) die(p, e);
  snprintf(p, sizeof p, "%s/charter.stoa", dir);
  FILE *f = fopen(p, "rb");
  static uint8_t buf[CHARTER_MAX + 1];
  size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
  if (f) fclose(f);
  charter ch;
  if (!n || (e = charter_decode(buf, n, &ch))) die(p, n ? e : -ENOENT);
  memcpy(h->fed, ch.id, HASH_LEN);
}

/* ---- frames ----------------------------------------------------------------- */

static int write_all(const uint8_t *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int send_frame(const uint8_t *p, size_t n) {
  uint8_t hdr[2] = { (uint8_t)(n >> 8), (uint8_t)n };
  return write_all(hdr, 2) || write_all(p, n) ? -1 : 0;
}

/* Reads exactly n bytes before `deadline`: 1, 0 at EOF or reset, -1 late. */
static int read_all(uint8_t *p, size_t n, uint64_t deadline) {
  while (n) {
    uint64_t t = now_ms();
    if (t >= deadline) return -1;
    struct pollfd pf = { fd, POLLIN, 0 };
    int r = poll(&pf, 1, (int)(deadline - t));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return -1;
    ssize_t got = recv(fd, p, n, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return 0;
    p += got;
    n -= (size_t)got;
  }
  return 1;
}

static uint8_t frame[WIRE_FRAME_MAX];

/* One frame into `frame`: 1 with *n set, 0 closed, -1 late. */
static int recv_frame(size_t *n, uint64_t deadline) {
  uint8_t hdr[2];
  int r = read_all(hdr, 2, deadline);
  if (r != 1) return r;
  *n = (size_t)hdr[0] << 8 | hdr[1];
  return read_all(frame, *n, deadline);
}

static int send_msg(const uint8_t *m, size_t n) {
  static uint8_t ct[WIRE_FRAME_MAX];
  size_t cl;
  if (noise_cs_encrypt(&tx, NULL, 0, m, n, ct, sizeof ct, &cl)) return -1;
  return send_frame(ct, cl);
}

static uint8_t pt[WIRE_FRAME_MAX];

/* The next message into `pt`: 1 with *n set, 0 closed, -1 late or junk. */
static int recv_msg(size_t *n, uint64_t deadline) {
  size_t fl;
  int r = recv_frame(&fl, deadline);
  if (r != 1) return r;
  if (noise_cs_decrypt(&rx, NULL, 0, frame, fl, pt, sizeof pt, n)) {
    fprintf(stderr, "evil_peer: a frame from the victim failed to decrypt\n");
    return -1;
  }
  return 1;
}

/* Reads until the victim closes: 0 when it did, 3 when it did not in
 * time.  Prints the reason of an ERROR it sent first. */
static int expect_close(void) {
  uint64_t deadline = now_ms() + WAIT_MS;
  for (;;) {
    size_t n;
    int r = rx.has_key ? recv_msg(&n, deadline) : recv_frame(&n, deadline);
    if (r == 0) { printf("victim closed the connection\n"); return 0; }
    if (r < 0) {
      if (now_ms() < deadline) continue; /* a frame we cannot read: go on */
      fprintf(stderr, "evil_peer: the victim kept the connection open\n");
      return 3;
    }
    wire_msg m;
    if (rx.has_key && !wire_decode(pt, n, &m) && m.type == W_ERROR)
      printf("victim says: %.*s\n", (int)m.u.error.reason_len, m.u.error.reason);
  }
}

/* ---- connecting --------------------------------------------------------------- */

static void dial(const char *addr) {
  char host[256];
  const char *colon = strrchr(addr, ':');
  if (!colon || (size_t)(colon - addr) >= sizeof host) die("address", STOA_EINVAL);
  memcpy(host, addr, (size_t)(colon - addr));
  host[colon - addr] = 0;
  struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res;
  if (getaddrinfo(host, colon + 1, &hints, &res)) die("resolve", STOA_EINVAL);
  fd = socket(res->ai_family, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen)) die("connect", -errno);
  freeaddrinfo(res);
}

/* The handshake messages we sent (1 and 3), for the replay modes. */
static uint8_t hs_sent[2][256];
static size_t hs_sent_len[2];

static void handshake(const home *h) {
  uint8_t prologue[7 + HASH_LEN], xpriv[32], m[256], payload[64];
  size_t len, pl;
  int nsent = 0;
  noise_hs hs;
  memcpy(prologue, WIRE_PROLOGUE, 7);
  memcpy(prologue + 7, h->fed, HASH_LEN);
  if (noise_key_from_ed25519(h->node.sk, xpriv)) die("node key", STOA_EINVAL);
  if (noise_hs_init(&hs, NOISE_XX, true, prologue, sizeof prologue, xpriv, NULL)) die("noise init", STOA_EINVAL);
  sodium_memzero(xpriv, sizeof xpriv);
  uint64_t deadline = now_ms() + WAIT_MS;
  while (!noise_hs_done(&hs)) {
    if (noise_hs_my_turn(&hs)) {
      if (noise_hs_write(&hs, NULL, 0, m, sizeof m, &len) || send_frame(m, len)) die("handshake write", STOA_EHANDSHAKE);
      if (nsent < 2) {
        memcpy(hs_sent[nsent], m, len);
        hs_sent_len[nsent++] = len;
      }
    } else {
      size_t n;
      if (recv_frame(&n, deadline) != 1) die("handshake read", STOA_EHANDSHAKE);
      if (noise_hs_read(&hs, frame, n, payload, sizeof payload, &pl)) die("handshake", STOA_EHANDSHAKE);
    }
  }
  if (noise_hs_split(&hs, &tx, &rx)) die("split", STOA_ESTATE);
  noise_hs_wipe(&hs);
}

static void send_hello(const home *h, const uint8_t *node_pk) {
  static uint8_t m[WIRE_MSG_MAX];
  size_t len;
  wire_hello hello;
  memset(&hello, 0, sizeof hello);
  hello.version = WIRE_VERSION;
  hello.caps = 0; /* no push: the victim sends us nothing unasked */
  hello.node = node_pk;
  hello.network = h->network;
  hello.set_size = 0;
  hello.agent = "evil_peer";
  hello.agent_len = 9;
  if (wire_encode_hello(&hello, m, sizeof m, &len) || send_msg(m, len)) die("HELLO", STOA_EPROTOCOL);
}

/* Waits for the victim's HELLO: 0, or 3 when it closed or said something else. */
static int recv_hello(void) {
  size_t n;
  wire_msg m;
  int r = recv_msg(&n, now_ms() + WAIT_MS);
  if (r != 1) { fprintf(stderr, "evil_peer: no HELLO from the victim\n"); return 3; }
  if (wire_decode(pt, n, &m) || m.type != W_HELLO) {
    if (!wire_decode(pt, n, &m) && m.type == W_ERROR)
      fprintf(stderr, "evil_peer: victim says: %.*s\n", (int)m.u.error.reason_len, m.u.error.reason);
    return 3;
  }
  return 0;
}

/* ---- forged records -------------------------------------------------------------- */

static size_t org_body(uint8_t *out, size_t cap, const char *name, const char *country) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 3);
  msgpack_pack_str_with_body(&pk, "name", 4);
  msgpack_pack_str_with_body(&pk, name, strlen(name));
  msgpack_pack_str_with_body(&pk, "country", 7);
  msgpack_pack_str_with_body(&pk, country, strlen(country));
  msgpack_pack_str_with_body(&pk, "type", 4);
  msgpack_pack_str_with_body(&pk, "ngo", 3);
  size_t n = sb.size <= cap ? sb.size : 0;
  memcpy(out, sb.data, n);
  msgpack_sbuffer_destroy(&sb);
  return n;
}

/* A signed org record of entry `id` dated `ts`. */
static size_t make_org_at(uint8_t *out, size_t cap, const uint8_t id[ID_LEN], uint64_t ts, const char *name,
                          const char *country, const uint8_t owner[KEY_LEN], const uint8_t sk[64],
                          const uint8_t fed[HASH_LEN]) {
  uint8_t body[512];
  size_t bl = org_body(body, sizeof body, name, country), len;
  int e = rec_build(REC_ORG, owner, id, ts, sk, body, bl, fed, out, cap, &len);
  if (e) die("rec_build", e);
  return len;
}

/* A signed org record of a fresh entry; its id is printed as "LABEL ID". */
static size_t make_org(uint8_t *out, const char *label, const char *name, const char *country,
                       const uint8_t owner[KEY_LEN], const uint8_t sk[64], const uint8_t fed[HASH_LEN]) {
  uint8_t id[ID_LEN];
  char hex[2 * ID_LEN + 1];
  randombytes_buf(id, sizeof id);
  size_t len = make_org_at(out, REC_MAX, id, now_ms(), name, country, owner, sk, fed);
  sodium_bin2hex(hex, sizeof hex, id, sizeof id);
  printf("%s %s\n", label, hex);
  return len;
}

/* Sends one RECORDS message with one envelope and waits for its ACK:
 * 0, or 3 when the victim closed or never acknowledged. */
static int send_many_acked(const uint8_t **recs, const size_t *lens, uint32_t k) {
  static uint8_t m[WIRE_MSG_MAX];
  size_t ml;
  if (wire_encode_records(recs, lens, k, m, sizeof m, &ml) || send_msg(m, ml)) {
    fprintf(stderr, "evil_peer: cannot send RECORDS\n");
    return 3;
  }
  uint64_t deadline = now_ms() + WAIT_MS;
  for (;;) {
    size_t n;
    wire_msg w;
    int r = recv_msg(&n, deadline);
    if (r != 1) {
      fprintf(stderr, "evil_peer: %s before acknowledging\n", r ? "no ACK" : "the victim closed the connection");
      return 3;
    }
    if (wire_decode(pt, n, &w)) continue;
    if (w.type == W_ACK) return 0;
    if (w.type == W_ERROR) {
      fprintf(stderr, "evil_peer: victim says: %.*s\n", (int)w.u.error.reason_len, w.u.error.reason);
      return 3;
    }
    if (w.type == W_PING) {
      uint8_t o[32];
      size_t ol;
      if (!wire_encode_u64(W_PONG, w.u.nonce, o, sizeof o, &ol)) send_msg(o, ol);
    }
  }
}

static int send_records_acked(const uint8_t *env, size_t len) {
  const uint8_t *recs[1] = { env };
  size_t lens[1] = { len };
  return send_many_acked(recs, lens, 1);
}

static int forged(const home *h, const home *other) {
  static uint8_t env[REC_MAX];
  size_t len;
  stoa_key stranger, stranger2;
  int r = 0;
  keys_generate(&stranger);
  keys_generate(&stranger2);

  /* A signature with one bit flipped (the byte right after the header). */
  len = make_org(env, "forged badsig", "Forged Badsig Org", "FR", h->network, h->editor.sk, h->fed);
  rec dec;
  if (rec_decode(env, len, &dec)) die("rec_decode", STOA_EMALFORMED);
  env[dec.sig - env + 10] ^= 0x01;
  r |= send_records_acked(env, len);

  /* Another federation's record, by its own keys. */
  len = make_org(env, "forged otherfed", "Forged Otherfed Org", "FR", other->network, other->editor.sk, other->fed);
  r |= send_records_acked(env, len);
  /* This home's own keys, signing for another federation. */
  len = make_org(env, "forged otherfed-samekeys", "Forged Samekeys Org", "FR", h->network, h->editor.sk, other->fed);
  r |= send_records_acked(env, len);

  /* A key nobody endorsed, writing for this home's network. */
  len = make_org(env, "forged unendorsed", "Forged Unendorsed Org", "FR", h->network, stranger.sk, h->fed);
  r |= send_records_acked(env, len);
  /* A network that is no member, writing for itself. */
  len = make_org(env, "forged nonmember", "Forged Nonmember Org", "FR", stranger2.pk, stranger2.sk, h->fed);
  r |= send_records_acked(env, len);
  /* The node key (endorsed, but as a node, not an editor). */
  len = make_org(env, "forged nodekey", "Forged Nodekey Org", "FR", h->network, h->node.sk, h->fed);
  r |= send_records_acked(env, len);

  /* Properly signed by the editor, but the body breaks its schema. */
  len = make_org(env, "forged schema", "Forged Schema Org", "ZZ", h->network, h->editor.sk, h->fed);
  r |= send_records_acked(env, len);

  /* Properly signed, then the body changed: it no longer matches its hash. */
  len = make_org(env, "forged body", "Forged Body Org", "FR", h->network, h->editor.sk, h->fed);
  if (rec_decode(env, len, &dec)) die("rec_decode", STOA_EMALFORMED);
  env[dec.body - env + 8] ^= 0x20; /* inside "name": still valid UTF-8 */
  r |= send_records_acked(env, len);

  /* Not a record at all. */
  randombytes_buf(env, 300);
  r |= send_records_acked(env, 300);

  /* The control: a record the victim must take. */
  len = make_org(env, "control", "Evil Control Org", "FR", h->network, h->editor.sk, h->fed);
  r |= send_records_acked(env, len);
  keys_wipe(&stranger);
  keys_wipe(&stranger2);
  return r ? 3 : 0;
}

/* ---- records the victim must hold back or keep in their place ------------------------- */

static void hex_print(const char *label, const uint8_t *id, size_t n) {
  char hex[2 * HASH_LEN + 1];
  sodium_bin2hex(hex, sizeof hex, id, n);
  printf("%s%s", label, hex);
}

/* " " and the BLAKE2b-256 of an envelope: how tests/cli/lib.sh's
 * `bundle records` names a record of an exported bundle. */
static void env_print(const uint8_t *env, size_t len) {
  uint8_t hh[HASH_LEN];
  crypto_generichash(hh, sizeof hh, env, len, NULL, 0);
  hex_print(" ", hh, HASH_LEN);
}

static int future(const home *h) {
  static uint8_t env[REC_MAX];
  uint8_t id[ID_LEN];
  randombytes_buf(id, sizeof id);
  size_t len = make_org_at(env, sizeof env, id, now_ms() + 3600 * 1000, "Future Dated Org", "FR", h->network,
                           h->editor.sk, h->fed);
  hex_print("future ", id, ID_LEN);
  env_print(env, len);
  printf("\n");
  return send_records_acked(env, len);
}

static int revoked(const home *h, const home *other) {
  static uint8_t env[REC_MAX];
  uint8_t id[ID_LEN];
  randombytes_buf(id, sizeof id);
  size_t len = make_org_at(env, sizeof env, id, now_ms(), "Revoked Signer Org", "FR", h->network, other->editor.sk,
                           h->fed);
  hex_print("revoked ", id, ID_LEN);
  env_print(env, len);
  printf("\n");
  return send_records_acked(env, len);
}

/* A newer version first, then an older one (a second older: the signer
 * must have been endorsed at its time), then both again (replays): the
 * newer must stay current; the older is history. */
static int versions(const home *h) {
  static uint8_t newer[REC_MAX], older[REC_MAX];
  uint8_t id[ID_LEN];
  rec a, b;
  uint64_t t = now_ms();
  int r = 0;
  randombytes_buf(id, sizeof id);
  size_t nl = make_org_at(newer, sizeof newer, id, t, "Versioned Newer Org", "FR", h->network, h->editor.sk, h->fed);
  size_t ol = make_org_at(older, sizeof older, id, t - 1000, "Versioned Older Org", "FR", h->network,
                          h->editor.sk, h->fed);
  if (rec_decode(newer, nl, &a) || rec_decode(older, ol, &b)) die("rec_decode", STOA_EMALFORMED);
  hex_print("versions ", id, ID_LEN);
  hex_print(" ", b.hash, HASH_LEN);
  hex_print(" ", a.hash, HASH_LEN);
  env_print(older, ol);
  env_print(newer, nl);
  printf("\n");
  for (int i = 0; i < 2; i++) {
    r |= send_records_acked(newer, nl);
    r |= send_records_acked(older, ol);
  }
  return r;
}

/* Every record of a bundle, again, in full RECORDS messages. */
static int replay(const char *path) {
  static const uint8_t *recs[WIRE_RECORDS_MAX];
  static size_t lens[WIRE_RECORDS_MAX];
  FILE *f = fopen(path, "rb");
  if (!f) die(path, -errno);
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = sz > 0 ? malloc((size_t)sz) : NULL;
  if (!buf || fread(buf, 1, (size_t)sz, f) != (size_t)sz) die(path, STOA_ETRUNCATED);
  fclose(f);
  bundle_reader br;
  int e, r = 0;
  if ((e = bundle_reader_init(&br, buf, (size_t)sz))) die(path, e);
  const uint8_t *env;
  size_t len, total = WIRE_RECORDS_OVERHEAD, n = 0;
  uint32_t k = 0;
  while ((e = bundle_reader_next(&br, &env, &len)) == 1) {
    if (k == WIRE_RECORDS_MAX || total + len + WIRE_RECORD_OVERHEAD > WIRE_MSG_MAX) {
      r |= send_many_acked(recs, lens, k);
      k = 0;
      total = WIRE_RECORDS_OVERHEAD;
    }
    recs[k] = env;
    lens[k++] = len;
    total += len + WIRE_RECORD_OVERHEAD;
    n++;
  }
  if (e) die(path, e);
  if (k) r |= send_many_acked(recs, lens, k);
  printf("replayed %zu\n", n);
  free(buf);
  return r;
}

/* ---- floods ------------------------------------------------------------------------------- */

static void nonblock(int s) { fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK); }

static uint64_t pongs_in, last_pong; /* PONGs received by drain_in, the last one's nonce */

/* Reads what the victim sent, without blocking: adds ACK counts to *acked,
 * counts PONGs, answers nothing (PINGs wait: a frame may be half written;
 * *got_ping says one came, its nonce in *ping).  0, or -1 when the victim
 * closed or failed. */
static int drain_in(uint8_t *in, size_t *inlen, uint64_t *acked, uint64_t *ping, bool *got_ping) {
  for (;;) {
    ssize_t g = recv(fd, in + *inlen, WIRE_FRAME_MAX + 2 - *inlen, 0);
    if (g < 0 && errno == EINTR) continue;
    if (g < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (g <= 0) return -1;
    *inlen += (size_t)g;
    size_t off = 0;
    while (*inlen - off >= 2) {
      size_t fl = (size_t)in[off] << 8 | in[off + 1];
      if (*inlen - off - 2 < fl) break;
      size_t n;
      wire_msg w;
      if (noise_cs_decrypt(&rx, NULL, 0, in + off + 2, fl, pt, sizeof pt, &n)) return -1;
      off += 2 + fl;
      if (wire_decode(pt, n, &w)) continue;
      if (w.type == W_ACK) *acked += w.u.ack.count;
      else if (w.type == W_PONG) { pongs_in++; last_pong = w.u.nonce; }
      else if (w.type == W_PING) { *ping = w.u.nonce; *got_ping = true; }
      else if (w.type == W_ERROR) {
        fprintf(stderr, "evil_peer: victim says: %.*s\n", (int)w.u.error.reason_len, w.u.error.reason);
        return -1;
      }
    }
    memmove(in, in + off, *inlen - off);
    *inlen -= off;
  }
  return 0;
}

static int flood(const home *h, long n) {
  static uint8_t in[WIRE_FRAME_MAX + 2], msg[WIRE_MSG_MAX], out[WIRE_FRAME_MAX + 2];
  static const uint8_t *recs[WIRE_RECORDS_MAX];
  static size_t lens[WIRE_RECORDS_MAX];
  stoa_key k;
  if (n < 1 || n > 10000000) die("flood count", STOA_EINVAL);
  keys_generate(&k);
  uint64_t t0 = now_ms();
  /* Records first, so that the timings are the victim's. */
  size_t cap = (size_t)n * 320, used = 0;
  uint8_t *buf = malloc(cap);
  size_t *off = malloc((size_t)n * sizeof *off), *len = malloc((size_t)n * sizeof *len);
  if (!buf || !off || !len) die("flood", STOA_ENOMEM);
  /* One body for all (the ids differ): a signature and a hash each. */
  uint8_t body[512];
  size_t bl = org_body(body, sizeof body, "Flood Org", "FR");
  for (long i = 0; i < n; i++) {
    uint8_t id[ID_LEN];
    int e;
    randombytes_buf(id, sizeof id);
    off[i] = used;
    if ((e = rec_build(REC_ORG, h->network, id, t0, k.sk, body, bl, h->fed, buf + used, cap - used, &len[i])))
      die("rec_build", e);
    used += len[i];
  }
  keys_wipe(&k);
  uint64_t t1 = now_ms(), t_sent = 0, acked = 0, nonce = 0;
  nonblock(fd);
  long next = 0;
  size_t msgs = 0, bytes = 0, olen = 0, opos = 0, inlen = 0;
  bool got_ping = false;
  uint64_t deadline = t1 + 600000;
  while (acked < (uint64_t)n) {
    if (now_ms() > deadline) { fprintf(stderr, "evil_peer: flood: %llu of %ld acknowledged\n", (unsigned long long)acked, n); return 3; }
    if (opos == olen) { /* the next frame: a PONG owed, or records */
      size_t ml = 0;
      if (got_ping) {
        got_ping = false;
        if (wire_encode_u64(W_PONG, nonce, msg, sizeof msg, &ml)) ml = 0;
      } else if (next < n) {
        size_t total = WIRE_RECORDS_OVERHEAD;
        uint32_t k2 = 0;
        while (next < n && k2 < WIRE_RECORDS_MAX && total + len[next] + WIRE_RECORD_OVERHEAD <= WIRE_MSG_MAX) {
          recs[k2] = buf + off[next];
          lens[k2++] = len[next];
          total += len[next++] + WIRE_RECORD_OVERHEAD;
        }
        if (wire_encode_records(recs, lens, k2, msg, sizeof msg, &ml)) die("RECORDS", STOA_EINVAL);
        msgs++;
        if (next == n) t_sent = 1; /* set when its last byte is out */
      }
      if (ml) {
        size_t cl;
        if (noise_cs_encrypt(&tx, NULL, 0, msg, ml, out + 2, sizeof out - 2, &cl)) die("encrypt", STOA_EINVAL);
        out[0] = (uint8_t)(cl >> 8);
        out[1] = (uint8_t)cl;
        olen = cl + 2;
        opos = 0;
      }
    }
    struct pollfd pf = { fd, POLLIN | (opos < olen ? POLLOUT : 0), 0 };
    if (poll(&pf, 1, 1000) < 0 && errno != EINTR) die("poll", -errno);
    if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
      if (drain_in(in, &inlen, &acked, &nonce, &got_ping) < 0) {
        fprintf(stderr, "evil_peer: flood: the victim closed after %llu acknowledged\n", (unsigned long long)acked);
        return 3;
      }
    }
    if (opos < olen && (pf.revents & POLLOUT)) {
      ssize_t w = send(fd, out + opos, olen - opos, MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN && errno != EINTR) { fprintf(stderr, "evil_peer: flood: send: %s\n", strerror(errno)); return 3; }
      if (w > 0) {
        opos += (size_t)w;
        bytes += (size_t)w;
        if (opos == olen && t_sent == 1) t_sent = now_ms();
      }
    }
  }
  uint64_t t2 = now_ms();
  printf("flood records %ld messages %zu bytes %zu signed-ms %llu sent-ms %llu acked-ms %llu\n", n, msgs, bytes,
         (unsigned long long)(t1 - t0), (unsigned long long)((t_sent > 1 ? t_sent : t2) - t1),
         (unsigned long long)(t2 - t1));
  free(buf);
  free(off);
  free(len);
  return 0;
}

/* PINGs, never reading: the victim must stop reading us once its answers
 * pile up (it cannot send them), instead of queueing them without end. */
static int pingflood(long budget) {
  static uint8_t out[64], msg[32];
  size_t sent = 0;
  nonblock(fd);
  for (uint64_t i = 1; sent < (size_t)budget; i++) {
    size_t ml, cl = 0, pos = 0;
    if (wire_encode_u64(W_PING, i, msg, sizeof msg, &ml) ||
        noise_cs_encrypt(&tx, NULL, 0, msg, ml, out + 2, sizeof out - 2, &cl))
      die("PING", STOA_EINVAL);
    out[0] = (uint8_t)(cl >> 8);
    out[1] = (uint8_t)cl;
    while (pos < cl + 2) {
      ssize_t w = send(fd, out + pos, cl + 2 - pos, MSG_NOSIGNAL);
      if (w > 0) { pos += (size_t)w; sent += (size_t)w; continue; }
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && errno != EAGAIN) { fprintf(stderr, "evil_peer: pingflood: %s\n", strerror(errno)); return 3; }
      struct pollfd pf = { fd, POLLOUT, 0 };
      if (poll(&pf, 1, 3000) == 0) {
        printf("victim stopped reading after %zu bytes\n", sent);
        return 0;
      }
    }
  }
  printf("victim read all %zu bytes without our reading a PONG\n", sent);
  return 3;
}

/* PONGs nobody asked for (the victim reads and drops them: the cheapest
 * message to process), `budget` bytes of them as fast as it reads, then one
 * PING: when its PONG comes back, the victim has read everything before
 * it.  Prints how long that took, to compare with its peer_rx_rate. */
static int pongs(long budget) {
  static uint8_t in[WIRE_FRAME_MAX + 2], out[64 * 64], msg[32];
  const uint64_t last = 0x5eed5eedull;
  uint64_t acked = 0, nonce = 0, t0 = now_ms(), i = 1;
  size_t olen = 0, opos = 0, inlen = 0, sent = 0;
  bool got_ping = false, pinged = false;
  if (budget < 1 || budget > (1L << 30)) die("pongs bytes", STOA_EINVAL);
  nonblock(fd);
  for (;;) {
    if (now_ms() - t0 > 120000) { fprintf(stderr, "evil_peer: pongs: no answer\n"); return 3; }
    if (opos == olen && !pinged) { /* 64 frames at a time, then the PING */
      olen = opos = 0;
      bool ping = sent >= (size_t)budget;
      for (int k = 0; k < (ping ? 1 : 64); k++, i++) {
        size_t ml, cl = 0;
        if (wire_encode_u64(ping ? W_PING : W_PONG, ping ? last : i, msg, sizeof msg, &ml) ||
            noise_cs_encrypt(&tx, NULL, 0, msg, ml, out + olen + 2, sizeof out - olen - 2, &cl))
          die("PONG", STOA_EINVAL);
        out[olen] = (uint8_t)(cl >> 8);
        out[olen + 1] = (uint8_t)cl;
        olen += cl + 2;
      }
      pinged = ping;
    }
    struct pollfd pf = { fd, POLLIN | (opos < olen ? POLLOUT : 0), 0 };
    if (poll(&pf, 1, 100) < 0 && errno != EINTR) die("poll", -errno);
    uint64_t before = pongs_in;
    if ((pf.revents & (POLLIN | POLLHUP | POLLERR)) && drain_in(in, &inlen, &acked, &nonce, &got_ping) < 0) {
      fprintf(stderr, "evil_peer: pongs: the victim closed\n");
      return 3;
    }
    if (pinged && opos == olen && pongs_in > before && last_pong == last) break;
    if (opos < olen && (pf.revents & POLLOUT)) {
      ssize_t w = send(fd, out + opos, olen - opos, MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN && errno != EINTR) { fprintf(stderr, "evil_peer: pongs: %s\n", strerror(errno)); return 3; }
      if (w > 0) { opos += (size_t)w; sent += (size_t)w; }
    }
  }
  printf("pongs bytes %zu ms %llu\n", sent, (unsigned long long)(now_ms() - t0));
  return 0;
}

/* N random hashes in ANNOUNCE messages (records nobody holds), then
 * hold_s seconds reading and dropping what the victim sends (its WANTs),
 * so that the test can look at what the victim keeps for this peer. */
static int announce_flood(long n, long hold_s) {
  static uint8_t hashes[WIRE_WANT_MAX * HASH_LEN], msg[WIRE_MSG_MAX];
  long sent = 0;
  size_t ml;
  if (n < 1 || n > 10000000 || hold_s < 1 || hold_s > 600) die("announce arguments", STOA_EINVAL);
  while (sent < n) {
    uint32_t k = n - sent < WIRE_WANT_MAX ? (uint32_t)(n - sent) : WIRE_WANT_MAX;
    size_t len;
    randombytes_buf(hashes, (size_t)k * HASH_LEN);
    if (wire_encode_hashes(W_ANNOUNCE, hashes, k, msg, sizeof msg, &len)) die("ANNOUNCE", STOA_EINVAL);
    if (send_msg(msg, len)) { fprintf(stderr, "evil_peer: announce: the victim closed\n"); return 3; }
    sent += k;
  }
  printf("announced %ld\n", sent);
  uint64_t end = now_ms() + (uint64_t)hold_s * 1000;
  while (now_ms() < end) {
    int r = recv_msg(&ml, end);
    if (r == 0) { fprintf(stderr, "evil_peer: announce: the victim closed\n"); return 3; }
    if (r < 0) break; /* the time is up */
  }
  return 0;
}

/* ---- half-open connections ------------------------------------------------------------------ */

static int halfopen(const char *addr, long n, long per_ip, long hold_s, long octet) {
  char host[64];
  const char *colon = strrchr(addr, ':');
  struct sockaddr_in to = { .sin_family = AF_INET };
  if (n < 1 || n > 60000 || per_ip < 1 || hold_s < 2 || octet < 1 || octet > 254 || !colon ||
      (size_t)(colon - addr) >= sizeof host)
    die("halfopen arguments", STOA_EINVAL);
  memcpy(host, addr, (size_t)(colon - addr));
  host[colon - addr] = 0;
  if (inet_pton(AF_INET, host, &to.sin_addr) != 1) die("halfopen: an IPv4 address", STOA_EINVAL);
  to.sin_port = htons((uint16_t)atoi(colon + 1));
  struct rlimit rl;
  if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < (rlim_t)n + 64) {
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (rlim_t)n + 64 ? (rlim_t)n + 64 : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  int *s = malloc((size_t)n * sizeof *s);
  uint8_t *state = calloc((size_t)n, 1); /* 0 connecting, 1 open, 2 closed, 3 failed */
  struct pollfd *pf = malloc((size_t)n * sizeof *pf);
  if (!s || !state || !pf) die("halfopen", STOA_ENOMEM);
  long failed = 0;
  for (long i = 0; i < n; i++) {
    long a = i / per_ip;
    struct sockaddr_in from = { .sin_family = AF_INET };
    from.sin_addr.s_addr = htonl(127u << 24 | (uint32_t)octet << 16 | (uint32_t)(a / 254) << 8 | (uint32_t)(a % 254 + 1));
    s[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (s[i] < 0) die("socket", -errno);
    if (bind(s[i], (struct sockaddr *)&from, sizeof from) ||
        (connect(s[i], (struct sockaddr *)&to, sizeof to) && errno != EINPROGRESS)) {
      state[i] = 3;
      failed++;
    }
    /* Paced a little: beyond the victim's listen backlog (128), the kernel
     * drops the handshake's last ACK, and such a connection, open on our
     * side, never reaches the victim at all. */
    if (i % 16 == 15) {
      struct timespec ts = { 0, 4000000 };
      nanosleep(&ts, NULL);
    }
  }
  uint64_t t0 = now_ms(), t2 = 0, last_close = 0;
  long open_2s = -1;
  for (;;) {
    uint64_t t = now_ms();
    long open = 0, np = 0;
    for (long i = 0; i < n; i++) {
      if (state[i] >= 2) continue;
      open++;
      pf[np].fd = s[i];
      pf[np].events = state[i] == 0 ? POLLOUT : POLLIN;
      pf[np++].revents = 0;
    }
    if (!t2 && open == 0) t2 = t;
    if (open_2s < 0 && t - t0 >= 2000) open_2s = open;
    if (t - t0 >= (uint64_t)hold_s * 1000) {
      printf("halfopen opened %ld failed %ld open-after-2s %ld open-at-end %ld last-close-ms %llu\n", n - failed,
             failed, open_2s, open, (unsigned long long)(last_close ? last_close - t0 : 0));
      break;
    }
    poll(pf, (nfds_t)np, 100);
    for (long i = 0, j = 0; i < n; i++) {
      if (state[i] >= 2) continue;
      struct pollfd *p = &pf[j++];
      if (!p->revents) continue;
      if (state[i] == 0) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(s[i], SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) { state[i] = 3; failed++; continue; }
        state[i] = 1;
        uint8_t m[64] = { 0, 32 };
        randombytes_buf(m + 2, 32);
        if (i % 3 == 1) (void)!send(s[i], m, 12, MSG_NOSIGNAL);      /* half a frame */
        else if (i % 3 == 2) (void)!send(s[i], m, 34, MSG_NOSIGNAL); /* a first message */
        continue;
      }
      uint8_t junk[512];
      ssize_t g = recv(s[i], junk, sizeof junk, 0);
      if (g == 0 || (g < 0 && errno != EAGAIN && errno != EINTR)) {
        state[i] = 2;
        last_close = now_ms();
      }
    }
  }
  for (long i = 0; i < n; i++) close(s[i]);
  free(s);
  free(state);
  free(pf);
  return 0;
}

/* ---- main --------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  static home h, other;
  static uint8_t m[WIRE_FRAME_MAX];
  size_t len;
  if (argc < 4) {
    fprintf(stderr, "usage: evil_peer HOME HOST:PORT MODE [OTHER_HOME]\n");
    return 2;
  }
  if (sodium_init() < 0) die("libsodium", STOA_ENOMEM);
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *mode = argv[3];
  home_load(&h, argv[1]);
  if (!strcmp(mode, "forged") || !strcmp(mode, "revoked")) {
    if (argc < 5) { fprintf(stderr, "evil_peer: %s needs OTHER_HOME\n", mode); return 2; }
    home_load(&other, argv[4]);
  }
  if ((!strcmp(mode, "replay") || !strcmp(mode, "flood") || !strcmp(mode, "pingflood") || !strcmp(mode, "pongs") ||
       !strcmp(mode, "announce")) &&
      argc < 5) {
    fprintf(stderr, "evil_peer: %s needs an argument\n", mode);
    return 2;
  }
  if (!strcmp(mode, "halfopen")) {
    if (argc < 8) { fprintf(stderr, "evil_peer: halfopen N PER_IP HOLD_S OCTET\n"); return 2; }
    return halfopen(argv[2], atol(argv[4]), atol(argv[5]), atol(argv[6]), atol(argv[7]));
  }
  if (!strcmp(mode, "replay-hs")) {
    /* A whole handshake, then on a new connection its messages replayed:
     * the victim's new ephemeral key makes the old third message fail. */
    dial(argv[2]);
    handshake(&h);
    close(fd);
    dial(argv[2]);
    size_t n;
    if (send_frame(hs_sent[0], hs_sent_len[0])) die("send", -errno);
    if (recv_frame(&n, now_ms() + WAIT_MS) != 1) die("no second handshake message", STOA_EHANDSHAKE);
    if (send_frame(hs_sent[1], hs_sent_len[1])) die("send", -errno);
    return expect_close();
  }
  dial(argv[2]);
  if (!strcmp(mode, "truncated-hs")) {
    uint8_t part[12] = { 0, 32 };
    randombytes_buf(part + 2, 10);
    if (write_all(part, sizeof part)) die("send", -errno);
    return expect_close();
  }

  if (!strcmp(mode, "garbage-hs")) {
    /* Shorter than the ephemeral key XX's first message starts with.  (Any
     * 32 bytes or more would pass for one: that first message is not
     * authenticated, and such a peer is dropped by the handshake timeout,
     * as `stall` shows.) */
    randombytes_buf(m, 16);
    if (send_frame(m, 16)) die("send", -errno);
    return expect_close();
  }
  if (!strcmp(mode, "stall")) return expect_close();

  handshake(&h);
  if (!strcmp(mode, "garbage")) {
    randombytes_buf(m, 100);
    if (send_frame(m, 100)) die("send", -errno);
    return expect_close();
  }
  if (!strcmp(mode, "zero")) {
    uint8_t z[2] = { 0, 0 };
    if (write_all(z, 2)) die("send", -errno);
    return expect_close();
  }
  if (!strcmp(mode, "nohello")) {
    if (wire_encode_u64(W_PING, 1, m, sizeof m, &len) || send_msg(m, len)) die("PING", STOA_EPROTOCOL);
    return expect_close();
  }
  if (!strcmp(mode, "rehs")) {
    if (send_frame(hs_sent[1], hs_sent_len[1])) die("send", -errno);
    return expect_close();
  }
  if (!strcmp(mode, "badhello")) {
    stoa_key k;
    keys_generate(&k);
    send_hello(&h, k.pk);
    return expect_close();
  }

  send_hello(&h, h.node.pk);
  int r = recv_hello();
  if (r) return r;
  if (!strcmp(mode, "forged")) return forged(&h, &other);
  if (!strcmp(mode, "future")) return future(&h);
  if (!strcmp(mode, "revoked")) return revoked(&h, &other);
  if (!strcmp(mode, "versions")) return versions(&h);
  if (!strcmp(mode, "replay")) return replay(argv[4]);
  if (!strcmp(mode, "flood")) return flood(&h, atol(argv[4]));
  if (!strcmp(mode, "pingflood")) return pingflood(atol(argv[4]));
  if (!strcmp(mode, "pongs")) return pongs(atol(argv[4]));
  if (!strcmp(mode, "announce")) return announce_flood(atol(argv[4]), argc > 5 ? atol(argv[5]) : 5);
  if (!strcmp(mode, "garbage-ready")) {
    randombytes_buf(m, 100);
    if (send_frame(m, 100)) die("send", -errno);
    return expect_close();
  }
  if (!strcmp(mode, "truncated")) {
    uint8_t hdr[2] = { 1000 >> 8, 1000 & 0xff };
    randombytes_buf(m, 500);
    if (write_all(hdr, 2) || write_all(m, 500)) die("send", -errno);
    shutdown(fd, SHUT_WR);
    return expect_close();
  }
  if (!strcmp(mode, "oversize")) {
    randombytes_buf(m, WIRE_FRAME_MAX);
    if (send_frame(m, WIRE_FRAME_MAX)) die("send", -errno);
    return expect_close();
  }
  if (!strcmp(mode, "overcount")) {
    /* [6, array32 of 1,000,000 elements] followed by one tiny bin */
    uint8_t msg[] = { 0x92, 0x06, 0xdd, 0x00, 0x0f, 0x42, 0x40, 0xc4, 0x01, 0x00 };
    if (send_msg(msg, sizeof msg)) die("send", -errno);
    return expect_close();
  }
  if (!strcmp(mode, "bigrecord")) {
    /* [6, [bin32 of 65,100 bytes]] */
    size_t n = 65100, o = 0;
    m[o++] = 0x92;
    m[o++] = 0x06;
    m[o++] = 0x91;
    m[o++] = 0xc6;
    m[o++] = 0;
    m[o++] = 0;
    m[o++] = (uint8_t)(n >> 8);
    m[o++] = (uint8_t)n;
    randombytes_buf(m + o, n);
    if (send_msg(m, o + n)) die("send", -errno);
    return expect_close();
  }
  if (!strcmp(mode, "badmsg")) {
    uint8_t msg[] = { 0x92, 0x63, 0x00 };
    if (send_msg(msg, sizeof msg)) die("send", -errno);
    return expect_close();
  }
  fprintf(stderr, "evil_peer: unknown mode %s\n", mode);
  return 2;
}
