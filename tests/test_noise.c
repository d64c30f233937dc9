/*
 * test_noise.c - Noise: the published cacophony vectors for NN, XX and
 * XXpsk3, then live handshakes, tampering, wrong prologues and psks, size
 * limits and state errors.
 *
 * Vectors: $STOA_TEST_VECTORS/noise-25519-chachapoly-blake2b.json
 * (default directory tests/vectors).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "proto/err.h"
#include "proto/noise.h"

#define VEC_FILE "noise-25519-chachapoly-blake2b.json"
#define HEXMAX 4096

static uint8_t big_a[NOISE_MAX_MSG + 64], big_b[NOISE_MAX_MSG + 64];
static uint8_t big_c[NOISE_MAX_MSG + 64];

/* ---- vectors ------------------------------------------------------------- */

/* Decodes the hex string field `key` of v into out; returns its length, or
 * (size_t)-1 when the field is absent. */
static size_t hex_field(const json_t *v, const char *key, uint8_t *out,
                        size_t cap) {
  const json_t *f = json_object_get(v, key);
  size_t n = 0;

  if (!f) return (size_t)-1;
  assert_true(json_is_string(f));
  const char *s = json_string_value(f);
  assert_int_equal(sodium_hex2bin(out, cap, s, strlen(s), NULL, &n, NULL), 0);
  return n;
}

static size_t hex_str(const json_t *f, uint8_t *out, size_t cap) {
  size_t n = 0;
  assert_true(json_is_string(f));
  const char *s = json_string_value(f);
  assert_int_equal(sodium_hex2bin(out, cap, s, strlen(s), NULL, &n, NULL), 0);
  return n;
}

/* The first psk of a psks array, or NULL when absent. */
static const uint8_t *psk_field(const json_t *v, const char *key,
                                uint8_t out[NOISE_PSKLEN]) {
  const json_t *a = json_object_get(v, key);
  if (!a) return NULL;
  assert_true(json_is_array(a));
  assert_int_equal(json_array_size(a), 1); /* one psk token in XXpsk3 */
  assert_int_equal(hex_str(json_array_get(a, 0), out, NOISE_PSKLEN), NOISE_PSKLEN);
  return out;
}

/* Sets up one side of a vector: prologue, static, ephemeral, psk. */
static void vec_side(const json_t *v, noise_hs *hs, int pattern, bool ini) {
  const char *pre = ini ? "init_" : "resp_";
  char key[32];
  uint8_t pro[HEXMAX], s[NOISE_DHLEN], e[NOISE_DHLEN], psk[NOISE_PSKLEN];
  size_t plen, slen;

  snprintf(key, sizeof key, "%sprologue", pre);
  plen = hex_field(v, key, pro, sizeof pro);
  assert_true(plen != (size_t)-1);
  snprintf(key, sizeof key, "%sstatic", pre);
  slen = hex_field(v, key, s, sizeof s);
  assert_true(slen == (size_t)-1 || slen == NOISE_DHLEN);
  snprintf(key, sizeof key, "%spsks", pre);
  const uint8_t *pk = psk_field(v, key, psk);
  assert_int_equal(noise_hs_init(hs, pattern, ini, pro, plen,
                                 slen == NOISE_DHLEN ? s : NULL, pk),
                   0);
  snprintf(key, sizeof key, "%sephemeral", pre);
  assert_int_equal(hex_field(v, key, e, sizeof e), NOISE_DHLEN);
  assert_int_equal(noise_hs_set_ephemeral(hs, e), 0);
}

/* The remote static a side learned must be the X25519 public key of the
 * other side's static private key. */
static void check_remote(const noise_hs *hs, const json_t *v, const char *key) {
  uint8_t s[NOISE_DHLEN], pub[NOISE_DHLEN];
  if (hex_field(v, key, s, sizeof s) == (size_t)-1) {
    assert_null(noise_hs_remote_static(hs));
    return;
  }
  assert_int_equal(crypto_scalarmult_base(pub, s), 0);
  assert_non_null(noise_hs_remote_static(hs));
  assert_memory_equal(noise_hs_remote_static(hs), pub, NOISE_DHLEN);
}

/*
 * Runs one vector.  Messages alternate initiator -> responder, responder ->
 * initiator from the first to the last, handshake and transport alike (the
 * cacophony format); each ciphertext must match byte for byte and decrypt
 * to the payload on the other side.
 */
