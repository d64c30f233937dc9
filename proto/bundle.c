#include "proto/bundle.h"

#include <msgpack.h>
#include <string.h>

#include "proto/err.h"
#include "proto/mp.h"

#define BUNDLE_TAG "stoa bundle"

static int put_frame(bundle_writer *w, const void *buf, size_t len, bool hash) {
  uint8_t l[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len };
  int e;
  if (len > REC_MAX) return STOA_ETOOBIG;
  if (hash) {
    crypto_generichash_blake2b_update(&w->h, l, 4);
    crypto_generichash_blake2b_update(&w->h, buf, len);
  }
  if ((e = w->write(w->ctx, l, 4)) || (e = w->write(w->ctx, buf, len))) return e;
  w->bytes += 4 + len;
  return 0;
}

int bundle_writer_init(bundle_writer *w, const bundle_hdr *h, bundle_write_fn write, void *ctx) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  int e;
  memset(w, 0, sizeof *w);
  w->write = write;
  w->ctx = ctx;
  crypto_generichash_blake2b_init(&w->h, NULL, 0, HASH_LEN);
  crypto_generichash_blake2b_update(&w->h, (const uint8_t *)BUNDLE_MAGIC, BUNDLE_MAGIC_LEN);
  if ((e = write(ctx, BUNDLE_MAGIC, BUNDLE_MAGIC_LEN))) return e;
  w->bytes = BUNDLE_MAGIC_LEN;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 6);
  msgpack_pack_str_with_body(&pk, BUNDLE_TAG, strlen(BUNDLE_TAG));
  msgpack_pack_uint32(&pk, 1);
  msgpack_pack_bin_with_body(&pk, h->fed, HASH_LEN);
  msgpack_pack_uint64(&pk, h->created);
  msgpack_pack_uint32(&pk, h->part);
  msgpack_pack_uint32(&pk, h->parts);
  e = sb.data ? put_frame(w, sb.data, sb.size, true) : STOA_ENOMEM;
  msgpack_sbuffer_destroy(&sb);
  return e;
}

int bundle_writer_add(bundle_writer *w, const uint8_t *env, size_t len) {
  int e = put_frame(w, env, len, true);
  if (!e) w->count++;
  return e;
}

int bundle_writer_finish(bundle_writer *w) {
  uint8_t digest[HASH_LEN];
  msgpack_sbuffer sb;
  msgpack_packer pk;
  int e;
  crypto_generichash_blake2b_final(&w->h, digest, HASH_LEN);
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 3);
  msgpack_pack_str_with_body(&pk, "end", 3);
  msgpack_pack_uint64(&pk, w->count);
  msgpack_pack_bin_with_body(&pk, digest, HASH_LEN);
  e = sb.data ? put_frame(w, sb.data, sb.size, false) : STOA_ENOMEM;
  msgpack_sbuffer_destroy(&sb);
  return e;
}

/* Reads one frame: *payload and *len; STOA_ETRUNCATED, STOA_ETOOBIG. */
static int get_frame(bundle_reader *r, const uint8_t **payload, size_t *len) {
  if (r->end - r->p < 4) return STOA_ETRUNCATED;
  size_t l = (size_t)r->p[0] << 24 | (size_t)r->p[1] << 16 | (size_t)r->p[2] << 8 | r->p[3];
  if (l > REC_MAX) return STOA_ETOOBIG;
  if ((size_t)(r->end - r->p - 4) < l) return STOA_ETRUNCATED;
  *payload = r->p + 4;
  *len = l;
  return 0;
}

int bundle_reader_init(bundle_reader *r, const uint8_t *buf, size_t len) {
  const uint8_t *pl, *b;
  size_t pln;
  mp_reader m;
  uint32_t n, slen;
  const char *s;
  uint64_t v, part, parts;
  int e;

  memset(r, 0, sizeof *r);
  if (len < BUNDLE_MAGIC_LEN || memcmp(buf, BUNDLE_MAGIC, BUNDLE_MAGIC_LEN)) return STOA_EMALFORMED;
  r->start = buf;
  r->p = buf + BUNDLE_MAGIC_LEN;
  r->end = buf + len;
  if ((e = get_frame(r, &pl, &pln))) return e;
  mp_reader_init(&m, pl, pln);
  if ((e = mp_read_array(&m, &n))) return e;
  if (n < 6) return STOA_EMALFORMED;
  if ((e = mp_read_str(&m, &s, &slen))) return e;
  if (slen != strlen(BUNDLE_TAG) || memcmp(s, BUNDLE_TAG, slen)) return STOA_EMALFORMED;
  if ((e = mp_read_uint(&m, &v))) return e;
  if (v != 1) return STOA_EVERSION;
  if ((e = mp_read_binn(&m, &b, HASH_LEN)) || (e = mp_read_uint(&m, &r->hdr.created)) ||
      (e = mp_read_uint(&m, &part)) || (e = mp_read_uint(&m, &parts)))
    return e;
  if (part > UINT32_MAX || parts > UINT32_MAX) return STOA_EMALFORMED;
  for (uint32_t i = 6; i < n; i++) /* later versions may add fields */
    if ((e = mp_skip(&m, 1))) return e;
  if (mp_left(&m)) return STOA_ETRAILING;
  memcpy(r->hdr.fed, b, HASH_LEN);
  r->hdr.part = (uint32_t)part;
  r->hdr.parts = (uint32_t)parts;
  crypto_generichash_blake2b_init(&r->h, NULL, 0, HASH_LEN);
  crypto_generichash_blake2b_update(&r->h, buf, (size_t)(pl + pln - buf));
  r->p = pl + pln;
  return 0;
}

int bundle_reader_next(bundle_reader *r, const uint8_t **buf, size_t *len) {
  const uint8_t *pl;
  size_t pln;
  int e;
  /* After the trailer, verified or not, nothing more is read: a failed
   * trailer stays an error (the hash state is final, and records after it
   * belong to no verified bundle). */
  if (r->done) return r->done > 0 ? 0 : r->done;
  if ((e = get_frame(r, &pl, &pln))) return e;
  /* The trailer: a 3-array starting with "end" (a record starts with a
   * 3-array too, but its first element is a bin, never a string). */
  if (pln >= 5 && pl[0] == 0x93 && pl[1] == 0xa3 && memcmp(pl + 2, "end", 3) == 0) {
    mp_reader m;
    uint32_t n, slen;
    const char *s;
    const uint8_t *dg;
    uint64_t count;
    uint8_t digest[HASH_LEN];
    mp_reader_init(&m, pl, pln);
    if ((e = mp_read_array(&m, &n)) || (e = mp_read_str(&m, &s, &slen)) ||
        (e = mp_read_uint(&m, &count)) || (e = mp_read_binn(&m, &dg, HASH_LEN)))
      return e;
    if (mp_left(&m)) return STOA_ETRAILING;
    crypto_generichash_blake2b_final(&r->h, digest, HASH_LEN);
    r->p = pl + pln;
    if (count != r->count || sodium_memcmp(digest, dg, HASH_LEN)) r->done = STOA_EHASH;
    else if (r->p != r->end) r->done = STOA_ETRAILING;
    else r->done = 1;
    return r->done > 0 ? 0 : r->done;
  }
  crypto_generichash_blake2b_update(&r->h, r->p, 4 + pln);
  r->p = pl + pln;
  r->count++;
  *buf = pl;
  *len = pln;
  return 1;
}
