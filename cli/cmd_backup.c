/*
 * cmd_backup.c - `stoa backup DIR` and `stoa restore DIR`.
 *
 * A backup is a directory: the home's keys (keys/, secret keys 0600),
 * stoa.ini, charter.stoa, and records.bundle with every record the store
 * holds, from one snapshot (trust records first: docs/bundle-format.md).
 * The records are signed and the federation's peers hold them too; the
 * keys exist nowhere else, and without the network key nobody can speak
 * for the network any more.
 *
 * Both commands build their result under a temporary name next to where
 * it goes and rename it into place once whole, so that a failure leaves
 * neither half a backup nor half a home.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/cli.h"
#include "proto/bundle.h"
#include "proto/err.h"

#define PATH_LEN 4200

/* What a backup holds besides its records.  A network key kept away from
 * the node (it is only needed to admit, remove and endorse) is not there
 * to copy: such a backup is whole without it. */
typedef struct part {
  const char *rel;
  size_t max;
  mode_t mode;
  bool needed;
} part;

static const part parts[] = {
  { "keys/network.key", 4096, 0600, false },
  { "keys/network.pub", 4096, 0644, true },
  { "keys/editor.key", 4096, 0600, true },
  { "keys/editor.pub", 4096, 0644, true },
  { "keys/node.key", 4096, 0600, true },
  { "keys/node.pub", 4096, 0644, true },
  { "charter.stoa", CHARTER_MAX, 0644, true },
  { "stoa.ini", 1 << 20, 0644, true },
};
#define RECORDS "records.bundle"

/* Copies one small file with the given mode; what was read is wiped, as it
 * may be a secret key. */
static int copy_file(const char *from, const char *to, size_t max, mode_t mode) {
  uint8_t *b;
  size_t n;
  int e;
  if ((e = cli_read_file(from, max, &b, &n))) return e;
  e = cli_write_file(to, b, n, mode);
  sodium_memzero(b, n);
  free(b);
  return e;
}

/* Copies the parts from one directory to another that holds an empty
 * keys/.  *no_net is set when there was no network key to copy.  Prints
 * what failed; returns an exit code. */
static int copy_parts(const char *cmd, const char *from, const char *to, bool *no_net) {
  char a[PATH_LEN], b[PATH_LEN];
  *no_net = false;
  for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
    snprintf(a, sizeof a, "%.4000s/%s", from, parts[i].rel);
    snprintf(b, sizeof b, "%.4000s/%s", to, parts[i].rel);
    int e = copy_file(a, b, parts[i].max, parts[i].mode);
    if (e == -ENOENT && !parts[i].needed) { *no_net = true; continue; }
    if (e == -ENOENT) {
      fprintf(stderr, "stoa %s: %s is missing: %s holds no whole node\n", cmd, a, from);
      return EX_INVALID;
    }
    if (e) return cli_fail(a, e);
  }
  return 0;
}

/* path without trailing slashes into out; false when empty or too long. */
static bool clean_path(const char *path, char *out, size_t cap) {
  size_t n = strlen(path);
  while (n > 1 && path[n - 1] == '/') n--;
  if (!n || n >= cap) return false;
  memcpy(out, path, n);
  out[n] = 0;
  return true;
}

/* The directory holding path: its name synced, so a rename survives. */
static int sync_names(const char *dir) {
  char p[PATH_LEN];
  int e;
  snprintf(p, sizeof p, "%.4000s/keys/x", dir);
  if ((e = keys_fsync_dir(p))) return e;  /* keys/ */
  snprintf(p, sizeof p, "%.4000s/x", dir);
  return keys_fsync_dir(p);               /* dir itself */
}

static int one_dir_arg(const char *cmd, int argc, char **argv, char *dir, size_t cap) {
  if (argc != 2 || argv[1][0] == '-') {
    fprintf(stderr, "usage: stoa %s DIR\n", cmd);
    return EX_USAGE;
  }
  if (!clean_path(argv[1], dir, 4000)) {
    fprintf(stderr, "stoa %s: '%s' is not a usable directory name\n", cmd, argv[1]);
    return EX_USAGE;
  }
  return 0;
}

