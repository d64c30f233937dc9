/*
 * cmd_export.c - `stoa export`: bundles (all records, --since a date, --for
 * a sketch's owner, in parts of --max-size bytes) and plain data (--format
 * jsonl or csv) for people and spreadsheets.
 *
 * Bundles are read from one store snapshot, trust records first; every file
 * is written under a temporary name and renamed once complete, so a failed
 * export leaves nothing half-written under the real name.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/body.h"
#include "cli/cli.h"
#include "proto/bundle.h"
#include "proto/err.h"

/* What goes into a bundle: every record, the records dated at or after a
 * time (and every trust record, so that the receiver can verify them),
 * or the records of a sorted set of hashes (what a sketch's owner lacks). */
enum { SEL_ALL, SEL_SINCE, SEL_SET };
typedef struct exp_sel {
  int mode;
  uint64_t since;
  const uint8_t *set;
  size_t nset;
} exp_sel;

static int cmp_hash(const void *a, const void *b) { return memcmp(a, b, HASH_LEN); }

static bool sel_wants(const exp_sel *s, const rec *r, bool trust) {
  switch (s->mode) {
  case SEL_SINCE: return trust || r->h.ts >= s->since;
  case SEL_SET: return bsearch(r->hash, s->set, s->nset, HASH_LEN, cmp_hash) != NULL;
  default: return true;
  }
}

/* Room a part keeps for the magic and its header frame (~75 bytes; the
 * numbers in it vary in size), and for its trailer. */
#define PART_HEAD (BUNDLE_MAGIC_LEN + 4 + 96)
#define PART_FIXED (PART_HEAD + BUNDLE_TRAILER_MAX)
#define PART_MIN 1024
#define NAME_MAX_LEN 4200

/*
 * The output: one bundle on a stream, or parts of at most `max` bytes,
 * each a whole bundle (header, records, trailer) named BASE.1, BASE.2 ...
 * (zero-padded to the width of the last number, so that they sort).
 * Parts are filled greedily in export order.  Their header carries the
 * number of parts, so a first pass (plan) runs the same selection without
 * writing to count them; both passes read the same snapshot and cut at
 * the same records.  Every part is written under a temporary name and
 * renamed once all are complete.
 */
typedef struct exp_out {
  size_t max;              /* 0: one bundle on f */
  bool plan;
  const char *base;
  bundle_hdr h;
  bundle_writer w;
  FILE *f;
  uint32_t part, parts;    /* current (1-based) and total */
  uint64_t used;           /* bytes of the current part, head reserved */
  uint64_t in_part;        /* records in the current part */
  size_t count;            /* records, all parts */
  size_t biggest;          /* largest record selected */
  char (*tmp)[NAME_MAX_LEN];
  size_t *part_count;      /* records of each part */
  uint64_t *part_bytes;
  uint32_t opened;         /* temporary files created */
} exp_out;

static int fwrite_cb(void *ctx, const void *buf, size_t len) {
  return fwrite(buf, 1, len, ctx) == len ? 0 : -EIO;
}

static void part_name(const exp_out *o, uint32_t part, char *out, size_t cap) {
  int width = 1;
  for (uint32_t p = o->parts; p >= 10; p /= 10) width++;
  width = width > 10 ? 10 : width; /* no-op: tells the compiler the bound */
  snprintf(out, cap, "%.4000s.%0*u", o->base, width, part);
}

static int part_start(exp_out *o) {
  int e;
  o->part++;
  o->used = PART_HEAD;
  o->in_part = 0;
  if (o->plan) return 0;
  char name[NAME_MAX_LEN];
  part_name(o, o->part, name, sizeof name);
  snprintf(o->tmp[o->part - 1], NAME_MAX_LEN, "%.4100s.tmp%ld", name, (long)getpid());
  if (!(o->f = fopen(o->tmp[o->part - 1], "wbx"))) return -errno;
  o->opened = o->part;
  o->h.part = o->part;
  o->h.parts = o->parts;
  if ((e = bundle_writer_init(&o->w, &o->h, fwrite_cb, o->f))) return e;
  return 0;
}

static int part_finish(exp_out *o) {
  int e = 0;
  if (o->plan) return 0;
  if ((e = bundle_writer_finish(&o->w))) goto out;
  if (fflush(o->f) || fsync(fileno(o->f))) e = -errno;
  o->part_count[o->part - 1] = o->w.count;
  o->part_bytes[o->part - 1] = o->w.bytes;
  /* The head and trailer bounds above make this impossible; a part over
   * the limit would be a bug, and the user's limit is a promise. */
  if (!e && o->w.bytes > o->max) e = STOA_ETOOBIG;
out:
  if (fclose(o->f) && !e) e = -EIO;
  o->f = NULL;
  return e;
}

