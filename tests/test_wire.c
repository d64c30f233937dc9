/*
 * Unit tests of the node-to-node messages (proto/wire.c) and of the control
 * socket requests (proto/ctl.c).
 *
 * Hostile inputs are built with msgpack-c's packer, an encoder independent
 * of wire.c.  Inputs under test are always copied into a heap buffer of
 * exactly their length, so that AddressSanitizer catches any read past it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "proto/ctl.h"
#include "proto/err.h"
#include "proto/mp.h"
#include "proto/wire.h"

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void) { /* xorshift64*, fixed seed: reproducible */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dULL;
}

static void fill(uint8_t *p, size_t n, uint8_t seed) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seed + i * 7);
}

/* A heap copy of exactly n bytes (at least one allocation byte for n = 0,
 * and then a pointer one past it, so any read is out of bounds). */
static uint8_t *dup_exact(const uint8_t *p, size_t n) {
  uint8_t *q = malloc(n ? n : 1);
  assert_non_null(q);
  if (n) memcpy(q, p, n);
  return q;
}

static int decode_exact(const uint8_t *p, size_t n, wire_msg *m, uint8_t **keep) {
  uint8_t *q = dup_exact(p, n);
  int e = wire_decode(q, n, m);
  *keep = q; /* views into q stay valid until the caller frees it */
  return e;
}

typedef struct pk {
  msgpack_sbuffer sb;
  msgpack_packer p;
} pk;

static void pk_init(pk *k) {
  msgpack_sbuffer_init(&k->sb);
  msgpack_packer_init(&k->p, &k->sb, msgpack_sbuffer_write);
}
static void pk_free(pk *k) { msgpack_sbuffer_destroy(&k->sb); }
static const uint8_t *pk_data(const pk *k) { return (const uint8_t *)k->sb.data; }

/* The encoder's output is valid msgpack to an independent reader too. */
static void assert_msgpack_c_reads(const uint8_t *p, size_t n) {
  msgpack_unpacked u;
  size_t off = 0;
  msgpack_unpacked_init(&u);
  assert_int_equal(msgpack_unpack_next(&u, (const char *)p, n, &off), MSGPACK_UNPACK_SUCCESS);
  assert_int_equal(off, n);
  assert_int_equal(u.data.type, MSGPACK_OBJECT_ARRAY);
  msgpack_unpacked_destroy(&u);
  assert_int_equal(mp_check(p, n), 0);
}

static void assert_inside(const uint8_t *buf, size_t len, const void *p, size_t n) {
  if (n == 0) return;
  assert_non_null(p);
  const uint8_t *q = p;
  assert_true(q >= buf && q <= buf + len && n <= (size_t)(buf + len - q));
}

/* Every view of a decoded message lies inside the buffer it came from. */
static void check_views(const uint8_t *buf, size_t len, const wire_msg *m) {
  switch (m->type) {
  case W_HELLO:
    assert_inside(buf, len, m->u.hello.node, KEY_LEN);
    assert_inside(buf, len, m->u.hello.network, KEY_LEN);
    assert_true(m->u.hello.nproofs <= WIRE_PROOFS_MAX);
    for (uint32_t i = 0; i < m->u.hello.nproofs; i++) {
      assert_true(m->u.hello.proof_len[i] <= REC_MAX);
      assert_inside(buf, len, m->u.hello.proof[i], m->u.hello.proof_len[i]);
    }
    assert_true(m->u.hello.agent_len <= WIRE_AGENT_MAX);
    assert_inside(buf, len, m->u.hello.agent, m->u.hello.agent_len);
    assert_true(mp_utf8_valid((const uint8_t *)m->u.hello.agent, m->u.hello.agent_len));
    assert_true((m->u.hello.caps & ~(uint32_t)(WCAP_PUSH | WCAP_ZSTD | WCAP_ANNOUNCE)) == 0);
    break;
  case W_SYNC: assert_inside(buf, len, m->u.sync.syms, m->u.sync.syms_len); break;
  case W_WANT: case W_OFFER: case W_ANNOUNCE:
    assert_true(m->u.want.n <= WIRE_WANT_MAX);
    assert_inside(buf, len, m->u.want.hashes, (size_t)m->u.want.n * HASH_LEN);
    break;
  case W_LIST:
    assert_true(m->u.list.n <= WIRE_WANT_MAX && m->u.list.last <= 1);
    assert_inside(buf, len, m->u.list.hashes, (size_t)m->u.list.n * HASH_LEN);
    break;
  case W_ZIP:
    assert_true(m->u.zip.raw_len >= 1 && m->u.zip.raw_len <= WIRE_MSG_MAX);
    assert_inside(buf, len, m->u.zip.data, m->u.zip.len);
    break;
  case W_RECORDS: {
    wire_records r = m->u.records;
    const uint8_t *b;
    size_t n, count = 0;
    assert_true(r.n <= WIRE_RECORDS_MAX && r.left == r.n);
    while (wire_records_next(&r, &b, &n) == 1) {
      assert_true(n <= REC_MAX);
      assert_inside(buf, len, b, n);
      count++;
    }
    assert_int_equal(count, m->u.records.n);
    break;
  }
  case W_ERROR:
    assert_true(m->u.error.reason_len <= WIRE_REASON_MAX);
    assert_inside(buf, len, m->u.error.reason, m->u.error.reason_len);
    assert_true(mp_utf8_valid((const uint8_t *)m->u.error.reason, m->u.error.reason_len));
    break;
  case W_MORE: case W_DONE: case W_ACK: case W_PING: case W_PONG: break;
  default: fail_msg("decoded an unknown type %d", m->type);
  }
}

