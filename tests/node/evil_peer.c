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
 * For every mode but `forged`, the victim must close the connection; what
 * it said (an ERROR's reason) is printed as "victim says: ...".
 *
 * Exit: 0 the victim behaved as required; 3 it did not (kept a bad
 * connection open, or closed on the forged records, or never acknowledged);
 * 1 setup failed (keys, connect, handshake); 2 usage.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>
#include <sodium.h>

#include "cli/keys.h"
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

static void handshake(const home *h) {
  uint8_t prologue[7 + HASH_LEN], xpriv[32], m[256], payload[64];
  size_t len, pl;
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

/* A signed org record; the entry id is printed as "LABEL ID". */
static size_t make_org(uint8_t *out, const char *label, const char *name, const char *country,
                       const uint8_t owner[KEY_LEN], const uint8_t sk[64], const uint8_t fed[HASH_LEN]) {
  uint8_t body[512], id[ID_LEN];
  size_t bl = org_body(body, sizeof body, name, country), len;
  char hex[2 * ID_LEN + 1];
  randombytes_buf(id, sizeof id);
  int e = rec_build(REC_ORG, owner, id, now_ms(), sk, body, bl, fed, out, REC_MAX, &len);
  if (e) die("rec_build", e);
  sodium_bin2hex(hex, sizeof hex, id, sizeof id);
  printf("%s %s\n", label, hex);
  return len;
}

/* Sends one RECORDS message with one envelope and waits for its ACK:
 * 0, or 3 when the victim closed or never acknowledged. */
static int send_records_acked(const uint8_t *env, size_t len) {
  static uint8_t m[WIRE_MSG_MAX];
  size_t ml;
  const uint8_t *recs[1] = { env };
  size_t lens[1] = { len };
  if (wire_encode_records(recs, lens, 1, m, sizeof m, &ml) || send_msg(m, ml)) {
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
  if (!strcmp(mode, "forged")) {
    if (argc < 5) { fprintf(stderr, "evil_peer: forged needs OTHER_HOME\n"); return 2; }
    home_load(&other, argv[4]);
  }
  dial(argv[2]);

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
