/* Unit tests of records, charters, trust replay and bundles (proto/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>
#include <sodium.h>

#include "proto/bundle.h"
#include "proto/charter.h"
#include "proto/err.h"
#include "proto/record.h"
#include "proto/trust.h"

static uint8_t fed[HASH_LEN], fed2[HASH_LEN];
static uint8_t pk[32], sk[64];

static size_t org_body(uint8_t *out, const char *name, size_t pad) {
  msgpack_sbuffer sb;
  msgpack_packer p;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&p, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&p, pad ? 4 : 3);
  msgpack_pack_str_with_body(&p, "name", 4);
  msgpack_pack_str_with_body(&p, name, strlen(name));
  msgpack_pack_str_with_body(&p, "country", 7);
  msgpack_pack_str_with_body(&p, "FR", 2);
  msgpack_pack_str_with_body(&p, "type", 4);
  msgpack_pack_str_with_body(&p, "ngo", 3);
  if (pad) {
    char *d = malloc(pad);
    memset(d, 'x', pad);
    msgpack_pack_str_with_body(&p, "description", 11);
    msgpack_pack_str_with_body(&p, d, pad);
    free(d);
  }
  size_t n = sb.size;
  if (out) memcpy(out, sb.data, n);
  msgpack_sbuffer_destroy(&sb);
  return n;
}

static int setup(void **state) {
  (void)state;
  if (sodium_init() < 0) return -1;
  crypto_sign_keypair(pk, sk);
  randombytes_buf(fed, sizeof fed);
  memcpy(fed2, fed, sizeof fed);
  fed2[0] ^= 1;
  return 0;
}

static void test_record_roundtrip(void **state) {
  (void)state;
  uint8_t body[512], out[REC_MAX], id[ID_LEN] = { 1, 2, 3 };
  size_t blen = org_body(body, "Société", 0), len;
  rec r;
  assert_int_equal(rec_build(REC_ORG, pk, id, 1700000000000ull, sk, body, blen, fed, out, sizeof out, &len), 0);
  assert_int_equal(rec_decode(out, len, &r), 0);
  assert_int_equal(r.h.kind, REC_ORG);
  assert_int_equal(r.h.ts, 1700000000000ull);
  assert_memory_equal(r.h.owner, pk, 32);
  assert_memory_equal(r.h.signer, pk, 32);
  assert_memory_equal(r.h.id, id, ID_LEN);
  assert_int_equal(r.body_len, blen);
  assert_memory_equal(r.body, body, blen);
  assert_int_equal(rec_verify(&r, fed), 0);
  /* A record of one federation is never valid in another. */
  assert_int_equal(rec_verify(&r, fed2), STOA_EBADSIG);
  /* The hash is BLAKE2b-256(header || signature). */
  uint8_t h[HASH_LEN];
  crypto_generichash_blake2b_state st;
  crypto_generichash_blake2b_init(&st, NULL, 0, HASH_LEN);
  crypto_generichash_blake2b_update(&st, r.hdr, r.hdr_len);
  crypto_generichash_blake2b_update(&st, r.sig, SIG_LEN);
  crypto_generichash_blake2b_final(&st, h, HASH_LEN);
  assert_memory_equal(h, r.hash, HASH_LEN);
  /* An erased stub keeps the identity and the signature. */
  uint8_t stub[512];
  size_t sl;
  rec s;
  uint8_t keep[HASH_LEN];
  memcpy(keep, r.hash, HASH_LEN);
  assert_int_equal(rec_stub(&r, stub, sizeof stub, &sl), 0);
  assert_int_equal(rec_decode(stub, sl, &s), 0);
  assert_null(s.body);
  assert_memory_equal(s.hash, keep, HASH_LEN);
  assert_int_equal(rec_verify(&s, fed), 0);
}

/* Every single-bit flip of a record either fails to decode or fails to
 * verify: nothing altered passes. */
