/*
 * maint.c - rebuilding and checking the indexes.
 */
#include "store/store_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/err.h"
#include "proto/mp.h"

static const int derived[] = { DB_ENT, DB_HIST, DB_DOC, DB_FTS, DB_VOC, DB_TRUST, DB_ERASEV, DB_ERASED };

typedef struct rx_ctx { store_counts c; } rx_ctx;

/* Runs cb over every record in insertion order inside txn (with its
 * sequence number).  A record that no longer decodes is reported through bad
 * (verify) or skipped (reindex), never a reason to stop.  The callback may
 * write to DB_SEQ (an erasure rewrites earlier records), so no cursor is
 * kept across it: each record is found by key with a cursor of its own. */
typedef int (*record_cb)(store *, MDB_txn *, uint64_t, const rec *, const uint8_t *, size_t,
                         void *);
static int each_record(store *s, MDB_txn *txn, record_cb cb, void (*bad)(void *, uint64_t),
                       void *ctx) {
  uint8_t kb[8] = { 0 };
  int rc, e = 0;
  for (;;) {
    MDB_cursor *cur;
    MDB_val k = { 8, kb }, d;
    rec r;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_SEQ], &cur))) return store__err(rc);
    rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
    mdb_cursor_close(cur);
    if (rc) break;
    if (k.mv_size != 8) return STOA_ECORRUPT;
    uint64_t seq = get_be64(k.mv_data);
    if (rec_decode(d.mv_data, d.mv_size, &r)) {
      if (bad) bad(ctx, seq);
    } else if ((e = cb(s, txn, seq, &r, d.mv_data, d.mv_size, ctx))) {
      return e;
    }
    if (seq == UINT64_MAX) return 0;
    put_be64(kb, seq + 1);
  }
  return rc == MDB_NOTFOUND ? 0 : store__err(rc);
}

static int rx_trust(store *s, MDB_txn *txn, uint64_t seq, const rec *r, const uint8_t *b, size_t l,
                    void *ctx) {
  (void)seq; (void)b; (void)l; (void)ctx;
  if ((r->h.kind != REC_ENDORSE && r->h.kind != REC_REVOKE) || !r->body) return 0;
  int e = ingest__trust_add(s, txn, r);
  return e == STOA_ESCHEMA ? 0 : e; /* a body that names no event: none to replay */
}

/* Every record is indexed by the rule incremental ingest keeps: valid under
 * the whole trust state (replayed first), or void.  So a reindexed store
 * equals one built record by record, in any order. */
static int rx_index(store *s, MDB_txn *txn, uint64_t seq, const rec *r, const uint8_t *b, size_t l,
                    void *ctx) {
  rx_ctx *x = ctx;
  /* rec_decode points into the map; index__record may rewrite DB_SEQ (an
   * erasure) so work from a copy. */
  uint8_t *copy = malloc(l);
  rec r2;
  int e;
  (void)r; (void)seq;
  if (!copy) return STOA_ENOMEM;
  memcpy(copy, b, l);
  if ((e = rec_decode(copy, l, &r2)) == 0) {
    bool valid = trust_check(s->trust, &r2.h) == 0;
    e = ingest__accept(s, txn, &r2, copy, l, IDX_NONE, NULL, valid, &x->c);
    if (!e && memcmp(r2.h.owner, r2.h.signer, KEY_LEN))
      e = ingest__mx_note(s, r2.h.owner, r2.h.signer, r2.h.ts);
  }
  free(copy);
  if (!e) x->c.fresh++;
  return e;
}

static int reindex_body(store *s, MDB_txn *txn, rx_ctx *x) {
  int e;
  memset(&x->c, 0, sizeof x->c);
  for (size_t i = 0; i < sizeof derived / sizeof *derived; i++)
    if ((e = store__err(mdb_drop(txn, s->dbi[derived[i]], 0)))) return e;
  s->tx_docid = 0;
  if ((e = index__ent_begin(s, txn))) return e; /* DB_ENT was dropped */
  if ((e = ingest__jc_begin(s, txn))) return e;
  trust_reset(s->trust);
  s->trust_dirty = true;
  if ((e = each_record(s, txn, rx_trust, NULL, x))) return e;
  if ((e = each_record(s, txn, rx_index, NULL, x))) return e;
  ingest__mx_covered(s); /* every record was noted */
  size_t wrong;
  if ((e = ingest__pend_recount(s, txn, true, &wrong))) return e;
  return ingest__mx_flush(s, txn);
}

