/*
 * store.h - the node's LMDB store: records, indexes, search, trust state.
 *
 * One LMDB environment per node home, shared by the daemon and the CLI
 * (several processes may open it; LMDB serialises writers).  Records are the
 * source of truth; every index can be rebuilt from them (store_reindex).
 * Layout: docs/storage.md.  Functions return 0 or a negative STOA_E* code;
 * LMDB's codes never leave this module.  Nothing here prints.
 *
 * Entry keys (EKEY_LEN bytes) are owner || id, as in record bodies.
 */
#ifndef STOA_STORE_H
#define STOA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/charter.h"
#include "proto/record.h"
#include "proto/schema.h"

typedef struct store store;
typedef struct store_rd store_rd;

typedef struct store_opts {
  size_t map_size;        /* initial map size; 0 = 64 MiB.  Grows when full. */
  size_t pending_max;     /* records held in the pending area; 0 = 10,000 */
  size_t pending_per_source; /* of them from one source (store_item.src); 0 = a quarter */
  bool read_only;
} store_opts;

/*
 * Opens (creating the folder's files when missing) the store in `dir`,
 * clears stale reader slots, and loads the charter and trust state if the
 * store has a federation.  A store in the current format is opened with a
 * read transaction only: opening never waits for, nor holds up, a writer.
 * A new store gets its format in a write transaction; one of an older
 * format is converted in one (from formats 1 and 2 the indexes are rebuilt,
 * like store_reindex); with read_only set, neither happens and the open
 * fails.  Errors: -errno, STOA_ESTORE, STOA_ECORRUPT, STOA_EVERSION (a newer
 * format, or an older one with read_only), STOA_ENOTFOUND (read_only, no
 * store yet).
 */
int store_open(store **out, const char *dir, const store_opts *o);
void store_close(store *s);

/* Binds an empty store to a federation.  STOA_EEXISTS if it has one. */
int store_set_charter(store *s, const uint8_t *buf, size_t len);
/* The federation's charter, or NULL before store_set_charter.  Borrowed. */
const charter *store_charter(const store *s);
/* The charter file's bytes (for `federation charter -o`).  Caller frees. */
int store_charter_bytes(store *s, uint8_t **buf, size_t *len);

/* --- ingest ----------------------------------------------------------- */

enum store_status {
  ST_NEW = 1,     /* accepted and committed */
  ST_KNOWN,       /* already held (or already pending) */
  ST_PENDING,     /* held back: signer not yet trusted, or future-dated */
  ST_REJECTED,    /* invalid: err says why */
};

typedef struct store_item {
  const uint8_t *buf;     /* envelope bytes (caller's, valid during ingest) */
  size_t len;
  rec r;                  /* decoded by the caller (rec_decode) */
  bool sig_ok;            /* caller checked rec_verify == 0 */
  /* Where it came from: a peer's node key (STORE_SRC_LEN bytes), or NULL
   * for this node's own user (CLI, bundles).  A source's records take at
   * most pending_per_source places in the pending area, so that one peer
   * cannot crowd out the others' records waiting for trust. */
  const uint8_t *src;
  /* Set by store_item_prepare (zero: store_ingest does that work itself). */
  bool prepared;
  int prep_err;           /* the body's schema check: 0 or an error */
  const char *toks;       /* the body's search tokens (in the caller's buffer) */
  size_t toks_len;
  int status;             /* out: enum store_status */
  int err;                /* out: the reason for PENDING / REJECTED */
  schema_error why;       /* out: for STOA_ESCHEMA */
} store_item;

/* Bytes of search tokens a document keeps: a buffer of this size always
 * suffices for store_item_prepare. */
#define STORE_TOKS_MAX 4096
#define STORE_SRC_LEN 32

/*
 * Does the part of store_ingest's work that needs no store, so that it can
 * run on the threads that check signatures: the body's schema check and its
 * search tokens.  Needs a decoded item (it->r); tokens go into toks[cap],
 * which must live until store_ingest returns (cap < STORE_TOKS_MAX, or toks
 * NULL: the tokens are left to store_ingest).  Thread-safe; touches only
 * *it and toks.  Sets it->prepared; returns 0 (the verdict is in prep_err).
 */
int store_item_prepare(store_item *it, char *toks, size_t cap);

typedef struct store_counts {
  size_t fresh, known, pending, rejected, released, dropped, erased_bodies;
} store_counts;

/*
 * Validates and commits a batch in one write transaction: schema, trust,
 * future dating, erasure; new trust records re-examine the pending area.
 * Items whose sig_ok is false are rejected with STOA_EBADSIG; the schema
 * verdict and search tokens of prepared items (store_item_prepare) are
 * taken as they are.  When the map is full it grows and the batch is
 * retried; nothing is lost.  `now` is the wall clock in ms.  Per-item
 * results in items[]; totals added to *c (may be NULL).  Errors: the commit
 * failed (nothing of the batch is stored).
 * Cost: a few microseconds per record besides the schema check and search
 * tokens; larger batches write fewer pages per record (LMDB rewrites every
 * page a transaction touches, and most tables have random keys).
 */
int store_ingest(store *s, store_item *items, size_t n, uint64_t now, store_counts *c);

/*
 * Writing on one thread while another reads.  A store is used from one
 * thread, except this: the thread that reads may hand batches to another
 * thread for store_ingest_bg, having said so with store_writer_busy(s,
 * true), and say store_writer_busy(s, false) once it has returned.
 * Meanwhile its reads see the last commit, and it may write itself
 * (writes take turns).  store_ingest_bg is store_ingest, except that it
 * never remaps nor reopens the environment (the reader may be inside it):
 * when it would have to (the map is full, another process grew it, or an
 * earlier commit failed), it stores nothing and returns -EAGAIN, and the
 * reading thread runs the batch again with store_ingest after
 * store_writer_busy(s, false).
 */