static bool same_bytes(const void *a, size_t an, const void *b, size_t bn) {
  return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* Content equality of two decoded messages. */
static bool msg_equal(const wire_msg *a, const wire_msg *b) {
  if (a->type != b->type) return false;
  switch (a->type) {
  case W_HELLO: {
    const wire_hello *x = &a->u.hello, *y = &b->u.hello;
    if (x->version != y->version || x->caps != y->caps || x->set_size != y->set_size ||
        x->nproofs != y->nproofs || memcmp(x->node, y->node, KEY_LEN) ||
        memcmp(x->network, y->network, KEY_LEN) ||
        !same_bytes(x->agent, x->agent_len, y->agent, y->agent_len))
      return false;
    for (uint32_t i = 0; i < x->nproofs; i++)
      if (!same_bytes(x->proof[i], x->proof_len[i], y->proof[i], y->proof_len[i])) return false;
    return true;
  }
  case W_SYNC:
    return a->u.sync.session == b->u.sync.session && a->u.sync.first == b->u.sync.first &&
           a->u.sync.set_size == b->u.sync.set_size &&
           same_bytes(a->u.sync.syms, a->u.sync.syms_len, b->u.sync.syms, b->u.sync.syms_len);
  case W_MORE: return a->u.more.session == b->u.more.session && a->u.more.next == b->u.more.next;
  case W_DONE:
    return a->u.done.session == b->u.done.session && a->u.done.status == b->u.done.status &&
           a->u.done.will_send == b->u.done.will_send && a->u.done.wants == b->u.done.wants;
  case W_WANT: case W_OFFER: case W_ANNOUNCE:
    return same_bytes(a->u.want.hashes, (size_t)a->u.want.n * HASH_LEN, b->u.want.hashes,
                      (size_t)b->u.want.n * HASH_LEN);
  case W_LIST:
    return a->u.list.session == b->u.list.session && a->u.list.last == b->u.list.last &&
           same_bytes(a->u.list.hashes, (size_t)a->u.list.n * HASH_LEN, b->u.list.hashes,
                      (size_t)b->u.list.n * HASH_LEN);
  case W_ZIP:
    return a->u.zip.raw_len == b->u.zip.raw_len &&
           same_bytes(a->u.zip.data, a->u.zip.len, b->u.zip.data, b->u.zip.len);
  case W_RECORDS: {
    wire_records x = a->u.records, y = b->u.records;
    const uint8_t *p, *q;
    size_t pn, qn;
    if (x.n != y.n) return false;
    for (;;) {
      int rx = wire_records_next(&x, &p, &pn), ry = wire_records_next(&y, &q, &qn);
      if (rx != ry) return false;
      if (rx == 0) return true;
      if (!same_bytes(p, pn, q, qn)) return false;
    }
  }
  case W_ACK: return a->u.ack.count == b->u.ack.count && a->u.ack.waiting == b->u.ack.waiting;
  case W_PING: case W_PONG: return a->u.nonce == b->u.nonce;
  case W_ERROR:
    return a->u.error.code == b->u.error.code &&
           same_bytes(a->u.error.reason, a->u.error.reason_len, b->u.error.reason,
                      b->u.error.reason_len);
  default: return false;
  }
}

static const uint8_t *rec_ptr[WIRE_RECORDS_MAX];
static size_t rec_len[WIRE_RECORDS_MAX];

/* Encodes a decoded message again (wire.c's own encoders). */
static int encode_msg(const wire_msg *m, uint8_t *out, size_t cap, size_t *len) {
  switch (m->type) {
  case W_HELLO: return wire_encode_hello(&m->u.hello, out, cap, len);
  case W_SYNC: return wire_encode_sync(&m->u.sync, out, cap, len);
  case W_MORE: return wire_encode_more(&m->u.more, out, cap, len);
  case W_DONE: return wire_encode_done(&m->u.done, out, cap, len);
  case W_WANT: case W_OFFER: case W_ANNOUNCE: return wire_encode_hashes(m->type, m->u.want.hashes, m->u.want.n, out, cap, len);
  case W_LIST: return wire_encode_list(&m->u.list, out, cap, len);
  case W_ZIP: return wire_encode_zip(m->u.zip.raw_len, m->u.zip.data, m->u.zip.len, out, cap, len);
  case W_RECORDS: {
    wire_records r = m->u.records;
    uint32_t n = 0;
    while (wire_records_next(&r, &rec_ptr[n], &rec_len[n]) == 1) n++;
    return wire_encode_records(rec_ptr, rec_len, n, out, cap, len);
  }
  case W_ACK: return wire_encode_ack(&m->u.ack, out, cap, len);
  case W_PING: case W_PONG: return wire_encode_u64(m->type, m->u.nonce, out, cap, len);
  case W_ERROR: {
    char reason[WIRE_REASON_MAX + 1];
    memcpy(reason, m->u.error.reason, m->u.error.reason_len);
    reason[m->u.error.reason_len] = 0;
    return wire_encode_error(m->u.error.code, reason, out, cap, len);
  }
  default: return STOA_EINVAL;
  }
}

static uint8_t scratch[WIRE_MSG_MAX];

/*
 * A message that decoded is consistent: its views stay in the buffer, and
 * encoding it again gives a message no longer than the input (the encoder
 * writes the shortest forms and drops extra elements) that decodes to the
 * same content.
 */
static void check_consistent(const uint8_t *buf, size_t len, const wire_msg *m) {
  size_t n;
  wire_msg again;
  check_views(buf, len, m);
  assert_int_equal(encode_msg(m, scratch, sizeof scratch, &n), 0);
  /* (an ACK that left out its bytes waiting gets them back: one byte, 0) */
  assert_true(n <= len + (m->type == W_ACK));
  assert_int_equal(wire_decode(scratch, n, &again), 0);
  if (m->type == W_ERROR && memchr(m->u.error.reason, 0, m->u.error.reason_len)) {
    /* The encoder takes a C string: the reason ends at its first NUL. */
    assert_int_equal(again.u.error.code, m->u.error.code);
    const char *nul = memchr(m->u.error.reason, 0, m->u.error.reason_len);
    assert_true(same_bytes(again.u.error.reason, again.u.error.reason_len, m->u.error.reason,
                           (size_t)(nul - m->u.error.reason)));
    return;
  }
  assert_true(msg_equal(m, &again));
}

/* ---- a corpus of valid messages ---------------------------------------- */

#define CORPUS_MAX 64
static struct { uint8_t *p; size_t n; } corpus[CORPUS_MAX];
static size_t ncorpus;
static uint8_t key_a[KEY_LEN], key_b[KEY_LEN];

static void corpus_add(const uint8_t *p, size_t n) {
  assert_true(ncorpus < CORPUS_MAX);
  corpus[ncorpus].p = dup_exact(p, n);
  corpus[ncorpus].n = n;
  ncorpus++;
}

static void hello_sample(wire_hello *h, uint8_t *proofbuf, uint32_t nproofs, uint32_t plen) {
  memset(h, 0, sizeof *h);
  fill(key_a, KEY_LEN, 1);
  fill(key_b, KEY_LEN, 2);
  h->version = WIRE_VERSION;
  h->caps = WCAP_PUSH;
  h->node = key_a;
  h->network = key_b;
  h->nproofs = nproofs;
  for (uint32_t i = 0; i < nproofs; i++) {
    h->proof[i] = proofbuf + (size_t)i * plen;
    h->proof_len[i] = plen;
  }
  h->set_size = 123456789;
  h->agent = "stoad/0.1 \xc3\xa9t\xc3\xa9";
  h->agent_len = (uint32_t)strlen(h->agent);
}

static void build_corpus(void) {
  static uint8_t buf[WIRE_MSG_MAX], proofs[4 * 300], syms[3 * 50], hashes[3 * HASH_LEN];
  static uint8_t recs[3][100];
  size_t n;
  wire_hello h;
  if (ncorpus) return;
  fill(proofs, sizeof proofs, 3);
  fill(syms, sizeof syms, 4);
  fill(hashes, sizeof hashes, 5);
  hello_sample(&h, proofs, 4, 300);
  assert_int_equal(wire_encode_hello(&h, buf, sizeof buf, &n), 0);
  corpus_add(buf, n);
  hello_sample(&h, proofs, 0, 0);
  h.caps = 0;
  h.agent_len = 0;
  assert_int_equal(wire_encode_hello(&h, buf, sizeof buf, &n), 0);
  corpus_add(buf, n);
  wire_sync s = { 7, 1, syms, sizeof syms, 1000 };
  assert_int_equal(wire_encode_sync(&s, buf, sizeof buf, &n), 0);
  corpus_add(buf, n);
  wire_more mo = { 7, 2 };
  assert_int_equal(wire_encode_more(&mo, buf, sizeof buf, &n), 0);
  corpus_add(buf, n);
  wire_done d = { 7, 0, 3, 4 };
  assert_int_equal(wire_encode_done(&d, buf, sizeof buf, &n), 0);
  corpus_add(buf, n);
  assert_int_equal(wire_encode_want(hashes, 3, buf, sizeof buf, &n), 0);
  corpus_add(buf, n);
  const uint8_t *rp[3] = { recs[0], recs[1], recs[2] };
  size_t rl[3] = { 100, 0, 40 };
  fill(recs[0], sizeof recs, 6);
  assert_int_equal(wire_encode_records(rp, rl, 3, buf, sizeof buf, &n), 0);
  corpus_add(buf, n);
  assert_int_equal(wire_encode_ack(&(wire_ack){ 300, 1 << 20 }, buf, sizeof buf, &n), 0);
  corpus_add(buf, n);
  assert_int_equal(wire_encode_u64(W_ACK, 300, buf, sizeof buf, &n), STOA_EINVAL);
  assert_int_equal(wire_encode_u64(W_PING, UINT64_MAX, buf, sizeof buf, &n), 0);
  corpus_add(buf, n);
  assert_int_equal(wire_encode_u64(W_PONG, 0, buf, sizeof buf, &n), 0);
  corpus_add(buf, n);
  assert_int_equal(wire_encode_error(WERR_BUSY, "too busy, try later", buf, sizeof buf, &n), 0);
  corpus_add(buf, n);
  /* A later version's message: extra trailing elements of every kind. */
  pk k;
  pk_init(&k);
  msgpack_pack_array(&k.p, 6);
  msgpack_pack_uint8(&k.p, W_MORE);
  msgpack_pack_uint32(&k.p, 9);
  msgpack_pack_uint32(&k.p, 10);
  msgpack_pack_map(&k.p, 1);
  msgpack_pack_str_with_body(&k.p, "x", 1);
  msgpack_pack_array(&k.p, 2);
  msgpack_pack_nil(&k.p);
  msgpack_pack_double(&k.p, 0.5);
  msgpack_pack_bin_with_body(&k.p, "ab", 2);
  msgpack_pack_int8(&k.p, -3);
  corpus_add(pk_data(&k), k.sb.size);
  pk_free(&k);
}

static int setup(void **state) {
  (void)state;
  build_corpus();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  for (size_t i = 0; i < ncorpus; i++) free(corpus[i].p);
  ncorpus = 0;
  return 0;
}

/* ---- round trips ---------------------------------------------------------- */

/* Encodes with wire.c, checks the bytes with msgpack-c, decodes again. */
static void roundtrip(const wire_msg *m) {
  size_t n;
  wire_msg back;
  uint8_t *q;
  assert_int_equal(encode_msg(m, scratch, sizeof scratch, &n), 0);
  assert_true(n <= WIRE_MSG_MAX);
  assert_msgpack_c_reads(scratch, n);
  assert_int_equal(decode_exact(scratch, n, &back, &q), 0);
  check_views(q, n, &back);
  assert_true(msg_equal(m, &back));
  free(q);
}

static const uint64_t edges[] = {
  0, 1, 127, 128, 255, 256, 65535, 65536, UINT32_MAX, (uint64_t)UINT32_MAX + 1, UINT64_MAX
};
#define NEDGES (sizeof edges / sizeof edges[0])

static void test_roundtrip_small(void **state) {
  (void)state;
  wire_msg m;
  for (size_t i = 0; i < NEDGES; i++) {
    uint32_t v32 = edges[i] > UINT32_MAX ? UINT32_MAX : (uint32_t)edges[i];
    memset(&m, 0, sizeof m);
    m.type = W_MORE;
    m.u.more = (wire_more){ v32, (uint32_t)(edges[NEDGES - 1 - i] & UINT32_MAX) };
    roundtrip(&m);
    m.type = W_DONE;
    m.u.done = (wire_done){ v32, v32, edges[i], edges[NEDGES - 1 - i] };
    roundtrip(&m);
    m.type = W_ACK;
    m.u.ack = (wire_ack){ edges[i], edges[NEDGES - 1 - i] };
    roundtrip(&m);
    m.type = W_PING;
    m.u.nonce = edges[i];
    roundtrip(&m);
    m.type = W_PONG;
    roundtrip(&m);
  }
  /* ERROR: empty, NULL and longest reasons. */
  char reason[WIRE_REASON_MAX + 2];
  size_t n;
  uint8_t *q;
  static const size_t rlens[] = { 1, 31, 32, 33, WIRE_REASON_MAX - 1 };
  for (size_t i = 0; i < sizeof rlens / sizeof rlens[0]; i++) {
    memset(reason, 'q', sizeof reason);
    reason[rlens[i]] = 0;
    assert_int_equal(wire_encode_error(7, reason, scratch, sizeof scratch, &n), 0);
    assert_msgpack_c_reads(scratch, n);
    assert_int_equal(decode_exact(scratch, n, &m, &q), 0);
    assert_int_equal(m.u.error.reason_len, rlens[i]);
    assert_memory_equal(m.u.error.reason, reason, rlens[i]);
    free(q);
  }
  memset(reason, 'r', sizeof reason);
  reason[WIRE_REASON_MAX] = 0;
  assert_int_equal(wire_encode_error(UINT32_MAX, reason, scratch, sizeof scratch, &n), 0);
  assert_msgpack_c_reads(scratch, n);
  assert_int_equal(decode_exact(scratch, n, &m, &q), 0);
  assert_int_equal(m.type, W_ERROR);
  assert_int_equal(m.u.error.code, UINT32_MAX);
  assert_int_equal(m.u.error.reason_len, WIRE_REASON_MAX);
  assert_memory_equal(m.u.error.reason, reason, WIRE_REASON_MAX);
  free(q);
  assert_int_equal(wire_encode_error(WERR_SHUTDOWN, NULL, scratch, sizeof scratch, &n), 0);
  assert_int_equal(wire_decode(scratch, n, &m), 0);
  assert_int_equal(m.u.error.reason_len, 0);
  assert_int_equal(wire_encode_error(WERR_SHUTDOWN, "", scratch, sizeof scratch, &n), 0);
  assert_int_equal(wire_decode(scratch, n, &m), 0);
  assert_int_equal(m.u.error.code, WERR_SHUTDOWN);
  assert_int_equal(m.u.error.reason_len, 0);
}

static void test_roundtrip_hello(void **state) {
  (void)state;
  static uint8_t proofs[WIRE_MSG_MAX];
  wire_msg m;
  char agent[WIRE_AGENT_MAX + 1];
  memset(&m, 0, sizeof m);
  m.type = W_HELLO;
  fill(proofs, sizeof proofs, 9);
  /* Minimal: no caps, no proofs, empty agent, zero sizes. */
  hello_sample(&m.u.hello, proofs, 0, 0);
  m.u.hello.caps = 0;
  m.u.hello.agent_len = 0;
  m.u.hello.set_size = 0;
  m.u.hello.version = 0;
  roundtrip(&m);
  /* Largest counts: 64 proofs, a 64-byte agent (multibyte UTF-8), push. */
  hello_sample(&m.u.hello, proofs, WIRE_PROOFS_MAX, 900);
  for (int i = 0; i < WIRE_AGENT_MAX; i += 2) memcpy(agent + i, "\xc3\xa9", 2);
  m.u.hello.agent = agent;
  m.u.hello.agent_len = WIRE_AGENT_MAX;
  m.u.hello.version = UINT32_MAX;
  m.u.hello.set_size = UINT64_MAX;
  roundtrip(&m);
  /* Every count and length around the msgpack header boundaries. */
  static const uint32_t np[] = { 1, 15, 16, 17, 63 };
  static const uint32_t al[] = { 0, 1, 31, 32, 33, 63 };
  for (size_t i = 0; i < sizeof np / sizeof np[0]; i++) {
    for (size_t j = 0; j < sizeof al / sizeof al[0]; j++) {
      hello_sample(&m.u.hello, proofs, np[i], 100);
      memset(agent, 'z', sizeof agent);
      m.u.hello.agent = agent;
      m.u.hello.agent_len = al[j];
      roundtrip(&m);
    }
  }
  /* Longest proof: one whole record of REC_MAX bytes. */
  hello_sample(&m.u.hello, proofs, 1, REC_MAX);
  roundtrip(&m);
  /* Proofs of every header size: 0, fix, bin 8 and bin 16 lengths. */
  hello_sample(&m.u.hello, proofs, 5, 0);
  m.u.hello.proof_len[1] = 1;
  m.u.hello.proof_len[2] = 255;
  m.u.hello.proof_len[3] = 256;
  m.u.hello.proof_len[4] = 60000;
  roundtrip(&m);
}

static void test_roundtrip_sync_want(void **state) {
  (void)state;
  static uint8_t big[WIRE_MSG_MAX];
  wire_msg m;
  size_t n, max_syms = 0;
  fill(big, sizeof big, 11);
  memset(&m, 0, sizeof m);
  m.type = W_SYNC;
  m.u.sync = (wire_sync){ UINT32_MAX, UINT32_MAX, NULL, 0, UINT64_MAX };
  roundtrip(&m);
  m.u.sync = (wire_sync){ 0, 0, big, 50, 0 };
  roundtrip(&m);
  /* The largest symbols bin: every byte that fits, then one more is refused. */
  for (size_t len = WIRE_MSG_MAX; len > WIRE_MSG_MAX - 64; len--) {
    m.u.sync = (wire_sync){ UINT32_MAX, UINT32_MAX, big, (uint32_t)len, UINT64_MAX };
    if (wire_encode_sync(&m.u.sync, scratch, sizeof scratch, &n) == 0) { max_syms = len; break; }
  }
  /* 1 array + 1 type + 5 + 5 (uint 32) + 3 (bin 16 header) + 9 (uint 64). */
  assert_int_equal(max_syms, WIRE_MSG_MAX - 24);
  assert_int_equal(n, WIRE_MSG_MAX);
  m.u.sync.syms_len = (uint32_t)max_syms;
  roundtrip(&m);
  m.u.sync.syms_len = (uint32_t)max_syms + 1;
  assert_int_equal(wire_encode_sync(&m.u.sync, scratch, sizeof scratch, &n), STOA_ETOOBIG);
  uint8_t *roomy = malloc(2 * WIRE_MSG_MAX); /* more room than a message may take */
  assert_non_null(roomy);
  assert_int_equal(wire_encode_sync(&m.u.sync, roomy, 2 * WIRE_MSG_MAX, &n), STOA_ETOOBIG);
  free(roomy);

  m.type = W_WANT;
  uint32_t counts[] = { 0, 1, 7, 8, 255, 256, WIRE_WANT_MAX };
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
    m.u.want = (wire_want){ big, counts[i] };
    roundtrip(&m);
  }
  assert_int_equal(wire_encode_want(big, WIRE_WANT_MAX + 1, scratch, sizeof scratch, &n), STOA_EINVAL);
  assert_int_equal(wire_encode_want(NULL, 1, scratch, sizeof scratch, &n), STOA_EINVAL);
}

