/*
 * wire.c - the messages two nodes exchange (docs/protocol.md §3).
 *
 * Decoding reads through the strict cursor of mp.h and allocates nothing:
 * every count and length is checked against the limits of wire.h and
 * against the bytes that remain before it is used, and every element must
 * have exactly the type the table of §3 gives it.  A RECORDS message is
 * validated whole at decode time, so that wire_records_next never fails
 * half way through.
 *
 * Encoding writes msgpack by hand into the caller's buffer (the shortest
 * form of every header, as msgpack-c's packer would), so it needs no
 * allocation either; a message never exceeds WIRE_MSG_MAX.
 */
#include "proto/wire.h"

#include <string.h>

#include "proto/err.h"
#include "proto/mp.h"

/* ---- decoding ---------------------------------------------------------- */

/* Elements after the type that each type needs (index: enum wire_type). */
static const uint8_t wire__need[W__TYPE_MAX + 1] = {
  [W_HELLO] = 7, [W_SYNC] = 4, [W_MORE] = 2, [W_DONE] = 4, [W_WANT] = 1,
  [W_RECORDS] = 1, [W_ACK] = 1, [W_PING] = 1, [W_PONG] = 1, [W_ERROR] = 2,
  [W_OFFER] = 1, [W_ZIP] = 2, [W_LIST] = 3, [W_ANNOUNCE] = 1,
};

/* A uint that must fit 32 bits: larger values are STOA_ETOOBIG. */
static int wire__u32(mp_reader *r, uint32_t *v) {
  mp_reader save = *r;
  uint64_t u;
  int e = mp_read_uint(r, &u);
  if (e) return e;
  if (u > UINT32_MAX) { *r = save; return STOA_ETOOBIG; }
  *v = (uint32_t)u;
  return 0;
}

/* A str of at most `max` bytes. */
static int wire__str(mp_reader *r, const char **s, uint32_t *len, uint32_t max) {
  mp_reader save = *r;
  int e = mp_read_str(r, s, len);
  if (e) return e;
  if (*len > max) { *r = save; return STOA_ETOOBIG; }
  return 0;
}

/* A bin of at most `max` bytes. */
static int wire__bin(mp_reader *r, const uint8_t **b, uint32_t *len, uint32_t max) {
  mp_reader save = *r;
  int e = mp_read_bin(r, b, len);
  if (e) return e;
  if (*len > max) { *r = save; return STOA_ETOOBIG; }
  return 0;
}

/* Known capability names; unknown ones are ignored (docs/protocol.md §3). */
static uint32_t wire__cap_bit(const char *s, uint32_t n) {
  if (n == 4 && memcmp(s, "push", 4) == 0) return WCAP_PUSH;
  if (n == 4 && memcmp(s, "zstd", 4) == 0) return WCAP_ZSTD;
  if (n == 8 && memcmp(s, "announce", 8) == 0) return WCAP_ANNOUNCE;
  return 0;
}

static int wire__dec_hello(mp_reader *r, wire_hello *h) {
  uint32_t n, len;
  const char *s;
  const uint8_t *b;
  int e;
  if ((e = wire__u32(r, &h->version))) return e;
  if ((e = mp_read_array(r, &n))) return e;
  if (n > WIRE_CAPS_MAX) return STOA_ETOOBIG;
  for (uint32_t i = 0; i < n; i++) {
    if ((e = wire__str(r, &s, &len, WIRE_CAP_LEN_MAX))) return e;
    h->caps |= wire__cap_bit(s, len);
  }
  if ((e = mp_read_binn(r, &h->node, KEY_LEN))) return e;
  if ((e = mp_read_binn(r, &h->network, KEY_LEN))) return e;
  if ((e = mp_read_array(r, &n))) return e;
  if (n > WIRE_PROOFS_MAX) return STOA_ETOOBIG;
  for (uint32_t i = 0; i < n; i++) {
    if ((e = wire__bin(r, &b, &len, REC_MAX))) return e;
    h->proof[i] = b;
    h->proof_len[i] = len;
  }
  h->nproofs = n;
  if ((e = mp_read_uint(r, &h->set_size))) return e;
  return wire__str(r, &h->agent, &h->agent_len, WIRE_AGENT_MAX);
}

