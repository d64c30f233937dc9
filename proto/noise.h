/*
 * noise.h - the Noise protocol framework (revision 34), the subset Stoa needs.
 *
 * One cipher suite, 25519_ChaChaPoly_BLAKE2b, on libsodium:
 *   DH     X25519 (crypto_scalarmult)
 *   cipher ChaCha20-Poly1305 IETF, nonce = 4 zero bytes || counter (LE64)
 *   hash   BLAKE2b-512, with HMAC and HKDF built on it as the spec says.
 * Patterns: XX (what the transport uses), NN and XXpsk3 (conformance only).
 *
 * No sockets, no allocation: the caller owns every struct and every buffer,
 * hands in whole messages and gets whole messages back.  A Noise message is
 * at most NOISE_MAX_MSG bytes; every size is checked before anything is
 * copied.  A size error (STOA_ETOOBIG) leaves the state as it was, so the
 * caller may retry with a larger buffer; any other failure during the
 * handshake kills it (the struct is wiped and only accepts noise_hs_wipe()).
 * Every function also returns STOA_EINVAL for a NULL where a pointer is
 * required (a NULL buffer is fine with a length of 0).
 *
 * Usage (either role):
 *   noise_hs_init(&hs, NOISE_XX, initiator, fed_id, 32, x_priv, NULL);
 *   while (!noise_hs_done(&hs))
 *     noise_hs_my_turn(&hs) ? noise_hs_write(...) : noise_hs_read(...);
 *   check noise_hs_remote_static(&hs), then noise_hs_split(&hs, &tx, &rx);
 *   noise_cs_encrypt(&tx, ...) / noise_cs_decrypt(&rx, ...);
 *   noise_hs_wipe(&hs); noise_cs_wipe(&tx); noise_cs_wipe(&rx);
 */
#ifndef STOA_NOISE_H
#define STOA_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NOISE_DHLEN 32
#define NOISE_KEYLEN 32
#define NOISE_PSKLEN 32
#define NOISE_HASHLEN 64
#define NOISE_TAGLEN 16
#define NOISE_MAX_MSG 65535
#define NOISE_MAX_PAYLOAD (NOISE_MAX_MSG - NOISE_TAGLEN) /* transport */

enum noise_pattern { NOISE_NN = 1, NOISE_XX, NOISE_XXPSK3 };

/* A CipherState.  Fields are private; the struct is public so that callers
 * can allocate it.  An all-zero struct has no key and refuses to work. */
typedef struct noise_cs {
  uint8_t k[NOISE_KEYLEN];
  uint64_t n;
  bool has_key;
} noise_cs;

/* A HandshakeState (with its SymmetricState).  Fields are private. */
typedef struct noise_hs {
  noise_cs cs;
  uint8_t ck[NOISE_HASHLEN];
  uint8_t h[NOISE_HASHLEN];
  uint8_t s_priv[NOISE_DHLEN], s_pub[NOISE_DHLEN];
  uint8_t e_priv[NOISE_DHLEN], e_pub[NOISE_DHLEN];
  uint8_t rs[NOISE_DHLEN], re[NOISE_DHLEN];
  uint8_t psk[NOISE_PSKLEN];
  int pattern;
  int state;    /* internal NOISE__HS_* */
  unsigned msg; /* index of the next handshake message */
  bool initiator, has_s, has_e, has_rs, has_re, has_psk;
} noise_hs;

/*
 * Starts a handshake.  `prologue` (may be NULL when plen is 0) must be
 * identical on both sides or the handshake fails; Stoa puts the federation
 * id there.  `s_priv` is the X25519 static private key: required for XX and
 * XXpsk3, NULL for NN.  `psk` is required for XXpsk3 and NULL otherwise.
 * Copies what it needs; the caller may wipe its own copies at once.
 * Errors: STOA_EINVAL (unknown pattern, missing or superfluous key,
 * prologue longer than NOISE_MAX_MSG, unusable static key).
 */
int noise_hs_init(noise_hs *hs, int pattern, bool initiator,
                  const uint8_t *prologue, size_t plen, const uint8_t *s_priv,
                  const uint8_t *psk);

/* Fixes the ephemeral private key instead of drawing a random one.  For test
 * vectors only: reusing an ephemeral destroys the security of the session.
 * Errors: STOA_ESTATE (the ephemeral is already in use). */
int noise_hs_set_ephemeral(noise_hs *hs, const uint8_t e_priv[NOISE_DHLEN]);

