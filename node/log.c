/*
 * log.c - levelled logging to stderr.  Only the daemon logs (STYLE 9).
 * Keys, passphrases and record bodies are never logged.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "node/node.h"

int log_level = LOG_INFO;

void log_msg(int level, const char *fmt, ...) {
  static const char *const names[] = { "error", "warn", "info", "debug" };
  if (level > log_level) return;
  struct timespec ts;
  struct tm tm;
  char t[32];
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S", &tm);
  fprintf(stderr, "%s.%03ldZ stoad %s: ", t, ts.tv_nsec / 1000000, names[level]);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}
