/*
 * cmd_admin.c - `stoa verify`, `stoa reindex` and `stoa compact`.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "proto/err.h"

static void problem(void *ctx, const char *what, const uint8_t hash[HASH_LEN]) {
  cli *c = ctx;
  char h[65];
  if (hash) cli_hex(hash, HASH_LEN, h);
  if (!c->json) printf("problem: %s%s%.16s\n", what, hash ? ": record " : "", hash ? h : "");
}

int cmd_verify(cli *c, int argc, char **argv) {
  int x, n;
  (void)argv;
  if (argc != 1) { fprintf(stderr, "usage: stoa verify\n"); return EX_USAGE; }
  if ((x = cli_open(c))) return x;
  store_rd *rd;
  store_stats st = { 0 };
  if (c->tty && !c->quiet && !c->json && !store_rd_begin(c->st, &rd)) {
    store_stats_get(rd, &st);
    store_rd_end(rd);
    fprintf(stderr, "checking %llu records (signatures on every core) and every index...\n",
            (unsigned long long)st.records);
  }
  store_problem_cb cb = { problem, c };
  n = store_verify(c->st, &cb);
  if (n < 0) return cli_fail("verify", n);
  if (!store_rd_begin(c->st, &rd)) { store_stats_get(rd, &st); store_rd_end(rd); }
  if (c->json) cli_json_out(json_pack("{s:I, s:I, s:I, s:I, s:i}", "records", (json_int_t)st.records, "entries",
                                      (json_int_t)st.entries, "pending", (json_int_t)st.pending, "dropped",
                                      (json_int_t)st.dropped, "problems", n));
  else printf("%llu records, %llu entries checked: %d problem(s); %llu pending, %llu dropped\n",
              (unsigned long long)st.records, (unsigned long long)st.entries, n,
              (unsigned long long)st.pending, (unsigned long long)st.dropped);
  return n ? EX_VERIFY : 0;
}

int cmd_reindex(cli *c, int argc, char **argv) {
  int x, e;
  store_counts cnt = { 0 };
  (void)argv;
  if (argc != 1) { fprintf(stderr, "usage: stoa reindex\n"); return EX_USAGE; }
  if ((x = cli_open(c))) return x;
  if ((e = store_reindex(c->st, &cnt))) return cli_fail("reindex", e);
  if (c->json) cli_json_out(json_pack("{s:I}", "records", (json_int_t)cnt.fresh));
  else if (!c->quiet) printf("reindexed %zu records\n", cnt.fresh);
  return 0;
}

/* The store is not opened here: store_compact needs it closed in this
 * process too, and refuses while any other has it open. */
int cmd_compact(cli *c, int argc, char **argv) {
  char p[4200];
  struct stat sb;
  store_compact_info ci;
  int e;
  (void)argv;
  if (argc != 1) { fprintf(stderr, "usage: stoa compact\n"); return EX_USAGE; }
  cli_path(c, p, sizeof p, "store");
  if (stat(p, &sb) != 0) {
    fprintf(stderr, "stoa: no node home at %s (run `stoa init`, or give --home)\n", c->home);
    return EX_NOHOME;
  }
  if (c->tty && !c->quiet && !c->json) fprintf(stderr, "compacting %s...\n", p);
  if ((e = store_compact(p, &ci)) == -EBUSY) {
    if (ci.holder) fprintf(stderr, "stoa compact: the store is in use by process %d: stop stoad (and any other "
                                   "stoa command) first; nothing was changed\n", ci.holder);
    else fprintf(stderr, "stoa compact: the store is in use: stop stoad (and any other stoa command) first; "
                         "nothing was changed\n");
    return EX_STORE;
  }
  if (e == STOA_ECORRUPT) {
    fprintf(stderr, "stoa compact: the compacted copy does not hold what the store holds; the store was left "
                    "as it was (run `stoa verify`)\n");
    return EX_STORE;
  }
  if (e) return cli_fail(ci.replaced ? "compact (the store was compacted, but)" : "compact (the store was left as it was)", e);
  if (c->json) cli_json_out(json_pack("{s:I, s:I}", "before", (json_int_t)ci.before, "after", (json_int_t)ci.after));
  else if (!c->quiet)
    printf("store compacted: %.1f MB -> %.1f MB (%.1f MB given back)\n", (double)ci.before / 1e6,
           (double)ci.after / 1e6, (double)(ci.before > ci.after ? ci.before - ci.after : 0) / 1e6);
  return 0;
}
