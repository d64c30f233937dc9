/*
 * compact.c - giving a store's free pages back to the file system.
 *
 * LMDB reuses the pages a write frees but never shrinks its file, so a
 * store keeps the size of its largest moment (an import's copy-on-write
 * churn, entries since erased).  store_compact writes LMDB's compacting
 * copy of the store beside it, checks it, and renames its data file over
 * the old one.
 *
 * No other process may have the store open meanwhile: its map would stay
 * on the old file, and what it wrote would be lost.  LMDB's own protocol
 * tells: every process that opens an environment holds a shared fcntl
 * lock on byte 0 of lock.mdb for as long as it is open, and a process
 * that finds nobody else takes it exclusively first.  So a write lock on
 * that byte, taken without waiting, proves the store is unused, and while
 * it is held, an opening process waits in mdb_env_open.  This process
 * itself opens the store with MDB_NOLOCK and never touches lock.mdb
 * through LMDB.  After the rename, lock.mdb is emptied before the lock is
 * let go: it describes the old file, and a process that was waiting on it
 * then fails to open (and opens the new file at its next attempt, as
 * store_open does) instead of reading the new file through it.  The next
 * opener finds nobody and lays lock.mdb out afresh, as always.
 */
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/err.h"

#define COMPACT_SUFFIX ".compact"

/* Rows of every database of the environment at dir (the unnamed one, which
 * lists the others, included), read without LMDB's lock file. */
typedef struct env_rows { uint64_t n[32]; int count; } env_rows;

static int rows_of(MDB_env *env, env_rows *out) {
  MDB_txn *txn;
  MDB_cursor *cur = NULL;
  MDB_dbi main, dbi;
  MDB_stat st;
  MDB_val k, d;
  char name[64];
  int rc;
  memset(out, 0, sizeof *out);
  if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn))) return store__err(rc);
  if ((rc = mdb_dbi_open(txn, NULL, 0, &main)) || (rc = mdb_stat(txn, main, &st))) goto out;
  out->n[out->count++] = st.ms_entries;
  if ((rc = mdb_cursor_open(txn, main, &cur))) goto out;
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); !rc; rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
    if (k.mv_size >= sizeof name || out->count == (int)(sizeof out->n / sizeof out->n[0])) {
      rc = MDB_CORRUPTED;
      goto out;
    }
    memcpy(name, k.mv_data, k.mv_size);
    name[k.mv_size] = 0;
    if ((rc = mdb_dbi_open(txn, name, 0, &dbi)) || (rc = mdb_stat(txn, dbi, &st))) goto out;
    out->n[out->count++] = st.ms_entries;
  }
  if (rc == MDB_NOTFOUND) rc = 0;
out:
  if (cur) mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  return store__err(rc);
}

static int env_open_nolock(const char *dir, MDB_env **out) {
  int rc;
  if ((rc = mdb_env_create(out))) return store__err(rc);
  if ((rc = mdb_env_set_maxdbs(*out, 32)) ||
      (rc = mdb_env_open(*out, dir, MDB_NOLOCK | MDB_RDONLY | MDB_NOTLS, 0600))) {
    mdb_env_close(*out);
    *out = NULL;
    return store__err(rc);
  }
  return 0;
}

/* out = a followed by b; false when it does not fit. */
static bool join(char *out, size_t cap, const char *a, const char *b) {
  int n = snprintf(out, cap, "%s%s", a, b);
  return n >= 0 && (size_t)n < cap;
}

static int fsync_path(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC), e = 0;
  if (fd < 0) return -errno;
  if (fsync(fd)) e = -errno;
  close(fd);
  return e;
}

/* Removes a copy directory left by an earlier, interrupted compaction. */
static void remove_copy(const char *tmp) {
  char p[4200];
  if (join(p, sizeof p, tmp, "/data.mdb")) unlink(p);
  if (join(p, sizeof p, tmp, "/lock.mdb")) unlink(p);
  rmdir(tmp);
}

int store_compact(const char *where, store_compact_info *info) {
  char dir[PATH_MAX], lock[4200], data[4200], tmp[4200], tdata[4200], parent[4200];
  struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
  struct stat sb;
  MDB_env *env = NULL;
  env_rows before, after;
  int lfd = -1, e = 0, e2;

  memset(info, 0, sizeof *info);
  /* The copy goes beside the real directory (a symbolic link to a store
   * on another disk included), so that the rename stays on one disk. */
  if (!realpath(where, dir)) return errno == ENOENT ? STOA_ENOTFOUND : -errno;
  if (!join(lock, sizeof lock, dir, "/lock.mdb") || !join(data, sizeof data, dir, "/data.mdb") ||
      !join(tmp, sizeof tmp, dir, COMPACT_SUFFIX) || !join(tdata, sizeof tdata, tmp, "/data.mdb") ||
      !join(parent, sizeof parent, dir, "/.."))
    return STOA_EINVAL;
  if (stat(data, &sb)) return errno == ENOENT ? STOA_ENOTFOUND : -errno;
  info->before = (uint64_t)sb.st_size;

  /* A process that has the store open holds a shared lock on byte 0. */
  if ((lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) return -errno;
  if (fcntl(lfd, F_SETLK, &fl)) {
    e = -errno;
    if (e == -EAGAIN || e == -EACCES) {
      struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
      if (!fcntl(lfd, F_GETLK, &q) && q.l_type != F_UNLCK) info->holder = (int)q.l_pid;
      e = -EBUSY;
    }
    goto out;
  }

  remove_copy(tmp);
  if (mkdir(tmp, 0700)) { e = -errno; goto out; }
  if ((e = env_open_nolock(dir, &env)) || (e = rows_of(env, &before))) goto fail;
  if ((e = store__err(mdb_env_copy2(env, tmp, MDB_CP_COMPACT)))) goto fail;
  mdb_env_close(env);
  env = NULL;
  /* The copy is as private as the store, and on disk before it counts. */
  if (chmod(tdata, 0600) || stat(tdata, &sb)) { e = -errno; goto fail; }
  info->after = (uint64_t)sb.st_size;
  if ((e = fsync_path(tdata))) goto fail;
  /* Nothing lost: every database of the copy has the rows it had. */
  if ((e = env_open_nolock(tmp, &env)) || (e = rows_of(env, &after))) goto fail;
  mdb_env_close(env);
  env = NULL;
  if (after.count != before.count || memcmp(after.n, before.n, sizeof after.n)) {
    e = STOA_ECORRUPT;
    goto fail;
  }
  if (rename(tdata, data)) { e = -errno; goto fail; }
  info->replaced = true;
  /* lock.mdb describes the old file: emptied, so that no opener waiting on
   * it reads the new file through it.  The rename is durable once the
   * directory is (until then a crash leaves the old file: whole too). */
  if (ftruncate(lfd, 0)) e = -errno;
  if ((e2 = fsync_path(dir)) && !e) e = e2;
  remove_copy(tmp);
  fsync_path(parent);
  goto out;
fail:
  if (env) mdb_env_close(env);
  remove_copy(tmp);
out:
  if (lfd >= 0) close(lfd); /* and with it the lock */
  return e;
}