static void run_vector(const json_t *v, int pattern) {
  noise_hs ini, resp;
  noise_cs i_tx, i_rx, r_tx, r_rx;
  uint8_t payload[HEXMAX], ct[HEXMAX], out[HEXMAX], back[HEXMAX];
  uint8_t hh[NOISE_HASHLEN], h1[NOISE_HASHLEN], h2[NOISE_HASHLEN];
  const json_t *msgs = json_object_get(v, "messages");
  size_t i, n = json_array_size(msgs), plen, clen, olen, blen;
  bool split = false;

  vec_side(v, &ini, pattern, true);
  vec_side(v, &resp, pattern, false);
  assert_true(json_is_array(msgs));
  assert_true(n > 0);
  assert_int_equal(hex_field(v, "handshake_hash", hh, sizeof hh), NOISE_HASHLEN);

  for (i = 0; i < n; i++) {
    const json_t *m = json_array_get(msgs, i);
    bool from_ini = i % 2 == 0;
    plen = hex_str(json_object_get(m, "payload"), payload, sizeof payload);
    clen = hex_str(json_object_get(m, "ciphertext"), ct, sizeof ct);

    if (!noise_hs_done(&ini)) {
      noise_hs *w = from_ini ? &ini : &resp, *r = from_ini ? &resp : &ini;
      assert_true(noise_hs_my_turn(w));
      assert_false(noise_hs_my_turn(r));
      assert_int_equal(noise_hs_write(w, payload, plen, out, sizeof out, &olen), 0);
      assert_int_equal(olen, clen);
      assert_memory_equal(out, ct, clen);
      assert_int_equal(noise_hs_read(r, out, olen, back, sizeof back, &blen), 0);
      assert_int_equal(blen, plen);
      if (plen) assert_memory_equal(back, payload, plen);
      continue;
    }
    if (!split) {
      assert_true(noise_hs_done(&resp));
      assert_int_equal(noise_hs_hash(&ini, h1), 0);
      assert_int_equal(noise_hs_hash(&resp, h2), 0);
      assert_memory_equal(h1, hh, NOISE_HASHLEN);
      assert_memory_equal(h2, hh, NOISE_HASHLEN);
      check_remote(&ini, v, "resp_static");
      check_remote(&resp, v, "init_static");
      assert_int_equal(noise_hs_split(&ini, &i_tx, &i_rx), 0);
      assert_int_equal(noise_hs_split(&resp, &r_tx, &r_rx), 0);
      split = true;
    }
    noise_cs *tx = from_ini ? &i_tx : &r_tx, *rx = from_ini ? &r_rx : &i_rx;
    assert_int_equal(noise_cs_encrypt(tx, NULL, 0, payload, plen, out, sizeof out, &olen), 0);
    assert_int_equal(olen, clen);
    assert_memory_equal(out, ct, clen);
    assert_int_equal(noise_cs_decrypt(rx, NULL, 0, out, olen, back, sizeof back, &blen), 0);
    assert_int_equal(blen, plen);
    if (plen) assert_memory_equal(back, payload, plen);
  }
  assert_true(split); /* every vector here has transport messages */
  noise_hs_wipe(&ini);
  noise_hs_wipe(&resp);
  noise_cs_wipe(&i_tx);
  noise_cs_wipe(&i_rx);
  noise_cs_wipe(&r_tx);
  noise_cs_wipe(&r_rx);
}

