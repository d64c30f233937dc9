/*
 * cmd_bundle.c - `stoa export` and `stoa import`.
 *
 * Import keeps every core busy: a pool of threads decodes records, checks
 * their signatures and prepares them for the store (schema check, search
 * tokens: store_item_prepare) in batch k+1 while the main thread commits
 * batch k, reads the frames of batch k+2 and then joins the work on k+1.
 * What is left on the main thread is the store's own work, in one write
 * transaction per batch; large batches mean fewer pages written per record.
 * Memory stays bounded by two batches of decoded views into the mapped file
 * and their search tokens.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/body.h"
#include "cli/cli.h"
#include "proto/bundle.h"
#include "proto/err.h"

#define BATCH 16384          /* records per write transaction */
#define BATCH_MIN 1024       /* the smallest, at the end of a file */
#define CHUNK 64             /* records a thread takes at a time */
#define TOKS_PER_REC 768     /* search-token bytes set aside per record */
#define WORKERS_MAX 16

/* A batch: its items and the room for their search tokens, CHUNK *
 * TOKS_PER_REC bytes per chunk.  A record whose tokens do not fit there
 * leaves them to store_ingest, which then computes them itself. */
typedef struct batch {
  store_item *items;
  char *toks;
  size_t n;
} batch;

typedef struct reader {
  bundle_reader br;
  uint64_t records, bytes;    /* read so far */
} reader;

/* ---- the working pool ------------------------------------------------------------- */

typedef struct vpool {
  pthread_t th[WORKERS_MAX];
  int nth;
  pthread_mutex_t mu;
  pthread_cond_t go, done;
  batch *b;
  size_t nchunks;
  atomic_size_t next, finished;   /* chunks taken, chunks done */
  atomic_size_t bad;              /* records that did not decode */
  unsigned gen;
  bool quit;
  uint8_t fed[HASH_LEN];
} vpool;

/* Decodes, checks and prepares the records of chunk k. */
static void chunk_work(vpool *p, size_t k) {
  char tmp[STORE_TOKS_MAX];
  batch *b = p->b;
  size_t lo = k * CHUNK, hi = lo + CHUNK < b->n ? lo + CHUNK : b->n, bad = 0;
  char *room = b->toks + k * CHUNK * TOKS_PER_REC, *end = room + CHUNK * TOKS_PER_REC;
  for (size_t i = lo; i < hi; i++) {
    store_item *it = &b->items[i];
    int e = rec_decode(it->buf, it->len, &it->r);
    if (e) { it->err = e; bad++; continue; }
    it->sig_ok = rec_verify(&it->r, p->fed) == 0;
    if (!it->sig_ok) continue;
    store_item_prepare(it, tmp, sizeof tmp);
    if (it->toks && it->toks_len <= (size_t)(end - room)) {
      memcpy(room, it->toks, it->toks_len);
      it->toks = room;
      room += it->toks_len;
    } else {
      it->toks = NULL; /* store_ingest computes them */
    }
  }
  if (bad) atomic_fetch_add(&p->bad, bad);
}

static void vpool_work(vpool *p) {
  size_t k, did = 0;
  while ((k = atomic_fetch_add(&p->next, 1)) < p->nchunks) {
    chunk_work(p, k);
    did++;
  }
  if (did && atomic_fetch_add(&p->finished, did) + did == p->nchunks) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->done);
    pthread_mutex_unlock(&p->mu);
  }
}

static void *vpool_main(void *arg) {
  vpool *p = arg;
  unsigned seen = 0;
  for (;;) {
    pthread_mutex_lock(&p->mu);
    while (!p->quit && p->gen == seen) pthread_cond_wait(&p->go, &p->mu);
    if (p->quit) { pthread_mutex_unlock(&p->mu); return NULL; }
    seen = p->gen;
    pthread_mutex_unlock(&p->mu);
    vpool_work(p);
  }
}

static void vpool_init(vpool *p, const uint8_t fed[HASH_LEN]) {
  memset(p, 0, sizeof *p);
  memcpy(p->fed, fed, HASH_LEN);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->go, NULL);
  pthread_cond_init(&p->done, NULL);
  /* One thread per core: the main thread's share is mostly the commit,
   * and while it waits for the disk its core is the pool's. */
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  int want = cores > WORKERS_MAX ? WORKERS_MAX : (int)(cores < 1 ? 1 : cores);
  for (p->nth = 0; p->nth < want; p->nth++)
    if (pthread_create(&p->th[p->nth], NULL, vpool_main, p)) break;
}

static void vpool_start(vpool *p, batch *b) {
  pthread_mutex_lock(&p->mu);
  p->b = b;
  p->nchunks = (b->n + CHUNK - 1) / CHUNK;
  atomic_store(&p->next, 0);
  atomic_store(&p->finished, 0);
  atomic_store(&p->bad, 0);
  p->gen++;
  pthread_cond_broadcast(&p->go);
  pthread_mutex_unlock(&p->mu);
}

