/*
 * cmd_sketch.c - `stoa sketch`, and the sketch side of `stoa export --for`.
 *
 * Sneakernet in two trips: the offline site writes its sketch (the first
 * K coded symbols of its set of record hashes, a few tens of KB) to a USB
 * stick; a connected site reads it, subtracts its own first K symbols,
 * peels the difference, and writes a bundle of exactly the records the
 * offline site lacks.  Both sides compute their symbols in one pass over
 * the store, O(n log K); the difference then costs O(K + d log K).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/cli.h"
#include "proto/err.h"
#include "proto/mp.h"
#include "proto/sketch.h"

/* Differences a sketch is sized for when neither --symbols nor
 * --differences is given: ~800 symbols, a file of about 35 KB. */
#define SKETCH_DEFAULT_D 500


typedef struct sym_ctx {
  iblt_sym *out;
  uint32_t k;
  uint64_t n;
} sym_ctx;

static int sym_one(void *vctx, uint64_t seq, const uint8_t *buf, size_t len) {
  sym_ctx *x = vctx;
  rec r;
  (void)seq;
  /* the store's records were checked when they came in (rec_peek) */
  if (rec_peek(buf, len, &r)) return STOA_ECORRUPT;
  iblt_symbols_add_item(x->out, 0, x->k, r.hash);
  x->n++;
  return 0;
}

/* Our symbols 0..k-1 (out: k of them) and the size of our set: every
 * record the store has accepted, erased stubs included, as in stoad's
 * sketch (node/peer.c). */
static int sketch_local(store_rd *rd, uint32_t k, iblt_sym *out, uint64_t *n) {
  sym_ctx x = { out, k, 0 };
  int e;
  iblt_symbols_clear(out, k);
  if ((e = store_scan(rd, 1, sym_one, &x))) return e;
  *n = x.n;
  return 0;
}

static int fd_write(void *ctx, const void *buf, size_t len) {
  int fd = *(int *)ctx;
  const uint8_t *p = buf;
  while (len) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -errno;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

/* A positive decimal number up to max, or -1. */
static long long parse_count(const char *s, unsigned long long max) {
  char *end;
  if (!*s || *s == '-' || *s == '+') return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v > max) return -1;
  return (long long)v;
}

int cmd_sketch(cli *c, int argc, char **argv) {
  const char *out = NULL, *ks = NULL, *ds = NULL;
  int x, e = 0, fd = -1;
  uint32_t k;
  uint64_t d, n = 0, bytes = 0;
  iblt_sym *syms = NULL;
  store_rd *rd = NULL;
  char tmp[4200];

  for (int i = 1; i < argc; i++) {
    const char *v;
    if (cli_opt(argc, argv, &i, "-o", &v) || cli_opt(argc, argv, &i, "--output", &v)) out = v;
    else if (cli_opt(argc, argv, &i, "--symbols", &v)) ks = v;
    else if (cli_opt(argc, argv, &i, "--differences", &v)) ds = v;
    else { fprintf(stderr, "stoa sketch: unexpected argument '%s'\n", argv[i]); return EX_USAGE; }
  }
  if (!out) { fprintf(stderr, "stoa sketch: give -o FILE\n"); return EX_USAGE; }
  if (ks && ds) { fprintf(stderr, "stoa sketch: give --symbols or --differences, not both\n"); return EX_USAGE; }
  if (ks) {
    long long v = parse_count(ks, SKETCH_SYMBOLS_MAX);
    if (v < 1) {
      fprintf(stderr, "stoa sketch: --symbols is a number from 1 to %u\n", (unsigned)SKETCH_SYMBOLS_MAX);
      return EX_USAGE;
    }
    k = (uint32_t)v;
  } else {
    uint64_t dmax = sketch_differences_for(SKETCH_SYMBOLS_MAX);
    long long v = ds ? parse_count(ds, dmax) : SKETCH_DEFAULT_D;
    if (v < 0) {
      fprintf(stderr, "stoa sketch: --differences is a number from 0 to %llu (beyond, carry a full "
                      "bundle: stoa export -o FILE)\n", (unsigned long long)dmax);
      return EX_USAGE;
    }
    k = sketch_symbols_for((uint64_t)v);
  }
  d = sketch_differences_for(k);
  if ((x = cli_open(c))) return x;
  if (!(syms = malloc((size_t)k * sizeof *syms))) return cli_fail("sketch", STOA_ENOMEM);
  if ((e = store_rd_begin(c->st, &rd))) goto out;
  e = sketch_local(rd, k, syms, &n);
  store_rd_end(rd);
  if (e) goto out;

  sketch_hdr h;
  memset(&h, 0, sizeof h);
  memcpy(h.fed, store_charter(c->st)->id, HASH_LEN);
  h.created = cli_now();
  h.n = n;
  h.k = k;
  /* A temporary file renamed at the end: no half sketch under the name. */
  snprintf(tmp, sizeof tmp, "%.4000s.tmp%ld", out, (long)getpid());
  if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0) {
    e = -errno;
    free(syms);
    return cli_fail(tmp, e);
  }
  e = sketch_write(&h, syms, fd_write, &fd, &bytes);
  if (!e && fsync(fd)) e = -errno;
  if (close(fd) && !e) e = -errno;
  if (!e && rename(tmp, out)) e = -errno;
  if (e) unlink(tmp);