static void test_roundtrip_records(void **state) {
  (void)state;
  static uint8_t body[WIRE_MSG_MAX];
  static const uint8_t *rp[WIRE_RECORDS_MAX + 1];
  static size_t rl[WIRE_RECORDS_MAX + 1];
  wire_msg m;
  size_t n;
  uint8_t *q;
  fill(body, sizeof body, 13);
  /* None. */
  assert_int_equal(wire_encode_records(NULL, NULL, 0, scratch, sizeof scratch, &n), 0);
  assert_int_equal(wire_decode(scratch, n, &m), 0);
  assert_int_equal(m.type, W_RECORDS);
  assert_int_equal(m.u.records.n, 0);
  const uint8_t *b = NULL;
  size_t bl = 0;
  assert_int_equal(wire_records_next(&m.u.records, &b, &bl), 0);
  /* Counts around the msgpack header boundaries. */
  static const uint32_t counts[] = { 1, 15, 16, 17, 255, 256, 65 };
  memset(&m, 0, sizeof m);
  for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
    for (uint32_t i = 0; i < counts[c]; i++) {
      rp[i] = body + i;
      rl[i] = i % 40;
    }
    assert_int_equal(wire_encode_records(rp, rl, counts[c], scratch, sizeof scratch, &n), 0);
    assert_msgpack_c_reads(scratch, n);
    assert_int_equal(decode_exact(scratch, n, &m, &q), 0);
    assert_int_equal(m.u.records.n, counts[c]);
    for (uint32_t i = 0; i < counts[c]; i++) {
      assert_int_equal(wire_records_next(&m.u.records, &b, &bl), 1);
      assert_true(same_bytes(b, bl, rp[i], rl[i]));
    }
    assert_int_equal(wire_records_next(&m.u.records, &b, &bl), 0);
    free(q);
  }
  /* The most records, each as large as the header's packing rule allows. */
  size_t each = (WIRE_MSG_MAX - WIRE_RECORDS_OVERHEAD) / WIRE_RECORDS_MAX - WIRE_RECORD_OVERHEAD;
  for (uint32_t i = 0; i < WIRE_RECORDS_MAX; i++) {
    rp[i] = body + i;
    rl[i] = each;
  }
  assert_int_equal(wire_encode_records(rp, rl, WIRE_RECORDS_MAX, scratch, sizeof scratch, &n), 0);
  assert_msgpack_c_reads(scratch, n);
  assert_int_equal(decode_exact(scratch, n, &m, &q), 0);
  assert_int_equal(m.u.records.n, WIRE_RECORDS_MAX);
  for (uint32_t i = 0; i < WIRE_RECORDS_MAX; i++) {
    assert_int_equal(m.u.records.left, WIRE_RECORDS_MAX - i);
    assert_int_equal(wire_records_next(&m.u.records, &b, &bl), 1);
    assert_int_equal(bl, each);
    assert_memory_equal(b, body + i, each);
  }
  assert_int_equal(wire_records_next(&m.u.records, &b, &bl), 0);
  assert_int_equal(m.u.records.left, 0);
  assert_int_equal(m.u.records.n, WIRE_RECORDS_MAX);
  assert_int_equal(wire_records_next(&m.u.records, &b, &bl), 0); /* stays at the end */
  free(q);
  assert_int_equal(wire_encode_records(rp, rl, WIRE_RECORDS_MAX + 1, scratch, sizeof scratch, &n),
                   STOA_EINVAL);
  /* The longest record. */
  rl[0] = REC_MAX;
  assert_int_equal(wire_encode_records(rp, rl, 1, scratch, sizeof scratch, &n), 0);
  assert_int_equal(decode_exact(scratch, n, &m, &q), 0);
  assert_int_equal(wire_records_next(&m.u.records, &b, &bl), 1);
  assert_int_equal(bl, REC_MAX);
  assert_memory_equal(b, body, REC_MAX);
  free(q);
  rl[0] = REC_MAX + 1;
  assert_int_equal(wire_encode_records(rp, rl, 1, scratch, sizeof scratch, &n), STOA_EINVAL);
  rp[0] = NULL;
  rl[0] = 1;
  assert_int_equal(wire_encode_records(rp, rl, 1, scratch, sizeof scratch, &n), STOA_EINVAL);
  /* The packing rule of wire.h holds for any mix of lengths: a batch that
   * obeys it always encodes; one record more than it allows does not fit. */
  for (int round = 0; round < 200; round++) {
    size_t total = WIRE_RECORDS_OVERHEAD;
    uint32_t cnt = 0;
    size_t maxlen = round % 3 == 0 ? 40 : round % 3 == 1 ? 3000 : REC_MAX;
    for (;;) {
      size_t l = rnd() % (maxlen + 1);
      if (cnt == WIRE_RECORDS_MAX || total + l + WIRE_RECORD_OVERHEAD > WIRE_MSG_MAX) break;
      rp[cnt] = body;
      rl[cnt++] = l;
      total += l + WIRE_RECORD_OVERHEAD;
    }
    assert_int_equal(wire_encode_records(rp, rl, cnt, scratch, sizeof scratch, &n), 0);
    assert_true(n <= total);
    m.type = W_RECORDS;
    assert_int_equal(wire_decode(scratch, n, &m), 0);
    assert_int_equal(m.u.records.n, cnt);
  }
  /* Two records filling a message to the byte. */
  rp[0] = rp[1] = body;
  rl[0] = 40000;
  rl[1] = WIRE_MSG_MAX - WIRE_RECORDS_OVERHEAD - 2 * WIRE_RECORD_OVERHEAD - 40000;
  assert_int_equal(wire_encode_records(rp, rl, 2, scratch, sizeof scratch, &n), 0);
}