static int reindex_fn(store *s, MDB_txn *txn, void *vctx) {
  int e = reindex_body(s, txn, vctx);
  ingest__jc_free(s);
  return e;
}

/* ---- re-judging ------------------------------------------------------------------ */

/* Records of `owner` signed by `signer` dated `from` or later. */
typedef struct rj_scope {
  uint8_t owner[KEY_LEN], signer[KEY_LEN];
  uint64_t from;
} rj_scope;

typedef struct rj_ctx {
  rj_scope *sc;
  size_t ns;
  bool all;
  uint8_t *copy;              /* REC_MAX bytes */
  size_t changed;
} rj_ctx;

static bool rj_concerns(const rj_ctx *x, const rec_header *h) {
  if (x->all) return true;
  for (size_t i = 0; i < x->ns; i++)
    if (h->ts >= x->sc[i].from && !memcmp(h->signer, x->sc[i].signer, KEY_LEN) &&
        !memcmp(h->owner, x->sc[i].owner, KEY_LEN))
      return true;
  return false;
}

/* One record concerned: indexed when valid, void when not.  Returns 1 when
 * it changed (and wrote), 0 when not, or an error. */
static int rj_one(store *s, MDB_txn *txn, const uint8_t *buf, size_t len, rj_ctx *x) {
  rec r;
  int e, st;
  if (len > REC_MAX) return 0;
  memcpy(x->copy, buf, len); /* the updates below write to the map */
  if (rec_decode(x->copy, len, &r)) return 0; /* damaged: verify reports it */
  bool valid = trust_check(s->trust, &r.h) == 0;
  if ((st = index__state(s, txn, &r)) < 0 && st != STOA_ENOTFOUND) return st;
  if (valid && st != 1) e = index__unvoid(s, txn, &r, x->copy, len);
  else if (!valid && st != 0) e = index__void(s, txn, &r);
  else return 0;
  return e ? e : 1;
}

/* The scopes of the transaction's trust events.  A member event may change
 * any network's membership (an admitted network's later votes count), so it
 * concerns every record; a key event concerns its key's records for its
 * network from its time on, and only when some could exist: DB_META's
 * newest timestamp for that (owner, signer), with this transaction's records
 * when they were stored before the event (late). */
static int rj_scopes(store *s, MDB_txn *txn, rj_ctx *x) {
  size_t nev;
  const judge_ev *ev = ingest__added(s, &nev);
  int e;
  for (size_t i = 0; i < nev && !x->all; i++) {
    const trust_event *t = &ev[i].ev;
    uint64_t newest;
    if (t->role == TRUST_MEMBER || !ingest__mx_complete(s)) { x->all = true; break; }
    if (!memcmp(t->owner, t->subject, KEY_LEN)) continue; /* the owner writes as itself */
    if ((e = ingest__mx_get(s, txn, t->owner, t->subject, ev[i].late, &newest))) return e;
    if (newest < t->ts) continue; /* nothing of that key dated from then on */
    size_t j;
    for (j = 0; j < x->ns; j++)
      if (!memcmp(x->sc[j].owner, t->owner, KEY_LEN) && !memcmp(x->sc[j].signer, t->subject, KEY_LEN))
        break;
    if (j == x->ns) {
      memcpy(x->sc[j].owner, t->owner, KEY_LEN);
      memcpy(x->sc[j].signer, t->subject, KEY_LEN);
      x->sc[j].from = t->ts;
      x->ns++;
    } else if (t->ts < x->sc[j].from) {
      x->sc[j].from = t->ts;
    }
  }
  return 0;
}

/* One pass over the insertion sequence.  The cursor is placed again by key
 * after every record that changed, since the updates write to the map. */
