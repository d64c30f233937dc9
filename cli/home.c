/*
 * home.c - the node home: paths, store, keys, publishing, common output.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/body.h"
#include "cli/cli.h"
#include "proto/err.h"
#include "proto/trust.h"

void cli_path(const cli *c, char *out, size_t cap, const char *rel) {
  snprintf(out, cap, "%.4000s/%.100s", c->home, rel);
}

int cli_read_file(const char *path, size_t max, uint8_t **out, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return -errno;
  uint8_t *b = malloc(max + 1);
  size_t n = b ? fread(b, 1, max + 1, f) : 0;
  int err = ferror(f);
  fclose(f);
  if (!b) return STOA_ENOMEM;
  if (err) { free(b); return -EIO; }
  if (n > max) { free(b); return STOA_ETOOBIG; }
  *out = b;
  *len = n;
  return 0;
}

int cli_write_file(const char *path, const void *buf, size_t len, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return -errno;
  ssize_t w = write(fd, buf, len);
  int e = (w < 0 || (size_t)w != len) ? -EIO : 0;
  if (!e && fsync(fd)) e = -errno;
  close(fd);
  return e;
}

int cli_mkdirs(const char *path) {
  char p[4096];
  if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p) return -ENAMETOOLONG;
  for (char *sl = p + 1; (sl = strchr(sl, '/')); sl++) {
    *sl = 0;
    int e = mkdir(p, 0700) && errno != EEXIST ? -errno : 0;
    *sl = '/';
    if (e) return e;
  }
  return mkdir(p, 0700) && errno != EEXIST ? -errno : 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)ftw;
  return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int cli_rmtree(const char *path) {
  return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) ? -errno : 0;
}

int cli_exit_for(int err) {
  switch (err) {
  case 0: return EX_OK;
  case STOA_ENOTFOUND: case STOA_EAMBIGUOUS: return EX_NOTFOUND;
  case STOA_ESCHEMA: case STOA_EMALFORMED: case STOA_ETRUNCATED: case STOA_ETRAILING:
  case STOA_ETOOBIG: case STOA_ETOODEEP: case STOA_EUTF8: case STOA_EEXT: case STOA_EINVAL:
  case STOA_EKIND: case STOA_EVERSION: case STOA_ECHARTER:
    return EX_INVALID;
  case STOA_EBADSIG: case STOA_EHASH: case STOA_EFEDERATION: return EX_VERIFY;
  case STOA_EKEYPERM: case STOA_EPASSPHRASE: return EX_KEY;
  case STOA_ESTORE: case STOA_ECORRUPT: case STOA_ENOSPACE: return EX_STORE;
  default: return EX_FAIL;
  }
}

int cli_fail(const char *what, int err) {
  fprintf(stderr, "stoa: %s: %s\n", what, stoa_strerror(err));
  return cli_exit_for(err);
}

int cli_open(cli *c) {
  char p[4200];
  struct stat sb;
  int e;
  if (c->st) return 0;
  cli_path(c, p, sizeof p, "store");
  if (stat(p, &sb) != 0) {
    fprintf(stderr, "stoa: no node home at %s (run `stoa init`, or give --home)\n", c->home);
    return EX_NOHOME;
  }
  if ((e = store_open(&c->st, p, NULL))) return cli_fail("cannot open the store", e);
  if (!store_charter(c->st)) {
    fprintf(stderr, "stoa: the store at %s has no federation (was `stoa init` interrupted?)\n", p);
    return EX_STORE;
  }
  return 0;
}

int cli_key(cli *c, const char *name, stoa_key *k) {
  char p[4200], pass[1024], prompt[128];
  size_t plen = 0;
  int e;
  snprintf(prompt, sizeof prompt, "keys/%s.key", name);
  cli_path(c, p, sizeof p, prompt);
  e = keys_read(p, NULL, 0, k);
  if (e == STOA_EPASSPHRASE) {
    if (c->pass_file) e = keys_pass_from_file(c->pass_file, pass, sizeof pass, &plen);
    else {
      snprintf(prompt, sizeof prompt, "Passphrase for the %s key: ", name);
      e = keys_pass_from_tty(prompt, false, pass, sizeof pass, &plen);
      if (e == -ENXIO) {
        fprintf(stderr, "stoa: the %s key is passphrase-protected and there is no terminal: "
                        "give --passphrase-file FILE\n", name);
        return EX_KEY;
      }
    }
    if (!e) e = keys_read(p, pass, plen, k);
    sodium_memzero(pass, sizeof pass);
  }
  if (e == -ENOENT && c->st) { /* a home without this key: kept elsewhere */
    fprintf(stderr, "stoa: the %s key is not in this home (%s): copy it back, mode 0600, to use it\n",
            name, p);
    return EX_KEY;
  }
  if (e) {
    fprintf(stderr, "stoa: %s: %s\n", p, stoa_strerror(e));
    if (e == STOA_EKEYPERM) fprintf(stderr, "stoa: fix it with: chmod 600 %s\n", p);
    return e == -ENOENT ? EX_NOHOME : EX_KEY;
  }
  return 0;
}

