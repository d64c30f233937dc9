/*
 * config.c - HOME/stoa.ini, read with inih.  Every setting has a default;
 * docs/config.md lists them.
 */
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/node.h"

void config_defaults(node_config *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->listen, sizeof c->listen, "0.0.0.0:7420");
  c->sync_interval_s = 300;
  c->max_conns = 64;
  snprintf(c->log_level, sizeof c->log_level, "info");
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

typedef struct ini_ctx { node_config *c; const char *path; int bad; } ini_ctx;

static int on_value(void *user, const char *section, const char *name, const char *value) {
  ini_ctx *x = user;
  node_config *c = x->c;
  char host[256];
  int port;
  if (!strcmp(section, "node")) {
    if (!strcmp(name, "listen")) {
      if (*value && config_split_addr(value, host, sizeof host, &port)) goto bad;
      snprintf(c->listen, sizeof c->listen, "%s", value);
    } else if (!strcmp(name, "sync_interval")) {
      long v = strtol(value, NULL, 10);
      if (v < 5 || v > 86400) goto bad;
      c->sync_interval_s = (unsigned)v;
    } else if (!strcmp(name, "max_connections")) {
      long v = strtol(value, NULL, 10);
      if (v < 1 || v > 4096) goto bad;
      c->max_conns = (unsigned)v;
    } else if (!strcmp(name, "log_level")) {
      snprintf(c->log_level, sizeof c->log_level, "%s", value);
    } /* network, country: informational */
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
bad:
  fprintf(stderr, "stoad: %s: [%s] %s = %s: invalid value\n", x->path, section, name, value);
  x->bad++;
  return 1;
}

int config_load(node_config *c, const char *path) {
  ini_ctx x = { c, path, 0 };
  config_defaults(c);
  FILE *f = fopen(path, "r");
  if (!f) return 0; /* defaults */
  int line = ini_parse_file(f, on_value, &x);
  fclose(f);
  if (line > 0) {
    fprintf(stderr, "stoad: %s:%d: cannot parse this line\n", path, line);
    return -1;
  }
  return x.bad ? -1 : 0;
}
