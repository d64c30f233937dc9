/*
 * store.c - the LMDB environment: open, growth, transactions, reads.
 */
#include "store/store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/err.h"

static const char *const db_names[DB__COUNT] = {
  "meta", "rec", "seq", "ent", "hist", "doc", "fts", "voc", "trust", "erasev",
  "erased", "pend",
};

int store__err(int rc) {
  switch (rc) {
  case MDB_SUCCESS: return 0;
  case MDB_NOTFOUND: return STOA_ENOTFOUND;
  case MDB_MAP_FULL: return STOA_ENOSPACE;
  case MDB_CORRUPTED: case MDB_PAGE_NOTFOUND: case MDB_INVALID:
  case MDB_VERSION_MISMATCH: case MDB_BAD_DBI: return STOA_ECORRUPT;
  default: return rc > 0 ? -rc : STOA_ESTORE;
  }
}

int store__sort(sort_ent *v, size_t n, int (*cmp)(const void *ctx, uint64_t a, uint64_t b),
                const void *ctx) {
  sort_ent *tmp, *src = v, *dst;
  if (n < 2) return 0;
  if (!(tmp = malloc(n * sizeof *tmp))) return STOA_ENOMEM;
  dst = tmp;
  for (int shift = 0; shift < 64; shift += 8) {
    size_t cnt[256] = { 0 };
    for (size_t i = 0; i < n; i++) cnt[(src[i].key >> shift) & 255]++;
    if (cnt[(src[0].key >> shift) & 255] == n) continue; /* one bucket: nothing to do */
    size_t pos = 0;
    for (int b = 0; b < 256; b++) {
      size_t c = cnt[b];
      cnt[b] = pos;
      pos += c;
    }
    for (size_t i = 0; i < n; i++) dst[cnt[(src[i].key >> shift) & 255]++] = src[i];
    sort_ent *t = src;
    src = dst;
    dst = t;
  }
  if (src != v) memcpy(v, src, n * sizeof *v);
  free(tmp);
  /* Equal prefixes: insertion sort of each run by the whole key. */
  for (size_t i = 1; i < n; i++) {
    if (v[i].key != v[i - 1].key) continue;
    sort_ent x = v[i];
    size_t j = i;
    while (j > 0 && v[j - 1].key == x.key && cmp(ctx, v[j - 1].idx, x.idx) > 0) {
      v[j] = v[j - 1];
      j--;
    }
    v[j] = x;
  }
  return 0;
}

void ent_val_pack(const ent_val *v, uint8_t out[ENT_VAL_LEN]) {
  put_be64(out, v->docid);
  put_be64(out + 8, v->ts);
  memcpy(out + 16, v->hash, HASH_LEN);
  out[48] = (uint8_t)(v->versions >> 24);
  out[49] = (uint8_t)(v->versions >> 16);
  out[50] = (uint8_t)(v->versions >> 8);
  out[51] = (uint8_t)v->versions;
  out[52] = v->kind;
  out[53] = v->erased;
}

int ent_val_unpack(const MDB_val *d, ent_val *v) {
  const uint8_t *p = d->mv_data;
  if (d->mv_size != ENT_VAL_LEN) return STOA_ECORRUPT;
  v->docid = get_be64(p);
  v->ts = get_be64(p + 8);
  memcpy(v->hash, p + 16, HASH_LEN);
  v->versions = (uint32_t)p[48] << 24 | (uint32_t)p[49] << 16 | (uint32_t)p[50] << 8 | p[51];
  v->kind = p[52];
  v->erased = p[53];
  return 0;
}

int store__meta_u64(MDB_txn *txn, store *s, const char *key, uint64_t *v) {
  MDB_val k = { strlen(key), (void *)key }, d;
  int rc = mdb_get(txn, s->dbi[DB_META], &k, &d);
  if (rc == MDB_NOTFOUND) { *v = 0; return 0; }
  if (rc) return store__err(rc);
  if (d.mv_size != 8) return STOA_ECORRUPT;
  *v = get_be64(d.mv_data);
  return 0;
}

int store__meta_put_u64(MDB_txn *txn, store *s, const char *key, uint64_t v) {
  uint8_t b[8];
  put_be64(b, v);
  MDB_val k = { strlen(key), (void *)key }, d = { 8, b };
  return store__err(mdb_put(txn, s->dbi[DB_META], &k, &d, 0));
}

