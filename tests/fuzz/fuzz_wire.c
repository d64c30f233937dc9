/*
 * fuzz_wire.c - every message decoder of proto/wire.h (wire_decode and
 * wire_records_next), and what the node does next with the parts.
 *
 * The first byte chooses the shape of the input:
 *   < 0x80  a message is made of it: a fixarray header of (b >> 4) + 1 +
 *           the elements the type needs, the type b & 15 (0 and those past
 *           W__TYPE_MAX are unknown types), then the rest of the input as
 *           the elements, so that mutations start inside every type;
 *   >= 0x80 the rest of the input is the message, as it came off the wire.
 * A decoded message must re-encode with the wire_encode_* functions (the
 * canonical form is never longer) and decode again to the same fields.
 * RECORDS are walked and each record goes through rec_decode, SYNC symbols
 * through iblt_sym_decode and HELLO proofs through rec_decode, as node/
 * does.
 */
#include <string.h>

#include "proto/err.h"
#include "proto/iblt.h"
#include "proto/record.h"
#include "proto/wire.h"
#include "tests/fuzz/fuzz.h"

static uint8_t fuzz_msg[WIRE_MSG_MAX + 1];
static uint8_t fuzz_enc[WIRE_MSG_MAX];

/* Elements after the type that each type needs (docs/protocol.md §3). */
static const uint8_t fuzz_need[16] = { 0, 7, 4, 2, 4, 1, 1, 1, 1, 1, 2, 1, 2, 3, 0, 0 };

static void fuzz_in(const uint8_t *p, size_t n, const uint8_t *base, size_t len) {
  FUZZ_CHECK(p >= base && p + n <= base + len);
}

static void fuzz_hello(const wire_hello *h, const uint8_t *buf, size_t len) {
  rec r;
  FUZZ_CHECK(h->nproofs <= WIRE_PROOFS_MAX && h->agent_len <= WIRE_AGENT_MAX);
  fuzz_in(h->node, KEY_LEN, buf, len);
  fuzz_in(h->network, KEY_LEN, buf, len);
  for (uint32_t i = 0; i < h->nproofs; i++) {
    FUZZ_CHECK(h->proof_len[i] <= REC_MAX);
    fuzz_in(h->proof[i], h->proof_len[i], buf, len);
    (void)rec_decode(h->proof[i], h->proof_len[i], &r);
  }
}

static void fuzz_records(wire_records rs, const uint8_t *buf, size_t len) {
  const uint8_t *b;
  size_t n;
  uint32_t got = 0;
  rec r;
  FUZZ_CHECK(rs.n <= WIRE_RECORDS_MAX);
  while (wire_records_next(&rs, &b, &n) == 1) {
    FUZZ_CHECK(n <= REC_MAX);
    fuzz_in(b, n, buf, len);
    (void)rec_decode(b, n, &r);
    got++;
  }
  FUZZ_CHECK(got == rs.n);
}

static void fuzz_syms(const wire_sync *s) {
  size_t at = 0, used;
  iblt_sym sym;
  uint8_t again[IBLT_SYM_MAX];
  size_t alen;
  while (at < s->syms_len && iblt_sym_decode(&sym, s->syms + at, s->syms_len - at, &used) == 0) {
    FUZZ_CHECK(used >= 1 && used <= IBLT_SYM_MAX && used <= s->syms_len - at);
    /* One encoding per symbol: re-encoding gives the same bytes. */
    FUZZ_CHECK(iblt_sym_encode(&sym, again, sizeof again, &alen) == 0);
    FUZZ_CHECK(alen == used && memcmp(again, s->syms + at, used) == 0);
    at += used;
  }
}

