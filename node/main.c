/*
 * main.c - stoad, the Stoa daemon: start-up, signals, timers, peers.
 *
 *   stoad [--home DIR] [--listen HOST:PORT] [-v|-q]
 *
 * SIGTERM and SIGINT finish the batch in hand, close the connections and
 * exit 0; SIGHUP re-reads HOME/stoa.ini and applies peer changes.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/keys.h"
#include "config.h"
#include "node/node.h"
#include "proto/err.h"
#if HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#define NOTIFY(s) sd_notify(0, s)
#else
#define NOTIFY(s) ((void)0)
#endif

uint64_t node_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int find_peer(node *n, const char *addr) {
  for (int i = 0; i < n->npeers; i++)
    if (n->peers[i].active && !strcmp(n->peers[i].addr, addr)) return i;
  return -1;
}

/* Rewrites the [peers] section of stoa.ini with `addr` added or removed. */
static int config_save_peer(node *n, const char *addr, bool add) {
  char path[4200], tmp[4300], line[1024];
  snprintf(path, sizeof path, "%.4000s/stoa.ini", n->home);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *in = fopen(path, "r"), *out = fopen(tmp, "w");
  bool in_peers = false, had_peers = false, written = false;
  if (!out) { if (in) fclose(in); return -errno; }
  while (in && fgets(line, sizeof line, in)) {
    char *s = line;
    while (*s == ' ' || *s == '\t') s++;
    if (*s == '[') {
      if (in_peers && add && !written) { fprintf(out, "peer = %s\n", addr); written = true; }
      in_peers = !strncmp(s, "[peers]", 7);
      had_peers |= in_peers;
    } else if (in_peers && !add) {
      char *eq = strchr(s, '=');
      if (eq) {
        char *v = eq + 1;
        while (*v == ' ') v++;
        size_t l = strcspn(v, " \t\r\n;#");
        if (l == strlen(addr) && !strncmp(v, addr, l)) continue;
      }
    }
    fputs(line, out);
  }
  if (add && !written) fprintf(out, "%speer = %s\n", had_peers && in_peers ? "" : "\n[peers]\n", addr);
  if (in) fclose(in);
  if (fclose(out) || rename(tmp, path)) return -errno;
  return 0;
}

/* Takes a free slot for `addr` and dials it.  The slot index, or a code. */
static int slot_open(node *n, const char *addr, bool book) {
  int i;
  for (i = 0; i < n->npeers && n->peers[i].active; i++) {}
  if (i == n->npeers) {
    if (n->npeers == CONFIG_PEERS_MAX) return STOA_ETOOBIG;
    n->npeers++;
  }
  peer_slot *p = &n->peers[i];
  bool timer = p->retry_init;
  uv_timer_t keep = p->retry;
  memset(p, 0, sizeof *p);
  p->retry_init = timer;
  if (timer) p->retry = keep;
  snprintf(p->addr, sizeof p->addr, "%s", addr);
  p->active = true;
  p->from_book = book; /* before dialing: a dial can fail at once */
  p->st.last_sync_equal = -1;
  net_dial(n, i);
  return i;
}

int node_peer_add(node *n, const char *addr, bool save) {
  char host[256];
  int port, i;
  if (config_split_addr(addr, host, sizeof host, &port)) return STOA_EINVAL;
  if ((i = find_peer(n, addr)) >= 0) {
    if (!n->peers[i].from_book) return save ? STOA_EEXISTS : 0;
    n->peers[i].from_book = false; /* configured from now on: always kept */
  } else if ((i = slot_open(n, addr, false)) < 0) {
    return i;
  }
  if (save && config_save_peer(n, addr, true)) log_warn("could not save %s to stoa.ini", addr);
  log_info("peer %s added", addr);
  return 0;
}

int node_peer_add_book(node *n, const char *addr) {
  char host[256];
  int port;
  if (config_split_addr(addr, host, sizeof host, &port)) return STOA_EINVAL;
  if (find_peer(n, addr) >= 0) return STOA_EEXISTS;
  log_info("%s: dialing a peer from the address book", addr);
  return slot_open(n, addr, true);
}