static int wire__dec_sync(mp_reader *r, wire_sync *s) {
  int e;
  if ((e = wire__u32(r, &s->session)) || (e = wire__u32(r, &s->first))) return e;
  if ((e = wire__bin(r, &s->syms, &s->syms_len, WIRE_MSG_MAX))) return e;
  return mp_read_uint(r, &s->set_size);
}

static int wire__dec_want(mp_reader *r, wire_want *w) {
  const uint8_t *b;
  uint32_t len;
  int e = wire__bin(r, &b, &len, (uint32_t)WIRE_WANT_MAX * HASH_LEN);
  if (e) return e;
  if (len % HASH_LEN) return STOA_EMALFORMED;
  w->hashes = b;
  w->n = len / HASH_LEN;
  return 0;
}

/* Checks every element now: after this, wire_records_next cannot fail. */
static int wire__dec_records(mp_reader *r, wire_records *rs) {
  uint32_t n, len;
  const uint8_t *b;
  int e;
  if ((e = mp_read_array(r, &n))) return e;
  if (n > WIRE_RECORDS_MAX) return STOA_ETOOBIG;
  rs->p = r->p;
  for (uint32_t i = 0; i < n; i++)
    if ((e = wire__bin(r, &b, &len, REC_MAX))) return e;
  rs->end = r->p;
  rs->n = rs->left = n;
  return 0;
}

/* The body of a message of `n` elements after the type; *used is set to
 * the number read when a type has optional trailing elements. */
static int wire__dec_body(mp_reader *r, wire_msg *m, uint32_t n, uint32_t *used) {
  int e;
  switch (m->type) {
  case W_HELLO: return wire__dec_hello(r, &m->u.hello);
  case W_SYNC: return wire__dec_sync(r, &m->u.sync);
  case W_MORE:
    if ((e = wire__u32(r, &m->u.more.session))) return e;
    return wire__u32(r, &m->u.more.next);
  case W_DONE:
    if ((e = wire__u32(r, &m->u.done.session)) || (e = wire__u32(r, &m->u.done.status)) ||
        (e = mp_read_uint(r, &m->u.done.will_send)))
      return e;
    return mp_read_uint(r, &m->u.done.wants);
  case W_WANT: case W_OFFER: case W_ANNOUNCE: return wire__dec_want(r, &m->u.want);
  case W_LIST: {
    wire_want h;
    if ((e = wire__u32(r, &m->u.list.session)) || (e = wire__dec_want(r, &h))) return e;
    m->u.list.hashes = h.hashes;
    m->u.list.n = h.n;
    if ((e = wire__u32(r, &m->u.list.last))) return e;
    m->u.list.last = m->u.list.last != 0; /* any non-zero: the final part */
    return 0;
  }
  case W_ZIP:
    if ((e = wire__u32(r, &m->u.zip.raw_len))) return e;
    if (m->u.zip.raw_len == 0 || m->u.zip.raw_len > WIRE_MSG_MAX) return STOA_ETOOBIG;
    return wire__bin(r, &m->u.zip.data, &m->u.zip.len, WIRE_MSG_MAX);
  case W_RECORDS: return wire__dec_records(r, &m->u.records);
  case W_ACK:
    if ((e = mp_read_uint(r, &m->u.ack.count)) || n < 2) return e;
    *used = 2;
    return mp_read_uint(r, &m->u.ack.waiting);
  case W_PING: case W_PONG: return mp_read_uint(r, &m->u.nonce);
  case W_ERROR:
    if ((e = wire__u32(r, &m->u.error.code))) return e;
    return wire__str(r, &m->u.error.reason, &m->u.error.reason_len, WIRE_REASON_MAX);
  default: return STOA_EPROTOCOL;
  }
}

/*
 * Order of checks: the outer array, the type (unknown: STOA_EPROTOCOL), the
 * element count (too few: STOA_EPROTOCOL), the known elements in order,
 * the extra elements (skipped, but validated), then trailing bytes.  On
 * error *m is zeroed, never half filled.  O(len).
 */