/*
 * Writes the next handshake message carrying `payload` (plen bytes, may be
 * NULL when plen is 0) to `out` (capacity `cap`; must not overlap payload),
 * its length to *outlen.  The payload of the first XX message travels in
 * the clear, and that of the second before the initiator is authenticated.
 * Errors: STOA_ETOOBIG (message over NOISE_MAX_MSG or over cap; state
 * unchanged), STOA_ESTATE (not our turn, done or dead), STOA_EHANDSHAKE
 * (a DH gave the all-zero output; the handshake is dead).
 */
int noise_hs_write(noise_hs *hs, const uint8_t *payload, size_t plen,
                   uint8_t *out, size_t cap, size_t *outlen);

/*
 * Reads the next handshake message `msg` (mlen bytes) and writes its payload
 * to `payload` (capacity `cap`; must not overlap msg), its length to *plen.
 * Errors: STOA_ETOOBIG (mlen over NOISE_MAX_MSG or payload over cap; state
 * unchanged), STOA_ESTATE (not our turn, done or dead), STOA_EHANDSHAKE
 * (message too short, fails to authenticate - a different prologue, key or
 * psk, or tampering - or a low-order key; the handshake is dead).
 */
int noise_hs_read(noise_hs *hs, const uint8_t *msg, size_t mlen,
                  uint8_t *payload, size_t cap, size_t *plen);

/* True once every handshake message has been written or read. */
bool noise_hs_done(const noise_hs *hs);
/* True when the handshake is running and the next message is ours to write;
 * false when it is the peer's, or when done or dead. */
bool noise_hs_my_turn(const noise_hs *hs);

/* The peer's authenticated X25519 static key (NOISE_DHLEN bytes), or NULL
 * before it arrived or for NN.  Valid until noise_hs_wipe(); before the
 * handshake is done it is not yet authenticated. */
const uint8_t *noise_hs_remote_static(const noise_hs *hs);

/* Copies the handshake hash (channel binding) to out.  Errors: STOA_ESTATE
 * (handshake not done).  Still available after noise_hs_split(). */
int noise_hs_hash(const noise_hs *hs, uint8_t out[NOISE_HASHLEN]);

/*
 * Derives the two transport CipherStates (ours to send, ours to receive)
 * and wipes every secret in hs; the remote static key and the handshake hash
 * stay readable until noise_hs_wipe().  Errors: STOA_ESTATE (not done, or
 * already split).
 */
int noise_hs_split(noise_hs *hs, noise_cs *send, noise_cs *recv);

/* Wipes the whole handshake state; it may then only be initialised again. */
void noise_hs_wipe(noise_hs *hs);

/*
 * Encrypts n bytes of `in` with associated data `ad` (may be NULL when adlen
 * is 0) to `out` (capacity cap; n + NOISE_TAGLEN bytes are written; `out`
 * may equal `in` but must not otherwise overlap it), its length to *outlen.
 * Errors: STOA_ETOOBIG (n over NOISE_MAX_PAYLOAD or output over cap),
 * STOA_ESTATE (no key, or the nonce space is used up: 2^64-1 is reserved).
 */
int noise_cs_encrypt(noise_cs *cs, const uint8_t *ad, size_t adlen,
                     const uint8_t *in, size_t n, uint8_t *out, size_t cap,
                     size_t *outlen);

/*
 * Decrypts and authenticates n bytes of `in` to `out` (n - NOISE_TAGLEN
 * bytes; `out` may equal `in`), its length to *outlen.  On failure the nonce
 * does not advance, so the state stays usable (but Stoa ends the connection
 * anyway), and `out` holds nothing useful.
 * Errors: STOA_EDECRYPT (shorter than a tag, or fails to authenticate),
 * STOA_ETOOBIG (n over NOISE_MAX_MSG or output over cap), STOA_ESTATE (no
 * key, or the nonce space is used up).
 */
int noise_cs_decrypt(noise_cs *cs, const uint8_t *ad, size_t adlen,
                     const uint8_t *in, size_t n, uint8_t *out, size_t cap,
                     size_t *outlen);

/* Replaces the key by one derived from it (Noise Rekey()); both sides must
 * rekey at the same point of the stream.  Errors: STOA_ESTATE (no key). */
int noise_cs_rekey(noise_cs *cs);

/* Wipes a CipherState; it then refuses to encrypt or decrypt. */
void noise_cs_wipe(noise_cs *cs);

/* The X25519 private key of an Ed25519 secret key (libsodium's 64-byte
 * form), to use as the Noise static key.  Errors: STOA_EINVAL. */
int noise_key_from_ed25519(const uint8_t ed_sk[64], uint8_t x_priv[NOISE_DHLEN]);

/* The X25519 public key of an Ed25519 public key, to compare with
 * noise_hs_remote_static().  Errors: STOA_EINVAL (not a valid point). */
int noise_pub_from_ed25519(const uint8_t ed_pk[32], uint8_t x_pub[NOISE_DHLEN]);

#endif