static int rj_pass(store *s, MDB_txn *txn, rj_ctx *x) {
  MDB_cursor *cur;
  MDB_val k, d;
  uint8_t kb[8];
  int rc, e = 0;
  if ((rc = mdb_cursor_open(txn, s->dbi[DB_SEQ], &cur))) return store__err(rc);
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
    rec_header h;
    if (k.mv_size != 8 || rec_peek_header(d.mv_data, d.mv_size, &h)) continue;
    if (x->all && memcmp(h.owner, h.signer, KEY_LEN) &&
        (e = ingest__mx_note(s, h.owner, h.signer, h.ts)))
      break;
    if (!rj_concerns(x, &h)) continue;
    memcpy(kb, k.mv_data, 8);
    if ((e = rj_one(s, txn, d.mv_data, d.mv_size, x)) < 0) break;
    if (e == 0) continue;
    e = 0;
    x->changed++;
    k.mv_size = 8;
    k.mv_data = kb;
    if ((rc = mdb_cursor_get(cur, &k, &d, MDB_SET))) break;
  }
  mdb_cursor_close(cur);
  if (e) return e;
  if (rc != MDB_NOTFOUND) return store__err(rc);
  if (x->all) ingest__mx_covered(s); /* every record's timestamp was noted */
  return 0;
}

int store__rejudge(store *s, MDB_txn *txn, size_t *changed) {
  size_t nev;
  rj_ctx x = { NULL, 0, false, NULL, 0 };
  int e;
  if (changed) *changed = 0;
  ingest__added(s, &nev);
  if (!nev) return 0;
  if (!(x.sc = malloc(nev * sizeof *x.sc))) return STOA_ENOMEM;
  if ((e = rj_scopes(s, txn, &x)) || (!x.all && !x.ns)) goto out;
  if (!(x.copy = malloc(REC_MAX))) { e = STOA_ENOMEM; goto out; }
  e = rj_pass(s, txn, &x);
  if (changed) *changed = x.changed;
out:
  free(x.sc);
  free(x.copy);
  return e;
}

/* ---- format upgrades ------------------------------------------------------------ */

#define UPGRADE_CHUNK 1024

/* Rows of db from key `from` on, copied out in chunks by a cursor that is
 * closed before the chunk is rewritten: nothing points into pages that the
 * writes change.  keep() picks the rows; *n gets how many were copied to
 * out (key || value, fixed sizes). */
static int read_rows(MDB_txn *txn, MDB_dbi dbi, const uint8_t *from, size_t klen, size_t vlen,
                     bool (*keep)(const MDB_val *k, const MDB_val *d), uint8_t *out, size_t *n) {
  MDB_cursor *cur;
  uint8_t kb[HASH_LEN];
  MDB_val k = { klen, kb }, d;
  int rc;
  memcpy(kb, from, klen);
  *n = 0;
  if ((rc = mdb_cursor_open(txn, dbi, &cur))) return store__err(rc);
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0 && *n < UPGRADE_CHUNK;
       rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
    if (k.mv_size != klen) { rc = MDB_CORRUPTED; break; }
    if (!keep(&k, &d)) continue;
    memcpy(out + *n * (klen + vlen), k.mv_data, klen);
    if (vlen) memcpy(out + *n * (klen + vlen) + klen, d.mv_data, vlen);
    (*n)++;
  }
  mdb_cursor_close(cur);
  return rc == 0 || rc == MDB_NOTFOUND ? 0 : store__err(rc);
}

static bool seq_row_v1(const MDB_val *k, const MDB_val *d) {
  (void)k;
  return d->mv_size == HASH_LEN;
}

static bool rec_row_v1(const MDB_val *k, const MDB_val *d) {
  (void)k;
  return d->mv_size != 8;
}

/* Puts seq -> envelope and hash -> seq for one record. */
static int upgrade1_put(store *s, MDB_txn *txn, const uint8_t seq[8], const uint8_t hash[HASH_LEN],
                        uint8_t *copy, unsigned seq_flags) {
  MDB_val hk = { HASH_LEN, (void *)hash }, env, sk = { 8, (void *)seq }, sv = { 8, (void *)seq };
  int rc;
  if ((rc = mdb_get(txn, s->dbi[DB_REC], &hk, &env))) return store__err(rc);
  if (env.mv_size > REC_MAX || env.mv_size == 8) return STOA_ECORRUPT;
  memcpy(copy, env.mv_data, env.mv_size);
  env.mv_data = copy;
  if ((rc = mdb_put(txn, s->dbi[DB_SEQ], &sk, &env, seq_flags)) ||
      (rc = mdb_put(txn, s->dbi[DB_REC], &hk, &sv, 0)))
    return store__err(rc);
  return 0;
}