static void test_vectors(void **state) {
  static const struct { const char *name; int pattern; } pats[] = {
    {"Noise_NN_25519_ChaChaPoly_BLAKE2b", NOISE_NN},
    {"Noise_XX_25519_ChaChaPoly_BLAKE2b", NOISE_XX},
    {"Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b", NOISE_XXPSK3},
  };
  size_t counts[3] = {0}, total, k, i;
  const char *dir = getenv("STOA_TEST_VECTORS");
  char path[4096];
  json_error_t jerr;
  json_t *root, *vecs;

  (void)state;
  if (!dir || !*dir) dir = "tests/vectors";
  snprintf(path, sizeof path, "%s/%s", dir, VEC_FILE);
  root = json_load_file(path, 0, &jerr);
  if (!root) fail_msg("cannot load %s: %s (line %d)", path, jerr.text, jerr.line);
  vecs = json_object_get(root, "vectors");
  assert_true(json_is_array(vecs));
  total = json_array_size(vecs);
  for (i = 0; i < total; i++) {
    const json_t *v = json_array_get(vecs, i);
    const char *name = json_string_value(json_object_get(v, "protocol_name"));
    assert_non_null(name);
    for (k = 0; k < 3; k++) {
      if (strcmp(name, pats[k].name) != 0) continue;
      run_vector(v, pats[k].pattern);
      counts[k]++;
    }
  }
  for (k = 0; k < 3; k++)
    printf("noise vectors: %s: %zu passed\n", pats[k].name, counts[k]);
  printf("noise vectors: %zu of %zu in the file are of other patterns\n",
         total - counts[0] - counts[1] - counts[2], total);
  for (k = 0; k < 3; k++) assert_true(counts[k] > 0);
  json_decref(root);
}

/* ---- live handshakes ----------------------------------------------------- */

typedef struct peer {
  uint8_t ed_pk[32], ed_sk[64], x_priv[NOISE_DHLEN];
  noise_hs hs;
  noise_cs tx, rx;
} peer;

static void peer_new(peer *p) {
  memset(p, 0, sizeof *p);
  assert_int_equal(crypto_sign_keypair(p->ed_pk, p->ed_sk), 0);
  assert_int_equal(noise_key_from_ed25519(p->ed_sk, p->x_priv), 0);
}

static void peer_wipe(peer *p) {
  noise_hs_wipe(&p->hs);
  noise_cs_wipe(&p->tx);
  noise_cs_wipe(&p->rx);
  sodium_memzero(p, sizeof *p);
}

/* Drives a handshake to its end, checking each payload arrives; returns 0
 * or the first error of a read (the reading side is then dead). */
static int drive(noise_hs *a, noise_hs *b) {
  uint8_t msg[512], pay[64], got[64];
  size_t mlen, glen;
  int r, i = 0;

  while (!noise_hs_done(a) || !noise_hs_done(b)) {
    noise_hs *w = noise_hs_my_turn(a) ? a : b, *rd = w == a ? b : a;
    assert_true(noise_hs_my_turn(w));
    memset(pay, 'a' + i, sizeof pay);
    assert_int_equal(noise_hs_write(w, pay, (size_t)i * 7, msg, sizeof msg, &mlen), 0);
    if ((r = noise_hs_read(rd, msg, mlen, got, sizeof got, &glen)) != 0) return r;
    assert_int_equal(glen, (size_t)i * 7);
    if (glen) assert_memory_equal(got, pay, glen);
    i++;
  }
  return 0;
}

static void xx_pair(peer *a, peer *b, const char *pa, const char *pb) {
  peer_new(a);
  peer_new(b);
  assert_int_equal(noise_hs_init(&a->hs, NOISE_XX, true, (const uint8_t *)pa,
                                 strlen(pa), a->x_priv, NULL), 0);
  assert_int_equal(noise_hs_init(&b->hs, NOISE_XX, false, (const uint8_t *)pb,
                                 strlen(pb), b->x_priv, NULL), 0);
}

static void xx_connected(peer *a, peer *b) {
  xx_pair(a, b, "fed", "fed");
  assert_int_equal(drive(&a->hs, &b->hs), 0);
  assert_int_equal(noise_hs_split(&a->hs, &a->tx, &a->rx), 0);
  assert_int_equal(noise_hs_split(&b->hs, &b->tx, &b->rx), 0);
}

/* Sends n bytes from s to r through the transport, checking they arrive. */
static void send_ok(peer *s, peer *r, size_t n) {
  size_t clen, plen;
  randombytes_buf(big_a, n);
  assert_int_equal(noise_cs_encrypt(&s->tx, NULL, 0, big_a, n, big_b, sizeof big_b, &clen), 0);
  assert_int_equal(clen, n + NOISE_TAGLEN);
  assert_int_equal(noise_cs_decrypt(&r->rx, NULL, 0, big_b, clen, big_c, sizeof big_c, &plen), 0);
  assert_int_equal(plen, n);
  if (n) assert_memory_equal(big_c, big_a, n);
}

