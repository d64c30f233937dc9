/*
 * cmd_bundle.c - `stoa export` and `stoa import`.
 *
 * Import verifies signatures on every core: a small pool of threads checks
 * batch k+1 while the main thread commits batch k, and the main thread joins
 * the checking when its commit is done.  Memory stays bounded by two batches
 * of decoded views into the mapped file.
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

#define BATCH 4096
#define WORKERS 2

/* ---- the verifying pool ---------------------------------------------------- */

typedef struct vpool {
  pthread_t th[WORKERS];
  int nth;
  pthread_mutex_t mu;
  pthread_cond_t go, done;
  store_item *items;
  size_t n;
  atomic_size_t next, finished;
  unsigned gen;
  bool quit;
  uint8_t fed[HASH_LEN];
} vpool;

static void vpool_work(vpool *p) {
  size_t i, did = 0;
  while ((i = atomic_fetch_add(&p->next, 1)) < p->n) {
    p->items[i].sig_ok = rec_verify(&p->items[i].r, p->fed) == 0;
    did++;
  }
  if (did && atomic_fetch_add(&p->finished, did) + did == p->n) {
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

static int vpool_init(vpool *p, const uint8_t fed[HASH_LEN]) {
  memset(p, 0, sizeof *p);
  memcpy(p->fed, fed, HASH_LEN);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->go, NULL);
  pthread_cond_init(&p->done, NULL);
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  int want = cores > WORKERS ? WORKERS : (int)(cores < 1 ? 1 : cores);
  for (p->nth = 0; p->nth < want; p->nth++)
    if (pthread_create(&p->th[p->nth], NULL, vpool_main, p)) break;
  return 0;
}

static void vpool_start(vpool *p, store_item *items, size_t n) {
  pthread_mutex_lock(&p->mu);
  p->items = items;
  p->n = n;
  atomic_store(&p->next, 0);
  atomic_store(&p->finished, 0);
  p->gen++;
  pthread_cond_broadcast(&p->go);
  pthread_mutex_unlock(&p->mu);
}

/* Helps with the current batch, then waits for its end. */
static void vpool_finish(vpool *p) {
  vpool_work(p);
  pthread_mutex_lock(&p->mu);
  while (atomic_load(&p->finished) < p->n) pthread_cond_wait(&p->done, &p->mu);
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

static int import_file(cli *c, const char *path, store_counts *tot, reasons *why, int *damaged) {
  int fd = open(path, O_RDONLY | O_CLOEXEC), e = 0, r = 0;
  struct stat sb;
  uint8_t *map = NULL;
  bundle_reader br;
  vpool pool;
  store_item *batch[2] = { NULL, NULL };
  size_t nb[2] = { 0, 0 }, total = 0;
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
  if ((e = bundle_reader_init(&br, map, (size_t)sb.st_size))) {
    fprintf(stderr, "stoa import: %s: not a Stoa bundle (%s)\n", path, stoa_strerror(e));
    r = EX_INVALID;
    goto out;
  }
  const charter *ch = store_charter(c->st);
  if (memcmp(br.hdr.fed, ch->id, HASH_LEN)) {
    char fid[65];
    cli_hex(br.hdr.fed, HASH_LEN, fid);
    fprintf(stderr, "stoa import: %s: the bundle is of another federation (%.16s), not %s\n", path, fid, ch->name);
    r = EX_VERIFY;
    goto out;
  }
  batch[0] = calloc(BATCH, sizeof *batch[0]);
  batch[1] = calloc(BATCH, sizeof *batch[1]);
  if (!batch[0] || !batch[1]) { r = cli_fail("import", STOA_ENOMEM); goto out; }
  vpool_init(&pool, ch->id);
  pool_up = true;
  /* Pipeline: decode batch cur and start its checks, commit the other. */
  for (;;) {
    nb[cur] = 0;
    while (rd == 1 && nb[cur] < BATCH) {
      const uint8_t *buf;
      size_t len;
      rd = bundle_reader_next(&br, &buf, &len);
      if (rd != 1) break;
      store_item *it = &batch[cur][nb[cur]];
      memset(it, 0, sizeof *it);
      it->buf = buf;
      it->len = len;
      if ((e = rec_decode(buf, len, &it->r))) {
        tot->rejected++;
        reason_add(why, e);
        continue;
      }
      nb[cur]++;
    }
    vpool_start(&pool, batch[cur], nb[cur]);
    int prev = !cur;
    if (nb[prev]) {
      if ((e = store_ingest(c->st, batch[prev], nb[prev], cli_now(), tot))) {
        vpool_finish(&pool);
        r = cli_fail("cannot store the records (nothing of the failed batch was stored)", e);
        goto out;
      }
      for (size_t i = 0; i < nb[prev]; i++)
        if (batch[prev][i].status == ST_REJECTED || batch[prev][i].status == ST_PENDING)
          reason_add(why, batch[prev][i].err);
      total += nb[prev];
      if (c->tty && !c->quiet) fprintf(stderr, "\r%s: %zu records", path, total);
      nb[prev] = 0;
    }
    vpool_finish(&pool);
    if (!nb[cur] && rd != 1) break;
    cur = prev;
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
  free(batch[0]);
  free(batch[1]);
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
  if ((e = store_rd_begin(c->st, &rd))) goto done;
  size_t count = 0;
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