/* Helps with the current batch, then waits for its end. */
static void vpool_finish(vpool *p) {
  vpool_work(p);
  pthread_mutex_lock(&p->mu);
  while (atomic_load(&p->finished) < p->nchunks) pthread_cond_wait(&p->done, &p->mu);
  pthread_mutex_unlock(&p->mu);
}

static void vpool_close(vpool *p) {
  pthread_mutex_lock(&p->mu);
  p->quit = true;
  pthread_cond_broadcast(&p->go);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->nth; i++) pthread_join(p->th[i], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->go);
  pthread_cond_destroy(&p->done);
}

/* ---- import ---------------------------------------------------------------------- */

typedef struct reasons { int err[16]; size_t cnt[16]; int n; } reasons;

static void reason_add(reasons *r, int err) {
  for (int i = 0; i < r->n; i++)
    if (r->err[i] == err) { r->cnt[i]++; return; }
  if (r->n < 16) { r->err[r->n] = err; r->cnt[r->n++] = 1; }
}

/* Frames of the next batch: their bytes only, decoded later by the pool.
 * The last commit of a file runs alone, with the pool idle, so batches
 * near the end are made smaller: what is left is cut in halves, down to
 * BATCH_MIN.  Returns bundle_reader_next's last result (1: more may
 * follow). */
static int batch_read(reader *rr, batch *b) {
  size_t want = BATCH;
  int rd = 1;
  if (rr->records) {
    uint64_t left = (uint64_t)(rr->br.end - rr->br.p) * rr->records / rr->bytes;
    if (left < 2 * BATCH) want = left / 2 > BATCH_MIN ? (size_t)left / 2 : BATCH_MIN;
  }
  b->n = 0;
  while (b->n < want) {
    const uint8_t *buf;
    size_t len;
    if ((rd = bundle_reader_next(&rr->br, &buf, &len)) != 1) break;
    store_item *it = &b->items[b->n++];
    memset(it, 0, sizeof *it);
    it->buf = buf;
    it->len = len;
    rr->records++;
    rr->bytes += len + 4;
  }
  return rd;
}

/* Commits a processed batch: records that did not decode are counted and
 * left out, the rest go to the store in one transaction. */
static int batch_commit(cli *c, batch *b, size_t bad, store_counts *tot, reasons *why) {
  size_t n = b->n;
  int e;
  if (bad) {
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++) {
      if (b->items[i].err) {
        tot->rejected++;
        reason_add(why, b->items[i].err);
        continue;
      }
      if (k != i) b->items[k] = b->items[i];
      k++;
    }
    n = k;
  }
  if (!n) return 0;
  if ((e = store_ingest(c->st, b->items, n, cli_now(), tot))) return e;
  for (size_t i = 0; i < n; i++)
    if (b->items[i].status == ST_REJECTED || b->items[i].status == ST_PENDING)
      reason_add(why, b->items[i].err);
  return 0;
}

