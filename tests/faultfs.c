/*
 * faultfs.c - an LD_PRELOAD shim that makes the store's disk fail on cue.
 *
 * Failing-disk tests (tests/cli/diskfail.sh, tests/node/crash.sh) run `stoa`
 * and `stoad` with this library preloaded.  It wraps the calls LMDB 0.9
 * writes and syncs with (write, pwrite, writev, pwritev, fsync, fdatasync,
 * msync, sync_file_range: `nm -D liblmdb.so` and strace of `stoa add` and
 * `stoa import`), and fails some of those made on the store's files - an fd
 * whose /proc/self/fd link ends in /data.mdb or /lock.mdb - with the errno
 * asked for.  Every other file (bundles, keys, sockets, the terminal, the
 * sanitizers' reports) is left alone.
 *
 * Operations are counted in three classes:
 *   write   page writes to the data file (LMDB writes a transaction's dirty
 *           pages with pwrite/writev on its ordinary fd);
 *   fsync   fsync, fdatasync, msync, sync_file_range (the sync of those
 *           pages before the commit);
 *   commit  writes on a descriptor opened with O_DSYNC: LMDB's meta page,
 *           the one write that makes a transaction durable and visible.
 *
 * Environment (unset: count only, never fail):
 *   FAULTFS_OPS=write,fsync,commit  classes that count and may fail (all)
 *   FAULTFS_NTH=k                   fail the k-th counted operation (k >= 1)
 *   FAULTFS_MODE=once|forever       only that one, or it and every later one
 *   FAULTFS_ERRNO=ENOSPC|EIO|EDQUOT|EROFS   the error returned (ENOSPC)
 *   FAULTFS_COUNT=FILE              rewritten after each counted operation:
 *                                   "write W fsync F commit C total N failed X
 *                                   failed_write failed_fsync failed_commit"
 *                                   (written even if the process is killed
 *                                   later, so a first pass learns N)
 *   FAULTFS_SWITCH=FILE             fail only while FILE exists (a daemon's
 *                                   disk can fail and come back at run time)
 *
 * A failed call returns -1 with errno set and touches nothing: the disk
 * "refused" the write or the sync.  The shim never prints (a sanitizer
 * report or a crash must stay the test's only noise).
 */
/* Both names of each call are wrapped here, each under its own name: the
 * build's -D_FILE_OFFSET_BITS=64 would rename pwrite to pwrite64. */
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* The shim's exports must be visible whatever -fvisibility the build uses. */
#define FAULTFS_EXPORT __attribute__((visibility("default")))

enum { OP_WRITE, OP_FSYNC, OP_COMMIT, OP__COUNT };

static const char *const op_names[OP__COUNT] = { "write", "fsync", "commit" };

static struct {
  pthread_once_t once;
  bool selected[OP__COUNT];
  uint64_t nth;                 /* 0: never fail */
  bool forever;
  int err;
  const char *count_path;
  const char *switch_path;
  atomic_uint_fast64_t n[OP__COUNT], nfail[OP__COUNT], total, failed;
  pthread_mutex_t mu;           /* the count file's writer */
} ff = { .once = PTHREAD_ONCE_INIT, .mu = PTHREAD_MUTEX_INITIALIZER };

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev64)(int, const struct iovec *, int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_msync)(void *, size_t, int);
static int (*real_sync_file_range)(int, off_t, off_t, unsigned int);

static int errno_from_name(const char *s) {
  if (!s || !*s || !strcmp(s, "ENOSPC")) return ENOSPC;
  if (!strcmp(s, "EIO")) return EIO;
  if (!strcmp(s, "EDQUOT")) return EDQUOT;
  if (!strcmp(s, "EROFS")) return EROFS;
  int v = atoi(s);
  return v > 0 ? v : ENOSPC;
}

/* Looks the real functions up and reads the environment, once. */
static void ff_init(void) {
  /* A cast through void * of dlsym's result is how POSIX says to do it. */
  *(void **)&real_write = dlsym(RTLD_NEXT, "write");
  *(void **)&real_pwrite = dlsym(RTLD_NEXT, "pwrite");
  *(void **)&real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
  *(void **)&real_writev = dlsym(RTLD_NEXT, "writev");
  *(void **)&real_pwritev = dlsym(RTLD_NEXT, "pwritev");
  *(void **)&real_pwritev64 = dlsym(RTLD_NEXT, "pwritev64");
  *(void **)&real_fsync = dlsym(RTLD_NEXT, "fsync");
  *(void **)&real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
  *(void **)&real_msync = dlsym(RTLD_NEXT, "msync");
  *(void **)&real_sync_file_range = dlsym(RTLD_NEXT, "sync_file_range");

  const char *ops = getenv("FAULTFS_OPS"), *nth = getenv("FAULTFS_NTH"),
             *mode = getenv("FAULTFS_MODE");
  for (int i = 0; i < OP__COUNT; i++) ff.selected[i] = !ops || !*ops;
  if (ops && *ops) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", ops);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
      for (int i = 0; i < OP__COUNT; i++)
        if (!strcmp(t, op_names[i])) ff.selected[i] = true;
  }
  ff.nth = nth ? strtoull(nth, NULL, 10) : 0;
  ff.forever = mode && !strcmp(mode, "forever");
  ff.err = errno_from_name(getenv("FAULTFS_ERRNO"));
  ff.count_path = getenv("FAULTFS_COUNT");
  ff.switch_path = getenv("FAULTFS_SWITCH");
}