void node_peer_release(node *n, int i, const char *why) {
  peer_slot *p = &n->peers[i];
  p->active = false;
  if (p->retry_init) uv_timer_stop(&p->retry);
  if (p->c) {
    p->c->peer_index = -1; /* an ordinary connection from now on: no retry */
    net_close(p->c, 0, why);
    p->c = NULL;
  }
}

int node_peer_remove(node *n, const char *addr) {
  int i = find_peer(n, addr);
  if (i < 0) return STOA_ENOTFOUND;
  node_peer_release(n, i, "peer removed");
  if (config_save_peer(n, addr, false)) log_warn("could not update stoa.ini");
  log_info("peer %s removed", addr);
  return 0;
}

/* Reads keys/node.key: the Ed25519 key and its Noise form.  At a reload
 * *changed says whether it is another key than before (`stoa key rotate
 * --role node`).  Logs why and returns 1 when it cannot be used. */
static int node_key_load(node *n, bool *changed) {
  char path[4200];
  uint8_t xpriv[sizeof n->noise_priv];
  stoa_key k;
  int e;
  snprintf(path, sizeof path, "%.4000s/keys/node.key", n->home);
  if ((e = keys_read(path, NULL, 0, &k))) {
    log_error("%s: %s", path, stoa_strerror(e));
    return 1;
  }
  if (noise_key_from_ed25519(k.sk, xpriv)) {
    keys_wipe(&k);
    log_error("the node key cannot be used for Noise");
    return 1;
  }
  if (changed) *changed = memcmp(n->node_pk, k.pk, KEY_LEN) != 0;
  memcpy(n->node_pk, k.pk, KEY_LEN);
  memcpy(n->node_sk, k.sk, 64);
  memcpy(n->noise_priv, xpriv, sizeof xpriv);
  keys_wipe(&k);
  sodium_memzero(xpriv, sizeof xpriv);
  return 0;
}

/* -v / -q on the command line: they override [node] log_level, also at a
 * reload. */
static int cmd_verbose, cmd_quiet;
static char listen_in_file[sizeof ((node_config *)0)->listen]; /* at start, to tell a change */

static void log_level_set(const char *name) {
  if (cmd_quiet) log_level = cmd_quiet > 1 ? LOG_ERR : LOG_WARN; /* -q wins over -v */
  else if (cmd_verbose) log_level = LOG_DEBUG;
  else log_level = !strcmp(name, "debug") ? LOG_DEBUG : !strcmp(name, "warn") ? LOG_WARN
                 : !strcmp(name, "error") ? LOG_ERR : LOG_INFO;
}