static int load_charter(store *s, MDB_txn *txn) {
  MDB_val k = { 7, (void *)"charter" }, d;
  int rc = mdb_get(txn, s->dbi[DB_META], &k, &d);
  if (rc == MDB_NOTFOUND) return 0;
  if (rc) return store__err(rc);
  int e = charter_decode(d.mv_data, d.mv_size, &s->ch);
  if (e) return STOA_ECORRUPT;
  s->has_charter = true;
  trust_free(s->trust);
  trust_free(s->rtrust);
  s->trust = s->rtrust = NULL;
  if ((e = trust_new(&s->trust, &s->ch)) || (e = trust_new(&s->rtrust, &s->ch))) return e;
  s->trust_gen = s->rtrust_gen = UINT64_MAX; /* force a replay on first use */
  return 0;
}

/* The envelope of a record by hash; in a write transaction, also among
 * the rows the batch will write (claims: the writer's state, which a
 * reader on another thread must not touch). */
static int rec_get(store *s, MDB_txn *txn, const uint8_t hash[HASH_LEN], MDB_val *env,
                   uint64_t *seq, bool claims) {
  MDB_val k = { HASH_LEN, (void *)hash }, d;
  uint8_t sk[8];
  uint64_t claimed = claims ? ingest__claimed(s, txn, hash) : 0;
  if (claimed) {
    put_be64(sk, claimed);
  } else {
    int rc = mdb_get(txn, s->dbi[DB_REC], &k, &d);
    if (rc) return store__err(rc);
    if (d.mv_size != 8) return STOA_ECORRUPT;
    memcpy(sk, d.mv_data, 8);
  }
  if (seq) *seq = get_be64(sk);
  k.mv_size = 8;
  k.mv_data = sk;
  int rc = mdb_get(txn, s->dbi[DB_SEQ], &k, env);
  return rc == MDB_NOTFOUND ? STOA_ECORRUPT : store__err(rc);
}

int store__rec_get(store *s, MDB_txn *txn, const uint8_t hash[HASH_LEN], MDB_val *env,
                   uint64_t *seq) {
  return rec_get(s, txn, hash, env, seq, true);
}

static int open_dbs(store *s, MDB_txn *txn, unsigned flags) {
  for (int i = 0; i < DB__COUNT; i++) {
    int rc = mdb_dbi_open(txn, db_names[i], flags, &s->dbi[i]);
    if (rc) return store__err(rc);
  }
  return 0;
}

/* Creates and opens the environment at dir.  Once more after a compaction
 * (compact.c): a process that waited for one on lock.mdb finds it emptied
 * and fails with EINVAL; the next attempt lays it out afresh, or fails the
 * same while another such waiter still holds it. */
static int env_open(MDB_env **out, const char *dir, size_t map_size, bool read_only) {
  char lock[4200];
  struct stat sb;
  int rc;
  snprintf(lock, sizeof lock, "%s/lock.mdb", dir);
  for (int i = 0;; i++) {
    MDB_env *env;
    if ((rc = mdb_env_create(&env))) return rc;
    if (!(rc = mdb_env_set_maxdbs(env, DB__COUNT)) && !(rc = mdb_env_set_maxreaders(env, 254)) &&
        !(rc = mdb_env_set_mapsize(env, map_size)) &&
        !(rc = mdb_env_open(env, dir, MDB_NOTLS | (read_only ? MDB_RDONLY : 0), 0600))) {
      *out = env;
      return 0;
    }
    mdb_env_close(env);
    if (rc != EINVAL || i == 50 || stat(lock, &sb) || sb.st_size) return rc;
    usleep(10000);
  }
}

/*
 * A store in the current format is opened in a read transaction: commands
 * that only read never take the writer's lock, so they neither wait for a
 * long import nor hold one up.  Only a new store (or one in an older format,
 * which is converted here) needs a write transaction.
 */