static void test_record_bitflips(void **state) {
  (void)state;
  uint8_t body[512], out[REC_MAX], id[ID_LEN] = { 9 };
  size_t blen = org_body(body, "Straße", 0), len;
  assert_int_equal(rec_build(REC_ORG, pk, id, 5, sk, body, blen, fed, out, sizeof out, &len), 0);
  for (size_t i = 0; i < len; i++)
    for (int bit = 0; bit < 8; bit++) {
      rec r;
      out[i] ^= (uint8_t)(1 << bit);
      int e = rec_decode(out, len, &r);
      if (e == 0) assert_int_not_equal(rec_verify(&r, fed), 0);
      out[i] ^= (uint8_t)(1 << bit);
    }
  for (size_t cut = 0; cut < len; cut++) {
    rec r;
    assert_int_not_equal(rec_decode(out, cut, &r), 0);
  }
}

/* rec_peek, for envelopes from our own store: the same header, parts and
 * hash as rec_decode; a body it does not look into; and on damaged data
 * an error, never a read outside the buffer (ASan checks every cut). */
static void test_record_peek(void **state) {
  (void)state;
  uint8_t body[512], out[REC_MAX], id[ID_LEN] = { 4 }, stub[512];
  size_t blen = org_body(body, "Cooperativa Ñandú", 0), len, sl;
  rec d, p, s;
  rec_header h;
  assert_int_equal(rec_build(REC_ORG, pk, id, 77, sk, body, blen, fed, out, sizeof out, &len), 0);
  assert_int_equal(rec_decode(out, len, &d), 0);
  assert_int_equal(rec_peek(out, len, &p), 0);
  /* (field by field: the structs' padding is not set) */
  assert_int_equal(p.h.version, d.h.version);
  assert_int_equal(p.h.kind, d.h.kind);
  assert_int_equal(p.h.ts, d.h.ts);
  assert_int_equal(p.h.body_len, d.h.body_len);
  assert_memory_equal(p.h.owner, d.h.owner, KEY_LEN);
  assert_memory_equal(p.h.signer, d.h.signer, KEY_LEN);
  assert_memory_equal(p.h.id, d.h.id, ID_LEN);
  assert_memory_equal(p.h.body_hash, d.h.body_hash, HASH_LEN);
  assert_memory_equal(p.hash, d.hash, HASH_LEN);
  assert_ptr_equal(p.hdr, d.hdr);
  assert_ptr_equal(p.sig, d.sig);
  assert_ptr_equal(p.body, d.body);
  assert_int_equal(p.body_len, d.body_len);
  assert_int_equal(rec_peek_header(out, len, &h), 0);
  assert_int_equal(h.kind, d.h.kind);
  assert_int_equal(h.ts, d.h.ts);
  assert_memory_equal(h.id, d.h.id, ID_LEN);
  assert_memory_equal(h.body_hash, d.h.body_hash, HASH_LEN);
  assert_int_equal(rec_stub(&d, stub, sizeof stub, &sl), 0);
  assert_int_equal(rec_peek(stub, sl, &s), 0);
  assert_null(s.body);
  assert_memory_equal(s.hash, d.hash, HASH_LEN);
  /* What it skips: a body that is not the one the header names. */
  uint8_t bad[REC_MAX];
  memcpy(bad, out, len);
  bad[len - 1] ^= 1;
  assert_int_equal(rec_decode(bad, len, &s), STOA_EHASH);
  assert_int_equal(rec_peek(bad, len, &s), 0);
  for (size_t cut = 0; cut < len; cut++) {
    uint8_t *t = malloc(cut ? cut : 1); /* exactly cut bytes: ASan sees a read past them */
    memcpy(t, out, cut);
    assert_int_not_equal(rec_peek(t, cut, &s), 0);
    assert_int_not_equal(rec_peek_header(t, cut, &h), 0);
    free(t);
  }
}