out:
  free(syms);
  if (e) return cli_fail(out, e);
  if (c->json)
    cli_json_out(json_pack("{s:s, s:I, s:I, s:I, s:I}", "file", out, "symbols", (json_int_t)k, "records",
                           (json_int_t)n, "bytes", (json_int_t)bytes, "differences", (json_int_t)d));
  else if (!c->quiet)
    printf("wrote %s: %u symbols of the %llu records held here, %llu bytes; it decodes up to about "
           "%llu differences.\nAt a connected node: stoa export --for %s -o BUNDLE\n",
           out, k, (unsigned long long)n, (unsigned long long)bytes, (unsigned long long)d, out);
  return 0;
}

/* ---- export --for ----------------------------------------------------------------- */

/* Reads a whole file of at most `max` bytes.  Caller frees *buf. */
static int file_read(const char *path, size_t max, uint8_t **buf, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC), e = 0;
  struct stat sb;
  uint8_t *b = NULL;
  size_t n = 0;
  if (fd < 0) return -errno;
  if (fstat(fd, &sb)) { e = -errno; goto out; }
  if (!S_ISREG(sb.st_mode)) { e = -EINVAL; goto out; }
  if ((uint64_t)sb.st_size > max) { e = STOA_ETOOBIG; goto out; }
  /* One byte more than the size: a file that grew is still read whole,
   * up to max, and then refused. */
  if (!(b = malloc((size_t)sb.st_size + 1))) { e = STOA_ENOMEM; goto out; }
  for (;;) {
    ssize_t r = read(fd, b + n, (size_t)sb.st_size + 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) { e = -errno; goto out; }
    if (r == 0) break;
    n += (size_t)r;
    if (n > (size_t)sb.st_size) { e = STOA_ETOOBIG; goto out; } /* grew meanwhile */
  }
  *buf = b;
  *len = n;
  b = NULL;
out:
  free(b);
  close(fd);
  return e;
}

static int cmp_hash(const void *a, const void *b) { return memcmp(a, b, HASH_LEN); }

/*
 * Reads the sketch at `path` (strictly: a hostile file), computes our
 * symbols, decodes the difference, and returns in *give the sorted hashes
 * of the records held here that the sketch's owner lacks (caller frees),
 * in *nwant how many the owner holds that we lack.  Prints what it found
 * on stderr, and every error.  Returns an exit code.
 */
