/*
 * rate.c - token buckets for the upload caps (docs/config.md, [limits]).
 *
 * A bucket fills at `rate` bytes per second up to half a second's worth.
 * A write goes whenever the bucket is not in debt and may overdraw it by
 * one frame; the debt then delays the next write.  So the long-run rate
 * never exceeds the cap, frames are never split, and bursts stay below
 * half a second of the cap plus one frame.
 */
#include "node/node.h"

void rate_init(rate_bucket *b, uint64_t bytes_per_s) {
  b->rate = bytes_per_s;
  b->tokens = 0;
  b->last_ms = 0;
}

static void rate__refill(rate_bucket *b, uint64_t now) {
  if (!b->last_ms || now < b->last_ms) { b->last_ms = now; return; }
  uint64_t dt = now - b->last_ms;
  int64_t cap = (int64_t)(b->rate / 2);
  int64_t add = (int64_t)(b->rate * dt / 1000);
  if (add == 0) return; /* keep last_ms: sub-token intervals accumulate */
  b->tokens = b->tokens + add > cap ? cap : b->tokens + add;
  b->last_ms = now;
}

uint64_t rate_wait(rate_bucket *b, uint64_t now) {
  if (!b->rate) return 0;
  rate__refill(b, now);
  if (b->tokens >= 0) return 0;
  return (uint64_t)(-b->tokens) * 1000 / b->rate + 1;
}

void rate_take(rate_bucket *b, size_t bytes) {
  if (b->rate) b->tokens -= (int64_t)bytes;
}