int cmd_backup(cli *c, int argc, char **argv) {
  char dir[PATH_LEN], tmp[PATH_LEN], p[PATH_LEN];
  size_t count = 0;
  bool no_net;
  int x, e;
  if ((x = one_dir_arg("backup", argc, argv, dir, sizeof dir))) return x;
  if ((x = cli_open(c))) return x;
  if (access(dir, F_OK) == 0 || errno != ENOENT) {
    fprintf(stderr, "stoa backup: %s already exists: give the name of a new directory\n", dir);
    return EX_USAGE;
  }
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) { /* its parents, as restore makes a home's */
    *slash = 0;
    e = cli_mkdirs(dir);
    *slash = '/';
    if (e) return cli_fail(dir, e);
  }
  snprintf(tmp, sizeof tmp, "%.4000s.tmp%ld", dir, (long)getpid());
  if (mkdir(tmp, 0700)) return cli_fail(tmp, -errno);
  snprintf(p, sizeof p, "%.4100s/keys", tmp);
  if (mkdir(p, 0700)) { x = cli_fail(p, -errno); goto fail; }
  if ((x = copy_parts("backup", c->home, tmp, &no_net))) goto fail;
  snprintf(p, sizeof p, "%.4100s/" RECORDS, tmp);
  if ((e = cli_export_all(c, p, &count))) { x = cli_fail("backup: the records", e); goto fail; }
  if ((e = sync_names(tmp))) { x = cli_fail(tmp, e); goto fail; }
  if (rename(tmp, dir)) { x = cli_fail(dir, -errno); goto fail; }
  if ((e = keys_fsync_dir(dir))) return cli_fail(dir, e);
  if (c->json) {
    cli_json_out(json_pack("{s:s, s:I, s:b}", "dir", dir, "records", (json_int_t)count, "network_key", !no_net));
  } else if (!c->quiet) {
    printf("Backed up %zu records, the %skeys, stoa.ini and the charter to %s\n", count,
           no_net ? "editor and node " : "network, editor and node ", dir);
    if (no_net)
      printf("(the network key is not in %s/keys, so it is not in the backup: keep its own copy safe)\n", c->home);
    printf("It holds this node's secret keys: keep it as safe as the node itself.\n"
           "To bring the node back: stoa --home NEW_HOME restore %s\n", dir);
  }
  return 0;
fail:
  cli_rmtree(tmp);
  return x;
}

/* 0 when path does not exist or is an empty directory. */
#define INSIDE_TMP ".restore-" /* a home built inside the home: below */

/* 0 when path does not exist or is an empty directory (what an
 * interrupted restore left inside it, INSIDE_TMP*, does not count). */
static int dir_free(const char *path) {
  DIR *d = opendir(path);
  struct dirent *de;
  int e = 0;
  if (!d) return errno == ENOENT ? 0 : -errno;
  while ((de = readdir(d)))
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
        strncmp(de->d_name, INSIDE_TMP, sizeof INSIDE_TMP - 1)) {
      e = -EEXIST;
      break;
    }
  closedir(d);
  return e;
}

/* Removes what interrupted restores left inside home. */
static void inside_leftovers(const char *home) {
  char p[PATH_LEN];
  DIR *d = opendir(home);
  struct dirent *de;
  if (!d) return;
  while ((de = readdir(d)))
    if (!strncmp(de->d_name, INSIDE_TMP, sizeof INSIDE_TMP - 1)) {
      snprintf(p, sizeof p, "%.3900s/%.200s", home, de->d_name);
      cli_rmtree(p);
    }
  closedir(d);
}

/* Moves the entries of tmp (a home built inside home) up into home, the
 * store last: until it is there, the home is no home to stoa and stoad. */