int store_ingest_bg(store *s, store_item *items, size_t n, uint64_t now, store_counts *c);
void store_writer_busy(store *s, bool busy);

/*
 * Grows the map ahead of a write of about `bytes`, so that store_ingest_bg
 * seldom finds it full (which costs the batch twice): while less than
 * `bytes` is left past the last page in use, the map doubles.  Only on the
 * reading thread, with no transaction of this process open and no write
 * running.  0 when there is room (or now is); -EBUSY when a read is
 * open (nothing changed); an LMDB error otherwise.
 */
int store_reserve(store *s, size_t bytes);

/* Re-examines the pending area (future records whose time has come). */
int store_pending_recheck(store *s, uint64_t now, store_counts *c);

/* --- reading ----------------------------------------------------------- */

/* A read snapshot; everything a reader returns lives until store_rd_end. */
int store_rd_begin(store *s, store_rd **out);
void store_rd_end(store_rd *rd);

/* Envelope bytes of a record (held or pending=false).  STOA_ENOTFOUND. */
int store_get(store_rd *rd, const uint8_t hash[HASH_LEN], const uint8_t **buf, size_t *len);
bool store_has(store_rd *rd, const uint8_t hash[HASH_LEN]);
/* Held, or waiting in the pending area: a node need not receive it again. */
bool store_known(store_rd *rd, const uint8_t hash[HASH_LEN]);

typedef struct store_entry {
  uint8_t ekey[EKEY_LEN];
  int kind;
  uint64_t ts;                /* current version's */
  uint8_t hash[HASH_LEN];     /* current version */
  uint32_t versions;
  bool erased;                /* current version's body was erased */
} store_entry;

/* Resolves an id prefix (hex, at least 4 characters) to one entry.
 * STOA_ENOTFOUND, STOA_EAMBIGUOUS, STOA_EINVAL. */
int store_resolve(store_rd *rd, const char *hex, store_entry *out);
int store_entry_get(store_rd *rd, const uint8_t ekey[EKEY_LEN], store_entry *out);

/* Every version of an entry, oldest first. */
typedef int (*store_version_cb)(void *ctx, uint64_t ts, const uint8_t hash[HASH_LEN]);
int store_history(store_rd *rd, const uint8_t ekey[EKEY_LEN], store_version_cb cb, void *ctx);

/* Records in insertion order from sequence number `from` (>= 1). */
typedef int (*store_seq_cb)(void *ctx, uint64_t seq, const uint8_t *buf, size_t len);
int store_scan(store_rd *rd, uint64_t from, store_seq_cb cb, void *ctx);
uint64_t store_last_seq(store_rd *rd);

/* --- search ------------------------------------------------------------ */

#define STORE_QUERY_FILTERS 8
typedef struct store_query {
  const char *text;           /* words; the last is a prefix unless followed by a space */
  int kind;                   /* 0 = org, actor and practice */
  const char *country[STORE_QUERY_FILTERS]; /* ISO codes: all must match */
  const char *theme[STORE_QUERY_FILTERS];
  const uint8_t *ref;         /* entries referencing this entry key */
  size_t limit;               /* 0 = 50 */
  size_t offset;
} store_query;

typedef int (*store_hit_cb)(void *ctx, const store_entry *e);
/* Current, non-erased entries matching q, most recently changed first.
 * Returns the number of hits reported, or an error. */
int store_search(store_rd *rd, const store_query *q, store_hit_cb cb, void *ctx);

/* --- trust and state ---------------------------------------------------- */

/* The trust state as of this snapshot.  Borrowed until store_rd_end. */
const struct trust_state *store_trust(store_rd *rd);
/* Trust events (endorse/revoke) in replay order. */
struct trust_event;
typedef int (*store_trust_cb)(void *ctx, const struct trust_event *ev);
int store_trust_events(store_rd *rd, store_trust_cb cb, void *ctx);
/* Records in the pending area (envelopes), in hash order. */
int store_pending_scan(store_rd *rd, store_seq_cb cb, void *ctx);
/* Effective erasure time of an entry (0 = none). */
uint64_t store_erased_until(store_rd *rd, const uint8_t ekey[EKEY_LEN]);

typedef struct store_stats {
  uint64_t records, entries, pending, dropped, trust_events, map_size, used_bytes;
} store_stats;
int store_stats_get(store_rd *rd, store_stats *st);

/* --- maintenance ------------------------------------------------------- */

/* Rebuilds every index from the records.  Counts into *c. */
int store_reindex(store *s, store_counts *c);

typedef struct store_problem_cb {
  void (*problem)(void *ctx, const char *what, const uint8_t hash[HASH_LEN]);
  void *ctx;
} store_problem_cb;
/* Re-checks every record's encoding and signature and every index against
 * the records.  Returns the number of problems found (each reported through
 * cb), or an error.  Signatures are checked on one thread per core, so cb
 * may be called from those threads, never two calls at once. */
int store_verify(store *s, const store_problem_cb *cb);

/* Gives the free pages of the store at dir back to the file system: LMDB's
 * compacting copy is written beside it (dir.compact), checked (every
 * database has the rows it had) and renamed over the data file.  Only
 * while no other process has the store open: -EBUSY otherwise, with
 * holder set to that process when known.  Processes that open the store
 * meanwhile wait, and then open the new file.  The store must not be open
 * in this process either. */
typedef struct store_compact_info {
  uint64_t before, after; /* bytes of the data file */
  int holder;
  bool replaced;          /* the copy took the store's place (even if an error follows) */
} store_compact_info;
int store_compact(const char *dir, store_compact_info *info);

#endif