static void test_xx_ed25519(void **state) {
  peer a, b;
  uint8_t x[NOISE_DHLEN], ha[NOISE_HASHLEN], hb[NOISE_HASHLEN];
  uint8_t buf[64];
  size_t n, m;

  (void)state;
  xx_pair(&a, &b, "federation id", "federation id");
  assert_null(noise_hs_remote_static(&a.hs));
  assert_int_equal(drive(&a.hs, &b.hs), 0);
  assert_true(noise_hs_done(&a.hs));
  assert_true(noise_hs_done(&b.hs));
  assert_false(noise_hs_my_turn(&a.hs));
  assert_false(noise_hs_my_turn(&b.hs));

  /* What the daemon checks after the handshake. */
  assert_int_equal(noise_pub_from_ed25519(b.ed_pk, x), 0);
  assert_non_null(noise_hs_remote_static(&a.hs));
  assert_memory_equal(noise_hs_remote_static(&a.hs), x, NOISE_DHLEN);
  assert_int_equal(noise_pub_from_ed25519(a.ed_pk, x), 0);
  assert_memory_equal(noise_hs_remote_static(&b.hs), x, NOISE_DHLEN);
  assert_memory_not_equal(noise_hs_remote_static(&a.hs), x, NOISE_DHLEN);

  assert_int_equal(noise_hs_hash(&a.hs, ha), 0);
  assert_int_equal(noise_hs_hash(&b.hs, hb), 0);
  assert_memory_equal(ha, hb, NOISE_HASHLEN);

  assert_int_equal(noise_hs_split(&a.hs, &a.tx, &a.rx), 0);
  assert_int_equal(noise_hs_split(&b.hs, &b.tx, &b.rx), 0);
  assert_int_equal(noise_hs_split(&a.hs, &a.tx, &a.rx), STOA_ESTATE);
  /* After split: secrets gone, hash and remote static still there. */
  assert_int_equal(noise_hs_hash(&a.hs, ha), 0);
  assert_memory_equal(ha, hb, NOISE_HASHLEN);
  assert_memory_equal(noise_hs_remote_static(&b.hs), x, NOISE_DHLEN);
  assert_true(sodium_is_zero(a.hs.ck, sizeof a.hs.ck));
  assert_true(sodium_is_zero(a.hs.s_priv, sizeof a.hs.s_priv));
  assert_true(sodium_is_zero(a.hs.e_priv, sizeof a.hs.e_priv));

  send_ok(&a, &b, 0);
  send_ok(&b, &a, 1);
  send_ok(&a, &b, NOISE_MAX_PAYLOAD);
  send_ok(&b, &a, 1000);

  /* Associated data is authenticated. */
  assert_int_equal(noise_cs_encrypt(&a.tx, (const uint8_t *)"ad", 2,
                                    (const uint8_t *)"hi", 2, buf, sizeof buf, &n), 0);
  assert_int_equal(noise_cs_decrypt(&b.rx, (const uint8_t *)"ax", 2, buf, n,
                                    buf + 32, 32, &m), STOA_EDECRYPT);
  assert_int_equal(noise_cs_decrypt(&b.rx, (const uint8_t *)"ad", 2, buf, n,
                                    buf + 32, 32, &m), 0);
  assert_memory_equal(buf + 32, "hi", 2);

  /* In-place encryption and decryption. */
  memcpy(buf, "in place", 8);
  assert_int_equal(noise_cs_encrypt(&b.tx, NULL, 0, buf, 8, buf, sizeof buf, &n), 0);
  assert_memory_not_equal(buf, "in place", 8);
  assert_int_equal(noise_cs_decrypt(&a.rx, NULL, 0, buf, n, buf, sizeof buf, &m), 0);
  assert_int_equal(m, 8);
  assert_memory_equal(buf, "in place", 8);

  /* Rekey on both ends keeps the stream; on one end only breaks it. */
  memcpy(x, a.tx.k, sizeof x);
  assert_int_equal(noise_cs_rekey(&a.tx), 0);
  assert_memory_not_equal(a.tx.k, x, sizeof x);
  assert_int_equal(noise_cs_rekey(&b.rx), 0);
  send_ok(&a, &b, 100);
  assert_int_equal(noise_cs_rekey(&b.tx), 0);
  assert_int_equal(noise_cs_encrypt(&b.tx, NULL, 0, buf, 8, buf, sizeof buf, &n), 0);
  assert_int_equal(noise_cs_decrypt(&a.rx, NULL, 0, buf, n, buf, sizeof buf, &m),
                   STOA_EDECRYPT);

  /* Two sessions between the same keys do not share keys (fresh e). */
  peer c, d;
  xx_connected(&c, &d);
  assert_memory_not_equal(c.tx.k, a.tx.k, NOISE_KEYLEN);
  peer_wipe(&a);
  peer_wipe(&b);
  peer_wipe(&c);
  peer_wipe(&d);
}