static int out_add(exp_out *o, const uint8_t *buf, size_t len) {
  int e;
  if (len > o->biggest) o->biggest = len;
  o->count++;
  if (!o->max) return bundle_writer_add(&o->w, buf, len);
  if (o->in_part && o->used + 4 + len + BUNDLE_TRAILER_MAX > o->max) {
    if ((e = part_finish(o)) || (e = part_start(o))) return e;
  }
  /* Planned first: a record that fits in no part stops the export there. */
  if (o->used + 4 + len + BUNDLE_TRAILER_MAX > o->max) return STOA_ETOOBIG;
  o->used += 4 + len;
  o->in_part++;
  return o->plan ? 0 : bundle_writer_add(&o->w, buf, len);
}

typedef struct exp_ctx {
  exp_out *o;
  const exp_sel *sel;
  int pass;        /* 0: trust records, 1: the rest */
} exp_ctx;

static int exp_one(void *vctx, uint64_t seq, const uint8_t *buf, size_t len) {
  exp_ctx *x = vctx;
  rec r;
  (void)seq;
  /* Our own records, checked when they came in: the envelope is enough
   * (`stoa verify` checks bodies; every importer checks them again). */
  if (rec_peek(buf, len, &r)) return STOA_ECORRUPT;
  bool trust = rec_kind_is_trust(r.h.kind);
  if ((x->pass == 0) != trust || !sel_wants(x->sel, &r, trust)) return 0;
  return out_add(x->o, buf, len);
}

/* Trust records first, then the rest, each in insertion order: a receiver
 * validates entries as they arrive instead of holding them as pending. */
static int exp_scan(store_rd *rd, exp_out *o, const exp_sel *sel) {
  exp_ctx ctx = { o, sel, 0 };
  int e;
  if ((e = store_scan(rd, 1, exp_one, &ctx))) return e;
  ctx.pass = 1;
  return store_scan(rd, 1, exp_one, &ctx);
}

/* The selection as one bundle on f (o->h has the federation and time). */
static int exp_bundle(store_rd *rd, exp_out *o, const exp_sel *sel, FILE *f) {
  int e;
  o->h.part = o->h.parts = 1;
  o->f = f;
  if ((e = bundle_writer_init(&o->w, &o->h, fwrite_cb, f)) || (e = exp_scan(rd, o, sel))) return e;
  return bundle_writer_finish(&o->w);
}

/* Writes the selection as parts of at most o->max bytes; the names are
 * printed by the caller.  On failure no part is left behind. */
static int exp_parts(cli *c, store_rd *rd, exp_out *o, const exp_sel *sel) {
  int e;
  o->plan = true;
  if ((e = part_start(o)) || (e = exp_scan(rd, o, sel))) {
    if (e == STOA_ETOOBIG)
      fprintf(stderr, "stoa export: a record of %zu bytes does not fit in a part of %zu bytes (each part "
                      "also holds a header and a trailer, %d bytes): give a larger --max-size\n",
              o->biggest, o->max, PART_FIXED);
    return e;
  }
  o->parts = o->part;
  o->tmp = calloc(o->parts, sizeof *o->tmp);
  o->part_count = calloc(o->parts, sizeof *o->part_count);
  o->part_bytes = calloc(o->parts, sizeof *o->part_bytes);
  if (!o->tmp || !o->part_count || !o->part_bytes) return STOA_ENOMEM;
  o->plan = false;
  o->part = 0;
  o->count = 0;
  if ((e = part_start(o)) || (e = exp_scan(rd, o, sel)) || (e = part_finish(o))) goto out;
  if (o->part != o->parts) { e = STOA_ESTATE; goto out; } /* the passes disagree: a bug */
  for (uint32_t i = 0; i < o->parts && !e; i++) {
    char name[NAME_MAX_LEN];
    part_name(o, i + 1, name, sizeof name);
    if (rename(o->tmp[i], name)) e = -errno;
    else o->tmp[i][0] = 0;
  }
out:
  if (o->f) { fclose(o->f); o->f = NULL; }
  for (uint32_t i = 0; e && i < o->opened; i++)
    if (o->tmp[i][0]) unlink(o->tmp[i]);
  (void)c;
  return e;
}

