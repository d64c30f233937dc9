/*
 * config.c - HOME/stoa.ini, read with inih.  Every setting has a default;
 * docs/config.md lists them.
 */
#include <arpa/inet.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/node.h"
#include "proto/schema.h"

void config_defaults(node_config *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->listen, sizeof c->listen, "0.0.0.0:7420");
  c->sync_interval_s = 300;
  c->max_conns = 64;
  snprintf(c->log_level, sizeof c->log_level, "info");
  c->zstd_level = 3;
  c->sync_max_symbols = 1u << 20;
  c->max_conns_per_ip = 8;
  c->max_handshakes = 32;
  c->handshake_timeout_s = 10;
  c->peer_rx_rate = 32000000;          /* 32 MB/s: more than two cores verify */
  c->max_rx_queue = 64u << 20;
  c->max_sync_symbols = 2u << 20;
  c->max_memory = 512u << 20;
  /* max_outgoing and book_size stay 0 here: config_load picks the default
   * by hub mode once the whole file is read (docs/hubs.md). */
}

/* "a:1, b:2" -> c->announce[]; each address as a peer record's schema
 * takes it, so that our own record is never rejected.  0 or -1. */
static int config__announce(node_config *c, const char *value) {
  char buf[CONFIG_ANNOUNCE_MAX * NODE_ADDR_MAX], *save = NULL;
  if (strlen(value) >= sizeof buf) return -1;
  snprintf(buf, sizeof buf, "%s", value);
  c->nannounce = 0;
  for (char *t = strtok_r(buf, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
    if (c->nannounce == CONFIG_ANNOUNCE_MAX || strlen(t) >= NODE_ADDR_MAX || !schema_addr_valid(t, strlen(t)))
      return -1;
    snprintf(c->announce[c->nannounce++], NODE_ADDR_MAX, "%s", t);
  }
  return 0;
}

int config_split_addr(const char *addr, char *host, size_t hcap, int *port) {
  const char *colon;
  size_t hl;
  if (addr[0] == '[') {
    const char *end = strchr(addr, ']');
    if (!end || end[1] != ':') return -1;
    hl = (size_t)(end - addr - 1);
    addr++;
    colon = end + 1;
  } else {
    colon = strrchr(addr, ':');
    if (!colon) return -1;
    hl = (size_t)(colon - addr);
  }
  if (hl == 0 || hl >= hcap) return -1;
  memcpy(host, addr, hl);
  host[hl] = 0;
  char *e;
  long p = strtol(colon + 1, &e, 10);
  if (*e || p < 1 || p > 65535) return -1;
  *port = (int)p;
  return 0;
}

/* "64kbit", "8000", "8k", "1.5M", "2Mbit": bytes per second, or -1.
 * k and M are decimal, as line rates are. */
static int64_t config__rate(const char *v) {
  char *e;
  double x = strtod(v, &e);
  if (e == v || x < 0) return -1;
  while (*e == ' ') e++;
  double mult = 1;
  if (*e == 'k' || *e == 'K') { mult = 1e3; e++; }
  else if (*e == 'M') { mult = 1e6; e++; }
  else if (*e == 'G') { mult = 1e9; e++; }
  if (!strcmp(e, "bit") || !strcmp(e, "bps")) mult /= 8;
  else if (*e && strcmp(e, "B") && strcmp(e, "B/s")) return -1;
  x *= mult;
  if (x > 1e12) return -1;
  return (int64_t)x;
}

/* "512M", "64K", "1G", "1048576": bytes (K, M, G are binary, as memory
 * sizes are), or -1. */
static int64_t config__size(const char *v) {
  char *e;
  unsigned long long x = strtoull(v, &e, 10);
  int shift = 0;
  if (e == v || *v == '-') return -1;
  if (*e == 'K' || *e == 'k') shift = 10;
  else if (*e == 'M') shift = 20;
  else if (*e == 'G') shift = 30;
  if (shift) e++;
  if (*e == 'i') e++;
  if (*e == 'B') e++;
  if (*e || x > (1ull << 40) >> shift) return -1;
  return (int64_t)(x << shift);
}

/* A whole decimal integer in [lo, hi] (no trailing characters), or -1. */
static int config__int(const char *v, long lo, long hi, long *out) {
  char *e;
  long x = strtol(v, &e, 10);
  if (e == v || *e || x < lo || x > hi) return -1;
  *out = x;
  return 0;
}

int config_listen_valid(const char *v) {
  char host[256];
  int port;
  uint8_t a[16];
  if (config_split_addr(v, host, sizeof host, &port)) return -1;
  return inet_pton(v[0] == '[' ? AF_INET6 : AF_INET, host, a) == 1 ? 0 : -1;
}

typedef struct ini_ctx { node_config *c; const char *path; int bad; bool conns_set; } ini_ctx;

static int on_value(void *user, const char *section, const char *name, const char *value) {
  ini_ctx *x = user;
  node_config *c = x->c;
  char host[256];
  int port;
  if (!strcmp(section, "node")) {
    if (!strcmp(name, "listen")) {
      if (*value && config_listen_valid(value)) goto bad;
      snprintf(c->listen, sizeof c->listen, "%s", value);
    } else if (!strcmp(name, "sync_interval")) {
      long v;
      if (config__int(value, 5, 86400, &v)) goto bad;
      c->sync_interval_s = (unsigned)v;
    } else if (!strcmp(name, "max_connections")) {
      long v;
      if (config__int(value, 1, 4096, &v)) goto bad;
      c->max_conns = (unsigned)v;
      x->conns_set = true;
    } else if (!strcmp(name, "hub")) {
      if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "1")) c->hub = true;
      else if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "0")) c->hub = false;
      else goto bad;
    } else if (!strcmp(name, "announce")) {
      if (config__announce(c, value)) goto bad;
    } else if (!strcmp(name, "max_outgoing")) {
      long v;
      if (config__int(value, 1, CONFIG_PEERS_MAX, &v)) goto bad;
      c->max_outgoing = (unsigned)v;
    } else if (!strcmp(name, "address_book")) {
      long v;
      if (config__int(value, 16, 100000, &v)) goto bad;
      c->book_size = (unsigned)v;
    } else if (!strcmp(name, "log_level")) {
      if (strcmp(value, "error") && strcmp(value, "warn") && strcmp(value, "info") && strcmp(value, "debug"))
        goto bad;
      snprintf(c->log_level, sizeof c->log_level, "%s", value);
    } else if (!strcmp(name, "compression")) {
      long v;
      if (!strcmp(value, "none") || !strcmp(value, "off")) c->zstd_level = 0;
      else if (!strcmp(value, "zstd")) c->zstd_level = 3;
      else if (!config__int(value, 1, 19, &v)) c->zstd_level = (int)v;
      else goto bad;
    } else if (!strcmp(name, "sync_max_symbols")) {
      long v;
      if (config__int(value, 16, 1L << 24, &v)) goto bad;
      c->sync_max_symbols = (unsigned)v;
    } else if (strcmp(name, "network") && strcmp(name, "country")) { /* those two: informational */
      goto unknown;
    }
    return 1;
  }
  if (!strcmp(section, "limits")) {
    if (!strcmp(name, "upload_rate") || !strcmp(name, "peer_upload_rate")) {
      int64_t r = config__rate(value);
      if (r < 0 || (r > 0 && r < 1000)) goto bad; /* below 8 kbit/s nothing works */
      if (name[0] == 'u') c->upload_rate = (uint64_t)r;
      else c->peer_upload_rate = (uint64_t)r;
    } else if (!strcmp(name, "max_connections_per_ip") || !strcmp(name, "max_handshakes")) {
      long v;
      if (config__int(value, 1, 4096, &v)) goto bad;
      if (!strcmp(name, "max_handshakes")) c->max_handshakes = (unsigned)v;
      else c->max_conns_per_ip = (unsigned)v;
    } else if (!strcmp(name, "handshake_timeout")) {
      long v;
      if (config__int(value, 1, 300, &v)) goto bad;
      c->handshake_timeout_s = (unsigned)v;
    } else if (!strcmp(name, "peer_rx_rate")) {
      int64_t r = config__rate(value);
      /* Slower, a HELLO with its proofs could miss the handshake timeout. */
      if (r < 0 || (r > 0 && r < 16000)) goto bad;
      c->peer_rx_rate = (uint64_t)r;
    } else if (!strcmp(name, "max_sync_symbols")) {
      long v;
      if (config__int(value, 16, 1L << 26, &v)) goto bad;
      c->max_sync_symbols = (uint64_t)v;
    } else if (!strcmp(name, "max_rx_queue") || !strcmp(name, "max_memory")) {
      int64_t v = config__size(value);
      if (v < 0) goto bad;
      if (!strcmp(name, "max_rx_queue")) {
        if (v < (1 << 20)) goto bad; /* room for a few whole RECORDS messages */
        c->max_rx_queue = (uint64_t)v;
      } else {
        if (v > 0 && v < (16 << 20)) goto bad;
        c->max_memory = (uint64_t)v;
      }
    } else {
      goto unknown;
    }
    return 1;
  }
  if (!strcmp(section, "peers")) {
    if (config_split_addr(value, host, sizeof host, &port)) goto bad;
    if (c->npeers == CONFIG_PEERS_MAX) goto bad;
    for (int i = 0; i < c->npeers; i++)
      if (!strcmp(c->peers[i], value)) return 1;
    snprintf(c->peers[c->npeers++], NODE_ADDR_MAX, "%s", value);
    return 1;
  }
  return 1; /* other sections belong to later versions */
unknown: /* a later version's setting, or a typo: said, not fatal */
  fprintf(stderr, "stoad: %s: [%s] %s: unknown setting, ignored\n", x->path, section, name);
  return 1;
bad:
  fprintf(stderr, "stoad: %s: [%s] %s = %s: invalid value\n", x->path, section, name, value);
  x->bad++;
  return 1;
}

int config_load(node_config *c, const char *path) {
  ini_ctx x = { c, path, 0, false };
  config_defaults(c);
  FILE *f = fopen(path, "r");
  if (!f) { /* defaults */
    c->max_outgoing = 8;
    c->book_size = 1024;
    return 0;
  }
  int line = ini_parse_file(f, on_value, &x);
  fclose(f);
  if (line > 0) {
    fprintf(stderr, "stoad: %s:%d: cannot parse this line\n", path, line);
    return -1;
  }
  /* A hub is the meeting point of a region: room for many more peers. */
  if (c->hub && !x.conns_set) c->max_conns = 512;
  if (!c->max_outgoing) c->max_outgoing = c->hub ? 16 : 8;
  if (!c->book_size) c->book_size = c->hub ? 4096 : 1024;
  return x.bad ? -1 : 0;
}