int store_open(store **out, const char *dir, const store_opts *o) {
  store *s = calloc(1, sizeof *s);
  MDB_txn *txn = NULL;
  uint64_t fmt = 0;
  int rc, e = 0, dead;
  if (!s) return STOA_ENOMEM;
  pthread_mutex_init(&s->wmu, NULL);
  if (o) s->o = *o;
  if (!s->o.map_size) s->o.map_size = (size_t)64 << 20;
  if (!s->o.pending_max) s->o.pending_max = 10000;
  if (mkdir(dir, 0700) && errno != EEXIST) { e = -errno; goto out; }
  /* A larger map may already have been set by another process: LMDB keeps
   * the larger of the file's and ours. */
  if ((rc = env_open(&s->env, dir, s->o.map_size, s->o.read_only))) {
    e = store__err(rc);
    goto out;
  }
  mdb_reader_check(s->env, &dead); /* clear slots of killed processes */
  if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))) {
    e = store__err(rc);
    goto out;
  }
  if ((e = open_dbs(s, txn, 0)) == 0 && (e = store__meta_u64(txn, s, "format", &fmt)) == 0 &&
      fmt == STORE_FORMAT) {
    if ((e = load_charter(s, txn))) goto out;
    rc = mdb_txn_commit(txn); /* keeps the database handles */
    txn = NULL;
    if (rc) { e = store__err(rc); goto out; }
    goto done;
  }
  if (!e && fmt > STORE_FORMAT) { e = STOA_EVERSION; goto out; }
  if (s->o.read_only) {
    if (!e) e = fmt ? STOA_EVERSION : STOA_ENOTFOUND;
    goto out;
  }
  mdb_txn_abort(txn); /* and the handles it opened */
  if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn))) {
    txn = NULL;
    e = store__err(rc);
    goto out;
  }
  if ((e = open_dbs(s, txn, MDB_CREATE)) || (e = store__meta_u64(txn, s, "format", &fmt))) goto out;
  if (fmt > STORE_FORMAT) { e = STOA_EVERSION; goto out; }
  if (!fmt && (e = store__meta_put_u64(txn, s, "format", STORE_FORMAT))) goto out;
  if ((e = load_charter(s, txn))) goto out;
  rc = mdb_txn_commit(txn);
  txn = NULL;
  if (rc) { e = store__err(rc); goto out; }
  if (fmt && fmt < STORE_FORMAT && (e = store__upgrade(s, fmt))) goto out;
done:
  *out = s;
  s = NULL; /* owned by the caller */
out:
  if (txn) mdb_txn_abort(txn);
  if (s) store_close(s);
  return e;
}

void store_close(store *s) {
  if (!s) return;
  index__acc_free(s);
  index__ent_free(s);
  ingest__claims_free(s);
  free(s->scr);
  if (s->env) mdb_env_close(s->env);
  trust_free(s->trust);
  trust_free(s->rtrust);
  pthread_mutex_destroy(&s->wmu);
  free(s);
}

const charter *store_charter(const store *s) { return s->has_charter ? &s->ch : NULL; }

static int set_charter_fn(store *s, MDB_txn *txn, void *ctx) {
  const MDB_val *v = ctx;
  MDB_val k = { 7, (void *)"charter" }, d = *v;
  return store__err(mdb_put(txn, s->dbi[DB_META], &k, &d, MDB_NOOVERWRITE));
}

int store_set_charter(store *s, const uint8_t *buf, size_t len) {
  charter c;
  int e = charter_decode(buf, len, &c);
  if (e) return e;
  if (s->has_charter) return STOA_EEXISTS;
  MDB_val v = { len, (void *)buf };
  if ((e = store__write(s, set_charter_fn, &v))) return e == STOA_ENOTFOUND ? STOA_EEXISTS : e;
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
  if (rc) return store__err(rc);
  e = load_charter(s, txn);
  mdb_txn_abort(txn);
  return e;
}

int store_charter_bytes(store *s, uint8_t **buf, size_t *len) {
  MDB_txn *txn;
  MDB_val k = { 7, (void *)"charter" }, d;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
  if (rc) return store__err(rc);
  rc = mdb_get(txn, s->dbi[DB_META], &k, &d);
  int e = store__err(rc);
  if (!e) {
    *buf = malloc(d.mv_size);
    if (!*buf) e = STOA_ENOMEM;
    else { memcpy(*buf, d.mv_data, d.mv_size); *len = d.mv_size; }
  }
  mdb_txn_abort(txn);
  return e;
}

/* ---- trust state --------------------------------------------------------- */