int cli_pub(cli *c, const char *name, uint8_t pk[32]) {
  char p[4200], rel[64];
  snprintf(rel, sizeof rel, "keys/%s.pub", name);
  cli_path(c, p, sizeof p, rel);
  int e = keys_pub_read(p, pk);
  if (e) {
    fprintf(stderr, "stoa: %s: %s\n", p, stoa_strerror(e));
    return e == -ENOENT ? EX_NOHOME : EX_KEY;
  }
  return 0;
}

uint64_t cli_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void cli_hex(const uint8_t *p, size_t n, char *out) {
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = d[p[i] >> 4];
    out[2 * i + 1] = d[p[i] & 15];
  }
  out[2 * n] = 0;
}

void cli_id(const uint8_t ekey[EKEY_LEN], char out[2 * ID_LEN + 1]) {
  cli_hex(ekey + KEY_LEN, ID_LEN, out);
}

void cli_time(uint64_t ms, char out[32]) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm);
}

/* Why records of ours wait in the pending area, for a person. */
static const char *pending_why(cli *c) {
  uint8_t net[32], ed[32];
  store_rd *rd;
  const char *why = "the signer is not trusted yet";
  if (cli_pub(c, "network", net) || cli_pub(c, "editor", ed) || store_rd_begin(c->st, &rd)) return why;
  const trust_state *t = store_trust(rd);
  uint64_t now = cli_now();
  if (t && !trust_is_member(t, net, now))
    why = "they take effect once your network is admitted to the federation";
  else if (t && !trust_key_valid(t, net, ed, TRUST_EDITOR, now))
    why = "your editor key is not endorsed (or was revoked): endorse it with "
          "`stoa key endorse --role editor KEY` (keys/editor.pub)";
  store_rd_end(rd);
  return why;
}

void cli_pending_note(cli *c, size_t n) {
  if (!c->quiet && n) fprintf(stderr, "stoa: note: %zu record(s) are pending: %s\n", n, pending_why(c));
}

/* A key our network revoked: refuse before signing, so that nothing is
 * written (a signed record would be held, void, on every node).  A network
 * not yet admitted writes anyway: its records wait, pending.  0 or an exit
 * code, the reason printed. */
int cli_signer_check(cli *c, const stoa_key *signer, const uint8_t owner[KEY_LEN]) {
  store_rd *rd;
  bool revoked = false;
  if (!memcmp(signer->pk, owner, KEY_LEN) || store_rd_begin(c->st, &rd)) return 0;
  const trust_state *t = store_trust(rd);
  uint64_t now = cli_now();
  revoked = t && trust_is_member(t, owner, now) && !trust_key_valid(t, owner, signer->pk, TRUST_EDITOR, now);
  store_rd_end(rd);
  if (!revoked) return 0;
  fprintf(stderr, "stoa: this home's editor key is not endorsed by its network now (revoked?); "
                  "nothing was written\n");
  return EX_KEY;
}