/* Encodes m canonically into fuzz_enc; returns the length. */
static size_t fuzz_reencode(const wire_msg *m) {
  size_t n = 0;
  int e = STOA_EINVAL;
  switch (m->type) {
  case W_HELLO: e = wire_encode_hello(&m->u.hello, fuzz_enc, sizeof fuzz_enc, &n); break;
  case W_SYNC: e = wire_encode_sync(&m->u.sync, fuzz_enc, sizeof fuzz_enc, &n); break;
  case W_MORE: e = wire_encode_more(&m->u.more, fuzz_enc, sizeof fuzz_enc, &n); break;
  case W_DONE: e = wire_encode_done(&m->u.done, fuzz_enc, sizeof fuzz_enc, &n); break;
  case W_WANT: case W_OFFER: case W_ANNOUNCE:
    e = wire_encode_hashes(m->type, m->u.want.hashes, m->u.want.n, fuzz_enc, sizeof fuzz_enc, &n);
    break;
  case W_ZIP:
    e = wire_encode_zip(m->u.zip.raw_len, m->u.zip.data, m->u.zip.len, fuzz_enc, sizeof fuzz_enc, &n);
    break;
  case W_LIST: e = wire_encode_list(&m->u.list, fuzz_enc, sizeof fuzz_enc, &n); break;
  case W_RECORDS: {
    static const uint8_t *recs[WIRE_RECORDS_MAX];
    static size_t lens[WIRE_RECORDS_MAX];
    wire_records rs = m->u.records;
    uint32_t k = 0;
    while (k < WIRE_RECORDS_MAX && wire_records_next(&rs, &recs[k], &lens[k]) == 1) k++;
    e = wire_encode_records(recs, lens, k, fuzz_enc, sizeof fuzz_enc, &n);
    break;
  }
  case W_ACK: e = wire_encode_ack(&m->u.ack, fuzz_enc, sizeof fuzz_enc, &n); break;
  case W_PING: case W_PONG:
    e = wire_encode_u64(m->type, m->u.nonce, fuzz_enc, sizeof fuzz_enc, &n);
    break;
  case W_ERROR: {
    /* The encoder takes a C string: a reason holding a NUL cannot travel
     * through it, so compare only what it can carry. */
    char reason[WIRE_REASON_MAX + 1];
    size_t rl = m->u.error.reason_len;
    if (rl) memcpy(reason, m->u.error.reason, rl);
    reason[rl] = '\0';
    if (memchr(reason, '\0', rl)) return 0;
    e = wire_encode_error(m->u.error.code, reason, fuzz_enc, sizeof fuzz_enc, &n);
    break;
  }
  default: FUZZ_CHECK(!"decoded an unknown type");
  }
  FUZZ_CHECK(e == 0);
  FUZZ_CHECK(n <= WIRE_MSG_MAX);
  return n;
}