int wire_decode(const uint8_t *buf, size_t len, wire_msg *m) {
  mp_reader r;
  uint32_t n;
  uint64_t type;
  int e;
  memset(m, 0, sizeof *m);
  if (len == 0) return STOA_ETRUNCATED;
  if (len > WIRE_MSG_MAX) return STOA_ETOOBIG;
  mp_reader_init(&r, buf, len);
  if ((e = mp_read_array(&r, &n))) goto out;
  if (n == 0) { e = STOA_EPROTOCOL; goto out; }
  if ((e = mp_read_uint(&r, &type))) goto out;
  if (type < W_HELLO || type > W__TYPE_MAX) { e = STOA_EPROTOCOL; goto out; }
  if (n - 1 < wire__need[type]) { e = STOA_EPROTOCOL; goto out; }
  m->type = (int)type;
  uint32_t used = wire__need[type];
  if ((e = wire__dec_body(&r, m, n - 1, &used))) goto out;
  for (uint32_t i = 1 + used; i < n; i++)
    if ((e = mp_skip(&r, 1))) goto out;
  if (mp_left(&r)) e = STOA_ETRAILING;
out:
  if (e) memset(m, 0, sizeof *m);
  return e;
}

int wire_records_next(wire_records *r, const uint8_t **buf, size_t *len) {
  mp_reader rd;
  const uint8_t *b;
  uint32_t n;
  if (r->left == 0 || r->p == NULL || r->p >= r->end) return 0;
  mp_reader_init(&rd, r->p, (size_t)(r->end - r->p));
  /* Cannot fail on a message wire_decode accepted, unless its buffer
   * changed since: then end the iteration rather than hand out garbage. */
  if (mp_read_bin(&rd, &b, &n) != 0 || n > REC_MAX) { r->left = 0; return 0; }
  r->p = rd.p;
  r->left--;
  *buf = b;
  *len = n;
  return 1;
}

/* ---- encoding ---------------------------------------------------------- */

/* An output cursor; the first overflow sticks in `err` and stops writing. */
typedef struct wire__w {
  uint8_t *p;
  size_t cap, len;
  int err;
} wire__w;

static void wire__w_init(wire__w *w, uint8_t *out, size_t cap) {
  w->p = out;
  w->cap = cap < WIRE_MSG_MAX ? cap : WIRE_MSG_MAX;
  w->len = 0;
  w->err = 0;
}

static void wire__put(wire__w *w, const void *src, size_t n) {
  if (w->err) return;
  if (n > w->cap - w->len) { w->err = STOA_ETOOBIG; return; }
  if (n) memcpy(w->p + w->len, src, n);
  w->len += n;
}

/* Type byte followed by `nb` big-endian bytes of v. */
static void wire__put_be(wire__w *w, uint8_t tag, uint64_t v, unsigned nb) {
  uint8_t b[9];
  b[0] = tag;
  for (unsigned i = 0; i < nb; i++) b[1 + i] = (uint8_t)(v >> (8 * (nb - 1 - i)));
  wire__put(w, b, 1 + nb);
}

static void wire__put_uint(wire__w *w, uint64_t v) {
  if (v <= 0x7f) wire__put_be(w, (uint8_t)v, 0, 0);
  else if (v <= UINT8_MAX) wire__put_be(w, 0xcc, v, 1);
  else if (v <= UINT16_MAX) wire__put_be(w, 0xcd, v, 2);
  else if (v <= UINT32_MAX) wire__put_be(w, 0xce, v, 4);
  else wire__put_be(w, 0xcf, v, 8);
}

static void wire__put_array(wire__w *w, uint32_t n) {
  if (n <= 15) wire__put_be(w, (uint8_t)(0x90 | n), 0, 0);
  else if (n <= UINT16_MAX) wire__put_be(w, 0xdc, n, 2);
  else wire__put_be(w, 0xdd, n, 4);
}

static void wire__put_str(wire__w *w, const char *s, size_t n) {
  if (n <= 31) wire__put_be(w, (uint8_t)(0xa0 | n), 0, 0);
  else if (n <= UINT8_MAX) wire__put_be(w, 0xd9, n, 1);
  else if (n <= UINT16_MAX) wire__put_be(w, 0xda, n, 2);
  else wire__put_be(w, 0xdb, n, 4);
  wire__put(w, s, n);
}