static int inside_move(const char *tmp, const char *home) {
  static const char *const names[] = { "keys", "stoa.ini", "charter.stoa", "store" };
  char from[PATH_LEN], to[PATH_LEN];
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    snprintf(from, sizeof from, "%.4000s/%s", tmp, names[i]);
    snprintf(to, sizeof to, "%.4000s/%s", home, names[i]);
    if (rename(from, to) && errno != ENOENT) return -errno;
  }
  return rmdir(tmp) ? -errno : 0;
}

/* The secret keys copied into home match their public halves (a key that
 * needs a passphrase is checked when it is first used). */
static int check_keys(const char *home) {
  static const char *const names[] = { "network", "editor", "node" };
  char kp[PATH_LEN], pp[PATH_LEN];
  for (size_t i = 0; i < 3; i++) {
    uint8_t pk[KEYS_PK_LEN];
    stoa_key k;
    int e;
    snprintf(kp, sizeof kp, "%.4000s/keys/%s.key", home, names[i]);
    snprintf(pp, sizeof pp, "%.4000s/keys/%s.pub", home, names[i]);
    if ((e = keys_pub_read(pp, pk))) return cli_fail(pp, e);
    e = keys_read(kp, NULL, 0, &k);
    if (e == STOA_EPASSPHRASE || (e == -ENOENT && i == 0)) continue;
    if (e) return cli_fail(kp, e);
    bool same = !memcmp(k.pk, pk, KEYS_PK_LEN);
    keys_wipe(&k);
    if (!same) {
      fprintf(stderr, "stoa restore: keys/%s.key does not belong to keys/%s.pub\n", names[i], names[i]);
      return EX_KEY;
    }
  }
  return 0;
}

/* The records file's federation is the charter's: read from its head. */
static int check_records(const char *path, const charter *ch) {
  uint8_t buf[512];
  bundle_reader br;
  ssize_t n;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), e;
  if (fd < 0) {
    e = -errno;
    if (e == -ENOENT) {
      fprintf(stderr, "stoa restore: %s is missing: not a whole backup\n", path);
      return EX_INVALID;
    }
    return cli_fail(path, e);
  }
  n = read(fd, buf, sizeof buf);
  close(fd);
  if (n < 0) return cli_fail(path, -errno);
  if ((e = bundle_reader_init(&br, buf, (size_t)n))) {
    fprintf(stderr, "stoa restore: %s is not a bundle: %s\n", path, stoa_strerror(e));
    return EX_INVALID;
  }
  if (memcmp(br.hdr.fed, ch->id, HASH_LEN)) {
    fprintf(stderr, "stoa restore: %s holds another federation's records than its charter.stoa\n", path);
    return EX_VERIFY;
  }
  return 0;
}