/* Format 1 kept envelopes in DB_REC under their hash and hashes in DB_SEQ;
 * later formats keep envelopes in DB_SEQ (appended in order) and sequence
 * numbers in DB_REC.  (Its token and history layouts a reindex rebuilds.) */
static int upgrade1_rows(store *s, MDB_txn *txn) {
  uint8_t from[HASH_LEN] = { 0 };
  uint8_t *rows = malloc(UPGRADE_CHUNK * (8 + HASH_LEN)), *copy = malloc(REC_MAX);
  size_t n;
  int e = 0;
  if (!rows || !copy) { e = STOA_ENOMEM; goto out; }
  /* seq -> hash and hash -> envelope become seq -> envelope and hash -> seq. */
  for (;;) {
    if ((e = read_rows(txn, s->dbi[DB_SEQ], from, 8, HASH_LEN, seq_row_v1, rows, &n)) || !n) break;
    for (size_t i = 0; i < n && !e; i++)
      e = upgrade1_put(s, txn, rows + i * (8 + HASH_LEN), rows + i * (8 + HASH_LEN) + 8, copy, 0);
    if (e) goto out;
    uint64_t last = get_be64(rows + (n - 1) * (8 + HASH_LEN));
    if (last > s->tx_seq) s->tx_seq = last;
    if (last == UINT64_MAX) break;
    put_be64(from, last + 1);
  }
  if (e) goto out;
  /* A record that had no sequence number (a damaged format 1 store) gets
   * one: records are the source of truth and are never dropped. */
  memset(from, 0, sizeof from);
  for (;;) {
    if ((e = read_rows(txn, s->dbi[DB_REC], from, HASH_LEN, 0, rec_row_v1, rows, &n)) || !n) break;
    for (size_t i = 0; i < n && !e; i++) {
      uint8_t seq[8];
      put_be64(seq, ++s->tx_seq);
      e = upgrade1_put(s, txn, seq, rows + i * HASH_LEN, copy, MDB_APPEND);
    }
    if (e) goto out;
    memcpy(from, rows + (n - 1) * HASH_LEN, HASH_LEN); /* now converted: skipped */
  }
out:
  free(rows);
  free(copy);
  return e;
}

/* Formats up to 3 kept a pending row as why || received || envelope;
 * format 4 puts the source after received (zeros: none known).  The keys
 * are read first, then each row is rewritten. */
static int upgrade3_pending(store *s, MDB_txn *txn) {
  MDB_cursor *cur;
  MDB_val k, d;
  MDB_stat st;
  uint8_t *keys, *val;
  size_t n = 0;
  int rc, e = 0;
  if ((rc = mdb_stat(txn, s->dbi[DB_PEND], &st))) return store__err(rc);
  if (!st.ms_entries) return 0;
  keys = malloc(st.ms_entries * HASH_LEN);
  val = malloc(PEND_HDR + REC_MAX);
  if (!keys || !val) e = STOA_ENOMEM;
  else if ((rc = mdb_cursor_open(txn, s->dbi[DB_PEND], &cur))) e = store__err(rc);
  if (e) {
    free(keys);
    free(val);
    return e;
  }
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0 && n < st.ms_entries;
       rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT))
    if (k.mv_size == HASH_LEN) memcpy(keys + n++ * HASH_LEN, k.mv_data, HASH_LEN);
  mdb_cursor_close(cur);
  for (size_t i = 0; i < n && !e; i++) {
    k = (MDB_val){ HASH_LEN, keys + i * HASH_LEN };
    if ((rc = mdb_get(txn, s->dbi[DB_PEND], &k, &d))) { e = store__err(rc); break; }
    if (d.mv_size < 12 || d.mv_size - 12 > REC_MAX) { /* damaged: the recheck would drop it */
      e = store__err(mdb_del(txn, s->dbi[DB_PEND], &k, NULL));
      continue;
    }
    memcpy(val, d.mv_data, 12);
    memset(val + 12, 0, STORE_SRC_LEN);
    memcpy(val + PEND_HDR, (const uint8_t *)d.mv_data + 12, d.mv_size - 12);
    MDB_val nv = { PEND_HDR + d.mv_size - 12, val };
    e = store__err(mdb_put(txn, s->dbi[DB_PEND], &k, &nv, 0));
  }
  free(keys);
  free(val);
  return e;
}