int cli_sketch_missing(cli *c, store_rd *rd, const char *path, uint8_t **give, size_t *ngive,
                       size_t *nwant) {
  uint8_t *buf = NULL, *g = NULL;
  size_t len = 0, ng = 0, nw = 0;
  sketch_reader r;
  iblt_sym *mine = NULL;
  iblt_decoder dec;
  uint64_t n = 0;
  uint32_t used = 0;
  int e, x = 0;
  bool dec_up = false;

  *give = NULL;
  *ngive = *nwant = 0;
  if ((e = file_read(path, SKETCH_FILE_MAX, &buf, &len))) {
    if (e == STOA_ETOOBIG) {
      fprintf(stderr, "stoa export: %s: larger than any sketch (%zu bytes at most); not a sketch\n", path,
              (size_t)SKETCH_FILE_MAX);
      return EX_INVALID;
    }
    fprintf(stderr, "stoa export: cannot read the sketch %s: %s\n", path, stoa_strerror(e));
    return e == STOA_ENOMEM ? EX_FAIL : EX_INVALID;
  }
  if ((e = sketch_reader_init(&r, buf, len))) {
    bool damaged = e == STOA_ETRUNCATED || e == STOA_ETRAILING || e == STOA_EHASH;
    if (e == STOA_ETRUNCATED && r.want_len)
      fprintf(stderr, "stoa export: %s is damaged: it ends early (truncated: %zu of %llu bytes)\n", path, len,
              (unsigned long long)r.want_len);
    else
      fprintf(stderr, "stoa export: %s %s: %s\n", path, damaged ? "is damaged" : "is not a usable sketch",
              r.why ? r.why : stoa_strerror(e));
    x = damaged ? EX_VERIFY : EX_INVALID;
    goto out;
  }
  const charter *ch = store_charter(c->st);
  if (memcmp(r.hdr.fed, ch->id, HASH_LEN)) {
    char fid[65];
    cli_hex(r.hdr.fed, HASH_LEN, fid);
    fprintf(stderr, "stoa export: %s is the sketch of a node of another federation (%.16s), not %s\n", path,
            fid, ch->name);
    x = EX_VERIFY;
    goto out;
  }
  if (!(mine = malloc((size_t)r.hdr.k * sizeof *mine))) { x = cli_fail("export", STOA_ENOMEM); goto out; }
  if ((e = sketch_local(rd, r.hdr.k, mine, &n))) { x = cli_fail("export: reading the store", e); goto out; }
  dec_up = true;
  e = sketch_reconcile(&r, mine, &dec, &used);
  if (e == STOA_ETOOBIG) {
    uint64_t lower = n > r.hdr.n ? n - r.hdr.n : r.hdr.n - n;
    uint64_t dd = sketch_differences_for(r.hdr.k);
    fprintf(stderr,
            "stoa export: the difference is too large for this sketch: its %u symbols decode up to about "
            "%llu differences, and this node (%llu records) and the sketch's owner (%llu records) "
            "differ by more",
            r.hdr.k, (unsigned long long)dd, (unsigned long long)n, (unsigned long long)r.hdr.n);
    if (lower > dd) fprintf(stderr, " (at least %llu)", (unsigned long long)lower);
    /* A guess for the next try: well past both what failed and the bound. */
    uint64_t next = lower + lower / 2 > 4 * dd + 100 ? lower + lower / 2 : 4 * dd + 100;
    fprintf(stderr, ".\nEither make a larger sketch there (stoa sketch --differences %llu -o FILE), or "
                    "export what changed since the owner's last exchange: stoa export --since DATE -o FILE\n",
            (unsigned long long)next);
    x = EX_FAIL;
    goto out;
  }
  if (e == STOA_EPROTOCOL) {
    fprintf(stderr, "stoa export: %s is inconsistent: its symbols are not those of any set of records "
                    "(forged, or written by a faulty program)\n", path);
    x = EX_INVALID;
    goto out;
  }
  if (e) { x = cli_fail("export: decoding the sketch", e); goto out; }
  uint32_t nd = iblt_decoder_count(&dec);
  if (!(g = malloc((size_t)nd * HASH_LEN + 1))) { x = cli_fail("export", STOA_ENOMEM); goto out; }
  for (uint32_t i = 0; i < nd; i++) {
    int side;
    const uint8_t *it = iblt_decoder_item(&dec, i, &side);
    if (side == IBLT_LOCAL) memcpy(g + ng++ * HASH_LEN, it, HASH_LEN);
    else nw++;
  }
  qsort(g, ng, HASH_LEN, cmp_hash);
  if (!c->quiet)
    fprintf(stderr, "sketch %s: %llu records there, %llu here; decoded with %u of its %u symbols: "
                    "%zu records to send, %zu held there and not here\n",
            path, (unsigned long long)r.hdr.n, (unsigned long long)n, used, r.hdr.k, ng, nw);
  *give = g;
  *ngive = ng;
  *nwant = nw;
  g = NULL;
out:
  if (dec_up) iblt_decoder_free(&dec);
  free(g);
  free(mine);
  free(buf);
  return x;
}
