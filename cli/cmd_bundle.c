/*
 * cmd_bundle.c - `stoa import` (`stoa export` is in cmd_export.c).
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

#include "cli/cli.h"
#include "proto/bundle.h"
#include "proto/err.h"
#include "proto/sketch.h"

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

/* With progress set, a line on stderr after each committed (durable)
 * batch says how far into the file the store is: what a crash or a kill
 * cannot take back (tests/cli/crash.sh relies on it). */
/* One file's outcome, for --json. */
static void file_note(json_t *files, const char *path, const bundle_hdr *h, const char *status,
                      uint64_t records) {
  if (!files) return;
  json_array_append_new(files, json_pack("{s:s, s:I, s:I, s:s, s:I}", "file", path, "part",
                                         (json_int_t)(h ? h->part : 0), "parts", (json_int_t)(h ? h->parts : 0),
                                         "status", status, "records", (json_int_t)records));
}

/* Imports one file.  Returns an exit code: EX_STORE and EX_FAIL (the
 * store or memory failed) end the whole import; the others concern this
 * file only, and the next files are imported all the same. */
static int import_file(cli *c, const char *path, store_counts *tot, reasons *why, int *damaged,
                       bool progress, json_t *files) {
  int fd = open(path, O_RDONLY | O_CLOEXEC), e = 0, r = 0;
  struct stat sb;
  uint8_t *map = NULL;
  reader rr = { .records = 0 };
  vpool pool;
  batch bt[2] = { { NULL, NULL, 0 }, { NULL, NULL, 0 } };
  size_t total = 0;
  int cur = 0, rd = 1;
  bool pool_up = false;

  if (fd < 0 || fstat(fd, &sb)) {
    e = -errno;
    if (fd >= 0) close(fd);
    fprintf(stderr, "stoa import: cannot read %s: %s\n", path, stoa_strerror(e));
    file_note(files, path, NULL, "unreadable", 0);
    return EX_INVALID;
  }
  if (!S_ISREG(sb.st_mode) || sb.st_size == 0) {
    close(fd);
    fprintf(stderr, "stoa import: %s: %s\n", path, sb.st_size == 0 ? "empty file" : "not a regular file");
    file_note(files, path, NULL, "unreadable", 0);
    return EX_INVALID;
  }
  map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) {
    e = -errno;
    fprintf(stderr, "stoa import: cannot read %s: %s\n", path, stoa_strerror(e));
    file_note(files, path, NULL, "unreadable", 0);
    return EX_INVALID;
  }
  if ((e = bundle_reader_init(&rr.br, map, (size_t)sb.st_size))) {
    /* With the magic intact, it is a bundle whose header was damaged. */
    if ((size_t)sb.st_size >= BUNDLE_MAGIC_LEN && !memcmp(map, BUNDLE_MAGIC, BUNDLE_MAGIC_LEN)) {
      fprintf(stderr, "stoa import: %s is damaged: its header cannot be read (%s); nothing was imported "
                      "from it\n", path, stoa_strerror(e));
      *damaged = 1;
      r = EX_VERIFY;
    } else if ((size_t)sb.st_size >= SKETCH_MAGIC_LEN && !memcmp(map, SKETCH_MAGIC, SKETCH_MAGIC_LEN - 1)) {
      fprintf(stderr, "stoa import: %s is a sketch, not a bundle: at a connected node, `stoa export --for %s "
                      "-o BUNDLE` makes the bundle to import here\n", path, path);
      r = EX_INVALID;
    } else {
      fprintf(stderr, "stoa import: %s: not a Stoa bundle (%s)\n", path, stoa_strerror(e));
      r = EX_INVALID;
    }
    file_note(files, path, NULL, r == EX_VERIFY ? "damaged" : "not a bundle", 0);
    goto out;
  }
  const charter *ch = store_charter(c->st);
  if (memcmp(rr.br.hdr.fed, ch->id, HASH_LEN)) {
    char fid[65];
    cli_hex(rr.br.hdr.fed, HASH_LEN, fid);
    fprintf(stderr, "stoa import: %s: the bundle is of another federation (%.16s), not %s\n", path, fid, ch->name);
    file_note(files, path, &rr.br.hdr, "another federation", 0);
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
    if (progress) fprintf(stderr, "stoa import: %s: %zu records committed\n", path, total);
    else if (c->tty && !c->quiet) fprintf(stderr, "\r%s: %zu records", path, total);
    cur = nx;
  }
  if (c->tty && !c->quiet && total && !progress) fprintf(stderr, "\n");
  if (rd < 0) {
    *damaged = 1;
    fprintf(stderr, "stoa import: %s is damaged: %s; its intact records were imported\n", path,
            rd == STOA_EHASH ? "its contents do not match its checksum (altered)"
            : rd == STOA_ETRUNCATED ? "it ends early (truncated)" : stoa_strerror(rd));
  }
  file_note(files, path, &rr.br.hdr, rd < 0 ? "damaged" : "ok", rr.records);
