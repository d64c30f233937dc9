#include "proto/record.h"

#include <msgpack.h>
#include <sodium.h>
#include <string.h>

#include "proto/err.h"
#include "proto/mp.h"

static const char *const kind_names[] = {
  NULL, "org", "actor", "practice", "endorse", "revoke", "erase", "peer",
};

const char *rec_kind_name(int kind) {
  return kind >= 1 && kind <= REC__KIND_MAX ? kind_names[kind] : NULL;
}

int rec_kind_from_name(const char *name, size_t len) {
  for (int k = 1; k <= REC__KIND_MAX; k++)
    if (strlen(kind_names[k]) == len && memcmp(kind_names[k], name, len) == 0) return k;
  return 0;
}

int rec_header_decode(const uint8_t *buf, size_t len, rec_header *h) {
  mp_reader r;
  uint32_t n, klen;
  uint64_t v, blen;
  const char *kname;
  const uint8_t *b;
  int e;

  if (len > REC_HDR_MAX) return STOA_ETOOBIG;
  mp_reader_init(&r, buf, len);
  if ((e = mp_read_array(&r, &n))) return e;
  if (n != 8) return STOA_EMALFORMED;
  if ((e = mp_read_uint(&r, &v))) return e;
  if (v != REC_VERSION) return STOA_EVERSION;
  h->version = (uint32_t)v;
  if ((e = mp_read_str(&r, &kname, &klen))) return e;
  if (!(h->kind = rec_kind_from_name(kname, klen))) return STOA_EKIND;
  if ((e = mp_read_binn(&r, &b, KEY_LEN))) return e;
  memcpy(h->owner, b, KEY_LEN);
  if ((e = mp_read_binn(&r, &b, ID_LEN))) return e;
  memcpy(h->id, b, ID_LEN);
  if ((e = mp_read_uint(&r, &h->ts))) return e;
  if ((e = mp_read_binn(&r, &b, KEY_LEN))) return e;
  memcpy(h->signer, b, KEY_LEN);
  if ((e = mp_read_uint(&r, &blen))) return e;
  if (blen > REC_MAX) return STOA_ETOOBIG;
  h->body_len = (uint32_t)blen;
  if ((e = mp_read_binn(&r, &b, HASH_LEN))) return e;
  memcpy(h->body_hash, b, HASH_LEN);
  return mp_left(&r) ? STOA_ETRAILING : 0;
}

static void record_hash(const uint8_t *hdr, size_t hlen, const uint8_t *sig, uint8_t out[HASH_LEN]) {
  crypto_generichash_blake2b_state st;
  crypto_generichash_blake2b_init(&st, NULL, 0, HASH_LEN);
  crypto_generichash_blake2b_update(&st, hdr, hlen);
  crypto_generichash_blake2b_update(&st, sig, SIG_LEN);
  crypto_generichash_blake2b_final(&st, out, HASH_LEN);
}

/* The envelope [header (bin), signature (bin 64), body (bin) | nil]: its
 * parts and the decoded header, without looking into the body. */
static int envelope(const uint8_t *buf, size_t len, rec *x) {
  mp_reader r;
  uint32_t n, hlen, blen;
  const uint8_t *hdr, *sig, *body = NULL;
  int e;

  if (len > REC_MAX) return STOA_ETOOBIG;
  mp_reader_init(&r, buf, len);
  if ((e = mp_read_array(&r, &n))) return e;
  if (n != 3) return STOA_EMALFORMED;
  if ((e = mp_read_bin(&r, &hdr, &hlen))) return e;
  if ((e = rec_header_decode(hdr, hlen, &x->h))) return e;
  if ((e = mp_read_binn(&r, &sig, SIG_LEN))) return e;
  if (mp_peek(&r) == MP_NIL) {
    mp_read_nil(&r);
    blen = 0;
  } else {
    if ((e = mp_read_bin(&r, &body, &blen))) return e;
    if (blen != x->h.body_len) return STOA_EHASH;
  }
  if (mp_left(&r)) return STOA_ETRAILING;
  x->hdr = hdr;
  x->hdr_len = hlen;
  x->sig = sig;
  x->body = body;
  x->body_len = blen;
  return 0;
}

int rec_decode(const uint8_t *buf, size_t len, rec *out) {
  rec x;
  int e;
  if ((e = envelope(buf, len, &x))) return e;
  if (x.body) {
    uint8_t bh[HASH_LEN];
    mp_reader r;
    crypto_generichash_blake2b(bh, HASH_LEN, x.body, x.body_len, NULL, 0);
    if (sodium_memcmp(bh, x.h.body_hash, HASH_LEN) != 0) return STOA_EHASH;
    if ((e = mp_check(x.body, x.body_len))) return e;
    mp_reader_init(&r, x.body, x.body_len);
    if (mp_peek(&r) != MP_MAP) return STOA_EMALFORMED;
  }
  record_hash(x.hdr, x.hdr_len, x.sig, x.hash);
  *out = x;
  return 0;
}