/* Is fd one of the store's files?  Reads the /proc link on each call:
 * descriptors are reused, and LMDB makes few calls per transaction. */
static bool ff_is_store(int fd) {
  char link[64], path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return false;
  path[n] = 0;
  size_t len = (size_t)n;
  return (len >= 9 && !strcmp(path + len - 9, "/data.mdb")) ||
         (len >= 9 && !strcmp(path + len - 9, "/lock.mdb"));
}

/* Rewrites the count file with raw syscalls (never through the wrappers). */
static void ff_count_write(void) {
  char buf[256];
  if (!ff.count_path) return;
  int len = snprintf(buf, sizeof buf,
                     "write %llu fsync %llu commit %llu total %llu failed %llu"
                     " failed_write %llu failed_fsync %llu failed_commit %llu\n",
                     (unsigned long long)atomic_load(&ff.n[OP_WRITE]),
                     (unsigned long long)atomic_load(&ff.n[OP_FSYNC]),
                     (unsigned long long)atomic_load(&ff.n[OP_COMMIT]),
                     (unsigned long long)atomic_load(&ff.total),
                     (unsigned long long)atomic_load(&ff.failed),
                     (unsigned long long)atomic_load(&ff.nfail[OP_WRITE]),
                     (unsigned long long)atomic_load(&ff.nfail[OP_FSYNC]),
                     (unsigned long long)atomic_load(&ff.nfail[OP_COMMIT]));
  if (len <= 0) return;
  pthread_mutex_lock(&ff.mu);
  int fd = (int)syscall(SYS_openat, AT_FDCWD, ff.count_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    (void)syscall(SYS_write, fd, buf, (size_t)len);
    (void)syscall(SYS_close, fd);
  }
  pthread_mutex_unlock(&ff.mu);
}

/* Counts an operation of class op (when selected) and says whether it must
 * fail; on failure errno is set. */
static bool ff_fail(int op) {
  if (!ff.selected[op]) return false;
  uint64_t k = atomic_fetch_add(&ff.total, 1) + 1;
  atomic_fetch_add(&ff.n[op], 1);
  bool fail = ff.nth && (k == ff.nth || (ff.forever && k > ff.nth));
  if (fail && ff.switch_path && access(ff.switch_path, F_OK)) fail = false;
  if (fail) {
    atomic_fetch_add(&ff.failed, 1);
    atomic_fetch_add(&ff.nfail[op], 1);
  }
  ff_count_write();
  if (fail) errno = ff.err;
  return fail;
}

/* A write on a store file: its class depends on how the fd was opened. */
static bool ff_write_fails(int fd) {
  pthread_once(&ff.once, ff_init);
  if (!ff_is_store(fd)) return false;
  int fl = fcntl(fd, F_GETFL);
  return ff_fail(fl >= 0 && (fl & O_DSYNC) == O_DSYNC ? OP_COMMIT : OP_WRITE);
}

static bool ff_sync_fails(int fd) {
  pthread_once(&ff.once, ff_init);
  return ff_is_store(fd) && ff_fail(OP_FSYNC);
}

FAULTFS_EXPORT ssize_t write(int fd, const void *buf, size_t n) {
  if (ff_write_fails(fd)) return -1;
  return real_write(fd, buf, n);
}

FAULTFS_EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
  if (ff_write_fails(fd)) return -1;
  return real_pwrite(fd, buf, n, off);
}

FAULTFS_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) {
  if (ff_write_fails(fd)) return -1;
  return (real_pwrite64 ? real_pwrite64 : real_pwrite)(fd, buf, n, off);
}

FAULTFS_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt) {
  if (ff_write_fails(fd)) return -1;
  return real_writev(fd, iov, cnt);
}

FAULTFS_EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off) {
  if (ff_write_fails(fd)) return -1;
  return real_pwritev(fd, iov, cnt, off);
}

FAULTFS_EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off) {
  if (ff_write_fails(fd)) return -1;
  return (real_pwritev64 ? real_pwritev64 : real_pwritev)(fd, iov, cnt, off);
}

FAULTFS_EXPORT int fsync(int fd) {
  if (ff_sync_fails(fd)) return -1;
  return real_fsync(fd);
}

FAULTFS_EXPORT int fdatasync(int fd) {
  if (ff_sync_fails(fd)) return -1;
  return real_fdatasync(fd);
}

FAULTFS_EXPORT int sync_file_range(int fd, off_t off, off_t n, unsigned int flags) {
  if (ff_sync_fails(fd)) return -1;
  return real_sync_file_range(fd, off, n, flags);
}

/* msync names memory, not a file: the store maps data.mdb, and LMDB calls
 * msync only with MDB_WRITEMAP (which the store does not use), so every
 * msync counts as a sync of the store while the store's files are open. */
FAULTFS_EXPORT int msync(void *addr, size_t len, int flags) {
  pthread_once(&ff.once, ff_init);
  if ((flags & MS_SYNC) && ff_fail(OP_FSYNC)) return -1;
  return real_msync(addr, len, flags);
}
