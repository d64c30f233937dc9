/*
 * noise.c - Noise revision 34: CipherState, SymmetricState, HandshakeState
 * for 25519_ChaChaPoly_BLAKE2b and the patterns NN, XX and XXpsk3.
 *
 * The section names of the spec are kept in the helper names (mix_hash,
 * mix_key, encrypt_and_hash, ...) so the code can be read beside it.
 */
#include "proto/noise.h"

#include <sodium.h>
#include <string.h>

#include "proto/err.h"

#define NOISE__BLOCKLEN 128 /* BLAKE2b block, for HMAC */

enum { NOISE__HS_NONE = 0, NOISE__HS_RUN, NOISE__HS_DONE, NOISE__HS_SPLIT,
       NOISE__HS_DEAD };

enum { T_END = 0, T_E, T_S, T_EE, T_ES, T_SE, T_PSK };

#define NOISE__MAXMSGS 3
#define NOISE__MAXTOK 5

typedef struct noise__pat {
  const char *name;
  unsigned nmsg;
  bool needs_s, psk;
  uint8_t tok[NOISE__MAXMSGS][NOISE__MAXTOK]; /* T_END-terminated */
} noise__pat;

static const noise__pat noise__pats[] = {
  [NOISE_NN] = {"Noise_NN_25519_ChaChaPoly_BLAKE2b", 2, false, false,
                {{T_E}, {T_E, T_EE}}},
  [NOISE_XX] = {"Noise_XX_25519_ChaChaPoly_BLAKE2b", 3, true, false,
                {{T_E}, {T_E, T_EE, T_S, T_ES}, {T_S, T_SE}}},
  [NOISE_XXPSK3] = {"Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b", 3, true, true,
                    {{T_E}, {T_E, T_EE, T_S, T_ES}, {T_S, T_SE, T_PSK}}},
};

/* libsodium is handed this instead of NULL for empty inputs. */
static const uint8_t noise__empty[1];

/* ---- hash, HMAC, HKDF ---------------------------------------------------- */

/* HMAC-BLAKE2b (RFC 2104 with B = 128) over a || b; klen <= NOISE_HASHLEN.
 * Noise forbids BLAKE2b's own keyed mode here, so it is built by hand. */
static void noise__hmac(uint8_t out[NOISE_HASHLEN], const uint8_t *key,
                        size_t klen, const uint8_t *a, size_t alen,
                        const uint8_t *b, size_t blen) {
  uint8_t pad[NOISE__BLOCKLEN], inner[NOISE_HASHLEN];
  crypto_generichash_blake2b_state st;

  memset(pad, 0x36, sizeof pad);
  for (size_t i = 0; i < klen; i++) pad[i] ^= key[i];
  crypto_generichash_blake2b_init(&st, NULL, 0, NOISE_HASHLEN);
  crypto_generichash_blake2b_update(&st, pad, sizeof pad);
  if (alen) crypto_generichash_blake2b_update(&st, a, alen);
  if (blen) crypto_generichash_blake2b_update(&st, b, blen);
  crypto_generichash_blake2b_final(&st, inner, sizeof inner);

  memset(pad, 0x5c, sizeof pad);
  for (size_t i = 0; i < klen; i++) pad[i] ^= key[i];
  crypto_generichash_blake2b_init(&st, NULL, 0, NOISE_HASHLEN);
  crypto_generichash_blake2b_update(&st, pad, sizeof pad);
  crypto_generichash_blake2b_update(&st, inner, sizeof inner);
  crypto_generichash_blake2b_final(&st, out, NOISE_HASHLEN);

  sodium_memzero(pad, sizeof pad);
  sodium_memzero(inner, sizeof inner);
  sodium_memzero(&st, sizeof st);
}

/* HKDF(ck, ikm) of the spec with two or three outputs (o3 may be NULL).
 * Outputs may alias ck: every read of ck happens before the first write. */