/* ---- hostile input --------------------------------------------------------- */

/* Every strict prefix of every message is refused, and never over-read. */
static void test_truncations(void **state) {
  (void)state;
  static uint8_t buf[WIRE_MSG_MAX];
  static const uint8_t *rp[WIRE_RECORDS_MAX];
  static size_t rl[WIRE_RECORDS_MAX];
  wire_msg m;
  size_t big_n[3];
  uint8_t *big[3];
  /* Add the largest messages to the small corpus. */
  fill(buf, sizeof buf, 17);
  for (uint32_t i = 0; i < WIRE_RECORDS_MAX; i++) { rp[i] = buf; rl[i] = 10; }
  assert_int_equal(wire_encode_records(rp, rl, WIRE_RECORDS_MAX, scratch, sizeof scratch, &big_n[0]), 0);
  big[0] = dup_exact(scratch, big_n[0]);
  wire_hello h;
  hello_sample(&h, buf, WIRE_PROOFS_MAX, 1000);
  assert_int_equal(wire_encode_hello(&h, scratch, sizeof scratch, &big_n[1]), 0);
  big[1] = dup_exact(scratch, big_n[1]);
  assert_int_equal(wire_encode_want(buf, WIRE_WANT_MAX, scratch, sizeof scratch, &big_n[2]), 0);
  big[2] = dup_exact(scratch, big_n[2]);
  for (size_t c = 0; c < ncorpus + 3; c++) {
    const uint8_t *p = c < ncorpus ? corpus[c].p : big[c - ncorpus];
    size_t n = c < ncorpus ? corpus[c].n : big_n[c - ncorpus];
    uint8_t *q;
    assert_int_equal(decode_exact(p, n, &m, &q), 0);
    free(q);
    /* Large messages: every prefix near the start and end, a stride between. */
    for (size_t k = 0; k < n; k += (n > 4096 && k > 2048 && k < n - 2048) ? 61 : 1) {
      int e = decode_exact(p, k, &m, &q);
      free(q);
      assert_true(e < 0);
      assert_int_equal(m.type, 0); /* never half filled */
    }
  }
  for (int i = 0; i < 3; i++) free(big[i]);
}

static void check_any(const uint8_t *p, size_t n) {
  wire_msg m;
  uint8_t *q;
  int e = decode_exact(p, n, &m, &q);
  if (e == 0) check_consistent(q, n, &m);
  else assert_true(e < 0 && m.type == 0);
  free(q);
}

/* Bit flips everywhere, then random edits: rejected or decoded consistently. */
static void test_mutations(void **state) {
  (void)state;
  static uint8_t buf[WIRE_MSG_MAX + 8];
  static const uint8_t interesting[] = {
    0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xc4, 0xc5, 0xc6,
    0xcc, 0xcf, 0xd0, 0xd4, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff,
  };
  for (size_t c = 0; c < ncorpus; c++) {
    const uint8_t *p = corpus[c].p;
    size_t n = corpus[c].n;
    for (size_t i = 0; i < n; i++) {
      memcpy(buf, p, n);
      for (int bit = 0; bit < 8; bit++) {
        buf[i] = (uint8_t)(p[i] ^ (1u << bit));
        check_any(buf, n);
      }
      for (size_t v = 0; v < sizeof interesting; v++) {
        buf[i] = interesting[v];
        check_any(buf, n);
      }
    }
  }
  for (int iter = 0; iter < 200000; iter++) {
    size_t c = rnd() % ncorpus, n = corpus[c].n;
    memcpy(buf, corpus[c].p, n);
    int edits = 1 + (int)(rnd() % 4);
    for (int k = 0; k < edits; k++) {
      size_t at = n ? rnd() % n : 0;
      switch (rnd() % 5) {
      case 0: if (n) buf[at] ^= (uint8_t)(1u << (rnd() % 8)); break;
      case 1: if (n) buf[at] = (uint8_t)rnd(); break;
      case 2: if (n) buf[at] = interesting[rnd() % sizeof interesting]; break;
      case 3: /* insert */
        if (n < sizeof buf) { memmove(buf + at + 1, buf + at, n - at); buf[at] = (uint8_t)rnd(); n++; }
        break;
      default: /* delete */
        if (n) { memmove(buf + at, buf + at + 1, n - at - 1); n--; }
      }
    }
    check_any(buf, n);
  }
  /* Pure noise, mostly starting with a plausible array header. */
  for (int iter = 0; iter < 50000; iter++) {
    size_t n = rnd() % 64;
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)rnd();
    if (n && iter % 2) buf[0] = (uint8_t)(0x91 + rnd() % 8);
    if (n > 1 && iter % 4 == 1) buf[1] = (uint8_t)(1 + rnd() % 10);
    check_any(buf, n);
  }
}

/* Headers that declare gigabytes: refused before anything trusts them. */
static void test_bombs(void **state) {
  (void)state;
  static const struct { uint8_t b[16]; size_t n; } bombs[] = {
    { { 0xdd, 0xff, 0xff, 0xff, 0xff }, 5 },                           /* the array itself */
    { { 0xdd, 0xff, 0xff, 0xff, 0xff, 0x06, 0x90 }, 7 },
    { { 0x92, 0x06, 0xdd, 0xff, 0xff, 0xff, 0xff }, 7 },               /* RECORDS count */
    { { 0x92, 0x06, 0xdc, 0xff, 0xff, 0xc4, 0x00 }, 7 },
    { { 0x92, 0x06, 0x91, 0xc6, 0xff, 0xff, 0xff, 0xff }, 8 },         /* one record */
    { { 0x92, 0x05, 0xc6, 0xff, 0xff, 0xff, 0xe0 }, 7 },               /* WANT hashes */
    { { 0x92, 0x05, 0xc6, 0x00, 0x00, 0x00, 0x20 }, 7 },
    { { 0x95, 0x02, 0x01, 0x00, 0xc6, 0xff, 0xff, 0xff, 0xff, 0x00 }, 10 }, /* SYNC symbols */
    { { 0x93, 0x0a, 0x01, 0xdb, 0xff, 0xff, 0xff, 0xff, 'a' }, 9 },    /* ERROR reason */
    { { 0x98, 0x01, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff, 0xa4, 'p', 'u', 's', 'h' }, 13 }, /* caps */
    { { 0x93, 0x03, 0x01, 0x02, 0xdf, 0xff, 0xff, 0xff, 0xff }, 9 },  /* extra element: map */
    { { 0x93, 0x03, 0x01, 0x02, 0xdb, 0xff, 0xff, 0xff, 0xff }, 9 },  /* extra element: str */
  };
  wire_msg m;
  for (size_t i = 0; i < sizeof bombs / sizeof bombs[0]; i++) {
    uint8_t *q;
    int e = decode_exact(bombs[i].b, bombs[i].n, &m, &q);
    free(q);
    assert_true(e < 0);
  }
  /* HELLO with a proofs array of 2^32 - 1 and a proof of 4 GiB. */
  pk k;
  for (int which = 0; which < 3; which++) {
    pk_init(&k);
    msgpack_pack_array(&k.p, 8);
    msgpack_pack_uint8(&k.p, W_HELLO);
    msgpack_pack_uint8(&k.p, 1);
    msgpack_pack_array(&k.p, 0);
    msgpack_pack_bin_with_body(&k.p, key_a, KEY_LEN);
    msgpack_pack_bin_with_body(&k.p, key_b, KEY_LEN);
    if (which == 0) {
      msgpack_pack_array(&k.p, UINT32_MAX);
    } else if (which == 1) {
      msgpack_pack_array(&k.p, 1);
      msgpack_pack_bin(&k.p, UINT32_MAX);
    } else {
      msgpack_pack_array(&k.p, 0);
      msgpack_pack_uint8(&k.p, 0);
      msgpack_pack_str(&k.p, UINT32_MAX); /* agent */
    }
    msgpack_pack_uint8(&k.p, 0);
    msgpack_pack_str_with_body(&k.p, "a", 1);
    assert_int_equal(wire_decode(pk_data(&k), k.sb.size, &m), STOA_ETRUNCATED);
    pk_free(&k);
  }
  /* Counts that the input does hold but the limits refuse. */
  static uint8_t buf[WIRE_MSG_MAX + 1];
  size_t n = 0;
  buf[n++] = 0x92;
  buf[n++] = W_RECORDS;
  buf[n++] = 0xdc;
  buf[n++] = (WIRE_RECORDS_MAX + 1) >> 8;
  buf[n++] = (WIRE_RECORDS_MAX + 1) & 0xff;
  for (int i = 0; i <= WIRE_RECORDS_MAX; i++) { buf[n++] = 0xc4; buf[n++] = 0; }
  assert_int_equal(wire_decode(buf, n, &m), STOA_ETOOBIG);
  buf[4]--; /* 4096 empty records: fine */
  assert_int_equal(wire_decode(buf, n - 2, &m), 0);
  assert_int_equal(m.u.records.n, WIRE_RECORDS_MAX);
  /* A message longer than a frame can carry. */
  memset(buf, 0, sizeof buf);
  assert_int_equal(wire_decode(buf, WIRE_MSG_MAX + 1, &m), STOA_ETOOBIG);
}