/* Every DB_TRUST row as an event, in replay order (ts, hash). */
static int trust_each(store *s, MDB_txn *txn, store_trust_cb fn, void *ctx) {
  MDB_cursor *cur;
  MDB_val k, d;
  int rc, e = 0;
  if ((rc = mdb_cursor_open(txn, s->dbi[DB_TRUST], &cur))) return store__err(rc);
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
    trust_event ev;
    const uint8_t *p = d.mv_data;
    if (k.mv_size != 8 + HASH_LEN || d.mv_size != 2 + 2 * KEY_LEN) { e = STOA_ECORRUPT; break; }
    ev.ts = get_be64(k.mv_data);
    memcpy(ev.hash, (uint8_t *)k.mv_data + 8, HASH_LEN);
    ev.kind = p[0];
    ev.role = p[1];
    memcpy(ev.owner, p + 2, KEY_LEN);
    memcpy(ev.subject, p + 2 + KEY_LEN, KEY_LEN);
    if ((e = fn(ctx, &ev))) break;
  }
  mdb_cursor_close(cur);
  if (!e && rc != MDB_NOTFOUND) e = store__err(rc);
  return e;
}

static int replay_one(void *ctx, const trust_event *ev) {
  int e = trust_apply(ctx, ev);
  return e < 0 ? e : 0;
}

static int trust_replay_into(store *s, MDB_txn *txn, trust_state *t) {
  trust_reset(t);
  return trust_each(s, txn, replay_one, t);
}

int store__trust_replay(store *s, MDB_txn *txn) { return trust_replay_into(s, txn, s->trust); }

/* Brings the state t (of generation *tgen) to what txn sees. */
static int trust_sync_into(store *s, MDB_txn *txn, trust_state *t, uint64_t *tgen) {
  uint64_t gen;
  int e;
  if (!s->has_charter) return 0;
  if ((e = store__meta_u64(txn, s, "tgen", &gen))) return e;
  if (gen == *tgen) return 0;
  *tgen = UINT64_MAX; /* half replayed if this fails: again next time */
  if ((e = trust_replay_into(s, txn, t))) return e;
  *tgen = gen;
  return 0;
}

int store__trust_sync(store *s, MDB_txn *txn) {
  return trust_sync_into(s, txn, s->trust, &s->trust_gen);
}

/* ---- write transactions -------------------------------------------------- */

/* The body of a write transaction: fn between loading the counters and
 * writing them back with the batch's postings. */
static int write_txn(store *s, MDB_txn *txn, int (*fn)(store *s, MDB_txn *txn, void *ctx),
                     void *ctx) {
  uint64_t seq0, doc0;
  int e;
  if (!s->scr && !(s->scr = malloc(sizeof *s->scr))) return STOA_ENOMEM;
  if ((e = store__trust_sync(s, txn)) || (e = index__acc_begin(s)) ||
      (e = index__ent_begin(s, txn)) || (e = store__meta_u64(txn, s, "seq", &seq0)) ||
      (e = store__meta_u64(txn, s, "docid", &doc0)))
    return e;
  s->tx_seq = seq0;
  s->tx_docid = doc0;
  MDB_stat st;
  s->tx_pend_any = mdb_stat(txn, s->dbi[DB_PEND], &st) || st.ms_entries;
  s->tx_erased_any = mdb_stat(txn, s->dbi[DB_ERASED], &st) || st.ms_entries;
  if ((e = fn(s, txn, ctx)) || (e = index__acc_flush(s, txn)) || (e = index__ent_flush(s, txn)))
    return e;
  if (s->tx_seq != seq0 && (e = store__meta_put_u64(txn, s, "seq", s->tx_seq))) return e;
  if (s->tx_docid != doc0 && (e = store__meta_put_u64(txn, s, "docid", s->tx_docid))) return e;
  return 0;
}

/* ---- a failed commit ------------------------------------------------------ */

typedef struct own_readers { char pid[24]; int live; } own_readers;

/* mdb_reader_list's lines: "pid thread txnid", txnid "-" for a free slot. */
static int own_reader_cb(const char *msg, void *ctx) {
  own_readers *o = ctx;
  char pid[24], thr[24], txn[24];
  if (sscanf(msg, "%23s %23s %23s", pid, thr, txn) == 3 && !strcmp(pid, o->pid) && strcmp(txn, "-"))
    o->live++;
  return 0;
}

/*
 * When the write of a meta page fails (the last step of a commit: a full or
 * failing disk), LMDB marks the environment fatal, and every transaction
 * after that fails with MDB_PANIC, even once the disk is back: a daemon
 * would never write nor read again.  The file itself is intact (the meta
 * page is the commit point, and the pages before it were synced), so the
 * environment is closed and opened again.  Only when this process has no
 * read snapshot open (closing the environment would pull it from under
 * its reader); the cost is one open, once per such failure.
 */