static void noise__hkdf(const uint8_t ck[NOISE_HASHLEN], const uint8_t *ikm,
                        size_t ilen, uint8_t o1[NOISE_HASHLEN],
                        uint8_t o2[NOISE_HASHLEN], uint8_t *o3) {
  uint8_t temp[NOISE_HASHLEN], t1[NOISE_HASHLEN], t2[NOISE_HASHLEN];
  const uint8_t one = 1, two = 2, three = 3;

  noise__hmac(temp, ck, NOISE_HASHLEN, ikm, ilen, NULL, 0);
  noise__hmac(t1, temp, sizeof temp, &one, 1, NULL, 0);
  noise__hmac(t2, temp, sizeof temp, t1, sizeof t1, &two, 1);
  if (o3) noise__hmac(o3, temp, sizeof temp, t2, sizeof t2, &three, 1);
  memcpy(o1, t1, sizeof t1);
  memcpy(o2, t2, sizeof t2);
  sodium_memzero(temp, sizeof temp);
  sodium_memzero(t1, sizeof t1);
  sodium_memzero(t2, sizeof t2);
}

/* ---- CipherState --------------------------------------------------------- */

static void noise__nonce(uint8_t nonce[12], uint64_t n) {
  memset(nonce, 0, 4);
  for (int i = 0; i < 8; i++) nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

static void noise__cs_init_key(noise_cs *cs, const uint8_t k[NOISE_KEYLEN]) {
  memcpy(cs->k, k, NOISE_KEYLEN);
  cs->n = 0;
  cs->has_key = true;
}

/* EncryptWithAd with a key: n + NOISE_TAGLEN bytes to out.  The caller has
 * checked sizes; nonce 2^64-1 is reserved for Rekey. */
static int noise__cs_seal(noise_cs *cs, const uint8_t *ad, size_t adlen,
                          const uint8_t *in, size_t n, uint8_t *out) {
  uint8_t nonce[12];
  unsigned long long clen;

  if (cs->n == UINT64_MAX) return STOA_ESTATE;
  noise__nonce(nonce, cs->n);
  crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, n ? in : noise__empty,
                                            n, adlen ? ad : noise__empty, adlen,
                                            NULL, nonce, cs->k);
  cs->n++;
  return 0;
}

/* DecryptWithAd with a key: n - NOISE_TAGLEN bytes to out (n >= TAGLEN).
 * On failure the nonce stays where it was. */
static int noise__cs_open(noise_cs *cs, const uint8_t *ad, size_t adlen,
                          const uint8_t *in, size_t n, uint8_t *out) {
  uint8_t nonce[12], dummy[1];
  unsigned long long mlen;

  if (cs->n == UINT64_MAX) return STOA_ESTATE;
  noise__nonce(nonce, cs->n);
  if (crypto_aead_chacha20poly1305_ietf_decrypt(
          n > NOISE_TAGLEN ? out : dummy, &mlen, NULL, in, n,
          adlen ? ad : noise__empty, adlen, nonce, cs->k) != 0)
    return STOA_EDECRYPT;
  cs->n++;
  return 0;
}

int noise_cs_encrypt(noise_cs *cs, const uint8_t *ad, size_t adlen,
                     const uint8_t *in, size_t n, uint8_t *out, size_t cap,
                     size_t *outlen) {
  int r;

  if (!cs || !out || !outlen || (n && !in) || (adlen && !ad)) return STOA_EINVAL;
  if (!cs->has_key) return STOA_ESTATE;
  if (n > NOISE_MAX_PAYLOAD || cap < n + NOISE_TAGLEN) return STOA_ETOOBIG;
  if ((r = noise__cs_seal(cs, ad, adlen, in, n, out)) != 0) return r;
  *outlen = n + NOISE_TAGLEN;
  return 0;
}

int noise_cs_decrypt(noise_cs *cs, const uint8_t *ad, size_t adlen,
                     const uint8_t *in, size_t n, uint8_t *out, size_t cap,
                     size_t *outlen) {
  int r;

  if (!cs || !outlen || (n && !in) || (adlen && !ad) || (cap && !out))
    return STOA_EINVAL;
  if (!cs->has_key) return STOA_ESTATE;
  if (n > NOISE_MAX_MSG) return STOA_ETOOBIG;
  if (n < NOISE_TAGLEN) return STOA_EDECRYPT;
  if (cap < n - NOISE_TAGLEN) return STOA_ETOOBIG;
  if ((r = noise__cs_open(cs, ad, adlen, in, n, out)) != 0) return r;
  *outlen = n - NOISE_TAGLEN;
  return 0;
}