int cli_publish(cli *c, int kind, const uint8_t id[ID_LEN], const uint8_t *body,
                size_t blen, const stoa_key *signer, uint8_t hash_out[HASH_LEN], int *status) {
  static uint8_t buf[REC_MAX];
  uint8_t owner[KEY_LEN];
  size_t len;
  store_item it;
  int e, x;
  if ((x = cli_pub(c, "network", owner))) return x;
  if ((x = cli_signer_check(c, signer, owner))) return x;
  const charter *ch = store_charter(c->st);
  if ((e = rec_build(kind, owner, id, cli_now(), signer->sk, body, blen, ch->id, buf, sizeof buf, &len)))
    return cli_fail("cannot build the record", e);
  memset(&it, 0, sizeof it);
  it.buf = buf;
  it.len = len;
  if ((e = rec_decode(buf, len, &it.r))) return cli_fail("record", e);
  it.sig_ok = rec_verify(&it.r, ch->id) == 0;
  if ((e = store_ingest(c->st, &it, 1, cli_now(), NULL))) return cli_fail("cannot store the record", e);
  if (status) *status = it.status;
  if (it.status == ST_NEW) c->wrote = true;
  if (hash_out) memcpy(hash_out, it.r.hash, HASH_LEN);
  if (it.status == ST_REJECTED) {
    if (it.err == STOA_ESCHEMA)
      fprintf(stderr, "stoa: %s: %s\n", it.why.field[0] ? it.why.field : "body", it.why.msg);
    else
      fprintf(stderr, "stoa: record rejected: %s\n", stoa_strerror(it.err));
    return cli_exit_for(it.err);
  }
  if (it.status == ST_PENDING && it.err == STOA_EFUTURE && !c->quiet)
    fprintf(stderr, "stoa: note: the record is dated in the future: it takes effect when its time comes\n");
  else if (it.status == ST_PENDING)
    cli_pending_note(c, 1);
  return 0;
}

int cli_resolve(cli *c, const char *prefix, store_entry *out) {
  store_rd *rd;
  int e, x;
  if ((x = cli_open(c))) return x;
  if ((e = store_rd_begin(c->st, &rd))) return cli_fail("store", e);
  e = store_resolve(rd, prefix, out);
  store_rd_end(rd);
  if (e == STOA_EINVAL) {
    fprintf(stderr, "stoa: '%s' is not an id: give at least 4 hex digits\n", prefix);
    return EX_USAGE;
  }
  if (e == STOA_ENOTFOUND) { fprintf(stderr, "stoa: no entry with id %s\n", prefix); return EX_NOTFOUND; }
  if (e == STOA_EAMBIGUOUS) {
    fprintf(stderr, "stoa: id %s is ambiguous: give more digits\n", prefix);
    return EX_NOTFOUND;
  }
  return e ? cli_fail("store", e) : 0;
}

int cli_ref_resolve(void *ctx, const char *text, uint8_t out[EKEY_LEN]) {
  cli *c = ctx;
  store_rd *rd;
  store_entry en;
  int e;
  if ((e = store_rd_begin(c->st, &rd))) return e;
  e = store_resolve(rd, text, &en);
  store_rd_end(rd);
  if (!e) memcpy(out, en.ekey, EKEY_LEN);
  return e;
}

void cli_title(store_rd *rd, const store_entry *e, char *out, size_t cap) {
  const uint8_t *buf;
  size_t len, n;
  rec r;
  const schema_field *f = schema_fields(e->kind, &n);
  snprintf(out, cap, "(erased)");
  if (store_get(rd, e->hash, &buf, &len) || rec_decode(buf, len, &r) || !r.body) return;
  json_t *j = body_to_json(e->kind, r.body, r.body_len, NULL);
  if (!j) return;
  for (size_t i = 0; i < n; i++)
    if (f[i].flags & SFF_TITLE) {
      const char *s = json_string_value(json_object_get(j, f[i].name));
      if (s) snprintf(out, cap, "%s", s);
      break;
    }
  json_decref(j);
}

void cli_json_out(json_t *v) {
  if (!v) return;
  json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII * 0 | JSON_PRESERVE_ORDER);
  fputc('\n', stdout);
  json_decref(v);
}

bool cli_flag(char **argv, int i, const char *name) { return strcmp(argv[i], name) == 0; }

bool cli_opt(int argc, char **argv, int *i, const char *name, const char **val) {
  size_t n = strlen(name);
  const char *a = argv[*i];
  if (strncmp(a, name, n) != 0) return false;
  if (a[n] == '=') { *val = a + n + 1; return true; }
  if (a[n] != 0) return false;
  if (*i + 1 >= argc) {
    fprintf(stderr, "stoa: %s needs a value\n", name);
    exit(EX_USAGE);
  }
  *val = argv[++*i];
  return true;
}