static int import_file(cli *c, const char *path, store_counts *tot, reasons *why, int *damaged) {
  int fd = open(path, O_RDONLY | O_CLOEXEC), e = 0, r = 0;
  struct stat sb;
  uint8_t *map = NULL;
  reader rr = { .records = 0 };
  vpool pool;
  batch bt[2] = { { NULL, NULL, 0 }, { NULL, NULL, 0 } };
  size_t total = 0;
  int cur = 0, rd = 1;
  bool pool_up = false;

  if (fd < 0) return cli_fail(path, -errno);
  if (fstat(fd, &sb)) { e = -errno; close(fd); return cli_fail(path, e); }
  if (!S_ISREG(sb.st_mode) || sb.st_size == 0) {
    close(fd);
    fprintf(stderr, "stoa import: %s: %s\n", path, sb.st_size == 0 ? "empty file" : "not a regular file");
    return EX_INVALID;
  }
  map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return cli_fail(path, -errno);
  if ((e = bundle_reader_init(&rr.br, map, (size_t)sb.st_size))) {
    fprintf(stderr, "stoa import: %s: not a Stoa bundle (%s)\n", path, stoa_strerror(e));
    r = EX_INVALID;
    goto out;
  }
  const charter *ch = store_charter(c->st);
  if (memcmp(rr.br.hdr.fed, ch->id, HASH_LEN)) {
    char fid[65];
    cli_hex(rr.br.hdr.fed, HASH_LEN, fid);
    fprintf(stderr, "stoa import: %s: the bundle is of another federation (%.16s), not %s\n", path, fid, ch->name);
    r = EX_VERIFY;
    goto out;
  }
  for (int i = 0; i < 2; i++) {
    bt[i].items = calloc(BATCH, sizeof *bt[i].items);
    bt[i].toks = malloc((size_t)(BATCH + CHUNK - 1) / CHUNK * CHUNK * TOKS_PER_REC);
    if (!bt[i].items || !bt[i].toks) { r = cli_fail("import", STOA_ENOMEM); goto out; }
  }
  vpool_init(&pool, ch->id);
  pool_up = true;
  /* Pipeline: while the pool works on batch k+1, this thread commits
   * batch k, reads the frames of k+2 into its place, and then helps. */
  rd = batch_read(&rr, &bt[cur]);
  vpool_start(&pool, &bt[cur]);
  vpool_finish(&pool);
  if (rd == 1) rd = batch_read(&rr, &bt[!cur]);
  while (bt[cur].n) {
    int nx = !cur;
    size_t bad = atomic_load(&pool.bad), n = bt[cur].n;
    if (bt[nx].n) vpool_start(&pool, &bt[nx]);
    e = batch_commit(c, &bt[cur], bad, tot, why);
    bt[cur].n = 0;
    if (!e && rd == 1) rd = batch_read(&rr, &bt[cur]);
    if (bt[nx].n) vpool_finish(&pool);
    if (e) {
      r = cli_fail("cannot store the records (nothing of the failed batch was stored)", e);
      goto out;
    }
    total += n;
    if (c->tty && !c->quiet) fprintf(stderr, "\r%s: %zu records", path, total);
    cur = nx;
  }
  if (c->tty && !c->quiet && total) fprintf(stderr, "\n");
  if (rd < 0) {
    *damaged = 1;
    fprintf(stderr, "stoa import: %s is damaged: %s; its intact records were imported\n", path,
            rd == STOA_EHASH ? "its contents do not match its checksum (altered)"
            : rd == STOA_ETRUNCATED ? "it ends early (truncated)" : stoa_strerror(rd));
  }
out:
  if (pool_up) vpool_close(&pool);
  for (int i = 0; i < 2; i++) {
    free(bt[i].items);
    free(bt[i].toks);
  }
  munmap(map, (size_t)sb.st_size);
  return r;
}

int cmd_import(cli *c, int argc, char **argv) {
  store_counts tot = { 0 };
  reasons why = { { 0 }, { 0 }, 0 };
  int r = 0, x, damaged = 0;
  if (argc < 2) { fprintf(stderr, "usage: stoa import FILE...\n"); return EX_USAGE; }
  if ((x = cli_open(c))) return x;
  for (int i = 1; i < argc && !r; i++) r = import_file(c, argv[i], &tot, &why, &damaged);
  if (tot.fresh || tot.released) c->wrote = true;
  if (c->json) {
    json_t *rs = json_object();
    for (int i = 0; i < why.n; i++)
      json_object_set_new(rs, stoa_errname(why.err[i]), json_integer((json_int_t)why.cnt[i]));
    cli_json_out(json_pack("{s:I, s:I, s:I, s:I, s:I, s:b, s:o}", "new", (json_int_t)tot.fresh, "known",
                           (json_int_t)tot.known, "pending", (json_int_t)tot.pending, "rejected",
                           (json_int_t)tot.rejected, "released", (json_int_t)tot.released, "damaged",
                           damaged, "reasons", rs));
  } else if (!c->quiet || tot.rejected || damaged) {
    printf("%zu new, %zu known, %zu pending, %zu rejected", tot.fresh, tot.known, tot.pending, tot.rejected);
    if (tot.released) printf(" (%zu earlier pending records released)", tot.released);
    printf("\n");
    for (int i = 0; i < why.n; i++)
      printf("  %zu %s: %s\n", why.cnt[i], why.err[i] == STOA_EUNTRUSTED || why.err[i] == STOA_EFUTURE ? "pending" : "rejected",
             stoa_strerror(why.err[i]));
  }
  if (r) return r;
  if (damaged) return EX_VERIFY;
  return tot.rejected ? EX_VERIFY : 0;
}

/* ---- export ------------------------------------------------------------------------ */

static int fwrite_cb(void *ctx, const void *buf, size_t len) {
  return fwrite(buf, 1, len, ctx) == len ? 0 : -EIO;
}

typedef struct exp_ctx {
  bundle_writer *w;
  int pass;        /* 0: trust records, 1: the rest */
  int kind;
  FILE *f;
  int format;
  size_t count;
} exp_ctx;

static void ref_fmt(void *ctx, const uint8_t ekey[EKEY_LEN], char *out, size_t cap) {
  (void)ctx;
  char id[33];
  cli_id(ekey, id);
  snprintf(out, cap, "%s", id);
}

static int exp_one(void *vctx, uint64_t seq, const uint8_t *buf, size_t len) {
  exp_ctx *x = vctx;
  rec r;
  (void)seq;
  if (rec_decode(buf, len, &r)) return STOA_ECORRUPT;
  bool trust = rec_kind_is_trust(r.h.kind);
  if ((x->pass == 0) != trust) return 0;
  x->count++;
  return bundle_writer_add(x->w, buf, len);
}