int noise_cs_rekey(noise_cs *cs) {
  uint8_t zeros[NOISE_KEYLEN] = {0}, out[NOISE_KEYLEN + NOISE_TAGLEN];
  uint8_t nonce[12];
  unsigned long long clen;

  if (!cs) return STOA_EINVAL;
  if (!cs->has_key) return STOA_ESTATE;
  noise__nonce(nonce, UINT64_MAX);
  crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, zeros, sizeof zeros,
                                            noise__empty, 0, NULL, nonce, cs->k);
  memcpy(cs->k, out, NOISE_KEYLEN);
  sodium_memzero(out, sizeof out);
  return 0;
}

void noise_cs_wipe(noise_cs *cs) {
  if (cs) sodium_memzero(cs, sizeof *cs);
}

/* ---- SymmetricState ------------------------------------------------------ */

static void noise__mix_hash(noise_hs *hs, const uint8_t *data, size_t len) {
  crypto_generichash_blake2b_state st;

  crypto_generichash_blake2b_init(&st, NULL, 0, NOISE_HASHLEN);
  crypto_generichash_blake2b_update(&st, hs->h, NOISE_HASHLEN);
  if (len) crypto_generichash_blake2b_update(&st, data, len);
  crypto_generichash_blake2b_final(&st, hs->h, NOISE_HASHLEN);
}

static void noise__mix_key(noise_hs *hs, const uint8_t *ikm, size_t ilen) {
  uint8_t tk[NOISE_HASHLEN];

  noise__hkdf(hs->ck, ikm, ilen, hs->ck, tk, NULL);
  noise__cs_init_key(&hs->cs, tk); /* truncated to NOISE_KEYLEN */
  sodium_memzero(tk, sizeof tk);
}

static void noise__mix_key_and_hash(noise_hs *hs, const uint8_t *ikm,
                                    size_t ilen) {
  uint8_t th[NOISE_HASHLEN], tk[NOISE_HASHLEN];

  noise__hkdf(hs->ck, ikm, ilen, hs->ck, th, tk);
  noise__mix_hash(hs, th, sizeof th);
  noise__cs_init_key(&hs->cs, tk);
  sodium_memzero(th, sizeof th);
  sodium_memzero(tk, sizeof tk);
}

/* Writes n (+ NOISE_TAGLEN once keyed) bytes to out; sizes checked before. */
static int noise__encrypt_and_hash(noise_hs *hs, const uint8_t *in, size_t n,
                                   uint8_t *out, size_t *written) {
  int r;

  if (hs->cs.has_key) {
    if ((r = noise__cs_seal(&hs->cs, hs->h, NOISE_HASHLEN, in, n, out)) != 0)
      return r;
    n += NOISE_TAGLEN;
  } else if (n) {
    memcpy(out, in, n);
  }
  noise__mix_hash(hs, out, n);
  *written = n;
  return 0;
}

/* Reads n bytes of in (tag included once keyed); out must not overlap in. */
static int noise__decrypt_and_hash(noise_hs *hs, const uint8_t *in, size_t n,
                                   uint8_t *out) {
  if (hs->cs.has_key) {
    if (noise__cs_open(&hs->cs, hs->h, NOISE_HASHLEN, in, n, out) != 0)
      return STOA_EHANDSHAKE;
  } else if (n) {
    memcpy(out, in, n);
  }
  noise__mix_hash(hs, in, n);
  return 0;
}

/* ---- HandshakeState ------------------------------------------------------ */

/* A failed handshake keeps nothing: a half-keyed state must never be used. */
static void noise__hs_die(noise_hs *hs) {
  sodium_memzero(hs, sizeof *hs);
  hs->state = NOISE__HS_DEAD;
}

/* Bytes the next message takes besides its payload, found by walking its
 * tokens the way write/read will, so that sizes are checked up front. */