static int store__revive(store *s) {
  const char *p;
  char dir[4096];
  own_readers o = { "", 0 };
  MDB_envinfo info;
  MDB_txn *txn = NULL;
  int rc, e;
  if (mdb_env_get_path(s->env, &p) || strlen(p) >= sizeof dir) return STOA_ESTORE;
  snprintf(dir, sizeof dir, "%s", p);
  snprintf(o.pid, sizeof o.pid, "%d", (int)getpid());
  mdb_reader_list(s->env, own_reader_cb, &o);
  if (o.live) return STOA_ESTORE;
  mdb_env_info(s->env, &info);
  mdb_env_close(s->env);
  s->env = NULL;
  if ((rc = env_open(&s->env, dir, info.me_mapsize, s->o.read_only)) ||
      (rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))) {
    if (s->env && rc) { mdb_env_close(s->env); s->env = NULL; }
    return store__err(rc);
  }
  if ((e = open_dbs(s, txn, 0))) {
    mdb_txn_abort(txn);
    return e;
  }
  s->trust_gen = s->rtrust_gen = UINT64_MAX;
  return store__err(mdb_txn_commit(txn)); /* keeps the database handles */
}

/* Set while this thread runs store_ingest_bg: readers may be inside the
 * environment on another thread, so it must not be remapped nor reopened. */
static _Thread_local bool store__bg;

static int store__write_locked(store *s, int (*fn)(store *s, MDB_txn *txn, void *ctx), void *ctx) {
  if (!s->env) return STOA_ESTORE; /* store__revive could not open it again */
  for (int attempt = 0; attempt < 40; attempt++) {
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn), e;
    if ((rc == MDB_MAP_RESIZED || rc == MDB_PANIC) && store__bg) return -EAGAIN;
    if (rc == MDB_MAP_RESIZED) { /* another process grew the map */
      mdb_env_set_mapsize(s->env, 0);
      continue;
    }
    if (rc == MDB_PANIC && store__revive(s) == 0) continue; /* an earlier commit failed */
    if (rc) return store__err(rc);
    s->trust_dirty = false;
    e = write_txn(s, txn, fn, ctx);
    if (!e) {
      if (s->trust_dirty) {
        uint64_t gen;
        if ((e = store__meta_u64(txn, s, "tgen", &gen)) == 0 &&
            (e = store__meta_put_u64(txn, s, "tgen", gen + 1)) == 0)
          s->trust_gen = gen + 1;
      }
      if (!e) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
        e = store__err(rc);
      }
    }
    if (txn) mdb_txn_abort(txn);
    /* LMDB reuses a write txn's memory: what was kept for this one goes. */
    index__ent_begin(s, NULL);
    ingest__claims_reset(s);
    if (e && s->trust_dirty) s->trust_gen = UINT64_MAX; /* in-memory state is ahead: reload */
    if (e != STOA_ENOSPACE) return e;
    /* Map full: nothing was written.  Grow and run the batch again. */
    if (store__bg) return -EAGAIN;
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    size_t next = info.me_mapsize * 2;
    if ((rc = mdb_env_set_mapsize(s->env, next))) return store__err(rc);
    s->trust_gen = UINT64_MAX;
  }
  return STOA_ENOSPACE;
}

int store__write(store *s, int (*fn)(store *s, MDB_txn *txn, void *ctx), void *ctx) {
  if (s->o.read_only) return STOA_ESTATE;
  pthread_mutex_lock(&s->wmu);
  int e = store__write_locked(s, fn, ctx);
  pthread_mutex_unlock(&s->wmu);
  return e;
}

int store_ingest_bg(store *s, store_item *items, size_t n, uint64_t now, store_counts *c) {
  store__bg = true;
  int e = store_ingest(s, items, n, now, c);
  store__bg = false;
  return e;
}

void store_writer_busy(store *s, bool busy) { s->writer_busy = busy; }

