/*
 * store_int.h - private to store/: the LMDB layout and shared helpers.
 * The layout is described in docs/storage.md; keep the two in step.
 */
#ifndef STOA_STORE_INT_H
#define STOA_STORE_INT_H

#include <lmdb.h>

#include "proto/trust.h"
#include "store/store.h"

#define STORE_FORMAT 1
#define SEG_TARGET 1024        /* postings per full-text segment */
#define DOC_TOKENS_MAX 4096    /* bytes of folded tokens kept per document */

enum {
  DB_META, DB_REC, DB_SEQ, DB_ENT, DB_HIST, DB_DOC, DB_FTS, DB_VOC, DB_TRUST,
  DB_ERASEV, DB_ERASED, DB_PEND, DB__COUNT
};

/* Value of DB_ENT (key: id || owner). */
typedef struct ent_val {
  uint64_t docid;            /* 0 = not in the full-text index */
  uint64_t ts;
  uint8_t hash[HASH_LEN];
  uint32_t versions;
  uint8_t kind;
  uint8_t erased;
} ent_val;
#define ENT_VAL_LEN (8 + 8 + HASH_LEN + 4 + 1 + 1)

struct fts_acc;

struct store {
  MDB_env *env;
  MDB_dbi dbi[DB__COUNT];
  store_opts o;
  bool has_charter;
  charter ch;
  trust_state *trust;
  uint64_t trust_gen;         /* generation the in-memory state reflects */
  bool trust_dirty;           /* changed in the open write txn */
  struct fts_acc *acc;        /* postings collected in the open write txn */
};

struct store_rd {
  store *s;
  MDB_txn *txn;
};

/* LMDB code -> STOA code. */
int store__err(int rc);

/* Big-endian integers in keys, so that byte order is numeric order. */
static inline void put_be64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}
static inline uint64_t get_be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

/* Entry key (owner || id) <-> the DB_ENT key (id || owner), which puts the
 * random id first so that a typed prefix finds the entry. */
static inline void ekey_to_dbkey(const uint8_t ek[EKEY_LEN], uint8_t out[EKEY_LEN]) {
  memcpy(out, ek + KEY_LEN, ID_LEN);
  memcpy(out + ID_LEN, ek, KEY_LEN);
}
static inline void dbkey_to_ekey(const uint8_t dk[EKEY_LEN], uint8_t out[EKEY_LEN]) {
  memcpy(out, dk + ID_LEN, KEY_LEN);
  memcpy(out + KEY_LEN, dk, ID_LEN);
}

void ent_val_pack(const ent_val *v, uint8_t out[ENT_VAL_LEN]);
int ent_val_unpack(const MDB_val *d, ent_val *v);

/* Meta counters. */
int store__meta_u64(MDB_txn *txn, store *s, const char *key, uint64_t *v);
int store__meta_put_u64(MDB_txn *txn, store *s, const char *key, uint64_t v);

/* Reloads the trust state when another transaction changed it. */
int store__trust_sync(store *s, MDB_txn *txn);
int store__trust_replay(store *s, MDB_txn *txn);

/* index.c: puts an accepted record and updates every index. */
int index__record(store *s, MDB_txn *txn, const rec *r, const uint8_t *buf, size_t len,
                  bool put_rec, store_counts *c);
/* index.c: drops bodies of an entry's versions up to `until`. */
int index__erase(store *s, MDB_txn *txn, const uint8_t ekey[EKEY_LEN], uint64_t until,
                 store_counts *c);
int index__acc_begin(store *s);
int index__acc_flush(store *s, MDB_txn *txn);
void index__acc_free(store *s);
/* The folded tokens of a body, space separated, facets included. */
int index__doc_tokens(int kind, const uint8_t *body, size_t len, char *out, size_t cap,
                      size_t *outlen);

/* ingest.c */
int ingest__accept(store *s, MDB_txn *txn, const rec *r, const uint8_t *buf, size_t len,
                   bool put_rec, store_counts *c);

/* Runs fn in a write transaction, growing the map and retrying on
 * MDB_MAP_FULL; fn must be safe to run again from the start. */
int store__write(store *s, int (*fn)(store *s, MDB_txn *txn, void *ctx), void *ctx);


/* LEB128 varints in full-text segments. */
static inline size_t varint_put(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) { p[n++] = (uint8_t)(v | 0x80); v >>= 7; }
  p[n++] = (uint8_t)v;
  return n;
}
static inline int varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  uint64_t x = 0;
  for (int shift = 0; shift < 64 && *p < end; shift += 7) {
    uint8_t b = *(*p)++;
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) { *v = x; return 0; }
  }
  return -1;
}

/* Decodes a segment (first docid from its key) into out[] ascending; returns
 * the count or -1 when malformed or larger than cap. */
int index__seg_decode(uint64_t first, const uint8_t *p, size_t len, uint64_t *out, size_t cap);
#define FTS_KEY_MAX (FOLD_TOKEN_MAX + 8 + 1 + 8)

/* ingest.c: records an endorse/revoke in DB_TRUST and the in-memory state. */
int ingest__trust_add(store *s, MDB_txn *txn, const rec *r);

#endif