static size_t noise__overhead(const noise_hs *hs) {
  const noise__pat *p = &noise__pats[hs->pattern];
  bool keyed = hs->cs.has_key;
  size_t o = 0;

  for (const uint8_t *t = p->tok[hs->msg]; *t != T_END; t++) {
    switch (*t) {
    case T_E:
      o += NOISE_DHLEN;
      if (p->psk) keyed = true;
      break;
    case T_S: o += NOISE_DHLEN + (keyed ? NOISE_TAGLEN : 0); break;
    default: keyed = true; break;
    }
  }
  return o + (keyed ? NOISE_TAGLEN : 0);
}

/* MixKey(DH(priv, pub)); an all-zero result (low-order point) fails. */
static int noise__mix_dh(noise_hs *hs, const uint8_t *priv, const uint8_t *pub) {
  uint8_t dh[NOISE_DHLEN];
  int r = 0;

  if (crypto_scalarmult(dh, priv, pub) != 0) {
    r = STOA_EHANDSHAKE;
    goto out;
  }
  noise__mix_key(hs, dh, sizeof dh);
out:
  sodium_memzero(dh, sizeof dh);
  return r;
}

/* ee, es, se: which of our keys meets which of theirs depends on the role. */
static int noise__token_dh(noise_hs *hs, int tok) {
  bool ini = hs->initiator;

  switch (tok) {
  case T_EE:
    if (!hs->has_e || !hs->has_re) return STOA_EHANDSHAKE;
    return noise__mix_dh(hs, hs->e_priv, hs->re);
  case T_ES:
    if (ini ? !hs->has_e || !hs->has_rs : !hs->has_s || !hs->has_re)
      return STOA_EHANDSHAKE;
    return ini ? noise__mix_dh(hs, hs->e_priv, hs->rs)
               : noise__mix_dh(hs, hs->s_priv, hs->re);
  case T_SE:
    if (ini ? !hs->has_s || !hs->has_re : !hs->has_e || !hs->has_rs)
      return STOA_EHANDSHAKE;
    return ini ? noise__mix_dh(hs, hs->s_priv, hs->re)
               : noise__mix_dh(hs, hs->e_priv, hs->rs);
  case T_PSK:
    noise__mix_key_and_hash(hs, hs->psk, NOISE_PSKLEN);
    return 0;
  default:
    return STOA_EHANDSHAKE;
  }
}

int noise_hs_init(noise_hs *hs, int pattern, bool initiator,
                  const uint8_t *prologue, size_t plen, const uint8_t *s_priv,
                  const uint8_t *psk) {
  const noise__pat *p;
  size_t nlen;

  if (!hs) return STOA_EINVAL;
  sodium_memzero(hs, sizeof *hs);
  if (pattern < NOISE_NN || pattern > NOISE_XXPSK3) return STOA_EINVAL;
  p = &noise__pats[pattern];
  if ((s_priv != NULL) != p->needs_s || (psk != NULL) != p->psk ||
      (plen && !prologue) || plen > NOISE_MAX_MSG)
    return STOA_EINVAL;
  if (s_priv) {
    memcpy(hs->s_priv, s_priv, NOISE_DHLEN);
    if (crypto_scalarmult_base(hs->s_pub, hs->s_priv) != 0) {
      sodium_memzero(hs, sizeof *hs);
      return STOA_EINVAL;
    }
    hs->has_s = true;
  }
  if (psk) {
    memcpy(hs->psk, psk, NOISE_PSKLEN);
    hs->has_psk = true;
  }
  hs->pattern = pattern;
  hs->initiator = initiator;

  /* InitializeSymmetric: every name here fits in HASHLEN, so h = name,
   * zero-padded, and ck = h. */
  nlen = strlen(p->name);
  memcpy(hs->h, p->name, nlen);
  memcpy(hs->ck, hs->h, NOISE_HASHLEN);
  noise__mix_hash(hs, prologue, plen);
  /* No pre-messages in NN or XX. */
  hs->state = NOISE__HS_RUN;
  return 0;
}