/* "10M", "512k", "65536", "1.5G" is not taken: powers of 1024, with an
 * optional B or iB.  Returns 0 and *out, or -1. */
static int parse_size(const char *s, size_t *out) {
  char *end;
  if (!*s || *s < '0' || *s > '9') return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10), mul = 1;
  if (errno) return -1;
  switch (*end) {
  case 'k': case 'K': mul = 1ull << 10; end++; break;
  case 'm': case 'M': mul = 1ull << 20; end++; break;
  case 'g': case 'G': mul = 1ull << 30; end++; break;
  default: break;
  }
  if (!strcmp(end, "iB") && mul > 1) end += 2;
  else if (!strcmp(end, "B")) end++;
  if (*end || v > SIZE_MAX / mul) return -1;
  *out = (size_t)(v * mul);
  return 0;
}

static bool digits(const char *s, int n) {
  for (int i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

static int num(const char *s, int n) {
  int v = 0;
  for (int i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
  return v;
}

/* An ISO 8601 date or date-time: YYYY-MM-DD, then optionally T or a space,
 * HH:MM, :SS, and Z or +HH:MM / -HH:MM; without a zone, UTC.  Returns 0 and
 * the time in ms since the epoch, or -1. */
static int parse_since(const char *s, uint64_t *ms) {
  struct tm tm;
  int off = 0;
  memset(&tm, 0, sizeof tm);
  if (strlen(s) < 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' || !digits(s + 8, 2))
    return -1;
  tm.tm_year = num(s, 4) - 1900;
  tm.tm_mon = num(s + 5, 2) - 1;
  tm.tm_mday = num(s + 8, 2);
  s += 10;
  if (*s == 'T' || *s == ' ') {
    s++;
    if (!digits(s, 2) || s[2] != ':' || !digits(s + 3, 2)) return -1;
    tm.tm_hour = num(s, 2);
    tm.tm_min = num(s + 3, 2);
    s += 5;
    if (*s == ':') {
      if (!digits(s + 1, 2)) return -1;
      tm.tm_sec = num(s + 1, 2);
      s += 3;
    }
    if (*s == 'Z') s++;
    else if (*s == '+' || *s == '-') {
      if (!digits(s + 1, 2) || s[3] != ':' || !digits(s + 4, 2) || num(s + 1, 2) > 23 || num(s + 4, 2) > 59)
        return -1;
      off = (num(s + 1, 2) * 60 + num(s + 4, 2)) * (*s == '+' ? 1 : -1);
      s += 6;
    }
  }
  if (*s || tm.tm_year < 70 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 59)
    return -1;
  struct tm want = tm;
  time_t t = timegm(&tm);
  /* timegm normalises 2026-02-31 to March: such a date is refused. */
  if (t == (time_t)-1 || tm.tm_mday != want.tm_mday || tm.tm_mon != want.tm_mon) return -1;
  t -= (time_t)off * 60;
  if (t < 0) return -1;
  *ms = (uint64_t)t * 1000;
  return 0;
}

typedef struct exp_plain { FILE *f; int format; store_rd *rd; int kind; int err; size_t count; char sep; } exp_plain;

static void ref_fmt(void *ctx, const uint8_t ekey[EKEY_LEN], char *out, size_t cap) {
  (void)ctx;
  char id[33];
  cli_id(ekey, id);
  snprintf(out, cap, "%s", id);
}

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
    body_formatter fmt = { ref_fmt, NULL, x->sep };
    cli_id(en->ekey, id);
    if (body_csv_write_row(x->f, r.h.kind, id, r.body, r.body_len, &fmt)) x->err = -EIO;
  }
  return x->err;
}

static void exp_report(cli *c, const char *out, const exp_out *o, const exp_sel *sel, const char *sketch,
                       size_t nwant) {
  const char *what = sel->mode == SEL_SET ? " the sketch's owner lacks" : sel->mode == SEL_SINCE ? " (dated since then, and every trust record)" : "";
  if (c->json && out) { /* without -o, stdout holds the bundle */
    json_t *parts = json_array();
    for (uint32_t i = 0; o->max && i < o->parts; i++) {
      char name[NAME_MAX_LEN];
      part_name(o, i + 1, name, sizeof name);
      json_array_append_new(parts, json_pack("{s:s, s:I, s:I}", "file", name, "records",
                                             (json_int_t)o->part_count[i], "bytes", (json_int_t)o->part_bytes[i]));
    }
    json_t *j = json_pack("{s:s?, s:I, s:o}", "file", o->max ? NULL : out, "records", (json_int_t)o->count,
                          "parts", parts);
    if (sketch) json_object_set_new(j, "missing_here", json_integer((json_int_t)nwant));
    cli_json_out(j);
    return;
  }
  if (c->quiet) return;
  if (!o->max) {
    if (out) fprintf(stderr, "wrote %zu records%s to %s\n", o->count, what, out);
  } else {
    fprintf(stderr, "wrote %zu records%s in %u part%s of at most %zu bytes:\n", o->count, what, o->parts,
            o->parts == 1 ? "" : "s", o->max);
    for (uint32_t i = 0; i < o->parts; i++) {
      char name[NAME_MAX_LEN];
      part_name(o, i + 1, name, sizeof name);
      fprintf(stderr, "  %s: %zu records, %llu bytes\n", name, o->part_count[i],
              (unsigned long long)o->part_bytes[i]);
    }
  }
  if (sketch && nwant)
    fprintf(stderr, "the sketch's owner holds %zu records this node lacks: make a sketch here "
                    "(stoa sketch -o FILE) and export --for it there\n", nwant);
}

int cli_export_all(cli *c, const char *path, size_t *count) {
  exp_sel sel = { SEL_ALL, 0, NULL, 0 };
  exp_out o;
  store_rd *rd;
  FILE *f;
  int e;
  memset(&o, 0, sizeof o);
  if (!(f = fopen(path, "wbx"))) return -errno;
  if ((e = store_rd_begin(c->st, &rd))) { fclose(f); unlink(path); return e; }
  memcpy(o.h.fed, store_charter(c->st)->id, HASH_LEN);
  o.h.created = cli_now();
  e = exp_bundle(rd, &o, &sel, f);
  store_rd_end(rd);
  if ((fflush(f) || fsync(fileno(f))) && !e) e = -errno;
  if (fclose(f) && !e) e = -EIO;
  if (e) unlink(path);
  *count = o.count;
  return e;
}

int cmd_export(cli *c, int argc, char **argv) {
  const char *out = NULL, *fmt = "bundle", *sketch = NULL, *since = NULL, *maxs = NULL, *sepname = NULL;
  int kind = 0, x, e = 0;
  bool bom = false;
  char sep = ',';
  exp_sel sel = { SEL_ALL, 0, NULL, 0 };
  exp_out o;
  uint8_t *give = NULL;
  size_t nwant = 0;
  memset(&o, 0, sizeof o);
  for (int i = 1; i < argc; i++) {
    const char *v;
    if (cli_opt(argc, argv, &i, "-o", &v) || cli_opt(argc, argv, &i, "--output", &v)) out = v;
    else if (cli_opt(argc, argv, &i, "--format", &v)) fmt = v;
    else if (cli_opt(argc, argv, &i, "--for", &v)) sketch = v;
    else if (cli_opt(argc, argv, &i, "--since", &v)) since = v;
    else if (cli_opt(argc, argv, &i, "--max-size", &v)) maxs = v;
    else if (cli_opt(argc, argv, &i, "--separator", &v)) sepname = v;
    else if (cli_flag(argv, i, "--bom")) bom = true;
    else if (cli_opt(argc, argv, &i, "--kind", &v)) {
      kind = rec_kind_from_name(v, strlen(v));
      if (!rec_kind_is_entry(kind)) { fprintf(stderr, "stoa export: --kind must be org, actor or practice\n"); return EX_USAGE; }
    } else { fprintf(stderr, "stoa export: unexpected argument '%s'\n", argv[i]); return EX_USAGE; }
  }
  int format = !strcmp(fmt, "bundle") ? 0 : !strcmp(fmt, "jsonl") ? 1 : !strcmp(fmt, "csv") ? 2 : -1;
  if (format < 0) { fprintf(stderr, "stoa export: --format is bundle, jsonl or csv\n"); return EX_USAGE; }
  if (format == 2 && !kind) { fprintf(stderr, "stoa export: CSV needs --kind (one table per kind)\n"); return EX_USAGE; }
  if ((sepname || bom) && format != 2) {
    fprintf(stderr, "stoa export: --separator and --bom are for --format csv\n");
    return EX_USAGE;
  }
  if (sepname) {
    if (!strcmp(sepname, ",") || !strcmp(sepname, ";")) sep = sepname[0];
    else if (!strcmp(sepname, "tab")) sep = '\t';
    else { fprintf(stderr, "stoa export: --separator is ',', ';' or tab, not '%s'\n", sepname); return EX_USAGE; }
  }
  if (format && (sketch || since || maxs)) {
    fprintf(stderr, "stoa export: --for, --since and --max-size make bundles, not %s\n", fmt);
    return EX_USAGE;
  }
  if (sketch && since) { fprintf(stderr, "stoa export: give --for or --since, not both\n"); return EX_USAGE; }
  if (since) {
    if (parse_since(since, &sel.since)) {
      fprintf(stderr, "stoa export: --since takes an ISO date or date-time (2026-11-01, 2026-11-01T08:30, "
                      "2026-11-01T08:30:00Z, 2026-11-01T10:30+02:00), not '%s'\n", since);
      return EX_USAGE;
    }
    sel.mode = SEL_SINCE;
  }
  if (maxs) {
    if (parse_size(maxs, &o.max) || o.max < PART_MIN) {
      fprintf(stderr, "stoa export: --max-size is a size of at least 1k (512k, 10M, 2G: powers of 1024), not '%s'\n", maxs);
      return EX_USAGE;
    }
    if (!out) { fprintf(stderr, "stoa export: --max-size writes files: give -o BASE (parts BASE.1, BASE.2, ...)\n"); return EX_USAGE; }
  }
  if (format == 0 && !out && isatty(1)) {
    fprintf(stderr, "stoa export: a bundle is binary: give -o FILE (or redirect stdout)\n");
    return EX_USAGE;
  }
  if ((x = cli_open(c))) return x;
  store_rd *rd;
  if ((e = store_rd_begin(c->st, &rd))) return cli_fail("export", e);
  if (sketch) {
    if ((x = cli_sketch_missing(c, rd, sketch, &give, &sel.nset, &nwant))) {
      store_rd_end(rd);
      return x;
    }
    sel.mode = SEL_SET;
    sel.set = give;
  }
  memset(&o.h, 0, sizeof o.h);
  memcpy(o.h.fed, store_charter(c->st)->id, HASH_LEN);
  o.h.created = cli_now();
  o.base = out;
  if (o.max) {
    e = exp_parts(c, rd, &o, &sel);
    store_rd_end(rd);
    free(give);
    if (e == STOA_ETOOBIG && !o.parts) x = EX_INVALID; /* said by exp_parts */
    else if (e) x = cli_fail("export", e);
    if (!x) exp_report(c, out, &o, &sel, sketch, nwant);
    free(o.tmp);
    free(o.part_count);
    free(o.part_bytes);
    return x;
  }
  /* Write to a temporary file and rename it, so a failed export leaves no
   * half bundle behind under the real name. */
  char tmp[NAME_MAX_LEN];
  FILE *f = stdout;
  if (out) {
    snprintf(tmp, sizeof tmp, "%.4000s.tmp%ld", out, (long)getpid());
    f = fopen(tmp, "wb");
    if (!f) { e = -errno; store_rd_end(rd); free(give); return cli_fail(tmp, e); }
  }
  size_t count = 0;
  if (format == 0) {
    e = exp_bundle(rd, &o, &sel, f);
    count = o.count;
  } else {
    exp_plain ctx = { f, format, rd, kind, 0, 0, sep };
    store_query q;
    memset(&q, 0, sizeof q);
    q.kind = kind;
    q.limit = SIZE_MAX;
    /* A spreadsheet reads UTF-8 as its own encoding unless a BOM says. */
    if (format == 2 && bom && fputs("\xef\xbb\xbf", f) == EOF) e = -EIO;
    if (format == 2 && !e) e = body_csv_write_header(f, kind, sep);
    if (!e) {
      int n = store_search(rd, &q, exp_entry, &ctx);
      e = n < 0 ? n : ctx.err;
    }
    count = ctx.count;
  }
  store_rd_end(rd);
  free(give);
  if (out) {
    if (fflush(f) || fsync(fileno(f))) e = e ? e : -errno;
    fclose(f);
    if (!e && rename(tmp, out)) e = -errno;
    if (e) unlink(tmp);
  }
  if (e) return cli_fail("export", e);
  if (format == 0) exp_report(c, out, &o, &sel, sketch, nwant);
  else if (!c->quiet && out) fprintf(stderr, "wrote %zu entries to %s\n", count, out);
  return 0;
}
