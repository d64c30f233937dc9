/*
 * replay.c - runs inputs through a fuzz target without libFuzzer.
 *
 *   fuzz_<name> [-n] PATH...
 *
 * Each PATH is a file or a directory whose regular files (not those whose
 * name starts with '.') are run through LLVMFuzzerTestOneInput one by one,
 * in name order so that a failure names the same input every time.  Each
 * input is copied into a buffer of exactly its size, so that AddressSanitizer
 * catches a read one byte past the end, as libFuzzer would.  A missing
 * directory is skipped (git keeps no empty crash directory); with no input
 * at all the run fails unless -n is given, so that a corpus that vanished
 * is noticed.  This is SQLite's fuzzcheck idea: every crash input found
 * once is replayed on every test run.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tests/fuzz/fuzz.h"

/* Larger inputs are refused: no target takes more than a frame or a file
 * of a few MiB, and libFuzzer's own -max_len is far below this. */
#define REPLAY_MAX (16u << 20)

static int replay_file(const char *path, unsigned long *count) {
  FILE *f = fopen(path, "rb");
  struct stat st;
  uint8_t *buf = NULL;
  int r = -1;

  if (!f) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    return -1;
  }
  if (fstat(fileno(f), &st) != 0 || st.st_size < 0 || (uint64_t)st.st_size > REPLAY_MAX) {
    fprintf(stderr, "replay: %s: unreadable or larger than %u bytes\n", path, REPLAY_MAX);
    goto out;
  }
  size_t n = (size_t)st.st_size;
  /* malloc(0) may return NULL: keep one byte, pass size 0. */
  if (!(buf = malloc(n ? n : 1))) goto out;
  if (n && fread(buf, 1, n, f) != n) {
    fprintf(stderr, "replay: %s: short read\n", path);
    goto out;
  }
  fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
  LLVMFuzzerTestOneInput(buf, n);
  (*count)++;
  r = 0;
out:
  free(buf);
  fclose(f);
  return r;
}

static int replay_name_cmp(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

static int replay_path(const char *path, unsigned long *count) {
  struct stat st;
  struct dirent **names = NULL;
  int n, r = 0;

  if (stat(path, &st) != 0) {
    if (errno == ENOENT) {
      fprintf(stderr, "replay: %s: absent, skipped\n", path);
      return 0;
    }
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    return -1;
  }
  if (!S_ISDIR(st.st_mode)) return replay_file(path, count);
  if ((n = scandir(path, &names, NULL, replay_name_cmp)) < 0) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    return -1;
  }
  for (int i = 0; i < n; i++) {
    char sub[4096];
    struct stat sst;
    if (r == 0 && names[i]->d_name[0] != '.' &&
        snprintf(sub, sizeof sub, "%s/%s", path, names[i]->d_name) < (int)sizeof sub &&
        stat(sub, &sst) == 0 && S_ISREG(sst.st_mode))
      r = replay_file(sub, count);
    free(names[i]);
  }
  free(names);
  return r;
}

int main(int argc, char **argv) {
  unsigned long count = 0;
  int allow_empty = 0, i = 1;
  struct timespec t0, t1;

  if (i < argc && strcmp(argv[i], "-n") == 0) {
    allow_empty = 1;
    i++;
  }
  if (i >= argc) {
    fprintf(stderr, "usage: %s [-n] FILE-OR-DIRECTORY...\n", argv[0]);
    return 2;
  }
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (; i < argc; i++)
    if (replay_path(argv[i], &count) != 0) return 1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("replayed %lu inputs in %.3f s\n", count, s);
  if (count == 0 && !allow_empty) {
    fprintf(stderr, "replay: no input found\n");
    return 1;
  }
  return 0;
}