static void test_tamper_transport(void **state) {
  peer a, b;
  uint8_t ct[128], pt[128];
  size_t n, m;
  uint64_t nonce;

  (void)state;
  xx_connected(&a, &b);
  assert_int_equal(noise_cs_encrypt(&a.tx, NULL, 0, (const uint8_t *)"hello", 5,
                                    ct, sizeof ct, &n), 0);
  nonce = b.rx.n;
  for (size_t i = 0; i < n; i++) { /* every byte, tag included */
    ct[i] ^= 0x01;
    assert_int_equal(noise_cs_decrypt(&b.rx, NULL, 0, ct, n, pt, sizeof pt, &m),
                     STOA_EDECRYPT);
    ct[i] ^= 0x01;
  }
  assert_int_equal(noise_cs_decrypt(&b.rx, NULL, 0, ct, n - 1, pt, sizeof pt, &m),
                   STOA_EDECRYPT);
  assert_int_equal(noise_cs_decrypt(&b.rx, NULL, 0, ct, NOISE_TAGLEN - 1, pt,
                                    sizeof pt, &m), STOA_EDECRYPT);
  assert_int_equal(b.rx.n, nonce);
  /* The state is still usable: the genuine message decrypts. */
  assert_int_equal(noise_cs_decrypt(&b.rx, NULL, 0, ct, n, pt, sizeof pt, &m), 0);
  assert_int_equal(m, 5);
  assert_memory_equal(pt, "hello", 5);
  /* A replay fails: the nonce moved on. */
  assert_int_equal(noise_cs_decrypt(&b.rx, NULL, 0, ct, n, pt, sizeof pt, &m),
                   STOA_EDECRYPT);
  send_ok(&a, &b, 3); /* still in step: the replay did not advance it */
  /* Messages are bound to their direction. */
  assert_int_equal(noise_cs_encrypt(&a.tx, NULL, 0, (const uint8_t *)"x", 1,
                                    ct, sizeof ct, &n), 0);
  assert_int_equal(noise_cs_decrypt(&a.rx, NULL, 0, ct, n, pt, sizeof pt, &m),
                   STOA_EDECRYPT);
  peer_wipe(&a);
  peer_wipe(&b);
}

static void test_tamper_handshake(void **state) {
  /* Flip one bit in each handshake message in turn: the reader must fail
   * and be dead afterwards.  Message 0 of XX is unauthenticated (only e),
   * so a flip there surfaces at the initiator reading message 1. */
  (void)state;
  for (int target = 0; target < 3; target++) {
    peer a, b;
    uint8_t msg[512], got[64];
    size_t mlen, glen;
    int r = 0;

    xx_pair(&a, &b, "p", "p");
    for (int i = 0; i < 3 && r == 0; i++) {
      noise_hs *w = i % 2 == 0 ? &a.hs : &b.hs, *rd = i % 2 == 0 ? &b.hs : &a.hs;
      assert_int_equal(noise_hs_write(w, (const uint8_t *)"pay", 3, msg, sizeof msg, &mlen), 0);
      if (i == target) msg[target == 0 ? 5 : mlen - 20] ^= 0x80;
      r = noise_hs_read(rd, msg, mlen, got, sizeof got, &glen);
      if (r) {
        assert_int_equal(r, STOA_EHANDSHAKE);
        assert_false(noise_hs_my_turn(rd));
        assert_false(noise_hs_done(rd));
        assert_int_equal(noise_hs_write(rd, NULL, 0, msg, sizeof msg, &mlen), STOA_ESTATE);
        assert_int_equal(noise_hs_read(rd, msg, mlen, got, sizeof got, &glen), STOA_ESTATE);
        assert_null(noise_hs_remote_static(rd));
      }
    }
    assert_int_equal(r, STOA_EHANDSHAKE);
    peer_wipe(&a);
    peer_wipe(&b);
  }
}