/* Kinds of elements, and one sample value of each kind of msgpack value. */
enum ek { EK_U32 = 1, EK_U64, EK_CAPS, EK_KEY, EK_PROOFS, EK_STR, EK_SYMS, EK_WANT, EK_RECS };
static const uint8_t layout[W__TYPE_MAX + 1][8] = {
  [W_HELLO] = { EK_U32, EK_CAPS, EK_KEY, EK_KEY, EK_PROOFS, EK_U64, EK_STR },
  [W_SYNC] = { EK_U32, EK_U32, EK_SYMS, EK_U64 },
  [W_MORE] = { EK_U32, EK_U32 },
  [W_DONE] = { EK_U32, EK_U32, EK_U64, EK_U64 },
  [W_WANT] = { EK_WANT },
  [W_RECORDS] = { EK_RECS },
  [W_ACK] = { EK_U64, EK_U64 }, [W_PING] = { EK_U64 }, [W_PONG] = { EK_U64 },
  [W_ERROR] = { EK_U32, EK_STR },
  [W_OFFER] = { EK_WANT },
  [W_ANNOUNCE] = { EK_WANT },
  [W_ZIP] = { EK_U32, EK_SYMS },
  [W_LIST] = { EK_U32, EK_WANT, EK_U32 },  /* last: any uint, read as a flag */
};
/* Trailing elements a type may leave out (ACK's bytes waiting). */
static const uint8_t optional[W__TYPE_MAX + 1] = { [W_ACK] = 1 };
static size_t nelems(int type) {
  size_t n = 0;
  while (n < 8 && layout[type][n]) n++;
  return n;
}

enum alt { A_UINT, A_NEG, A_NIL, A_BOOL, A_FLOAT, A_STR, A_BIN32, A_BIN31, A_ARRAY, A_MAP,
           A_EXT, A_BIGUINT, A__N };

static void pack_alt(msgpack_packer *p, int a) {
  switch (a) {
  case A_UINT: msgpack_pack_uint8(p, 5); break;
  case A_NEG: msgpack_pack_int8(p, -1); break;
  case A_NIL: msgpack_pack_nil(p); break;
  case A_BOOL: msgpack_pack_true(p); break;
  case A_FLOAT: msgpack_pack_double(p, 5.0); break;
  case A_STR: msgpack_pack_str_with_body(p, "push", 4); break;
  case A_BIN32: msgpack_pack_bin_with_body(p, key_a, KEY_LEN); break;
  case A_BIN31: msgpack_pack_bin_with_body(p, key_a, KEY_LEN - 1); break;
  case A_ARRAY: msgpack_pack_array(p, 0); break;
  case A_MAP: msgpack_pack_map(p, 0); break;
  case A_EXT: msgpack_pack_ext_with_body(p, "x", 1, 1); break;
  default: msgpack_pack_uint64(p, (uint64_t)UINT32_MAX + 1); break;
  }
}

/* The one sample each kind accepts as valid, besides its own default. */
static bool alt_ok(int kind, int a) {
  switch (kind) {
  case EK_U32: return a == A_UINT;
  case EK_U64: return a == A_UINT || a == A_BIGUINT;
  case EK_CAPS: case EK_PROOFS: case EK_RECS: return a == A_ARRAY;
  case EK_KEY: return a == A_BIN32;
  case EK_STR: return a == A_STR;
  case EK_SYMS: return a == A_BIN32 || a == A_BIN31;
  case EK_WANT: return a == A_BIN32;
  default: return false;
  }
}

static void pack_default(msgpack_packer *p, int kind) {
  switch (kind) {
  case EK_U32: case EK_U64: msgpack_pack_uint8(p, 1); break;
  case EK_CAPS:
    msgpack_pack_array(p, 2);
    msgpack_pack_str_with_body(p, "push", 4);
    msgpack_pack_str_with_body(p, "future-thing", 12);
    break;
  case EK_KEY: case EK_WANT: msgpack_pack_bin_with_body(p, key_b, KEY_LEN); break;
  case EK_PROOFS: case EK_RECS:
    msgpack_pack_array(p, 1);
    msgpack_pack_bin_with_body(p, "rec", 3);
    break;
  case EK_STR: msgpack_pack_str_with_body(p, "x", 1); break;
  case EK_SYMS: msgpack_pack_bin_with_body(p, "sym", 3); break;
  default: fail();
  }
}

/* [type, elements...], where element `swap` (if < nelems) is alternative a,
 * only the first `count` elements are written, and `extra` samples follow. */
static void pack_msg(pk *k, int type, size_t count, size_t swap, int a, size_t extra) {
  msgpack_pack_array(&k->p, (uint32_t)(1 + count + extra));
  msgpack_pack_uint8(&k->p, (uint8_t)type);
  for (size_t i = 0; i < count; i++) {
    if (i == swap) pack_alt(&k->p, a);
    else pack_default(&k->p, layout[type][i]);
  }
  for (size_t i = 0; i < extra; i++) pack_alt(&k->p, (int)(i % A__N == A_EXT ? A_UINT : i % A__N));
}

static void test_types_exact(void **state) {
  (void)state;
  wire_msg m;
  for (int t = W_HELLO; t <= W__TYPE_MAX; t++) {
    size_t ne = nelems(t);
    for (size_t pos = 0; pos < ne; pos++) {
      for (int a = 0; a < A__N; a++) {
        pk k;
        pk_init(&k);
        pack_msg(&k, t, ne, pos, a, 0);
        uint8_t *q;
        int e = decode_exact(pk_data(&k), k.sb.size, &m, &q);
        if (alt_ok(layout[t][pos], a)) {
          assert_int_equal(e, 0);
          assert_int_equal(m.type, t);
          check_consistent(q, k.sb.size, &m);
        } else {
          assert_true(e < 0);
          if (a == A_EXT) assert_int_equal(e, STOA_EMALFORMED); /* wrong type before ext */
          if (a == A_BIGUINT && layout[t][pos] == EK_U32) assert_int_equal(e, STOA_ETOOBIG);
        }
        free(q);
        pk_free(&k);
      }
    }
  }
  /* The elements inside HELLO's and RECORDS' arrays are typed too. */
  static const struct { int type; size_t pos; int inner; } nested[] = {
    { W_HELLO, 1, A_BIN32 }, { W_HELLO, 1, A_NIL }, { W_HELLO, 4, A_STR }, { W_HELLO, 4, A_ARRAY },
    { W_RECORDS, 0, A_STR }, { W_RECORDS, 0, A_NIL }, { W_RECORDS, 0, A_UINT },
    { W_RECORDS, 0, A_EXT },
  };
  for (size_t i = 0; i < sizeof nested / sizeof nested[0]; i++) {
    int t = nested[i].type;
    pk k;
    pk_init(&k);
    msgpack_pack_array(&k.p, (uint32_t)(1 + nelems(t)));
    msgpack_pack_uint8(&k.p, (uint8_t)t);
    for (size_t j = 0; j < nelems(t); j++) {
      if (j != nested[i].pos) { pack_default(&k.p, layout[t][j]); continue; }
      msgpack_pack_array(&k.p, 2);
      pack_default(&k.p, layout[t][j] == EK_CAPS ? EK_STR : EK_SYMS);
      pack_alt(&k.p, nested[i].inner);
    }
    assert_int_equal(wire_decode(pk_data(&k), k.sb.size, &m), STOA_EMALFORMED);
    pk_free(&k);
  }
  /* Invalid UTF-8 in a capability, the agent, a reason. */
  const uint8_t bad_reason[] = { 0x93, 0x0a, 0x01, 0xa2, 0xc3, 0x28 };
  assert_int_equal(wire_decode(bad_reason, sizeof bad_reason, &m), STOA_EUTF8);
  const uint8_t bad_surrogate[] = { 0x93, 0x0a, 0x01, 0xa3, 0xed, 0xa0, 0x80 };
  assert_int_equal(wire_decode(bad_surrogate, sizeof bad_surrogate, &m), STOA_EUTF8);
  /* The type itself must be a uint. */
  const uint8_t type_str[] = { 0x92, 0xa1, '8', 0x00 };
  const uint8_t type_neg[] = { 0x92, 0xff, 0x00 };
  const uint8_t type_nil[] = { 0x92, 0xc0, 0x00 };
  assert_int_equal(wire_decode(type_str, sizeof type_str, &m), STOA_EMALFORMED);
  assert_int_equal(wire_decode(type_neg, sizeof type_neg, &m), STOA_EMALFORMED);
  assert_int_equal(wire_decode(type_nil, sizeof type_nil, &m), STOA_EMALFORMED);
  /* A type written in a longer uint form is the same type. */
  const uint8_t ping_wide[] = { 0x92, 0xcf, 0, 0, 0, 0, 0, 0, 0, W_PING, 0x2a };
  assert_int_equal(wire_decode(ping_wide, sizeof ping_wide, &m), 0);
  assert_int_equal(m.type, W_PING);
  assert_int_equal(m.u.nonce, 42);
  /* Not an array at all. */
  const uint8_t map[] = { 0x81, 0x01, 0x02 };
  const uint8_t scalar[] = { 0x08 };
  assert_int_equal(wire_decode(map, sizeof map, &m), STOA_EMALFORMED);
  assert_int_equal(wire_decode(scalar, sizeof scalar, &m), STOA_EMALFORMED);
}