static int exp_entry(void *vctx, const store_entry *en);

typedef struct exp_plain { FILE *f; int format; store_rd *rd; int kind; int err; size_t count; } exp_plain;

static int exp_entry(void *vctx, const store_entry *en) {
  exp_plain *x = vctx;
  const uint8_t *buf;
  size_t len;
  rec r;
  if (store_get(x->rd, en->hash, &buf, &len) || rec_decode(buf, len, &r)) return 0;
  if (!r.body) return 0;
  x->count++;
  if (x->format == 1) {
    json_t *o = record_json(&r, en);
    if (json_dumpf(o, x->f, JSON_COMPACT | JSON_PRESERVE_ORDER) || fputc('\n', x->f) == EOF) x->err = -EIO;
    json_decref(o);
  } else {
    char id[33];
    body_formatter fmt = { ref_fmt, NULL };
    cli_id(en->ekey, id);
    if (body_csv_write_row(x->f, r.h.kind, id, r.body, r.body_len, &fmt)) x->err = -EIO;
  }
  return x->err;
}

int cmd_export(cli *c, int argc, char **argv) {
  const char *out = NULL, *fmt = "bundle";
  int kind = 0, x, e = 0;
  for (int i = 1; i < argc; i++) {
    const char *v;
    if (cli_opt(argc, argv, &i, "-o", &v) || cli_opt(argc, argv, &i, "--output", &v)) out = v;
    else if (cli_opt(argc, argv, &i, "--format", &v)) fmt = v;
    else if (cli_opt(argc, argv, &i, "--kind", &v)) {
      kind = rec_kind_from_name(v, strlen(v));
      if (!rec_kind_is_entry(kind)) { fprintf(stderr, "stoa export: --kind must be org, actor or practice\n"); return EX_USAGE; }
    } else { fprintf(stderr, "stoa export: unexpected argument '%s'\n", argv[i]); return EX_USAGE; }
  }
  int format = !strcmp(fmt, "bundle") ? 0 : !strcmp(fmt, "jsonl") ? 1 : !strcmp(fmt, "csv") ? 2 : -1;
  if (format < 0) { fprintf(stderr, "stoa export: --format is bundle, jsonl or csv\n"); return EX_USAGE; }
  if (format == 2 && !kind) { fprintf(stderr, "stoa export: CSV needs --kind (one table per kind)\n"); return EX_USAGE; }
  if (format == 0 && !out && isatty(1)) {
    fprintf(stderr, "stoa export: a bundle is binary: give -o FILE (or redirect stdout)\n");
    return EX_USAGE;
  }
  if ((x = cli_open(c))) return x;
  /* Write to a temporary file and rename it, so a failed export leaves no
   * half bundle behind under the real name. */
  char tmp[4200];
  FILE *f = stdout;
  if (out) {
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", out, (long)getpid());
    f = fopen(tmp, "wb");
    if (!f) return cli_fail(tmp, -errno);
  }
  store_rd *rd;
  size_t count = 0;
  if ((e = store_rd_begin(c->st, &rd))) goto done;
  if (format == 0) {
    bundle_writer w;
    bundle_hdr h;
    memset(&h, 0, sizeof h);
    memcpy(h.fed, store_charter(c->st)->id, HASH_LEN);
    h.created = cli_now();
    h.part = h.parts = 1;
    exp_ctx ctx = { &w, 0, kind, f, format, 0 };
    if (!(e = bundle_writer_init(&w, &h, fwrite_cb, f)) && !(e = store_scan(rd, 1, exp_one, &ctx))) {
      ctx.pass = 1;
      if (!(e = store_scan(rd, 1, exp_one, &ctx))) e = bundle_writer_finish(&w);
    }
    count = ctx.count;
  } else {
    exp_plain ctx = { f, format, rd, kind, 0, 0 };
    store_query q;
    memset(&q, 0, sizeof q);
    q.kind = kind;
    q.limit = SIZE_MAX;
    if (format == 2) e = body_csv_write_header(f, kind);
    if (!e) {
      int n = store_search(rd, &q, exp_entry, &ctx);
      e = n < 0 ? n : ctx.err;
    }
    count = ctx.count;
  }
  store_rd_end(rd);
done:
  if (out) {
    if (fflush(f) || fsync(fileno(f))) e = e ? e : -errno;
    fclose(f);
    if (!e && rename(tmp, out)) e = -errno;
    if (e) unlink(tmp);
  }
  if (e) return cli_fail("export", e);
  if (!c->quiet && out) fprintf(stderr, "wrote %zu %s to %s\n", count, format ? "entries" : "records", out);
  return 0;
}