static void test_wrong_prologue(void **state) {
  peer a, b;

  (void)state;
  xx_pair(&a, &b, "federation A", "federation B");
  assert_int_equal(drive(&a.hs, &b.hs), STOA_EHANDSHAKE);
  assert_false(noise_hs_done(&a.hs));
  peer_wipe(&a);
  peer_wipe(&b);

  /* Control: the same setup with equal prologues succeeds. */
  xx_pair(&a, &b, "federation A", "federation A");
  assert_int_equal(drive(&a.hs, &b.hs), 0);
  peer_wipe(&a);
  peer_wipe(&b);

  /* NN too: a prologue of length 0 against one of length 1. */
  noise_hs i, r;
  assert_int_equal(noise_hs_init(&i, NOISE_NN, true, NULL, 0, NULL, NULL), 0);
  assert_int_equal(noise_hs_init(&r, NOISE_NN, false, (const uint8_t *)"", 1, NULL, NULL), 0);
  assert_int_equal(drive(&i, &r), STOA_EHANDSHAKE);
  noise_hs_wipe(&i);
  noise_hs_wipe(&r);
}

static void test_psk(void **state) {
  uint8_t s1[32], s2[32], psk[32], psk2[32];
  noise_hs i, r;

  (void)state;
  randombytes_buf(s1, sizeof s1);
  randombytes_buf(s2, sizeof s2);
  randombytes_buf(psk, sizeof psk);
  memcpy(psk2, psk, sizeof psk2);
  assert_int_equal(noise_hs_init(&i, NOISE_XXPSK3, true, NULL, 0, s1, psk), 0);
  assert_int_equal(noise_hs_init(&r, NOISE_XXPSK3, false, NULL, 0, s2, psk2), 0);
  assert_int_equal(drive(&i, &r), 0);
  noise_hs_wipe(&i);
  noise_hs_wipe(&r);

  psk2[31] ^= 1;
  assert_int_equal(noise_hs_init(&i, NOISE_XXPSK3, true, NULL, 0, s1, psk), 0);
  assert_int_equal(noise_hs_init(&r, NOISE_XXPSK3, false, NULL, 0, s2, psk2), 0);
  assert_int_equal(drive(&i, &r), STOA_EHANDSHAKE);
  assert_true(noise_hs_done(&i));  /* the initiator wrote its last message */
  assert_false(noise_hs_done(&r)); /* the responder refused it */
  noise_hs_wipe(&i);
  noise_hs_wipe(&r);
}