static void test_record_limits(void **state) {
  (void)state;
  uint8_t *body = malloc(REC_MAX + 1024), *out = malloc(REC_MAX + 2048), id[ID_LEN] = { 0 };
  size_t len;
  size_t blen = org_body(body, "Big", REC_MAX - 200);
  rec r;
  assert_int_equal(rec_build(REC_ORG, pk, id, 1, sk, body, blen, fed, out, REC_MAX + 2048, &len), STOA_ETOOBIG);
  blen = org_body(body, "Fits", 1000);
  assert_int_equal(rec_build(REC_ORG, pk, id, 1, sk, body, blen, fed, out, REC_MAX, &len), 0);
  memset(out + len, 0, 1);
  assert_int_equal(rec_decode(out, len + 1, &r), STOA_ETRAILING);
  assert_int_equal(rec_decode(out, REC_MAX + 1, &r), STOA_ETOOBIG);
  assert_int_equal(rec_build(99, pk, id, 1, sk, body, blen, fed, out, REC_MAX, &len), STOA_EINVAL);
  free(body);
  free(out);
}

static void test_kinds(void **state) {
  (void)state;
  for (int k = 1; k <= REC__KIND_MAX; k++) {
    const char *n = rec_kind_name(k);
    assert_non_null(n);
    assert_int_equal(rec_kind_from_name(n, strlen(n)), k);
  }
  assert_int_equal(rec_kind_from_name("orgs", 4), 0);
  assert_null(rec_kind_name(0));
}

static void test_charter(void **state) {
  (void)state;
  uint8_t sks[2][64], pks[2][32], buf[CHARTER_MAX];
  size_t len;
  charter c;
  crypto_sign_keypair(pks[0], sks[0]);
  crypto_sign_keypair(pks[1], sks[1]);
  assert_int_equal(charter_build("Fédération", 2, (const uint8_t (*)[64])sks, 2, 1000, buf, sizeof buf, &len), 0);
  assert_int_equal(charter_decode(buf, len, &c), 0);
  assert_string_equal(c.name, "Fédération");
  assert_int_equal(c.quorum, 2);
  assert_int_equal(c.nfounders, 2);
  assert_memory_equal(c.founders[1], pks[1], 32);
  uint8_t id1[HASH_LEN];
  memcpy(id1, c.id, HASH_LEN);
  /* Any flipped byte breaks it. */
  for (size_t i = 0; i < len; i++) {
    buf[i] ^= 0x20;
    assert_int_not_equal(charter_decode(buf, len, &c), 0);
    buf[i] ^= 0x20;
  }
  assert_int_equal(charter_decode(buf, len, &c), 0);
  assert_memory_equal(c.id, id1, HASH_LEN);
  /* Bad arguments. */
  assert_int_equal(charter_build("x", 3, (const uint8_t (*)[64])sks, 2, 1, buf, sizeof buf, &len), STOA_EINVAL);
  assert_int_equal(charter_build("x", 0, (const uint8_t (*)[64])sks, 2, 1, buf, sizeof buf, &len), STOA_EINVAL);
  assert_int_equal(charter_build("", 1, (const uint8_t (*)[64])sks, 1, 1, buf, sizeof buf, &len), STOA_EINVAL);
  memcpy(sks[1], sks[0], 64);
  assert_int_equal(charter_build("x", 1, (const uint8_t (*)[64])sks, 2, 1, buf, sizeof buf, &len), STOA_EINVAL);
}

static void ev(trust_event *e, int kind, int role, const uint8_t *owner, const uint8_t *subject,
               uint64_t ts, uint8_t tag) {
  memset(e, 0, sizeof *e);
  e->ts = ts;
  e->hash[0] = tag;
  e->kind = (uint8_t)kind;
  e->role = (uint8_t)role;
  memcpy(e->owner, owner, 32);
  memcpy(e->subject, subject, 32);
}