int rec_peek(const uint8_t *buf, size_t len, rec *out) {
  rec x;
  int e;
  if ((e = envelope(buf, len, &x))) return e;
  record_hash(x.hdr, x.hdr_len, x.sig, x.hash);
  *out = x;
  return 0;
}

int rec_peek_header(const uint8_t *buf, size_t len, rec_header *h) {
  rec x;
  int e = envelope(buf, len, &x);
  if (!e) *h = x.h;
  return e;
}

/* The signed message is short (< 350 bytes), so it is assembled on the stack
 * and checked with the one-shot verify, which is faster than Ed25519ph. */
static size_t sign_message(uint8_t *m, const uint8_t fed[HASH_LEN], const uint8_t *hdr, size_t hlen) {
  memcpy(m, REC_SIG_DOMAIN, sizeof REC_SIG_DOMAIN);
  memcpy(m + sizeof REC_SIG_DOMAIN, fed, HASH_LEN);
  memcpy(m + sizeof REC_SIG_DOMAIN + HASH_LEN, hdr, hlen);
  return sizeof REC_SIG_DOMAIN + HASH_LEN + hlen;
}

int rec_verify(const rec *r, const uint8_t fed[HASH_LEN]) {
  uint8_t m[sizeof REC_SIG_DOMAIN + HASH_LEN + REC_HDR_MAX];
  if (r->hdr_len > REC_HDR_MAX) return STOA_ETOOBIG;
  size_t mlen = sign_message(m, fed, r->hdr, r->hdr_len);
  return crypto_sign_verify_detached(r->sig, m, mlen, r->h.signer) == 0 ? 0 : STOA_EBADSIG;
}

/* Packs [header(bin), sig(bin), body(bin)|nil] into out. */
static int pack_envelope(const uint8_t *hdr, size_t hlen, const uint8_t *sig,
                         const uint8_t *body, size_t blen, uint8_t *out,
                         size_t cap, size_t *outlen) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  int e = 0;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  if (msgpack_pack_array(&pk, 3) || msgpack_pack_bin_with_body(&pk, hdr, hlen) ||
      msgpack_pack_bin_with_body(&pk, sig, SIG_LEN) ||
      (body ? msgpack_pack_bin_with_body(&pk, body, blen) : msgpack_pack_nil(&pk))) {
    e = STOA_ENOMEM;
    goto out;
  }
  if (sb.size > REC_MAX || sb.size > cap) { e = STOA_ETOOBIG; goto out; }
  memcpy(out, sb.data, sb.size);
  *outlen = sb.size;
out:
  msgpack_sbuffer_destroy(&sb);
  return e;
}

int rec_build(int kind, const uint8_t owner[KEY_LEN], const uint8_t id[ID_LEN],
              uint64_t ts, const uint8_t sk[64], const uint8_t *body,
              size_t body_len, const uint8_t fed[HASH_LEN], uint8_t *out,
              size_t cap, size_t *outlen) {
  const char *kname = rec_kind_name(kind);
  uint8_t bh[HASH_LEN], sig[SIG_LEN];
  uint8_t m[sizeof REC_SIG_DOMAIN + HASH_LEN + REC_HDR_MAX];
  msgpack_sbuffer sb;
  msgpack_packer pk;
  int e = 0;

  if (!kname || !body) return STOA_EINVAL;
  if (body_len > REC_MAX) return STOA_ETOOBIG;
  crypto_generichash_blake2b(bh, HASH_LEN, body, body_len, NULL, 0);
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  if (msgpack_pack_array(&pk, 8) || msgpack_pack_uint32(&pk, REC_VERSION) ||
      msgpack_pack_str_with_body(&pk, kname, strlen(kname)) ||
      msgpack_pack_bin_with_body(&pk, owner, KEY_LEN) ||
      msgpack_pack_bin_with_body(&pk, id, ID_LEN) || msgpack_pack_uint64(&pk, ts) ||
      msgpack_pack_bin_with_body(&pk, sk + 32, KEY_LEN) ||
      msgpack_pack_uint64(&pk, body_len) || msgpack_pack_bin_with_body(&pk, bh, HASH_LEN)) {
    e = STOA_ENOMEM;
    goto out;
  }
  if (sb.size > REC_HDR_MAX) { e = STOA_ETOOBIG; goto out; }
  size_t mlen = sign_message(m, fed, (const uint8_t *)sb.data, sb.size);
  crypto_sign_detached(sig, NULL, m, mlen, sk);
  e = pack_envelope((const uint8_t *)sb.data, sb.size, sig, body, body_len, out, cap, outlen);
out:
  msgpack_sbuffer_destroy(&sb);
  return e;
}

int rec_stub(const rec *r, uint8_t *out, size_t cap, size_t *outlen) {
  return pack_envelope(r->hdr, r->hdr_len, r->sig, NULL, 0, out, cap, outlen);
}