int cmd_restore(cli *c, int argc, char **argv) {
  char dir[PATH_LEN], home[PATH_LEN], tmp[PATH_LEN], p[PATH_LEN];
  uint8_t *cbuf = NULL;
  size_t clen;
  charter ch;
  bool no_net, tmp_made = false, inside = false;
  store_stats st;
  store_rd *rd;
  int x = 0, imp, e;
  if ((x = one_dir_arg("restore", argc, argv, dir, sizeof dir))) return x;
  if (!clean_path(c->home, home, 4000)) {
    fprintf(stderr, "stoa restore: '%s' is not a usable home\n", c->home);
    return EX_USAGE;
  }
  if ((e = dir_free(home))) {
    if (e != -EEXIST) return cli_fail(home, e);
    fprintf(stderr, "stoa restore: %s is not empty: restore into a new --home\n", home);
    return EX_USAGE;
  }
  snprintf(p, sizeof p, "%.4000s/charter.stoa", dir);
  if ((e = cli_read_file(p, CHARTER_MAX, &cbuf, &clen))) {
    if (e == -ENOENT) fprintf(stderr, "stoa restore: %s is not a backup (no charter.stoa)\n", dir);
    else cli_fail(p, e);
    return e == -ENOENT ? EX_INVALID : cli_exit_for(e);
  }
  if ((e = charter_decode(cbuf, clen, &ch))) {
    fprintf(stderr, "stoa restore: %s is not a valid charter: %s\n", p, stoa_strerror(e));
    x = cli_exit_for(e);
    goto out;
  }
  snprintf(p, sizeof p, "%.4000s/" RECORDS, dir);
  if ((x = check_records(p, &ch))) goto out;
  /* The new home is made next to where it goes, then renamed into place. */
  char *slash = strrchr(home, '/');
  if (slash && slash != home) {
    *slash = 0;
    e = cli_mkdirs(home);
    *slash = '/';
    if (e) { x = cli_fail(home, e); goto out; }
  }
  snprintf(tmp, sizeof tmp, "%.4000s.restore%ld", home, (long)getpid());
  if (mkdir(tmp, 0700)) {
    /* A service user may own its (empty) home but not the directory it is
     * in (/var/lib): the new home is then made inside it. */
    e = -errno;
    if ((e != -EACCES && e != -EPERM && e != -EROFS) || access(home, W_OK)) { x = cli_fail(tmp, e); goto out; }
    inside_leftovers(home);
    snprintf(tmp, sizeof tmp, "%.4000s/" INSIDE_TMP "%ld", home, (long)getpid());
    if (mkdir(tmp, 0700)) { x = cli_fail(tmp, -errno); goto out; }
    inside = true;
  }
  tmp_made = true;
  snprintf(p, sizeof p, "%.4100s/keys", tmp);
  if (mkdir(p, 0700)) { x = cli_fail(p, -errno); goto out; }
  if ((x = copy_parts("restore", dir, tmp, &no_net)) || (x = check_keys(tmp))) goto out;
  snprintf(p, sizeof p, "%.4100s/store", tmp);
  if ((e = store_open(&c->st, p, NULL)) || (e = store_set_charter(c->st, cbuf, clen))) {
    x = cli_fail(p, e);
    goto out;
  }
  /* The records, through `stoa import` (its report only when something
   * is wrong with them). */
  {
    bool q = c->quiet, j = c->json;
    char name[] = "import", *av[3] = { name, p, NULL };
    snprintf(p, sizeof p, "%.4000s/" RECORDS, dir);
    snprintf(c->home, sizeof c->home, "%.4050s", tmp);
    c->quiet = true;
    c->json = false;
    imp = cmd_import(c, 2, av);
    c->quiet = q;
    c->json = j;
    c->wrote = false; /* no daemon runs on a home that does not exist yet */
    snprintf(c->home, sizeof c->home, "%.4000s", home);
  }
  if (imp && imp != EX_VERIFY) { x = imp; goto out; }
  if ((e = store_rd_begin(c->st, &rd))) { x = cli_fail("restore", e); goto out; }
  e = store_stats_get(rd, &st);
  store_rd_end(rd);
  if (e) { x = cli_fail("restore", e); goto out; }
  store_close(c->st);
  c->st = NULL;
  if ((e = sync_names(tmp))) { x = cli_fail(tmp, e); goto out; }
  if (inside ? (e = inside_move(tmp, home)) != 0 : rename(tmp, home) && (e = -errno)) {
    x = cli_fail(home, e);
    goto out;
  }
  tmp_made = false;
  if ((e = keys_fsync_dir(home))) { x = cli_fail(home, e); goto out; }
  if (c->json) {
    cli_json_out(json_pack("{s:s, s:I, s:b, s:b}", "home", home, "records", (json_int_t)st.records,
                           "network_key", !no_net, "damaged", imp != 0));
  } else if (!c->quiet) {
    printf("Restored %s from %s: %llu records, the %skeys\n", home, dir, (unsigned long long)st.records,
           no_net ? "editor and node " : "network, editor and node ");
    printf("Start stoad on it: its peers send it what was written since the backup.\n");
  }
  x = imp;
out:
  if (c->st) {
    store_close(c->st);
    c->st = NULL;
  }
  if (tmp_made) cli_rmtree(tmp);
  free(cbuf);
  return x;
}