out:
  if (pool_up) vpool_close(&pool);
  for (int i = 0; i < 2; i++) {
    free(bt[i].items);
    free(bt[i].toks);
  }
  munmap(map, (size_t)sb.st_size);
  return r;
}

/* The part number in a file's bundle header, read from its first bytes
 * (0 when it cannot be read: such a file keeps its place first). */
static uint32_t file_part(const char *path) {
  uint8_t buf[512];
  bundle_reader br;
  struct stat sb;
  /* Non-blocking, and regular files only: a FIFO must not be read here
   * (import_file refuses it with a message). */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  ssize_t n;
  if (fd < 0) return 0;
  if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) { close(fd); return 0; }
  n = read(fd, buf, sizeof buf);
  close(fd);
  if (n <= 0 || bundle_reader_init(&br, buf, (size_t)n)) return 0;
  return br.hdr.part;
}

/* Imports split bundles part 1 first, whatever order they were given in:
 * export puts the trust records first, so later parts then validate at
 * once instead of waiting in the pending area (which is bounded).  A
 * stable insertion sort: a command line holds a handful of files. */
static void import_order(const char **paths, int n) {
  uint32_t *part = malloc(sizeof *part * (size_t)(n + 1));
  if (!part) return; /* the given order works too */
  for (int i = 0; i < n; i++) part[i] = file_part(paths[i]);
  for (int i = 1; i < n; i++) {
    const char *p = paths[i];
    uint32_t k = part[i];
    int j = i;
    for (; j > 0 && part[j - 1] > k; j--) {
      paths[j] = paths[j - 1];
      part[j] = part[j - 1];
    }
    paths[j] = p;
    part[j] = k;
  }
  free(part);
}

int cmd_import(cli *c, int argc, char **argv) {
  store_counts tot = { 0 };
  reasons why = { { 0 }, { 0 }, 0 };
  int r = 0, x, damaged = 0, nfiles = 0;
  bool progress = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--progress")) progress = true;
    else nfiles++;
  }
  if (!nfiles) { fprintf(stderr, "usage: stoa import [--progress] FILE...\n"); return EX_USAGE; }
  if ((x = cli_open(c))) return x;
  const char **paths = malloc(sizeof *paths * (size_t)nfiles);
  if (!paths) return cli_fail("import", STOA_ENOMEM);
  nfiles = 0;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--progress")) paths[nfiles++] = argv[i];
  import_order(paths, nfiles);
  json_t *files = c->json ? json_array() : NULL;
  for (int i = 0; i < nfiles; i++) {
    int fr = import_file(c, paths[i], &tot, &why, &damaged, progress, files);
    if (fr && !r) r = fr; /* the first file's trouble gives the exit code */
    if (fr == EX_STORE || fr == EX_FAIL) break;
  }
  free(paths);
  if (tot.fresh || tot.released) c->wrote = true;
  if (c->json) {
    json_t *rs = json_object();
    for (int i = 0; i < why.n; i++)
      json_object_set_new(rs, stoa_errname(why.err[i]), json_integer((json_int_t)why.cnt[i]));
    cli_json_out(json_pack("{s:I, s:I, s:I, s:I, s:I, s:b, s:o, s:o}", "new", (json_int_t)tot.fresh, "known",
                           (json_int_t)tot.known, "pending", (json_int_t)tot.pending, "rejected",
                           (json_int_t)tot.rejected, "released", (json_int_t)tot.released, "damaged",
                           damaged, "reasons", rs, "files", files));
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