static void test_limits_decode(void **state) {
  (void)state;
  static uint8_t big[WIRE_MSG_MAX];
  wire_msg m;
  pk k;
  fill(big, sizeof big, 21);
  /* HELLO: 16 capabilities of 32 bytes pass, unknown ones are ignored;
   * a 17th, or a 33-byte name, is too big. */
  char name[WIRE_CAP_LEN_MAX + 1], agent[WIRE_AGENT_MAX + 1];
  memset(name, 'c', sizeof name);
  memset(agent, 'a', sizeof agent);
  for (int v = 0; v < 3; v++) {
    uint32_t ncaps = v == 1 ? WIRE_CAPS_MAX + 1 : WIRE_CAPS_MAX;
    pk_init(&k);
    msgpack_pack_array(&k.p, 8);
    msgpack_pack_uint8(&k.p, W_HELLO);
    msgpack_pack_uint8(&k.p, 1);
    msgpack_pack_array(&k.p, ncaps);
    for (uint32_t i = 0; i < ncaps; i++) {
      if (i == 5) msgpack_pack_str_with_body(&k.p, "push", 4);
      else msgpack_pack_str_with_body(&k.p, name, v == 2 && i == 9 ? WIRE_CAP_LEN_MAX + 1 : WIRE_CAP_LEN_MAX);
    }
    msgpack_pack_bin_with_body(&k.p, key_a, KEY_LEN);
    msgpack_pack_bin_with_body(&k.p, key_b, KEY_LEN);
    msgpack_pack_array(&k.p, 0);
    msgpack_pack_uint8(&k.p, 0);
    msgpack_pack_str_with_body(&k.p, "a", 1);
    int e = wire_decode(pk_data(&k), k.sb.size, &m);
    if (v == 0) {
      assert_int_equal(e, 0);
      assert_int_equal(m.u.hello.caps, WCAP_PUSH);
    } else {
      assert_int_equal(e, STOA_ETOOBIG);
    }
    pk_free(&k);
  }
  /* "push" only as a whole name. */
  static const char *const not_push[] = { "pus", "pushy", "PUSH", "push\0" };
  for (size_t i = 0; i < 4; i++) {
    pk_init(&k);
    msgpack_pack_array(&k.p, 8);
    msgpack_pack_uint8(&k.p, W_HELLO);
    msgpack_pack_uint8(&k.p, 1);
    msgpack_pack_array(&k.p, 1);
    msgpack_pack_str_with_body(&k.p, not_push[i], i == 3 ? 5 : strlen(not_push[i]));
    msgpack_pack_bin_with_body(&k.p, key_a, KEY_LEN);
    msgpack_pack_bin_with_body(&k.p, key_b, KEY_LEN);
    msgpack_pack_array(&k.p, 0);
    msgpack_pack_uint8(&k.p, 0);
    msgpack_pack_str_with_body(&k.p, "", 0);
    assert_int_equal(wire_decode(pk_data(&k), k.sb.size, &m), 0);
    assert_int_equal(m.u.hello.caps, 0);
    pk_free(&k);
  }
  /* Proofs: 65 is too many; a proof over REC_MAX is too big; the agent. */
  for (int v = 0; v < 4; v++) {
    pk_init(&k);
    msgpack_pack_array(&k.p, 8);
    msgpack_pack_uint8(&k.p, W_HELLO);
    msgpack_pack_uint8(&k.p, 1);
    msgpack_pack_array(&k.p, 0);
    msgpack_pack_bin_with_body(&k.p, key_a, KEY_LEN);
    msgpack_pack_bin_with_body(&k.p, key_b, KEY_LEN);
    if (v == 0) {
      msgpack_pack_array(&k.p, WIRE_PROOFS_MAX + 1);
      for (int i = 0; i <= WIRE_PROOFS_MAX; i++) msgpack_pack_bin_with_body(&k.p, big, 10);
    } else if (v == 1) {
      msgpack_pack_array(&k.p, 1);
      msgpack_pack_bin_with_body(&k.p, big, REC_MAX + 1);
    } else {
      msgpack_pack_array(&k.p, 0);
    }
    msgpack_pack_uint8(&k.p, 0);
    msgpack_pack_str_with_body(&k.p, agent, v == 2 ? WIRE_AGENT_MAX + 1 : WIRE_AGENT_MAX);
    assert_int_equal(wire_decode(pk_data(&k), k.sb.size, &m), v == 3 ? 0 : STOA_ETOOBIG);
    pk_free(&k);
  }
  /* WANT: whole hashes only, at most WIRE_WANT_MAX of them. */
  static const uint32_t want_len[] = { 1, 31, 33, 63, (WIRE_WANT_MAX + 1) * HASH_LEN, 0, 64,
                                       WIRE_WANT_MAX * HASH_LEN };
  static const int want_e[] = { STOA_EMALFORMED, STOA_EMALFORMED, STOA_EMALFORMED, STOA_EMALFORMED,
                                STOA_ETOOBIG, 0, 0, 0 };
  for (size_t i = 0; i < sizeof want_len / sizeof want_len[0]; i++) {
    pk_init(&k);
    msgpack_pack_array(&k.p, 2);
    msgpack_pack_uint8(&k.p, W_WANT);
    msgpack_pack_bin_with_body(&k.p, big, want_len[i]);
    assert_int_equal(wire_decode(pk_data(&k), k.sb.size, &m), want_e[i]);
    if (want_e[i] == 0) assert_int_equal(m.u.want.n, want_len[i] / HASH_LEN);
    pk_free(&k);
  }
  /* RECORDS: one record over REC_MAX. */
  pk_init(&k);
  msgpack_pack_array(&k.p, 2);
  msgpack_pack_uint8(&k.p, W_RECORDS);
  msgpack_pack_array(&k.p, 2);
  msgpack_pack_bin_with_body(&k.p, big, 10);
  msgpack_pack_bin_with_body(&k.p, big, REC_MAX + 1);
  assert_int_equal(wire_decode(pk_data(&k), k.sb.size, &m), STOA_ETOOBIG);
  pk_free(&k);
  /* ERROR: a reason of 201 bytes. */
  pk_init(&k);
  msgpack_pack_array(&k.p, 3);
  msgpack_pack_uint8(&k.p, W_ERROR);
  msgpack_pack_uint8(&k.p, 1);
  msgpack_pack_str_with_body(&k.p, (const char *)memset(big, 'x', WIRE_REASON_MAX + 1), WIRE_REASON_MAX + 1);
  assert_int_equal(wire_decode(pk_data(&k), k.sb.size, &m), STOA_ETOOBIG);
  pk_free(&k);
}

static void test_unknown_and_missing(void **state) {
  (void)state;
  wire_msg m;
  /* Unknown types, with or without elements. */
  static const uint64_t unknown[] = { 0, W__TYPE_MAX + 1, 127, 255, 65536, UINT32_MAX,
                                      (uint64_t)UINT32_MAX + W_PING, UINT64_MAX };
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    for (int extra = 0; extra < 3; extra++) {
      pk k;
      pk_init(&k);
      msgpack_pack_array(&k.p, (uint32_t)(1 + extra));
      msgpack_pack_uint64(&k.p, unknown[i]);
      for (int j = 0; j < extra; j++) msgpack_pack_uint8(&k.p, 1);
      assert_int_equal(wire_decode(pk_data(&k), k.sb.size, &m), STOA_EPROTOCOL);
      assert_int_equal(m.type, 0);
      pk_free(&k);
    }
  }
  const uint8_t empty[] = { 0x90 };
  assert_int_equal(wire_decode(empty, sizeof empty, &m), STOA_EPROTOCOL);
  assert_int_equal(wire_decode(empty, 0, &m), STOA_ETRUNCATED);
  assert_int_equal(wire_decode(NULL, 0, &m), STOA_ETRUNCATED);
  /* Fewer elements than each type needs. */
  for (int t = W_HELLO; t <= W__TYPE_MAX; t++) {
    for (size_t cnt = 0; cnt < nelems(t) - optional[t]; cnt++) {
      pk k;
      pk_init(&k);
      pack_msg(&k, t, cnt, SIZE_MAX, 0, 0);
      assert_int_equal(wire_decode(pk_data(&k), k.sb.size, &m), STOA_EPROTOCOL);
      pk_free(&k);
    }
  }
  /* An ACK without the bytes waiting (as version 1 first sent it): 0. */
  const uint8_t ack1[] = { 0x92, W_ACK, 0xcd, 0x01, 0x2c };
  assert_int_equal(wire_decode(ack1, sizeof ack1, &m), 0);
  assert_int_equal(m.type, W_ACK);
  assert_int_equal(m.u.ack.count, 300);
  assert_int_equal(m.u.ack.waiting, 0);
}

static void test_extra_and_trailing(void **state) {
  (void)state;
  wire_msg m, plain;
  static uint8_t buf[WIRE_MSG_MAX];
  for (int t = W_HELLO; t <= W__TYPE_MAX; t++) {
    pk k0, k;
    pk_init(&k0);
    pack_msg(&k0, t, nelems(t), SIZE_MAX, 0, 0);
    assert_int_equal(wire_decode(pk_data(&k0), k0.sb.size, &plain), 0);
    /* Extra elements of every (valid) kind: ignored, same content. */
    for (size_t extra = 1; extra <= A__N; extra++) {
      pk_init(&k);
      pack_msg(&k, t, nelems(t), SIZE_MAX, 0, extra);
      assert_int_equal(wire_decode(pk_data(&k), k.sb.size, &m), 0);
      assert_true(msg_equal(&plain, &m));
      pk_free(&k);
    }
    /* Extra elements must still be valid msgpack. */
    static const uint8_t bad_tail[][4] = {
      { 0xd4, 0x01, 0x02 }, { 0xc1 }, { 0xa2, 0xc3, 0x28 }, { 0x91, 0x91, 0x91, 0x91 },
    };
    static const size_t bad_len[] = { 3, 1, 3, 4 };
    static const int bad_e[] = { STOA_EEXT, STOA_EMALFORMED, STOA_EUTF8, STOA_ETRUNCATED };
    for (size_t b = 0; b < 4; b++) {
      size_t n = k0.sb.size;
      memcpy(buf, k0.sb.data, n);
      assert_true(buf[0] >= 0x91 && buf[0] < 0x9f);
      buf[0]++;
      memcpy(buf + n, bad_tail[b], bad_len[b]);
      assert_int_equal(wire_decode(buf, n + bad_len[b], &m), bad_e[b]);
    }
    /* Too deeply nested extra: the message is level 0, the extra level 1. */
    size_t n = k0.sb.size;
    memcpy(buf, k0.sb.data, n);
    buf[0]++;
    memset(buf + n, 0x91, MP_MAX_DEPTH);
    buf[n + MP_MAX_DEPTH] = 0xc0;
    assert_int_equal(wire_decode(buf, n + MP_MAX_DEPTH + 1, &m), STOA_ETOODEEP);
    assert_int_equal(wire_decode(buf + 1, 0, &m), STOA_ETRUNCATED);
    memset(buf + n, 0x91, MP_MAX_DEPTH - 1);
    buf[n + MP_MAX_DEPTH - 1] = 0xc0;
    assert_int_equal(wire_decode(buf, n + MP_MAX_DEPTH, &m), 0);
    /* Trailing bytes after the array. */
    memcpy(buf, k0.sb.data, n);
    buf[n] = 0x00;
    assert_int_equal(wire_decode(buf, n + 1, &m), STOA_ETRAILING);
    assert_int_equal(m.type, 0);
    memcpy(buf + n, k0.sb.data, n); /* two messages in one buffer */
    assert_int_equal(wire_decode(buf, 2 * n, &m), STOA_ETRAILING);
    buf[n] = 0xc1;
    assert_int_equal(wire_decode(buf, n + 1, &m), STOA_ETRAILING);
    pk_free(&k0);
  }
}