static void wire__put_bin(wire__w *w, const uint8_t *b, size_t n) {
  if (n <= UINT8_MAX) wire__put_be(w, 0xc4, n, 1);
  else if (n <= UINT16_MAX) wire__put_be(w, 0xc5, n, 2);
  else wire__put_be(w, 0xc6, n, 4);
  wire__put(w, b, n);
}

static int wire__w_done(const wire__w *w, size_t *len) {
  if (w->err) return w->err;
  *len = w->len;
  return 0;
}

static bool wire__text_ok(const char *s, size_t n, size_t max) {
  return n <= max && (n == 0 || s != NULL) && mp_utf8_valid((const uint8_t *)s, n);
}

int wire_encode_hello(const wire_hello *h, uint8_t *out, size_t cap, size_t *len) {
  static const struct { uint32_t bit; const char *name; } caps[] = {
    { WCAP_PUSH, "push" }, { WCAP_ZSTD, "zstd" }, { WCAP_ANNOUNCE, "announce" },
  };
  uint32_t known = 0, ncaps = 0;
  wire__w w;
  for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
    known |= caps[i].bit;
    if (h->caps & caps[i].bit) ncaps++;
  }
  if ((h->caps & ~known) || h->node == NULL || h->network == NULL ||
      h->nproofs > WIRE_PROOFS_MAX || !wire__text_ok(h->agent, h->agent_len, WIRE_AGENT_MAX))
    return STOA_EINVAL;
  for (uint32_t i = 0; i < h->nproofs; i++)
    if (h->proof_len[i] > REC_MAX || (h->proof_len[i] && h->proof[i] == NULL)) return STOA_EINVAL;
  wire__w_init(&w, out, cap);
  wire__put_array(&w, 8);
  wire__put_uint(&w, W_HELLO);
  wire__put_uint(&w, h->version);
  wire__put_array(&w, ncaps);
  for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
    if (h->caps & caps[i].bit) wire__put_str(&w, caps[i].name, strlen(caps[i].name));
  wire__put_bin(&w, h->node, KEY_LEN);
  wire__put_bin(&w, h->network, KEY_LEN);
  wire__put_array(&w, h->nproofs);
  for (uint32_t i = 0; i < h->nproofs; i++) wire__put_bin(&w, h->proof[i], h->proof_len[i]);
  wire__put_uint(&w, h->set_size);
  wire__put_str(&w, h->agent, h->agent_len);
  return wire__w_done(&w, len);
}

int wire_encode_sync(const wire_sync *s, uint8_t *out, size_t cap, size_t *len) {
  wire__w w;
  if (s->syms_len && s->syms == NULL) return STOA_EINVAL;
  wire__w_init(&w, out, cap);
  wire__put_array(&w, 5);
  wire__put_uint(&w, W_SYNC);
  wire__put_uint(&w, s->session);
  wire__put_uint(&w, s->first);
  wire__put_bin(&w, s->syms, s->syms_len);
  wire__put_uint(&w, s->set_size);
  return wire__w_done(&w, len);
}

int wire_encode_more(const wire_more *m, uint8_t *out, size_t cap, size_t *len) {
  wire__w w;
  wire__w_init(&w, out, cap);
  wire__put_array(&w, 3);
  wire__put_uint(&w, W_MORE);
  wire__put_uint(&w, m->session);
  wire__put_uint(&w, m->next);
  return wire__w_done(&w, len);
}

int wire_encode_done(const wire_done *d, uint8_t *out, size_t cap, size_t *len) {
  wire__w w;
  wire__w_init(&w, out, cap);
  wire__put_array(&w, 5);
  wire__put_uint(&w, W_DONE);
  wire__put_uint(&w, d->session);
  wire__put_uint(&w, d->status);
  wire__put_uint(&w, d->will_send);
  wire__put_uint(&w, d->wants);
  return wire__w_done(&w, len);
}

int wire_encode_hashes(int type, const uint8_t *hashes, uint32_t n, uint8_t *out, size_t cap, size_t *len) {
  wire__w w;
  if ((type != W_WANT && type != W_OFFER && type != W_ANNOUNCE) || n > WIRE_WANT_MAX || (n && hashes == NULL)) return STOA_EINVAL;
  wire__w_init(&w, out, cap);
  wire__put_array(&w, 2);
  wire__put_uint(&w, (uint64_t)type);
  wire__put_bin(&w, hashes, (size_t)n * HASH_LEN);
  return wire__w_done(&w, len);
}