static void reload(node *n) {
  char path[4200];
  node_config c;
  bool rekeyed = false;
  snprintf(path, sizeof path, "%.4000s/stoa.ini", n->home);
  NOTIFY("RELOADING=1");
  if (config_load(&c, path)) {
    log_error("%s has errors: configuration not reloaded", path);
    NOTIFY("READY=1");
    return;
  }
  for (int i = 0; i < n->npeers; i++) {
    if (!n->peers[i].active || n->peers[i].from_book) continue; /* the book keeps its own */
    bool keep = false;
    for (int j = 0; j < c.npeers; j++) keep |= !strcmp(c.peers[j], n->peers[i].addr);
    if (!keep) {
      char a[NODE_ADDR_MAX];
      snprintf(a, sizeof a, "%s", n->peers[i].addr);
      n->peers[i].active = false;
      if (n->peers[i].retry_init) uv_timer_stop(&n->peers[i].retry);
      if (n->peers[i].c) { n->peers[i].c->peer_index = -1; net_close(n->peers[i].c, 0, "peer removed from the configuration"); }
      n->peers[i].c = NULL;
      log_info("peer %s removed", a);
    }
  }
  for (int j = 0; j < c.npeers; j++) node_peer_add(n, c.peers[j], false);
  n->cfg.sync_interval_s = c.sync_interval_s;
  n->cfg.max_conns = c.max_conns;
  /* Hub mode, announce, max_outgoing and address_book apply now. */
  n->cfg.hub = c.hub;
  if (c.book_size != n->cfg.book_size) {
    n->cfg.book_size = c.book_size;
    peers_resize(n, c.book_size);
  }
  memcpy(n->cfg.announce, c.announce, sizeof c.announce);
  n->cfg.nannounce = c.nannounce;
  n->cfg.max_outgoing = c.max_outgoing;
  n->cfg.upload_rate = c.upload_rate;
  n->cfg.peer_upload_rate = c.peer_upload_rate;
  n->cfg.zstd_level = c.zstd_level;          /* for new connections */
  n->cfg.sync_max_symbols = c.sync_max_symbols;
  n->cfg.max_conns_per_ip = c.max_conns_per_ip;
  n->cfg.max_handshakes = c.max_handshakes;
  n->cfg.handshake_timeout_s = c.handshake_timeout_s;
  n->cfg.peer_rx_rate = c.peer_rx_rate;
  n->cfg.max_rx_queue = c.max_rx_queue;
  n->cfg.max_memory = c.max_memory;
  n->cfg.max_sync_symbols = c.max_sync_symbols;
  net_rates_init(n);
  log_level_set(c.log_level);
  snprintf(n->cfg.log_level, sizeof n->cfg.log_level, "%s", c.log_level);
  if (strcmp(c.listen, listen_in_file)) log_warn("[node] listen changes at the next start");
  /* A rotated node key: new handshakes use it at once, and the open
   * connections, made with the old (now revoked) key, are closed so that
   * they come back with the new one. */
  if (node_key_load(n, &rekeyed)) log_error("the node key is unchanged");
  if (rekeyed) {
    log_info("node key changed to %02x%02x%02x%02x: connections reconnect with it", n->node_pk[0],
             n->node_pk[1], n->node_pk[2], n->node_pk[3]);
    for (conn *k = n->conns; k; k = k->next) net_close(k, 0, "this node's key changed");
  }
  peers_announce(n);
  log_info("configuration reloaded: %d peer(s)", c.npeers);
  NOTIFY("READY=1");
}

static void on_tick(uv_timer_t *t) {
  node *n = t->data;
  static unsigned ticks;
  static uint64_t last_ns;
  uint64_t ns = uv_hrtime();
  /* A tick every second: a longer gap means something held the loop (and
   * every peer and the control socket with it).  Said, so that it shows. */
  if (last_ns && ns - last_ns > 3000000000u)
    log_warn("the event loop was held for %llu ms", (unsigned long long)((ns - last_ns) / 1000000 - 1000));
  last_ns = ns;
  ticks++;
  net_tick(n);
  peer_tick(n);
  peer_push_new(n); /* records written by the CLI without a notification */
  peers_tick(n);
  if (ticks % 60 == 0) {
    store_counts c = { 0 };
    if (!store_pending_recheck(n->st, node_now_ms(), &c) && c.released) {
      log_info("%zu pending records became valid", c.released);
      peer_push_new(n);
    }
  }
  uint64_t now = node_now_ms();
  for (conn *c = n->conns; c; c = c->next)
    if (c->state == CS_READY && c->initiator && !c->out_sync &&
        now - c->st->last_sync_ms > (uint64_t)n->cfg.sync_interval_s * 1000)
      peer_sync_start(c);
}