static void test_sizes(void **state) {
  peer a, b;
  size_t n, m;
  const size_t max0 = NOISE_MAX_MSG - NOISE_DHLEN; /* XX message 0: e only */

  (void)state;
  /* Handshake: one byte too many is refused and leaves the state as it was;
   * the largest message then goes through. */
  xx_pair(&a, &b, "p", "p");
  memset(big_a, 7, sizeof big_a);
  assert_int_equal(noise_hs_write(&a.hs, big_a, max0 + 1, big_b, sizeof big_b, &n),
                   STOA_ETOOBIG);
  assert_int_equal(noise_hs_write(&a.hs, big_a, max0, big_b, NOISE_MAX_MSG - 1, &n),
                   STOA_ETOOBIG);
  assert_true(noise_hs_my_turn(&a.hs));
  assert_int_equal(noise_hs_write(&a.hs, big_a, max0, big_b, sizeof big_b, &n), 0);
  assert_int_equal(n, NOISE_MAX_MSG);
  assert_int_equal(noise_hs_read(&b.hs, big_b, NOISE_MAX_MSG + 1, big_c, sizeof big_c, &m),
                   STOA_ETOOBIG);
  assert_int_equal(noise_hs_read(&b.hs, big_b, n, big_c, max0 - 1, &m), STOA_ETOOBIG);
  assert_int_equal(noise_hs_read(&b.hs, big_b, n, big_c, max0, &m), 0);
  assert_int_equal(m, max0);
  assert_memory_equal(big_c, big_a, max0);
  /* Message 1 carries e, s and two tags: 96 bytes of overhead. */
  assert_int_equal(noise_hs_write(&b.hs, big_a, NOISE_MAX_MSG - 95, big_b,
                                  sizeof big_b, &n), STOA_ETOOBIG);
  assert_int_equal(noise_hs_write(&b.hs, NULL, 0, big_b, 95, &n), STOA_ETOOBIG);
  assert_int_equal(noise_hs_write(&b.hs, NULL, 0, big_b, 96, &n), 0);
  assert_int_equal(n, 96);
  /* A truncated message kills the reader. */
  assert_int_equal(noise_hs_read(&a.hs, big_b, n - 1, big_c, sizeof big_c, &m),
                   STOA_EHANDSHAKE);
  assert_int_equal(noise_hs_read(&a.hs, big_b, n, big_c, sizeof big_c, &m), STOA_ESTATE);
  peer_wipe(&a);
  peer_wipe(&b);

  /* Transport. */
  xx_connected(&a, &b);
  uint64_t nonce = a.tx.n;
  assert_int_equal(noise_cs_encrypt(&a.tx, NULL, 0, big_a, NOISE_MAX_PAYLOAD + 1,
                                    big_b, sizeof big_b, &n), STOA_ETOOBIG);
  assert_int_equal(noise_cs_encrypt(&a.tx, NULL, 0, big_a, 10, big_b, 25, &n),
                   STOA_ETOOBIG);
  assert_int_equal(a.tx.n, nonce);
  assert_int_equal(noise_cs_encrypt(&a.tx, NULL, 0, big_a, 10, big_b, 26, &n), 0);
  assert_int_equal(noise_cs_decrypt(&b.rx, NULL, 0, big_b, NOISE_MAX_MSG + 1,
                                    big_c, sizeof big_c, &m), STOA_ETOOBIG);
  assert_int_equal(noise_cs_decrypt(&b.rx, NULL, 0, big_b, n, big_c, 9, &m),
                   STOA_ETOOBIG);
  assert_int_equal(noise_cs_decrypt(&b.rx, NULL, 0, big_b, n, big_c, 10, &m), 0);
  assert_int_equal(m, 10);
  send_ok(&a, &b, 5); /* still in step after the refusals */
  peer_wipe(&a);
  peer_wipe(&b);
}