int wire_encode_list(const wire_list *l, uint8_t *out, size_t cap, size_t *len) {
  wire__w w;
  if (l->n > WIRE_WANT_MAX || (l->n && l->hashes == NULL) || l->last > 1) return STOA_EINVAL;
  wire__w_init(&w, out, cap);
  wire__put_array(&w, 4);
  wire__put_uint(&w, W_LIST);
  wire__put_uint(&w, l->session);
  wire__put_bin(&w, l->hashes, (size_t)l->n * HASH_LEN);
  wire__put_uint(&w, l->last);
  return wire__w_done(&w, len);
}

int wire_encode_zip(uint32_t raw_len, const uint8_t *data, size_t n, uint8_t *out, size_t cap, size_t *len) {
  wire__w w;
  if (raw_len == 0 || raw_len > WIRE_MSG_MAX || (n && data == NULL)) return STOA_EINVAL;
  wire__w_init(&w, out, cap);
  wire__put_array(&w, 3);
  wire__put_uint(&w, W_ZIP);
  wire__put_uint(&w, raw_len);
  wire__put_bin(&w, data, n);
  return wire__w_done(&w, len);
}

int wire_encode_records(const uint8_t *const *recs, const size_t *lens, uint32_t n,
                        uint8_t *out, size_t cap, size_t *len) {
  wire__w w;
  if (n > WIRE_RECORDS_MAX || (n && (recs == NULL || lens == NULL))) return STOA_EINVAL;
  for (uint32_t i = 0; i < n; i++)
    if (lens[i] > REC_MAX || (lens[i] && recs[i] == NULL)) return STOA_EINVAL;
  wire__w_init(&w, out, cap);
  wire__put_array(&w, 2);
  wire__put_uint(&w, W_RECORDS);
  wire__put_array(&w, n);
  for (uint32_t i = 0; i < n && !w.err; i++) wire__put_bin(&w, recs[i], lens[i]);
  return wire__w_done(&w, len);
}

int wire_encode_u64(int type, uint64_t v, uint8_t *out, size_t cap, size_t *len) {
  wire__w w;
  if (type != W_PING && type != W_PONG) return STOA_EINVAL;
  wire__w_init(&w, out, cap);
  wire__put_array(&w, 2);
  wire__put_uint(&w, (uint64_t)type);
  wire__put_uint(&w, v);
  return wire__w_done(&w, len);
}

int wire_encode_ack(const wire_ack *a, uint8_t *out, size_t cap, size_t *len) {
  wire__w w;
  wire__w_init(&w, out, cap);
  wire__put_array(&w, 3);
  wire__put_uint(&w, W_ACK);
  wire__put_uint(&w, a->count);
  wire__put_uint(&w, a->waiting);
  return wire__w_done(&w, len);
}

int wire_encode_error(uint32_t code, const char *reason, uint8_t *out, size_t cap, size_t *len) {
  size_t n = 0;
  wire__w w;
  while (reason && n <= WIRE_REASON_MAX && reason[n]) n++; /* bounded strlen */
  if (!wire__text_ok(reason, n, WIRE_REASON_MAX)) return STOA_EINVAL;
  wire__w_init(&w, out, cap);
  wire__put_array(&w, 3);
  wire__put_uint(&w, W_ERROR);
  wire__put_uint(&w, code);
  wire__put_str(&w, reason, n);
  return wire__w_done(&w, len);
}

const char *wire_type_name(int type) {
  static const char *const names[W__TYPE_MAX + 1] = {
    [W_HELLO] = "HELLO", [W_SYNC] = "SYNC", [W_MORE] = "MORE", [W_DONE] = "DONE",
    [W_WANT] = "WANT", [W_RECORDS] = "RECORDS", [W_ACK] = "ACK", [W_PING] = "PING",
    [W_PONG] = "PONG", [W_ERROR] = "ERROR", [W_OFFER] = "OFFER", [W_ZIP] = "ZIP", [W_LIST] = "LIST",
    [W_ANNOUNCE] = "ANNOUNCE",
  };
  if (type < W_HELLO || type > W__TYPE_MAX) return "UNKNOWN";
  return names[type];
}