static void walk_close(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

void node_stop(node *n) {
  if (n->stopping) return;
  n->stopping = true;
  NOTIFY("STOPPING=1");
  log_info("stopping: finishing the batch in hand");
  /* Verifications in flight finish; their commit runs as they land. */
  while (n->jobs > 0 || n->committing) uv_run(n->loop, UV_RUN_ONCE);
  uv_timer_stop(&n->commit_timer);
  node_commit(n);
  while (n->committing) uv_run(n->loop, UV_RUN_ONCE);
  for (conn *c = n->conns; c; c = c->next) net_close(c, WERR_SHUTDOWN, "shutting down");
  /* No new connections or control clients: the loop ends when the last
   * connection has closed. */
  if (n->listening) uv_close((uv_handle_t *)&n->listener, NULL);
  if (n->ctl_open) uv_close((uv_handle_t *)&n->ctl, NULL);
  n->listening = n->ctl_open = false;
  uv_timer_stop(&n->tick);
  uv_timer_stop(&n->rate_timer);
  for (int i = 0; i < n->npeers; i++)
    if (n->peers[i].retry_init) uv_timer_stop(&n->peers[i].retry);
  uv_signal_stop(&n->sig_term);
  uv_signal_stop(&n->sig_int);
  uv_signal_stop(&n->sig_hup);
  uv_stop(n->loop); /* the listener and the control socket would keep uv_run going */
}

static void on_signal(uv_signal_t *s, int signum) {
  node *n = s->data;
  if (signum == SIGHUP) reload(n);
  else node_stop(n);
}

static void usage(FILE *f) {
  fprintf(f, "usage: stoad [--home DIR] [--listen HOST:PORT] [-v | -q] [--check]\n\n"
             "The Stoa daemon: keeps the node's store in step with its peers.\n"
             "The home is --home, else $STOA_HOME, else $XDG_DATA_HOME/stoa.\n"
             "Settings are read from HOME/stoa.ini (docs/config.md).\n"
             "--check: check the settings, the store and the keys, then exit (0: ready).\n");
}

int main(int argc, char **argv) {
  static node nd;
  node *n = &nd;
  const char *home = NULL, *listen = NULL;
  bool check = false;
  int e;
  static const struct option opts[] = {
    { "home", required_argument, NULL, 'H' }, { "listen", required_argument, NULL, 'l' },
    { "verbose", no_argument, NULL, 'v' },    { "quiet", no_argument, NULL, 'q' },
    { "version", no_argument, NULL, 'V' },    { "help", no_argument, NULL, 'h' },
    { "check", no_argument, NULL, 'C' },      { NULL, 0, NULL, 0 },
  };
  int o;
  /* Large arrays (a sync's lists, up to 32 bytes a record) come and go
   * with each transfer: mapped on their own, they go back to the system
   * when freed.  glibc's default raises this threshold after such a free,
   * and the next ones then stay in the heap, a heap a long-running daemon
   * keeps. */
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  while ((o = getopt_long(argc, argv, "vqh", opts, NULL)) != -1) {
    switch (o) {
    case 'H': home = optarg; break;
    case 'l': listen = optarg; break;
    case 'v': cmd_verbose++; break;
    case 'q': cmd_quiet++; break;
    case 'V': printf("stoad %s\n", STOA_VERSION); return 0;
    case 'C': check = true; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (sodium_init() < 0) return 1;
  signal(SIGPIPE, SIG_IGN);
  if (home && strlen(home) > 4000) { fprintf(stderr, "stoad: --home: path too long\n"); return 2; }
  /* As `stoa` finds it: an empty variable counts as unset. */
  const char *sh = getenv("STOA_HOME"), *xh = getenv("XDG_DATA_HOME"), *hh = getenv("HOME");
  if (home) snprintf(n->home, sizeof n->home, "%s", home);
  else if (sh && *sh) snprintf(n->home, sizeof n->home, "%.4000s", sh);
  else if (xh && *xh) snprintf(n->home, sizeof n->home, "%.4000s/stoa", xh);
  else snprintf(n->home, sizeof n->home, "%.4000s/.local/share/stoa", hh && *hh ? hh : ".");

  char path[4200];
  if (keys_home_foreign(n->home, "stoad", path, sizeof path)) {
    fprintf(stderr, "%s\n", path);
    return 1;
  }
  snprintf(path, sizeof path, "%.4000s/stoa.ini", n->home);
  if (config_load(&n->cfg, path)) return 2;
  memcpy(listen_in_file, n->cfg.listen, sizeof listen_in_file);
  if (listen && *listen && config_listen_valid(listen)) {
    fprintf(stderr, "stoad: --listen %s: give a numeric address and a port (0.0.0.0:7420, [::]:7420)\n", listen);
    return 2;
  }
  if (listen) snprintf(n->cfg.listen, sizeof n->cfg.listen, "%s", listen);
  log_level_set(n->cfg.log_level);

  snprintf(path, sizeof path, "%.4000s/store", n->home);
  struct stat sb;
  if (stat(path, &sb)) { /* store_open would make one: not in a stranger's directory */
    log_error("no node home at %s (run `stoa init`, or give --home)", n->home);
    return 1;
  }
  if ((e = store_open(&n->st, path, NULL))) {
    log_error("cannot open the store at %s: %s (run `stoa init`?)", path, stoa_strerror(e));
    return 1;
  }
  const charter *ch = store_charter(n->st);
  if (!ch) { log_error("%s has no federation: run `stoa init`", n->home); return 1; }
  memcpy(n->fed, ch->id, HASH_LEN);
  if (node_key_load(n, NULL)) return 1;
  snprintf(path, sizeof path, "%.4000s/keys/network.pub", n->home);
  if ((e = keys_pub_read(path, n->network))) { log_error("%s: %s", path, stoa_strerror(e)); return 1; }
  if (check) { /* what a start needs, short of the network */
    printf("stoad: %s is ready: stoa.ini, the store (%s) and the node key\n", n->home, ch->name);
    store_close(n->st);
    sodium_memzero(n->node_sk, sizeof n->node_sk);
    sodium_memzero(n->noise_priv, sizeof n->noise_priv);
    return 0;
  }

  n->loop = uv_default_loop();
  if (iblt_sketch_init(&n->sketch, NODE_SKETCH_CAP) || peers_init(n)) { log_error("out of memory"); return 1; }
  peer_push_new(n); /* the sketch of everything held, and the address book */
  peers_announce(n);
  log_info("node %02x%02x%02x%02x of %s: %llu records", n->node_pk[0], n->node_pk[1], n->node_pk[2],
           n->node_pk[3], ch->name, (unsigned long long)n->records);
  if (n->cfg.listen[0]) {
    if ((e = net_listen(n, n->cfg.listen))) {
      log_error("cannot listen on %s: %s", n->cfg.listen, uv_strerror(e));
      return 1;
    }
    log_info("listening on %s", n->cfg.listen);
  }
  if ((e = ctl_listen(n))) {
    log_error("cannot open the control socket in %s: %s", n->home, uv_strerror(e));
    return 1;
  }
  uv_signal_init(n->loop, &n->sig_term);
  uv_signal_init(n->loop, &n->sig_int);
  uv_signal_init(n->loop, &n->sig_hup);
  n->sig_term.data = n->sig_int.data = n->sig_hup.data = n;
  uv_signal_start(&n->sig_term, on_signal, SIGTERM);
  uv_signal_start(&n->sig_int, on_signal, SIGINT);
  uv_signal_start(&n->sig_hup, on_signal, SIGHUP);
  uv_timer_init(n->loop, &n->commit_timer);
  n->commit_timer.data = n;
  uv_timer_init(n->loop, &n->tick);
  n->tick.data = n;
  uv_timer_start(&n->tick, on_tick, 1000, 1000);
  net_rates_init(n);
  for (int i = 0; i < n->cfg.npeers; i++) node_peer_add(n, n->cfg.peers[i], false);
  NOTIFY("READY=1");

  while (uv_run(n->loop, UV_RUN_DEFAULT) && !n->stopping) {}
  /* Stopping: let the closes and the last writes finish, then close the rest. */
  uv_run(n->loop, UV_RUN_NOWAIT);
  for (int i = 0; i < 50 && n->conns; i++) uv_run(n->loop, UV_RUN_ONCE);
  uv_walk(n->loop, walk_close, NULL);
  uv_run(n->loop, UV_RUN_DEFAULT);
  uv_loop_close(n->loop);
  snprintf(path, sizeof path, "%.4000s/stoad.sock", n->home);
  unlink(path);
  iblt_sketch_free(&n->sketch);
  want_free_all(n);
  peers_close(n);
  store_close(n->st);
  sodium_memzero(n->node_sk, sizeof n->node_sk);
  sodium_memzero(n->noise_priv, sizeof n->noise_priv);
  log_info("stopped");
  return 0;
}