static void test_states(void **state) {
  uint8_t s[32], buf[256], e[32];
  size_t n;
  noise_hs i, r;
  noise_cs cs, cs2;

  (void)state;
  randombytes_buf(s, sizeof s);
  randombytes_buf(e, sizeof e);
  /* Arguments. */
  assert_int_equal(noise_hs_init(&i, NOISE_XX, true, NULL, 0, NULL, NULL), STOA_EINVAL);
  assert_int_equal(noise_hs_init(&i, NOISE_NN, true, NULL, 0, s, NULL), STOA_EINVAL);
  assert_int_equal(noise_hs_init(&i, NOISE_XX, true, NULL, 0, s, s), STOA_EINVAL);
  assert_int_equal(noise_hs_init(&i, NOISE_XXPSK3, true, NULL, 0, s, NULL), STOA_EINVAL);
  assert_int_equal(noise_hs_init(&i, 0, true, NULL, 0, NULL, NULL), STOA_EINVAL);
  assert_int_equal(noise_hs_init(&i, 99, true, NULL, 0, NULL, NULL), STOA_EINVAL);
  assert_int_equal(noise_hs_init(&i, NOISE_NN, true, NULL, 5, NULL, NULL), STOA_EINVAL);
  /* A failed init leaves a state that refuses everything. */
  assert_false(noise_hs_my_turn(&i));
  assert_int_equal(noise_hs_write(&i, NULL, 0, buf, sizeof buf, &n), STOA_ESTATE);

  /* Turns, and operations before the end. */
  assert_int_equal(noise_hs_init(&i, NOISE_XX, true, NULL, 0, s, NULL), 0);
  assert_int_equal(noise_hs_init(&r, NOISE_XX, false, NULL, 0, s, NULL), 0);
  assert_true(noise_hs_my_turn(&i));
  assert_false(noise_hs_my_turn(&r));
  assert_int_equal(noise_hs_write(&r, NULL, 0, buf, sizeof buf, &n), STOA_ESTATE);
  assert_int_equal(noise_hs_read(&i, buf, 32, buf + 64, 64, &n), STOA_ESTATE);
  assert_int_equal(noise_hs_split(&i, &cs, &cs2), STOA_ESTATE);
  assert_int_equal(noise_hs_hash(&i, buf), STOA_ESTATE);
  assert_int_equal(noise_hs_set_ephemeral(&i, e), 0);
  assert_int_equal(noise_hs_set_ephemeral(&i, e), STOA_ESTATE);
  assert_int_equal(noise_hs_write(&i, NULL, 0, buf, sizeof buf, &n), 0);
  assert_int_equal(n, 32);
  assert_int_equal(crypto_scalarmult_base(buf + 64, e), 0);
  assert_memory_equal(buf, buf + 64, 32); /* the fixed ephemeral was used */
  noise_hs_wipe(&i);

  /* A low-order ephemeral from the peer: the DH gives zero and is refused. */
  memset(buf, 0, 32);
  assert_int_equal(noise_hs_read(&r, buf, 32, buf + 64, 64, &n), 0);
  assert_int_equal(noise_hs_write(&r, NULL, 0, buf, sizeof buf, &n), STOA_EHANDSHAKE);
  assert_false(noise_hs_my_turn(&r));
  noise_hs_wipe(&r);

  /* A CipherState without a key refuses to send plaintext. */
  memset(&cs, 0, sizeof cs);
  assert_int_equal(noise_cs_encrypt(&cs, NULL, 0, buf, 1, buf + 64, 64, &n), STOA_ESTATE);
  assert_int_equal(noise_cs_decrypt(&cs, NULL, 0, buf, 17, buf + 64, 64, &n), STOA_ESTATE);
  assert_int_equal(noise_cs_rekey(&cs), STOA_ESTATE);

  /* The nonce 2^64-1 is reserved: after 2^64-2 the state is spent. */
  peer a, b;
  xx_connected(&a, &b);
  a.tx.n = b.rx.n = UINT64_MAX - 1;
  send_ok(&a, &b, 4);
  assert_true(a.tx.n == UINT64_MAX);
  assert_int_equal(noise_cs_encrypt(&a.tx, NULL, 0, buf, 1, buf + 64, 64, &n), STOA_ESTATE);
  assert_int_equal(noise_cs_decrypt(&b.rx, NULL, 0, buf, 17, buf + 64, 64, &n), STOA_ESTATE);
  noise_cs_wipe(&a.tx);
  assert_true(sodium_is_zero((const unsigned char *)&a.tx, sizeof a.tx));
  assert_int_equal(noise_cs_encrypt(&a.tx, NULL, 0, buf, 1, buf + 64, 64, &n), STOA_ESTATE);
  peer_wipe(&a);
  peer_wipe(&b);
}

static void test_ed25519_keys(void **state) {
  uint8_t pk[32], sk[64], x[32], xp[32], xq[32];
  static const uint8_t identity[32] = {1};

  (void)state;
  assert_int_equal(crypto_sign_keypair(pk, sk), 0);
  assert_int_equal(noise_key_from_ed25519(sk, x), 0);
  assert_int_equal(noise_pub_from_ed25519(pk, xp), 0);
  assert_int_equal(crypto_scalarmult_base(xq, x), 0);
  assert_memory_equal(xp, xq, 32);
  /* A secret key whose public half does not belong to it is refused. */
  sk[40] ^= 1;
  assert_int_equal(noise_key_from_ed25519(sk, x), STOA_EINVAL);
  assert_true(sodium_is_zero(x, sizeof x));
  /* A small-order point is not a node key. */
  assert_int_equal(noise_pub_from_ed25519(identity, xp), STOA_EINVAL);
  sodium_memzero(sk, sizeof sk);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_vectors),
    cmocka_unit_test(test_xx_ed25519),
    cmocka_unit_test(test_tamper_transport),
    cmocka_unit_test(test_tamper_handshake),
    cmocka_unit_test(test_wrong_prologue),
    cmocka_unit_test(test_psk),
    cmocka_unit_test(test_sizes),
    cmocka_unit_test(test_states),
    cmocka_unit_test(test_ed25519_keys),
  };
  if (sodium_init() < 0) return 1;
  return cmocka_run_group_tests(tests, NULL, NULL);
}