/* Converts a store of an older format, in one transaction (an interrupted
 * upgrade leaves the old format intact):
 *   1 -> 2  the layout of DB_REC and DB_SEQ (upgrade1_rows), then a reindex;
 *   2 -> 3  reference facets name the owner too (index__ref_hex): a reindex;
 *   3 -> 4  pending rows name their source (upgrade3_pending). */
static int upgrade_fn(store *s, MDB_txn *txn, void *vctx) {
  uint64_t fmt;
  int e;
  /* Another process may have converted the store since it was opened. */
  if ((e = store__meta_u64(txn, s, "format", &fmt)) || !fmt || fmt >= STORE_FORMAT) return e;
  if (fmt == 1 && (e = upgrade1_rows(s, txn))) return e;
  if ((e = upgrade3_pending(s, txn))) return e;
  if (fmt <= 2 && s->has_charter && (e = reindex_fn(s, txn, vctx))) return e;
  return store__meta_put_u64(txn, s, "format", STORE_FORMAT);
}

int store__upgrade(store *s, uint64_t from) {
  rx_ctx x;
  if (from < 1 || from >= STORE_FORMAT) return STOA_EVERSION;
  return store__write(s, upgrade_fn, &x);
}

int store_reindex(store *s, store_counts *c) {
  rx_ctx x;
  if (!s->has_charter) return STOA_ESTATE;
  int e = store__write(s, reindex_fn, &x);
  if (!e && c) c->fresh += x.c.fresh;
  return e;
}

/* ---- verify ---------------------------------------------------------------------- */

typedef struct vf_ctx {
  const store_problem_cb *cb;
  int problems;
  store *s;
  MDB_txn *txn;
  pthread_mutex_t mu;          /* the signature threads report too */
} vf_ctx;

static void report(vf_ctx *v, const char *what, const uint8_t *hash) {
  pthread_mutex_lock(&v->mu);
  v->problems++;
  if (v->cb && v->cb->problem) v->cb->problem(v->cb->ctx, what, hash);
  pthread_mutex_unlock(&v->mu);
}

/* ---- signatures, on every core --------------------------------------------- */

/* Checking signatures is most of verify's work (~50 us a record, the rest
 * ~30).  Threads check them over ranges of the insertion sequence, each in
 * a read transaction of its own, while the calling thread checks the
 * indexes. */
#define SIG_THREADS_MAX 16

typedef struct sig_job {
  vf_ctx *v;
  uint64_t lo, hi;             /* sequence numbers [lo, hi) */
  pthread_t th;
  bool started;
  int err;
} sig_job;

static void *sig_run(void *arg) {
  sig_job *j = arg;
  store *s = j->v->s;
  MDB_txn *txn;
  MDB_cursor *cur;
  uint8_t kb[8];
  MDB_val k = { 8, kb }, d;
  int rc;
  if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))) { j->err = store__err(rc); return NULL; }
  if ((rc = mdb_cursor_open(txn, s->dbi[DB_SEQ], &cur))) {
    j->err = store__err(rc);
    mdb_txn_abort(txn);
    return NULL;
  }
  put_be64(kb, j->lo);
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0 && k.mv_size == 8 && get_be64(k.mv_data) < j->hi;
       rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
    rec r;
    if (rec_peek(d.mv_data, d.mv_size, &r)) continue; /* the index pass reports it */
    if (rec_verify(&r, s->ch.id)) report(j->v, "signature does not verify", r.hash);
  }
  if (rc && rc != MDB_NOTFOUND) j->err = store__err(rc);
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  return NULL;
}

/* Starts the threads over [1, last]; a thread that cannot start leaves
 * its range to sig_finish, on the calling thread. */
static size_t sig_start(vf_ctx *v, sig_job *jobs, uint64_t last) {
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  size_t n = ncpu < 1 ? 1 : ncpu > SIG_THREADS_MAX ? SIG_THREADS_MAX : (size_t)ncpu;
  uint64_t step = last / n + 1;
  for (size_t i = 0; i < n; i++) {
    jobs[i] = (sig_job){ v, 1 + i * step, i + 1 == n ? UINT64_MAX : 1 + (i + 1) * step, 0, false, 0 };
    jobs[i].started = pthread_create(&jobs[i].th, NULL, sig_run, &jobs[i]) == 0;
  }
  return n;
}