static void test_encoder_refuses(void **state) {
  (void)state;
  static uint8_t proofs[WIRE_MSG_MAX * 2];
  static uint8_t huge[WIRE_MSG_MAX * 2];
  wire_hello h;
  size_t n;
  hello_sample(&h, proofs, 2, 10);
  assert_int_equal(wire_encode_hello(&h, scratch, sizeof scratch, &n), 0);
  h.caps = 1u << 5;
  assert_int_equal(wire_encode_hello(&h, scratch, sizeof scratch, &n), STOA_EINVAL);
  hello_sample(&h, proofs, WIRE_PROOFS_MAX, 10);
  h.nproofs = WIRE_PROOFS_MAX + 1;
  h.set_size = 0; /* what would lie past proof_len[] must not make it fail */
  assert_int_equal(wire_encode_hello(&h, scratch, sizeof scratch, &n), STOA_EINVAL);
  hello_sample(&h, proofs, 1, REC_MAX + 1);
  assert_int_equal(wire_encode_hello(&h, scratch, sizeof scratch, &n), STOA_EINVAL);
  hello_sample(&h, proofs, 1, 10);
  h.proof[0] = NULL;
  assert_int_equal(wire_encode_hello(&h, scratch, sizeof scratch, &n), STOA_EINVAL);
  hello_sample(&h, proofs, 0, 0);
  char agent[WIRE_AGENT_MAX + 1];
  memset(agent, 'a', sizeof agent);
  h.agent = agent;
  h.agent_len = WIRE_AGENT_MAX + 1;
  assert_int_equal(wire_encode_hello(&h, scratch, sizeof scratch, &n), STOA_EINVAL);
  h.agent = "\xc3\x28";
  h.agent_len = 2;
  assert_int_equal(wire_encode_hello(&h, scratch, sizeof scratch, &n), STOA_EINVAL);
  h.agent = NULL;
  h.agent_len = 1;
  assert_int_equal(wire_encode_hello(&h, scratch, sizeof scratch, &n), STOA_EINVAL);
  hello_sample(&h, proofs, 0, 0);
  h.node = NULL;
  assert_int_equal(wire_encode_hello(&h, scratch, sizeof scratch, &n), STOA_EINVAL);
  /* Within every limit yet larger than a message: never more than WIRE_MSG_MAX,
   * whatever the capacity. */
  hello_sample(&h, proofs, 2, REC_MAX);
  assert_int_equal(wire_encode_hello(&h, huge, sizeof huge, &n), STOA_ETOOBIG);
  wire_sync s = { 1, 2, proofs, WIRE_MSG_MAX, 3 };
  assert_int_equal(wire_encode_sync(&s, huge, sizeof huge, &n), STOA_ETOOBIG);
  s.syms = NULL;
  s.syms_len = 1;
  assert_int_equal(wire_encode_sync(&s, scratch, sizeof scratch, &n), STOA_EINVAL);
  const uint8_t *rp[2] = { proofs, proofs };
  size_t rl[2] = { REC_MAX, REC_MAX };
  assert_int_equal(wire_encode_records(rp, rl, 2, huge, sizeof huge, &n), STOA_ETOOBIG);
  assert_int_equal(wire_encode_records(NULL, rl, 1, scratch, sizeof scratch, &n), STOA_EINVAL);
  assert_int_equal(wire_encode_u64(W_HELLO, 1, scratch, sizeof scratch, &n), STOA_EINVAL);
  assert_int_equal(wire_encode_u64(0, 1, scratch, sizeof scratch, &n), STOA_EINVAL);
  assert_int_equal(wire_encode_u64(W__TYPE_MAX + 1, 1, scratch, sizeof scratch, &n), STOA_EINVAL);
  char reason[WIRE_REASON_MAX + 2];
  memset(reason, 'r', sizeof reason);
  reason[WIRE_REASON_MAX + 1] = 0;
  assert_int_equal(wire_encode_error(1, reason, scratch, sizeof scratch, &n), STOA_EINVAL);
  assert_int_equal(wire_encode_error(1, "\xff", scratch, sizeof scratch, &n), STOA_EINVAL);
  /* Capacity: every size short of the message is refused, and nothing is
   * written past it (the buffer is exactly `cap` bytes on the heap). */
  for (size_t c = 0; c < ncorpus; c++) {
    wire_msg m;
    uint8_t *q;
    size_t full;
    assert_int_equal(decode_exact(corpus[c].p, corpus[c].n, &m, &q), 0);
    assert_int_equal(encode_msg(&m, scratch, sizeof scratch, &full), 0);
    for (size_t cap = 0; cap < full; cap++) {
      uint8_t *out = malloc(cap ? cap : 1);
      assert_non_null(out);
      size_t got = 12345;
      assert_int_equal(encode_msg(&m, out, cap, &got), STOA_ETOOBIG);
      assert_int_equal(got, 12345); /* untouched on error */
      free(out);
    }
    uint8_t *out = malloc(full);
    assert_non_null(out);
    assert_int_equal(encode_msg(&m, out, full, &n), 0);
    assert_int_equal(n, full);
    assert_memory_equal(out, scratch, full);
    free(out);
    free(q);
  }
}

static void test_names(void **state) {
  (void)state;
  assert_string_equal(wire_type_name(W_HELLO), "HELLO");
  assert_string_equal(wire_type_name(W_RECORDS), "RECORDS");
  assert_string_equal(wire_type_name(W_ERROR), "ERROR");
  for (int t = W_HELLO; t <= W__TYPE_MAX; t++) {
    assert_non_null(wire_type_name(t));
    for (int u = W_HELLO; u < t; u++) assert_string_not_equal(wire_type_name(t), wire_type_name(u));
  }
  assert_non_null(wire_type_name(0));
  assert_non_null(wire_type_name(-1));
  assert_non_null(wire_type_name(W__TYPE_MAX + 1));
}

/* ---- control socket ------------------------------------------------------- */

static void test_ctl_roundtrip(void **state) {
  (void)state;
  uint8_t buf[CTL_ARG_MAX + 64];
  char arg[CTL_ARG_MAX + 1];
  size_t n;
  ctl_req r, back;
  memset(arg, 'h', sizeof arg);
  for (int cmd = CTL_STATUS; cmd <= CTL_BOOK; cmd++) {
    const char *name = ctl_cmd_name(cmd);
    assert_non_null(name);
    assert_int_equal(ctl_cmd_from_name(name, strlen(name)), cmd);
    static const uint32_t lens[] = { 0, 1, 31, 32, 255, 256, CTL_ARG_MAX, UINT32_MAX };
    for (size_t i = 0; i < sizeof lens / sizeof lens[0] + 1; i++) {
      bool absent = i == sizeof lens / sizeof lens[0];
      r = (ctl_req){ cmd, absent ? NULL : arg, absent ? 0 : lens[i] };
      if (!absent && lens[i] > CTL_ARG_MAX) {
        assert_int_equal(ctl_req_encode(&r, buf, sizeof buf, &n), STOA_EINVAL);
        continue;
      }
      assert_int_equal(ctl_req_encode(&r, buf, sizeof buf, &n), 0);
      assert_int_equal(mp_check(buf, n), 0);
      msgpack_unpacked u;
      size_t off = 0;
      msgpack_unpacked_init(&u);
      assert_int_equal(msgpack_unpack_next(&u, (const char *)buf, n, &off), MSGPACK_UNPACK_SUCCESS);
      assert_int_equal(u.data.type, MSGPACK_OBJECT_MAP);
      assert_int_equal(off, n);
      msgpack_unpacked_destroy(&u);
      uint8_t *q = dup_exact(buf, n);
      assert_int_equal(ctl_req_decode(q, n, &back), 0);
      assert_int_equal(back.cmd, cmd);
      if (absent) {
        assert_null(back.arg);
      } else {
        assert_non_null(back.arg);
        assert_int_equal(back.arg_len, lens[i]);
        assert_memory_equal(back.arg, arg, lens[i]);
      }
      /* Every prefix is refused; capacity one short is refused. */
      for (size_t k = 0; k < n; k++) {
        uint8_t *p = dup_exact(buf, k);
        assert_true(ctl_req_decode(p, k, &back) < 0);
        assert_int_equal(back.cmd, 0);
        free(p);
        uint8_t *o = malloc(k ? k : 1);
        assert_int_equal(ctl_req_encode(&r, o, k, &off), STOA_ETOOBIG);
        free(o);
      }
      free(q);
    }
  }
  r = (ctl_req){ 0, NULL, 0 };
  assert_int_equal(ctl_req_encode(&r, buf, sizeof buf, &n), STOA_EINVAL);
  r = (ctl_req){ CTL_BOOK + 1, NULL, 0 };
  assert_int_equal(ctl_req_encode(&r, buf, sizeof buf, &n), STOA_EINVAL);
  r = (ctl_req){ CTL_SYNC, "\xc3", 1 };
  assert_int_equal(ctl_req_encode(&r, buf, sizeof buf, &n), STOA_EINVAL);
  /* Names. */
  assert_null(ctl_cmd_name(0));
  assert_null(ctl_cmd_name(CTL_BOOK + 1));
  assert_null(ctl_cmd_name(-1));
  assert_string_equal(ctl_cmd_name(CTL_PEER_ADD), "peer-add");
  assert_int_equal(ctl_cmd_from_name("peer", 4), STOA_EPROTOCOL);
  assert_int_equal(ctl_cmd_from_name("status\0", 7), STOA_EPROTOCOL);
  assert_int_equal(ctl_cmd_from_name("STATUS", 6), STOA_EPROTOCOL);
  assert_int_equal(ctl_cmd_from_name("", 0), STOA_EPROTOCOL);
  assert_int_equal(ctl_cmd_from_name("sync", 4), CTL_SYNC);
  assert_int_equal(ctl_cmd_from_name("peer-remove", 11), CTL_PEER_REMOVE);
  assert_int_equal(ctl_cmd_from_name("book", 4), CTL_BOOK);
}

