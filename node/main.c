/*
 * main.c - stoad, the Stoa daemon.
 *
 * Live replication (Noise transport, reconciliation, push) is being built
 * (docs/status.md).  Until then stoad checks its home and says so; the
 * `stoa` CLI works on the store directly and exchanges records by bundle.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--version")) {
      printf("stoad %s\n", STOA_VERSION);
      return 0;
    }
  fprintf(stderr, "stoad %s: live replication is not built yet; use `stoa export` and "
                  "`stoa import` to exchange records (see docs/status.md)\n", STOA_VERSION);
  return 1;
}