static void fuzz_same(const wire_msg *a, const wire_msg *b) {
  FUZZ_CHECK(a->type == b->type);
  switch (a->type) {
  case W_HELLO: {
    const wire_hello *x = &a->u.hello, *y = &b->u.hello;
    FUZZ_CHECK(x->version == y->version && x->caps == y->caps && x->set_size == y->set_size);
    FUZZ_CHECK(!memcmp(x->node, y->node, KEY_LEN) && !memcmp(x->network, y->network, KEY_LEN));
    FUZZ_CHECK(x->nproofs == y->nproofs && x->agent_len == y->agent_len);
    FUZZ_CHECK(x->agent_len == 0 || !memcmp(x->agent, y->agent, x->agent_len));
    for (uint32_t i = 0; i < x->nproofs; i++)
      FUZZ_CHECK(x->proof_len[i] == y->proof_len[i] &&
                 (!x->proof_len[i] || !memcmp(x->proof[i], y->proof[i], x->proof_len[i])));
    break;
  }
  case W_SYNC:
    FUZZ_CHECK(a->u.sync.session == b->u.sync.session && a->u.sync.first == b->u.sync.first &&
               a->u.sync.set_size == b->u.sync.set_size &&
               a->u.sync.syms_len == b->u.sync.syms_len &&
               (!a->u.sync.syms_len || !memcmp(a->u.sync.syms, b->u.sync.syms, a->u.sync.syms_len)));
    break;
  case W_MORE: FUZZ_CHECK(!memcmp(&a->u.more, &b->u.more, sizeof a->u.more)); break;
  case W_DONE:
    FUZZ_CHECK(a->u.done.session == b->u.done.session && a->u.done.status == b->u.done.status &&
               a->u.done.will_send == b->u.done.will_send && a->u.done.wants == b->u.done.wants);
    break;
  case W_ZIP:
    FUZZ_CHECK(a->u.zip.raw_len == b->u.zip.raw_len && a->u.zip.len == b->u.zip.len &&
               (!a->u.zip.len || !memcmp(a->u.zip.data, b->u.zip.data, a->u.zip.len)));
    break;
  case W_WANT: case W_OFFER: case W_ANNOUNCE:
    FUZZ_CHECK(a->u.want.n == b->u.want.n &&
               (!a->u.want.n || !memcmp(a->u.want.hashes, b->u.want.hashes, (size_t)a->u.want.n * HASH_LEN)));
    break;
  case W_LIST:
    FUZZ_CHECK(a->u.list.session == b->u.list.session && a->u.list.last == b->u.list.last &&
               a->u.list.n == b->u.list.n &&
               (!a->u.list.n || !memcmp(a->u.list.hashes, b->u.list.hashes, (size_t)a->u.list.n * HASH_LEN)));
    break;
  case W_RECORDS: {
    wire_records x = a->u.records, y = b->u.records;
    const uint8_t *p, *q;
    size_t pl, ql;
    FUZZ_CHECK(x.n == y.n);
    while (wire_records_next(&x, &p, &pl) == 1) {
      FUZZ_CHECK(wire_records_next(&y, &q, &ql) == 1);
      FUZZ_CHECK(pl == ql && (!pl || !memcmp(p, q, pl)));
    }
    break;
  }
  case W_ACK: FUZZ_CHECK(a->u.ack.count == b->u.ack.count && a->u.ack.waiting == b->u.ack.waiting); break;
  case W_PING: case W_PONG: FUZZ_CHECK(a->u.nonce == b->u.nonce); break;
  case W_ERROR:
    FUZZ_CHECK(a->u.error.code == b->u.error.code && a->u.error.reason_len == b->u.error.reason_len &&
               (!a->u.error.reason_len ||
                !memcmp(a->u.error.reason, b->u.error.reason, a->u.error.reason_len)));
    break;
  default: FUZZ_CHECK(!"unknown type");
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *buf;
  size_t len;
  wire_msg m, m2;
  int e;

  if (size == 0) return 0;
  fuzz_sodium();
  if (data[0] < 0x80) {
    unsigned type = data[0] & 15, n = (data[0] >> 4) + 1u + fuzz_need[type];
    if (size - 1 > sizeof fuzz_msg - 2) return 0;
    fuzz_msg[0] = (uint8_t)(n <= 15 ? 0x90 | n : 0x9f);
    fuzz_msg[1] = (uint8_t)type;
    memcpy(fuzz_msg + 2, data + 1, size - 1);
    buf = fuzz_msg;
    len = size + 1;
  } else {
    buf = data + 1;
    len = size - 1;
  }
  e = wire_decode(buf, len, &m);
  if (e) {
    FUZZ_CHECK(e < 0 && m.type == 0);
    return 0;
  }
  FUZZ_CHECK(len <= WIRE_MSG_MAX && m.type >= W_HELLO && m.type <= W__TYPE_MAX);
  switch (m.type) {
  case W_HELLO: fuzz_hello(&m.u.hello, buf, len); break;
  case W_SYNC:
    fuzz_in(m.u.sync.syms, m.u.sync.syms_len, buf, len);
    fuzz_syms(&m.u.sync);
    break;
  case W_ZIP:
    FUZZ_CHECK(m.u.zip.raw_len >= 1 && m.u.zip.raw_len <= WIRE_MSG_MAX);
    fuzz_in(m.u.zip.data, m.u.zip.len, buf, len);
    break;
  case W_WANT: case W_OFFER: case W_ANNOUNCE:
    FUZZ_CHECK(m.u.want.n <= WIRE_WANT_MAX);
    fuzz_in(m.u.want.hashes, (size_t)m.u.want.n * HASH_LEN, buf, len);
    break;
  case W_LIST:
    FUZZ_CHECK(m.u.list.n <= WIRE_WANT_MAX && m.u.list.last <= 1);
    fuzz_in(m.u.list.hashes, (size_t)m.u.list.n * HASH_LEN, buf, len);
    break;
  case W_RECORDS: fuzz_records(m.u.records, buf, len); break;
  case W_ERROR:
    FUZZ_CHECK(m.u.error.reason_len <= WIRE_REASON_MAX);
    fuzz_in((const uint8_t *)m.u.error.reason, m.u.error.reason_len, buf, len);
    break;
  default: break;
  }
  len = fuzz_reencode(&m);
  if (len == 0) return 0;
  FUZZ_CHECK(wire_decode(fuzz_enc, len, &m2) == 0);
  fuzz_same(&m, &m2);
  fuzz_note(wire_type_name(m.type));
  return 0;
}