static int ctl_decode_pk(pk *k, ctl_req *r) {
  uint8_t *q = dup_exact(pk_data(k), k->sb.size);
  int e = ctl_req_decode(q, k->sb.size, r);
  free(q); /* only the return code and cmd are used after this */
  pk_free(k);
  return e;
}

static void test_ctl_bad(void **state) {
  (void)state;
  ctl_req r;
  pk k;
  static char longarg[CTL_ARG_MAX + 1];
  memset(longarg, 'a', sizeof longarg);
  /* Unknown keys are skipped, in any order. */
  pk_init(&k);
  msgpack_pack_map(&k.p, 3);
  msgpack_pack_str_with_body(&k.p, "later", 5);
  msgpack_pack_array(&k.p, 2);
  msgpack_pack_map(&k.p, 0);
  msgpack_pack_nil(&k.p);
  msgpack_pack_str_with_body(&k.p, "arg", 3);
  msgpack_pack_str_with_body(&k.p, "h:1", 3);
  msgpack_pack_str_with_body(&k.p, "cmd", 3);
  msgpack_pack_str_with_body(&k.p, "peer-add", 8);
  assert_int_equal(ctl_decode_pk(&k, &r), 0);
  assert_int_equal(r.cmd, CTL_PEER_ADD);
  assert_int_equal(r.arg_len, 3);
  /* The longest argument, and one byte more. */
  for (int v = 0; v < 2; v++) {
    pk_init(&k);
    msgpack_pack_map(&k.p, 2);
    msgpack_pack_str_with_body(&k.p, "cmd", 3);
    msgpack_pack_str_with_body(&k.p, "sync", 4);
    msgpack_pack_str_with_body(&k.p, "arg", 3);
    msgpack_pack_str_with_body(&k.p, longarg, CTL_ARG_MAX + (size_t)v);
    assert_int_equal(ctl_decode_pk(&k, &r), v ? STOA_ETOOBIG : 0);
  }
  /* Unknown command: well formed, so a protocol error. */
  pk_init(&k);
  msgpack_pack_map(&k.p, 1);
  msgpack_pack_str_with_body(&k.p, "cmd", 3);
  msgpack_pack_str_with_body(&k.p, "reboot", 6);
  assert_int_equal(ctl_decode_pk(&k, &r), STOA_EPROTOCOL);
  /* No command; an empty map. */
  pk_init(&k);
  msgpack_pack_map(&k.p, 1);
  msgpack_pack_str_with_body(&k.p, "arg", 3);
  msgpack_pack_str_with_body(&k.p, "x", 1);
  assert_int_equal(ctl_decode_pk(&k, &r), STOA_EMALFORMED);
  pk_init(&k);
  msgpack_pack_map(&k.p, 0);
  assert_int_equal(ctl_decode_pk(&k, &r), STOA_EMALFORMED);
  /* Wrong types: cmd, arg, a key, the top level. */
  for (int a = 0; a < A__N; a++) {
    if (a == A_STR) continue;
    pk_init(&k);
    msgpack_pack_map(&k.p, 1);
    msgpack_pack_str_with_body(&k.p, "cmd", 3);
    pack_alt(&k.p, a);
    assert_true(ctl_decode_pk(&k, &r) < 0);
    pk_init(&k);
    msgpack_pack_map(&k.p, 2);
    msgpack_pack_str_with_body(&k.p, "cmd", 3);
    msgpack_pack_str_with_body(&k.p, "sync", 4);
    msgpack_pack_str_with_body(&k.p, "arg", 3);
    pack_alt(&k.p, a);
    assert_true(ctl_decode_pk(&k, &r) < 0);
    pk_init(&k);
    msgpack_pack_map(&k.p, 2);
    pack_alt(&k.p, a);
    msgpack_pack_nil(&k.p);
    msgpack_pack_str_with_body(&k.p, "cmd", 3);
    msgpack_pack_str_with_body(&k.p, "sync", 4);
    assert_true(ctl_decode_pk(&k, &r) < 0);
    pk_init(&k);
    pack_alt(&k.p, a);
    assert_true(ctl_decode_pk(&k, &r) < 0);
  }
  /* Duplicate keys. */
  for (int dup = 0; dup < 2; dup++) {
    pk_init(&k);
    msgpack_pack_map(&k.p, 3);
    msgpack_pack_str_with_body(&k.p, "cmd", 3);
    msgpack_pack_str_with_body(&k.p, "sync", 4);
    msgpack_pack_str_with_body(&k.p, "arg", 3);
    msgpack_pack_str_with_body(&k.p, "a", 1);
    msgpack_pack_str_with_body(&k.p, dup ? "arg" : "cmd", 3);
    msgpack_pack_str_with_body(&k.p, "status", 6);
    assert_int_equal(ctl_decode_pk(&k, &r), STOA_EMALFORMED);
  }
  /* Invalid UTF-8 in the argument; trailing bytes; bombs. */
  const uint8_t bad_utf8[] = { 0x82, 0xa3, 'c', 'm', 'd', 0xa4, 's', 'y', 'n', 'c',
                               0xa3, 'a', 'r', 'g', 0xa1, 0xff };
  assert_int_equal(ctl_req_decode(bad_utf8, sizeof bad_utf8, &r), STOA_EUTF8);
  const uint8_t trailing[] = { 0x81, 0xa3, 'c', 'm', 'd', 0xa6, 'n', 'o', 't', 'i', 'f', 'y', 0x00 };
  assert_int_equal(ctl_req_decode(trailing, sizeof trailing, &r), STOA_ETRAILING);
  assert_int_equal(ctl_req_decode(trailing, sizeof trailing - 1, &r), 0);
  assert_int_equal(r.cmd, CTL_NOTIFY);
  assert_null(r.arg);
  const uint8_t bomb[] = { 0xdf, 0xff, 0xff, 0xff, 0xff, 0xa3, 'c', 'm', 'd' };
  assert_int_equal(ctl_req_decode(bomb, sizeof bomb, &r), STOA_ETRUNCATED);
  const uint8_t bomb2[] = { 0x81, 0xa3, 'c', 'm', 'd', 0xdb, 0xff, 0xff, 0xff, 0xff };
  assert_int_equal(ctl_req_decode(bomb2, sizeof bomb2, &r), STOA_ETRUNCATED);
  assert_int_equal(ctl_req_decode(bomb, 0, &r), STOA_ETRUNCATED);
  /* Random mutations of a valid request never crash. */
  uint8_t good[64], buf[80];
  size_t n;
  ctl_req g = { CTL_PEER_REMOVE, "example.org:7420", 16 };
  assert_int_equal(ctl_req_encode(&g, good, sizeof good, &n), 0);
  for (int iter = 0; iter < 100000; iter++) {
    size_t len = n;
    memcpy(buf, good, n);
    for (int e = 0; e < 1 + (int)(rnd() % 3); e++) {
      size_t at = rnd() % len;
      if (rnd() % 4 == 0 && len > 1) len = at + 1;
      else buf[at] = (uint8_t)(rnd() % 3 ? buf[at] ^ (1u << (rnd() % 8)) : rnd());
    }
    uint8_t *q = dup_exact(buf, len);
    int e = ctl_req_decode(q, len, &r);
    if (e == 0) {
      assert_non_null(ctl_cmd_name(r.cmd));
      if (r.arg) {
        assert_true(r.arg_len <= CTL_ARG_MAX);
        assert_inside(q, len, r.arg, r.arg_len);
      }
    } else {
      assert_true(e < 0 && r.cmd == 0 && r.arg == NULL);
    }
    free(q);
  }
}

static void test_ctl_frame(void **state) {
  (void)state;
  static const uint32_t ok[] = { 1, 2, 255, 256, 65535, 65536, CTL_MAX - 1, CTL_MAX };
  static const uint32_t bad[] = { CTL_MAX + 1, 1u << 24, UINT32_MAX };
  uint8_t hdr[4];
  uint32_t len;
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    ctl_frame_put(hdr, ok[i]);
    assert_int_equal(ctl_frame_len(hdr, &len), 0);
    assert_int_equal(len, ok[i]);
  }
  ctl_frame_put(hdr, 0x01020304);
  assert_int_equal(hdr[0], 1);
  assert_int_equal(hdr[1], 2);
  assert_int_equal(hdr[2], 3);
  assert_int_equal(hdr[3], 4);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    len = 7;
    ctl_frame_put(hdr, bad[i]);
    assert_int_equal(ctl_frame_len(hdr, &len), STOA_ETOOBIG);
    assert_int_equal(len, 7);
  }
  ctl_frame_put(hdr, 0);
  assert_true(ctl_frame_len(hdr, &len) < 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_roundtrip_small),
    cmocka_unit_test(test_roundtrip_hello),
    cmocka_unit_test(test_roundtrip_sync_want),
    cmocka_unit_test(test_roundtrip_records),
    cmocka_unit_test(test_truncations),
    cmocka_unit_test(test_mutations),
    cmocka_unit_test(test_bombs),
    cmocka_unit_test(test_types_exact),
    cmocka_unit_test(test_limits_decode),
    cmocka_unit_test(test_unknown_and_missing),
    cmocka_unit_test(test_extra_and_trailing),
    cmocka_unit_test(test_encoder_refuses),
    cmocka_unit_test(test_names),
    cmocka_unit_test(test_ctl_roundtrip),
    cmocka_unit_test(test_ctl_bad),
    cmocka_unit_test(test_ctl_frame),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