static int sig_finish(sig_job *jobs, size_t n) {
  int e = 0;
  for (size_t i = 0; i < n; i++) {
    if (jobs[i].started) pthread_join(jobs[i].th, NULL);
    else sig_run(&jobs[i]);
    if (jobs[i].err && !e) e = jobs[i].err;
  }
  return e;
}

/* A record that no longer decodes: its hash is found in the record index
 * (a scan, but damage is rare and verify reads everything anyway). */
static void vf_bad(void *ctx, uint64_t seq) {
  vf_ctx *v = ctx;
  MDB_cursor *cur;
  MDB_val k, d;
  uint8_t hash[HASH_LEN];
  bool found = false;
  if (mdb_cursor_open(v->txn, v->s->dbi[DB_REC], &cur) == 0) {
    for (int rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0 && !found;
         rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT))
      if (k.mv_size == HASH_LEN && d.mv_size == 8 && get_be64(d.mv_data) == seq) {
        memcpy(hash, k.mv_data, HASH_LEN);
        found = true;
      }
    mdb_cursor_close(cur);
  }
  report(v, "record no longer decodes (damaged)", found ? hash : NULL);
}

static int vf_record(store *s, MDB_txn *txn, uint64_t seq, const rec *r, const uint8_t *b, size_t l,
                     void *ctx) {
  vf_ctx *v = ctx;
  uint8_t hk[EKEY_LEN + 8 + HASH_LEN];
  schema_error why;
  ent_val ev;
  (void)b; (void)l; /* the signature: sig_run */
  if (r->body && schema_check(r->h.kind, r->body, r->body_len, &why)) report(v, "body breaks its schema", r->hash);
  MDB_val k = { HASH_LEN, (void *)r->hash }, d;
  if (mdb_get(txn, s->dbi[DB_REC], &k, &d) || d.mv_size != 8 || get_be64(d.mv_data) != seq)
    report(v, "missing from the record index", r->hash);
  /* A record the trust state does not make valid is held void: in the
   * record set, in no index (docs/trust.md, "Re-judging"). */
  if (trust_check(s->trust, &r->h)) {
    int st = index__state(s, txn, r);
    if (st == 1) report(v, "indexed, but its signer is not trusted for the owner at the record's time", r->hash);
    else if (st != 0) report(v, "held void, but not marked so in the history index", r->hash);
    return 0;
  }
  memcpy(hk, r->h.id, ID_LEN);
  memcpy(hk + ID_LEN, r->h.owner, KEY_LEN);
  k.mv_size = EKEY_LEN;
  k.mv_data = hk;
  if (mdb_get(txn, s->dbi[DB_ENT], &k, &d) || ent_val_unpack(&d, &ev)) {
    report(v, "its entry is missing from the entry index", r->hash);
    return 0;
  }
  if (ev.versions == 1) { /* its only version lives in the entry row */
    if (memcmp(ev.hash, r->hash, HASH_LEN)) report(v, "missing from the history index", r->hash);
    return 0;
  }
  put_be64(hk + EKEY_LEN, r->h.ts);
  memcpy(hk + EKEY_LEN + 8, r->hash, HASH_LEN);
  k.mv_size = sizeof hk;
  if (mdb_get(txn, s->dbi[DB_HIST], &k, &d)) report(v, "missing from the history index", r->hash);
  else if (d.mv_size) report(v, "valid, but marked void in the history index", r->hash);
  return 0;
}

/* Every entry: its history holds as many versions as it counts (none when
 * it has one), its current version is the newest of them, and its document
 * row holds exactly the tokens its body gives. */