static void test_trust(void **state) {
  (void)state;
  uint8_t a[32], b[32], c2[32], d[32], ed[32], skx[64];
  charter ch;
  trust_state *t;
  trust_event e;
  crypto_sign_keypair(a, skx);
  crypto_sign_keypair(b, skx);
  crypto_sign_keypair(c2, skx);
  crypto_sign_keypair(d, skx);
  crypto_sign_keypair(ed, skx);
  memset(&ch, 0, sizeof ch);
  ch.quorum = 2;
  ch.nfounders = 2;
  memcpy(ch.founders[0], a, 32);
  memcpy(ch.founders[1], b, 32);
  assert_int_equal(trust_new(&t, &ch), 0);
  assert_true(trust_is_member(t, a, 0));
  assert_false(trust_is_member(t, c2, 10));
  /* One endorsement of two needed. */
  ev(&e, REC_ENDORSE, TRUST_MEMBER, a, c2, 10, 1);
  assert_int_equal(trust_apply(t, &e), 0);
  assert_false(trust_is_member(t, c2, 11));
  /* A non-member's vote does not count. */
  ev(&e, REC_ENDORSE, TRUST_MEMBER, d, c2, 12, 1);
  assert_int_equal(trust_apply(t, &e), 0);
  assert_false(trust_is_member(t, c2, 13));
  ev(&e, REC_ENDORSE, TRUST_MEMBER, b, c2, 20, 1);
  assert_int_equal(trust_apply(t, &e), 1);
  assert_true(trust_is_member(t, c2, 20));
  /* What it wrote while waiting for admission counts once admitted. */
  assert_true(trust_is_member(t, c2, 19));
  uint8_t only[4][32];
  assert_int_equal(trust_members(t, 19, only, 4), 2); /* not a member then */
  assert_int_equal(trust_members(t, 20, only, 4), 3);
  /* Editor keys, valid from their endorsement until their revocation. */
  ev(&e, REC_ENDORSE, TRUST_EDITOR, c2, ed, 30, 1);
  assert_int_equal(trust_apply(t, &e), 1);
  ev(&e, REC_REVOKE, TRUST_EDITOR, c2, ed, 40, 1);
  assert_int_equal(trust_apply(t, &e), 1);
  assert_false(trust_key_valid(t, c2, ed, TRUST_EDITOR, 29));
  assert_true(trust_key_valid(t, c2, ed, TRUST_EDITOR, 35));
  assert_false(trust_key_valid(t, c2, ed, TRUST_EDITOR, 40));
  assert_false(trust_key_valid(t, c2, ed, TRUST_NODE, 35));
  /* Out of order is refused; the caller replays. */
  ev(&e, REC_ENDORSE, TRUST_EDITOR, c2, ed, 5, 1);
  assert_int_equal(trust_apply(t, &e), STOA_ESTATE);
  /* Removal by quorum. */
  ev(&e, REC_REVOKE, TRUST_MEMBER, a, c2, 50, 1);
  assert_int_equal(trust_apply(t, &e), 0);
  assert_true(trust_is_member(t, c2, 55));
  ev(&e, REC_REVOKE, TRUST_MEMBER, b, c2, 60, 1);
  assert_int_equal(trust_apply(t, &e), 1);
  assert_false(trust_is_member(t, c2, 60));
  assert_true(trust_is_member(t, c2, 59)); /* its earlier records stay valid */
  rec_header h;
  memset(&h, 0, sizeof h);
  h.kind = REC_ORG;
  memcpy(h.owner, c2, 32);
  memcpy(h.signer, ed, 32);
  h.ts = 35;
  assert_int_equal(trust_check(t, &h), 0);
  h.ts = 45;
  assert_int_equal(trust_check(t, &h), STOA_EUNTRUSTED);
  h.kind = REC_ENDORSE; /* trust records: the network key only */
  h.ts = 35;
  assert_int_equal(trust_check(t, &h), STOA_EUNTRUSTED);
  memcpy(h.signer, c2, 32);
  assert_int_equal(trust_check(t, &h), 0);
  uint8_t m[4][32];
  assert_int_equal(trust_members(t, 100, m, 4), 2);
  trust_free(t);
}