int noise_hs_set_ephemeral(noise_hs *hs, const uint8_t e_priv[NOISE_DHLEN]) {
  if (!hs || !e_priv) return STOA_EINVAL;
  if (hs->state != NOISE__HS_RUN || hs->has_e) return STOA_ESTATE;
  memcpy(hs->e_priv, e_priv, NOISE_DHLEN);
  if (crypto_scalarmult_base(hs->e_pub, hs->e_priv) != 0) {
    sodium_memzero(hs->e_priv, NOISE_DHLEN);
    return STOA_EINVAL;
  }
  hs->has_e = true;
  return 0;
}

bool noise_hs_done(const noise_hs *hs) {
  return hs && (hs->state == NOISE__HS_DONE || hs->state == NOISE__HS_SPLIT);
}

bool noise_hs_my_turn(const noise_hs *hs) {
  return hs && hs->state == NOISE__HS_RUN && ((hs->msg % 2 == 0) == hs->initiator);
}

static void noise__hs_advance(noise_hs *hs) {
  if (++hs->msg == noise__pats[hs->pattern].nmsg) hs->state = NOISE__HS_DONE;
}

int noise_hs_write(noise_hs *hs, const uint8_t *payload, size_t plen,
                   uint8_t *out, size_t cap, size_t *outlen) {
  const noise__pat *p;
  size_t need, off = 0, w;
  int r = 0;

  if (!hs || !out || !outlen || (plen && !payload)) return STOA_EINVAL;
  if (!noise_hs_my_turn(hs)) return STOA_ESTATE;
  p = &noise__pats[hs->pattern];
  need = noise__overhead(hs);
  if (plen > NOISE_MAX_MSG - need || plen + need > cap) return STOA_ETOOBIG;

  for (const uint8_t *t = p->tok[hs->msg]; *t != T_END; t++) {
    switch (*t) {
    case T_E:
      if (!hs->has_e) {
        randombytes_buf(hs->e_priv, NOISE_DHLEN);
        if (crypto_scalarmult_base(hs->e_pub, hs->e_priv) != 0) {
          r = STOA_EHANDSHAKE;
          goto out;
        }
        hs->has_e = true;
      }
      memcpy(out + off, hs->e_pub, NOISE_DHLEN);
      off += NOISE_DHLEN;
      noise__mix_hash(hs, hs->e_pub, NOISE_DHLEN);
      if (p->psk) noise__mix_key(hs, hs->e_pub, NOISE_DHLEN);
      break;
    case T_S:
      if ((r = noise__encrypt_and_hash(hs, hs->s_pub, NOISE_DHLEN, out + off,
                                       &w)) != 0)
        goto out;
      off += w;
      break;
    default:
      if ((r = noise__token_dh(hs, *t)) != 0) goto out;
      break;
    }
  }
  if ((r = noise__encrypt_and_hash(hs, payload, plen, out + off, &w)) != 0)
    goto out;
  off += w;
  *outlen = off;
  noise__hs_advance(hs);
out:
  if (r) noise__hs_die(hs);
  return r;
}

int noise_hs_read(noise_hs *hs, const uint8_t *msg, size_t mlen,
                  uint8_t *payload, size_t cap, size_t *plen) {
  const noise__pat *p;
  uint8_t rs[NOISE_DHLEN];
  size_t need, off = 0, n;
  int r = 0;

  if (!hs || !plen || (mlen && !msg) || (cap && !payload)) return STOA_EINVAL;
  if (hs->state != NOISE__HS_RUN || noise_hs_my_turn(hs)) return STOA_ESTATE;
  if (mlen > NOISE_MAX_MSG) return STOA_ETOOBIG;
  p = &noise__pats[hs->pattern];
  need = noise__overhead(hs);
  if (mlen >= need && mlen - need > cap) return STOA_ETOOBIG;
  if (mlen < need) {
    r = STOA_EHANDSHAKE;
    goto out;
  }

  for (const uint8_t *t = p->tok[hs->msg]; *t != T_END; t++) {
    switch (*t) {
    case T_E:
      memcpy(hs->re, msg + off, NOISE_DHLEN);
      hs->has_re = true;
      off += NOISE_DHLEN;
      noise__mix_hash(hs, hs->re, NOISE_DHLEN);
      if (p->psk) noise__mix_key(hs, hs->re, NOISE_DHLEN);
      break;
    case T_S:
      n = NOISE_DHLEN + (hs->cs.has_key ? NOISE_TAGLEN : 0);
      if ((r = noise__decrypt_and_hash(hs, msg + off, n, rs)) != 0) goto out;
      memcpy(hs->rs, rs, NOISE_DHLEN);
      hs->has_rs = true;
      off += n;
      break;
    default:
      if ((r = noise__token_dh(hs, *t)) != 0) goto out;
      break;
    }
  }
  n = mlen - off;
  if ((r = noise__decrypt_and_hash(hs, msg + off, n, payload)) != 0) goto out;
  *plen = n - (hs->cs.has_key ? NOISE_TAGLEN : 0);
  noise__hs_advance(hs);
out:
  sodium_memzero(rs, sizeof rs);
  if (r) noise__hs_die(hs);
  return r;
}