static int vf_entries(store *s, MDB_txn *txn, vf_ctx *v) {
  char *toks = s->scr ? s->scr->toks : NULL;
  MDB_cursor *cur;
  MDB_val k, d;
  int rc;
  if ((rc = mdb_cursor_open(txn, s->dbi[DB_ENT], &cur))) return store__err(rc);
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
    ent_val ev;
    if (k.mv_size != EKEY_LEN || ent_val_unpack(&d, &ev)) { report(v, "malformed entry index row", NULL); continue; }
    uint8_t hk[EKEY_LEN + 8 + HASH_LEN] = { 0 }, last[HASH_LEN];
    uint32_t rows = 0;
    memcpy(hk, k.mv_data, EKEY_LEN);
    MDB_cursor *hc;
    MDB_val hkv = { sizeof hk, hk }, hd;
    if (mdb_cursor_open(txn, s->dbi[DB_HIST], &hc)) continue;
    for (int hr = mdb_cursor_get(hc, &hkv, &hd, MDB_SET_RANGE); hr == 0;
         hr = mdb_cursor_get(hc, &hkv, &hd, MDB_NEXT)) {
      if (hkv.mv_size != sizeof hk || memcmp(hkv.mv_data, k.mv_data, EKEY_LEN)) break;
      if (hd.mv_size) continue; /* a void version */
      memcpy(last, (uint8_t *)hkv.mv_data + EKEY_LEN + 8, HASH_LEN);
      rows++;
    }
    mdb_cursor_close(hc);
    if (rows != (ev.versions == 1 ? 0 : ev.versions))
      report(v, "entry's history does not hold its versions", ev.hash);
    else if (rows && memcmp(last, ev.hash, HASH_LEN))
      report(v, "entry's current version is not the newest of its history", ev.hash);
    MDB_val rv;
    rec r;
    if (store__rec_get(s, txn, ev.hash, &rv, NULL) || rec_decode(rv.mv_data, rv.mv_size, &r)) {
      report(v, "entry's current record is missing", ev.hash);
      continue;
    }
    if (!ev.docid) {
      if (r.body && !ev.erased) report(v, "entry is missing from the search index", ev.hash);
      continue;
    }
    uint8_t kb[8];
    put_be64(kb, ev.docid);
    MDB_val dk = { 8, kb }, dv;
    size_t tl;
    if (mdb_get(txn, s->dbi[DB_DOC], &dk, &dv) || dv.mv_size < EKEY_LEN + 1 ||
        memcmp(dv.mv_data, k.mv_data, EKEY_LEN)) {
      report(v, "entry's search document is missing", ev.hash);
      continue;
    }
    if (!r.body || !toks ||
        index__doc_tokens(r.h.kind, r.body, r.body_len, toks, DOC_TOKENS_MAX, &tl) ||
        tl != dv.mv_size - EKEY_LEN - 1 || memcmp(toks, (uint8_t *)dv.mv_data + EKEY_LEN + 1, tl))
      report(v, "entry's search document does not match its body", ev.hash);
  }
  mdb_cursor_close(cur);
  return rc == MDB_NOTFOUND ? 0 : store__err(rc);
}

int store_verify(store *s, const store_problem_cb *cb) {
  MDB_txn *txn;
  MDB_stat a, b;
  MDB_cursor *cur;
  MDB_val lk, ld;
  vf_ctx v = { cb, 0, s, NULL, PTHREAD_MUTEX_INITIALIZER };
  sig_job jobs[SIG_THREADS_MAX];
  size_t njobs = 0;
  uint64_t last = 0;
  int rc, e, se;
  if (!s->has_charter) return STOA_ESTATE;
  if (!s->scr && !(s->scr = malloc(sizeof *s->scr))) return STOA_ENOMEM;
  if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))) return store__err(rc);
  v.txn = txn;
  if ((e = store__trust_sync(s, txn))) goto out;
  if ((rc = mdb_cursor_open(txn, s->dbi[DB_SEQ], &cur))) { e = store__err(rc); goto out; }
  if (!mdb_cursor_get(cur, &lk, &ld, MDB_LAST) && lk.mv_size == 8) last = get_be64(lk.mv_data);
  mdb_cursor_close(cur);
  njobs = sig_start(&v, jobs, last);
  if (!mdb_stat(txn, s->dbi[DB_REC], &a) && !mdb_stat(txn, s->dbi[DB_SEQ], &b) && a.ms_entries != b.ms_entries)
    report(&v, "records and insertion sequence differ in number", NULL);
  if ((e = each_record(s, txn, vf_record, vf_bad, &v))) goto out;
  size_t wrong;
  if ((e = ingest__pend_recount(s, txn, false, &wrong))) goto out;
  if (wrong) report(&v, "pending records' counts per peer disagree with the pending area (reindex rewrites them)", NULL);
  e = vf_entries(s, txn, &v);
out:
  se = sig_finish(jobs, njobs); /* also after a failure: the threads use v */
  mdb_txn_abort(txn);
  pthread_mutex_destroy(&v.mu);
  e = e ? e : se;
  return e ? e : v.problems;
}