typedef struct sink { uint8_t *buf; size_t len, cap; } sink;
static int sink_write(void *ctx, const void *b, size_t n) {
  sink *s = ctx;
  if (s->len + n > s->cap) return -1;
  memcpy(s->buf + s->len, b, n);
  s->len += n;
  return 0;
}

static void test_bundle(void **state) {
  (void)state;
  sink s = { malloc(1 << 20), 0, 1 << 20 };
  bundle_writer w;
  bundle_hdr h = { { 0 }, 77, 1, 1 };
  uint8_t body[512], rb[REC_MAX], id[ID_LEN];
  size_t blen = org_body(body, "Réseau", 0), len;
  memcpy(h.fed, fed, HASH_LEN);
  assert_int_equal(bundle_writer_init(&w, &h, sink_write, &s), 0);
  for (int i = 0; i < 10; i++) {
    randombytes_buf(id, sizeof id);
    assert_int_equal(rec_build(REC_ORG, pk, id, (uint64_t)i, sk, body, blen, fed, rb, sizeof rb, &len), 0);
    assert_int_equal(bundle_writer_add(&w, rb, len), 0);
  }
  assert_int_equal(bundle_writer_finish(&w), 0);
  bundle_reader r;
  const uint8_t *p;
  size_t n;
  int got = 0, e;
  assert_int_equal(bundle_reader_init(&r, s.buf, s.len), 0);
  assert_memory_equal(r.hdr.fed, fed, HASH_LEN);
  assert_int_equal(r.hdr.created, 77);
  while ((e = bundle_reader_next(&r, &p, &n)) == 1) {
    rec x;
    assert_int_equal(rec_decode(p, n, &x), 0);
    assert_int_equal(rec_verify(&x, fed), 0);
    got++;
  }
  assert_int_equal(e, 0);
  assert_int_equal(got, 10);
  /* Truncated anywhere: the reader says so and never yields more. */
  for (size_t cut = 0; cut < s.len; cut += 7) {
    int c = 0;
    if (bundle_reader_init(&r, s.buf, cut) != 0) continue;
    while ((e = bundle_reader_next(&r, &p, &n)) == 1) c++;
    assert_true(e < 0);
    assert_true(c <= 10);
  }
  /* Any flipped byte: an error at some point (checksum at the latest). */
  for (size_t i = 0; i < s.len; i += 3) {
    s.buf[i] ^= 0x41;
    if (bundle_reader_init(&r, s.buf, s.len) == 0) {
      while ((e = bundle_reader_next(&r, &p, &n)) == 1) {}
      assert_true(e < 0);
    }
    s.buf[i] ^= 0x41;
  }
  /* Trailing garbage after the trailer. */
  s.buf[s.len] = 0;
  assert_int_equal(bundle_reader_init(&r, s.buf, s.len + 1), 0);
  while ((e = bundle_reader_next(&r, &p, &n)) == 1) {}
  assert_int_equal(e, STOA_ETRAILING);
  /* A frame over the record limit. */
  const uint8_t huge[] = { 'S', 'T', 'O', 'A', 'B', 'D', 'L', '1', 0x7f, 0xff, 0xff, 0xff };
  assert_int_equal(bundle_reader_init(&r, huge, sizeof huge), STOA_ETOOBIG);
  free(s.buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_record_roundtrip), cmocka_unit_test(test_record_bitflips),
    cmocka_unit_test(test_record_peek),
    cmocka_unit_test(test_record_limits), cmocka_unit_test(test_kinds),
    cmocka_unit_test(test_charter), cmocka_unit_test(test_trust), cmocka_unit_test(test_bundle),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