const uint8_t *noise_hs_remote_static(const noise_hs *hs) {
  return hs && hs->has_rs ? hs->rs : NULL;
}

int noise_hs_hash(const noise_hs *hs, uint8_t out[NOISE_HASHLEN]) {
  if (!hs || !out) return STOA_EINVAL;
  if (!noise_hs_done(hs)) return STOA_ESTATE;
  memcpy(out, hs->h, NOISE_HASHLEN);
  return 0;
}

int noise_hs_split(noise_hs *hs, noise_cs *send, noise_cs *recv) {
  uint8_t k1[NOISE_HASHLEN], k2[NOISE_HASHLEN];

  if (!hs || !send || !recv || send == recv) return STOA_EINVAL;
  if (hs->state != NOISE__HS_DONE) return STOA_ESTATE;
  noise__hkdf(hs->ck, noise__empty, 0, k1, k2, NULL);
  noise__cs_init_key(send, hs->initiator ? k1 : k2);
  noise__cs_init_key(recv, hs->initiator ? k2 : k1);
  sodium_memzero(k1, sizeof k1);
  sodium_memzero(k2, sizeof k2);

  /* Keep only what is public: h (channel binding) and rs. */
  sodium_memzero(&hs->cs, sizeof hs->cs);
  sodium_memzero(hs->ck, sizeof hs->ck);
  sodium_memzero(hs->s_priv, sizeof hs->s_priv);
  sodium_memzero(hs->s_pub, sizeof hs->s_pub);
  sodium_memzero(hs->e_priv, sizeof hs->e_priv);
  sodium_memzero(hs->e_pub, sizeof hs->e_pub);
  sodium_memzero(hs->re, sizeof hs->re);
  sodium_memzero(hs->psk, sizeof hs->psk);
  hs->has_s = hs->has_e = hs->has_re = hs->has_psk = false;
  hs->state = NOISE__HS_SPLIT;
  return 0;
}

void noise_hs_wipe(noise_hs *hs) {
  if (hs) sodium_memzero(hs, sizeof *hs);
}

/* ---- Ed25519 node keys --------------------------------------------------- */

/* Checks the converted private key against the public half of ed_sk, so a
 * damaged key file fails here and not as a puzzling peer rejection. */
int noise_key_from_ed25519(const uint8_t ed_sk[64], uint8_t x_priv[NOISE_DHLEN]) {
  uint8_t pub[NOISE_DHLEN], want[NOISE_DHLEN];
  int r = 0;

  if (!ed_sk || !x_priv) return STOA_EINVAL;
  if (crypto_sign_ed25519_sk_to_curve25519(x_priv, ed_sk) != 0 ||
      crypto_sign_ed25519_pk_to_curve25519(want, ed_sk + 32) != 0 ||
      crypto_scalarmult_base(pub, x_priv) != 0 ||
      sodium_memcmp(pub, want, NOISE_DHLEN) != 0) {
    sodium_memzero(x_priv, NOISE_DHLEN);
    r = STOA_EINVAL;
  }
  sodium_memzero(pub, sizeof pub);
  return r;
}

int noise_pub_from_ed25519(const uint8_t ed_pk[32], uint8_t x_pub[NOISE_DHLEN]) {
  if (!ed_pk || !x_pub) return STOA_EINVAL;
  if (crypto_sign_ed25519_pk_to_curve25519(x_pub, ed_pk) != 0) return STOA_EINVAL;
  return 0;
}