int store_reserve(store *s, size_t bytes) {
  MDB_envinfo info;
  MDB_stat st;
  own_readers o = { "", 0 };
  int rc;
  if (!s->env || s->o.read_only) return 0;
  pthread_mutex_lock(&s->wmu);
  if ((rc = mdb_env_info(s->env, &info)) || (rc = mdb_env_stat(s->env, &st))) goto out;
  size_t used = ((size_t)info.me_last_pgno + 1) * st.ms_psize, size = info.me_mapsize;
  if (used <= size && size - used >= bytes) goto out;
  while (size < used + bytes && size < SIZE_MAX / 2) size *= 2;
  snprintf(o.pid, sizeof o.pid, "%d", (int)getpid());
  mdb_reader_list(s->env, own_reader_cb, &o);
  if (o.live) {
    pthread_mutex_unlock(&s->wmu);
    return -EBUSY;
  }
  if ((rc = mdb_env_set_mapsize(s->env, size)) == 0) s->trust_gen = UINT64_MAX;
out:
  pthread_mutex_unlock(&s->wmu);
  return store__err(rc);
}

/* ---- reading ---------------------------------------------------------------- */

int store_rd_begin(store *s, store_rd **out) {
  store_rd *rd;
  int rc;
  if (!s->env) return STOA_ESTORE; /* store__revive could not open it again */
  if (!(rd = calloc(1, sizeof *rd))) return STOA_ENOMEM;
  rd->s = s;
  for (;;) {
    rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &rd->txn);
    /* Not while another thread writes (store_writer_busy): this read
     * fails, and the next one after that write may mend the environment. */
    if (s->writer_busy) break;
    if (rc == MDB_PANIC && store__revive(s) == 0) continue; /* an earlier commit failed */
    if (rc != MDB_MAP_RESIZED) break;
    mdb_env_set_mapsize(s->env, 0);
  }
  if (rc) { free(rd); return store__err(rc); }
  *out = rd;
  return 0;
}

void store_rd_end(store_rd *rd) {
  if (!rd) return;
  mdb_txn_abort(rd->txn);
  free(rd);
}

int store_get(store_rd *rd, const uint8_t hash[HASH_LEN], const uint8_t **buf, size_t *len) {
  MDB_val d;
  int e = rec_get(rd->s, rd->txn, hash, &d, NULL, false);
  if (e) return e;
  *buf = d.mv_data;
  *len = d.mv_size;
  return 0;
}

bool store_has(store_rd *rd, const uint8_t hash[HASH_LEN]) {
  MDB_val k = { HASH_LEN, (void *)hash }, d;
  return mdb_get(rd->txn, rd->s->dbi[DB_REC], &k, &d) == 0;
}

bool store_known(store_rd *rd, const uint8_t hash[HASH_LEN]) {
  MDB_val k = { HASH_LEN, (void *)hash }, d;
  return mdb_get(rd->txn, rd->s->dbi[DB_REC], &k, &d) == 0 ||
         mdb_get(rd->txn, rd->s->dbi[DB_PEND], &k, &d) == 0;
}

static void fill_entry(store_entry *out, const uint8_t dbkey[EKEY_LEN], const ent_val *v) {
  dbkey_to_ekey(dbkey, out->ekey);
  out->kind = v->kind;
  out->ts = v->ts;
  memcpy(out->hash, v->hash, HASH_LEN);
  out->versions = v->versions;
  out->erased = v->erased;
}

int store_entry_get(store_rd *rd, const uint8_t ekey[EKEY_LEN], store_entry *out) {
  uint8_t dk[EKEY_LEN];
  ekey_to_dbkey(ekey, dk);
  MDB_val k = { EKEY_LEN, dk }, d;
  ent_val v;
  int rc = mdb_get(rd->txn, rd->s->dbi[DB_ENT], &k, &d), e;
  if (rc) return store__err(rc);
  if ((e = ent_val_unpack(&d, &v))) return e;
  fill_entry(out, dk, &v);
  return 0;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int store_resolve(store_rd *rd, const char *hex, store_entry *out) {
  size_t n = strlen(hex);
  uint8_t lo[EKEY_LEN] = { 0 };
  MDB_cursor *cur;
  MDB_val k, d;
  int rc, e = 0, found = 0;

  if (n < 4 || n > 2 * ID_LEN) return STOA_EINVAL;
  for (size_t i = 0; i < n; i++) {
    int v = hexval(hex[i]);
    if (v < 0) return STOA_EINVAL;
    lo[i / 2] |= (uint8_t)(i % 2 ? v : v << 4);
  }
  if ((rc = mdb_cursor_open(rd->txn, rd->s->dbi[DB_ENT], &cur))) return store__err(rc);
  k.mv_size = EKEY_LEN;
  k.mv_data = lo;
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
    const uint8_t *kb = k.mv_data;
    size_t i;
    for (i = 0; i < n; i++) {
      int nib = i % 2 ? kb[i / 2] & 15 : kb[i / 2] >> 4;
      if (nib != hexval(hex[i])) break;
    }
    if (i < n) break;
    ent_val v;
    if ((e = ent_val_unpack(&d, &v))) break;
    if (!rec_kind_is_entry(v.kind) && found) continue; /* prefer directory entries */
    if (found && rec_kind_is_entry(out->kind)) { e = STOA_EAMBIGUOUS; break; }
    fill_entry(out, kb, &v);
    found = 1;
  }
  mdb_cursor_close(cur);
  if (e) return e;
  return found ? 0 : STOA_ENOTFOUND;
}

