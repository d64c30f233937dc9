#include "proto/charter.h"

#include <msgpack.h>
#include <sodium.h>
#include <string.h>

#include "proto/err.h"
#include "proto/mp.h"

#define CHARTER_TAG "stoa charter"
#define CHARTER_DOMAIN "stoa charter v1"

static int charter__sigmsg(const uint8_t *body, size_t blen, uint8_t *m, size_t *mlen) {
  if (blen + sizeof CHARTER_DOMAIN > CHARTER_MAX) return STOA_ETOOBIG;
  memcpy(m, CHARTER_DOMAIN, sizeof CHARTER_DOMAIN);
  memcpy(m + sizeof CHARTER_DOMAIN, body, blen);
  *mlen = blen + sizeof CHARTER_DOMAIN;
  return 0;
}

int charter_build(const char *name, uint32_t quorum, const uint8_t (*sks)[64],
                  size_t n, uint64_t created, uint8_t *out, size_t cap,
                  size_t *outlen) {
  size_t nlen = name ? strlen(name) : 0;
  msgpack_sbuffer body, file;
  msgpack_packer pk;
  uint8_t m[CHARTER_MAX], sig[SIG_LEN];
  size_t mlen;
  int e = 0;

  if (n == 0 || n > CHARTER_MAX_FOUNDERS || quorum == 0 || quorum > n || nlen == 0 ||
      nlen > CHARTER_NAME_MAX || !mp_utf8_valid((const uint8_t *)name, nlen))
    return STOA_EINVAL;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < i; j++)
      if (memcmp(sks[i] + 32, sks[j] + 32, KEY_LEN) == 0) return STOA_EINVAL;
  msgpack_sbuffer_init(&body);
  msgpack_sbuffer_init(&file);
  msgpack_packer_init(&pk, &body, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 6);
  msgpack_pack_str_with_body(&pk, CHARTER_TAG, strlen(CHARTER_TAG));
  msgpack_pack_uint32(&pk, 1);
  msgpack_pack_str_with_body(&pk, name, nlen);
  msgpack_pack_uint32(&pk, quorum);
  msgpack_pack_array(&pk, (uint32_t)n);
  for (size_t i = 0; i < n; i++) msgpack_pack_bin_with_body(&pk, sks[i] + 32, KEY_LEN);
  msgpack_pack_uint64(&pk, created);
  if ((e = charter__sigmsg((const uint8_t *)body.data, body.size, m, &mlen))) goto out;
  msgpack_packer_init(&pk, &file, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 2);
  msgpack_pack_bin_with_body(&pk, body.data, body.size);
  msgpack_pack_array(&pk, (uint32_t)n);
  for (size_t i = 0; i < n; i++) {
    crypto_sign_detached(sig, NULL, m, mlen, sks[i]);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_bin_with_body(&pk, sks[i] + 32, KEY_LEN);
    msgpack_pack_bin_with_body(&pk, sig, SIG_LEN);
  }
  if (!file.data || file.size > cap || file.size > CHARTER_MAX) { e = STOA_ETOOBIG; goto out; }
  memcpy(out, file.data, file.size);
  *outlen = file.size;
out:
  msgpack_sbuffer_destroy(&body);
  msgpack_sbuffer_destroy(&file);
  return e;
}

static int charter__body(const uint8_t *b, size_t len, charter *c) {
  mp_reader r;
  uint32_t n, slen;
  const char *s;
  uint64_t v;
  const uint8_t *k;
  int e;

  mp_reader_init(&r, b, len);
  if ((e = mp_read_array(&r, &n))) return e;
  if (n != 6) return STOA_ECHARTER;
  if ((e = mp_read_str(&r, &s, &slen))) return e;
  if (slen != strlen(CHARTER_TAG) || memcmp(s, CHARTER_TAG, slen)) return STOA_ECHARTER;
  if ((e = mp_read_uint(&r, &v))) return e;
  if (v != 1) return STOA_EVERSION;
  if ((e = mp_read_str(&r, &s, &slen))) return e;
  if (slen == 0 || slen > CHARTER_NAME_MAX) return STOA_ECHARTER;
  memcpy(c->name, s, slen);
  c->name[slen] = 0;
  if ((e = mp_read_uint(&r, &v))) return e;
  c->quorum = v > UINT32_MAX ? 0 : (uint32_t)v;
  if ((e = mp_read_array(&r, &n))) return e;
  if (n == 0 || n > CHARTER_MAX_FOUNDERS) return STOA_ECHARTER;
  c->nfounders = n;
  for (uint32_t i = 0; i < n; i++) {
    if ((e = mp_read_binn(&r, &k, KEY_LEN))) return e;
    for (uint32_t j = 0; j < i; j++)
      if (memcmp(c->founders[j], k, KEY_LEN) == 0) return STOA_ECHARTER;
    memcpy(c->founders[i], k, KEY_LEN);
  }
  if (c->quorum == 0 || c->quorum > c->nfounders) return STOA_ECHARTER;
  if ((e = mp_read_uint(&r, &c->created))) return e;
  return mp_left(&r) ? STOA_ETRAILING : 0;
}

int charter_decode(const uint8_t *buf, size_t len, charter *c) {
  mp_reader r;
  uint32_t n, blen, nsig;
  const uint8_t *body, *k, *sig;
  uint8_t m[CHARTER_MAX];
  size_t mlen;
  uint64_t signed_by = 0;
  int e;

  if (len > CHARTER_MAX) return STOA_ETOOBIG;
  memset(c, 0, sizeof *c);
  mp_reader_init(&r, buf, len);
  if ((e = mp_read_array(&r, &n))) return e;
  if (n != 2) return STOA_ECHARTER;
  if ((e = mp_read_bin(&r, &body, &blen))) return e;
  if ((e = charter__body(body, blen, c))) return e;
  if ((e = charter__sigmsg(body, blen, m, &mlen))) return e;
  if ((e = mp_read_array(&r, &nsig))) return e;
  if (nsig != c->nfounders) return STOA_ECHARTER;
  for (uint32_t i = 0; i < nsig; i++) {
    uint32_t pair, j;
    if ((e = mp_read_array(&r, &pair))) return e;
    if (pair != 2) return STOA_ECHARTER;
    if ((e = mp_read_binn(&r, &k, KEY_LEN)) || (e = mp_read_binn(&r, &sig, SIG_LEN))) return e;
    for (j = 0; j < c->nfounders; j++)
      if (memcmp(c->founders[j], k, KEY_LEN) == 0) break;
    if (j == c->nfounders || (signed_by >> j & 1)) return STOA_ECHARTER;
    if (crypto_sign_verify_detached(sig, m, mlen, k) != 0) return STOA_EBADSIG;
    signed_by |= (uint64_t)1 << j;
  }
  if (mp_left(&r)) return STOA_ETRAILING;
  crypto_generichash_blake2b(c->id, HASH_LEN, body, blen, NULL, 0);
  return 0;
}