int store_history(store_rd *rd, const uint8_t ekey[EKEY_LEN], store_version_cb cb, void *ctx) {
  uint8_t dk[EKEY_LEN];
  ekey_to_dbkey(ekey, dk);
  int e = index__versions(rd->s, rd->txn, dk, cb, ctx);
  return e == STOA_ENOTFOUND ? 0 : e;
}

int store_scan(store_rd *rd, uint64_t from, store_seq_cb cb, void *ctx) {
  uint8_t kb[8];
  MDB_cursor *cur;
  MDB_val k = { 8, kb }, d;
  int rc, e = 0;
  put_be64(kb, from);
  if ((rc = mdb_cursor_open(rd->txn, rd->s->dbi[DB_SEQ], &cur))) return store__err(rc);
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
    if (k.mv_size != 8) { e = STOA_ECORRUPT; break; }
    if ((e = cb(ctx, get_be64(k.mv_data), d.mv_data, d.mv_size))) break;
  }
  mdb_cursor_close(cur);
  return e;
}

uint64_t store_last_seq(store_rd *rd) {
  uint64_t v = 0;
  store__meta_u64(rd->txn, rd->s, "seq", &v);
  return v;
}

const trust_state *store_trust(store_rd *rd) {
  store *s = rd->s;
  if (!s->has_charter) return NULL;
  if (trust_sync_into(s, rd->txn, s->rtrust, &s->rtrust_gen)) return NULL;
  return s->rtrust;
}

int store_trust_events(store_rd *rd, store_trust_cb cb, void *ctx) {
  return trust_each(rd->s, rd->txn, cb, ctx);
}

int store_pending_scan(store_rd *rd, store_seq_cb cb, void *ctx) {
  MDB_cursor *cur;
  MDB_val k, d;
  int rc, e = 0;
  if ((rc = mdb_cursor_open(rd->txn, rd->s->dbi[DB_PEND], &cur))) return store__err(rc);
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
    if (d.mv_size < PEND_HDR) continue;
    if ((e = cb(ctx, 0, (const uint8_t *)d.mv_data + PEND_HDR, d.mv_size - PEND_HDR))) break;
  }
  mdb_cursor_close(cur);
  return e;
}

uint64_t store_erased_until(store_rd *rd, const uint8_t ekey[EKEY_LEN]) {
  uint8_t dk[EKEY_LEN];
  ekey_to_dbkey(ekey, dk);
  MDB_val k = { EKEY_LEN, dk }, d;
  if (mdb_get(rd->txn, rd->s->dbi[DB_ERASED], &k, &d) || d.mv_size != 8) return 0;
  return get_be64(d.mv_data);
}

int store_stats_get(store_rd *rd, store_stats *st) {
  MDB_stat ms;
  MDB_envinfo info;
  memset(st, 0, sizeof *st);
  if (!mdb_stat(rd->txn, rd->s->dbi[DB_REC], &ms)) st->records = ms.ms_entries;
  if (!mdb_stat(rd->txn, rd->s->dbi[DB_ENT], &ms)) st->entries = ms.ms_entries;
  if (!mdb_stat(rd->txn, rd->s->dbi[DB_PEND], &ms)) st->pending = ms.ms_entries;
  if (!mdb_stat(rd->txn, rd->s->dbi[DB_TRUST], &ms)) st->trust_events = ms.ms_entries;
  store__meta_u64(rd->txn, rd->s, "dropped", &st->dropped);
  mdb_env_info(rd->s->env, &info);
  st->map_size = info.me_mapsize;
  mdb_env_stat(rd->s->env, &ms);
  st->used_bytes = (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
  return 0;
}
