/*
 * cmd_node.c - commands that talk to the running daemon over its control
 * socket: status, peers, peer add|remove, sync; and the notification the
 * CLI sends after it wrote records.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/cli.h"
#include "proto/ctl.h"
#include "proto/err.h"
#include "proto/mp.h"

/* A msgpack value as JSON (maps with string keys, arrays, scalars). */
static json_t *mp_to_json(mp_reader *r, int depth) {
  uint32_t n, l;
  const char *s;
  const uint8_t *b;
  uint64_t u;
  int64_t i;
  bool v;
  switch (mp_peek(r)) {
  case MP_NIL: mp_read_nil(r); return json_null();
  case MP_BOOL: mp_read_bool(r, &v); return json_boolean(v);
  case MP_UINT: mp_read_uint(r, &u); return json_integer((json_int_t)u);
  case MP_INT: mp_read_int(r, &i); return json_integer((json_int_t)i);
  case MP_STR: if (mp_read_str(r, &s, &l)) return NULL; return json_stringn(s, l);
  case MP_BIN: if (mp_read_bin(r, &b, &l)) return NULL; return json_integer(l);
  case MP_ARRAY: {
    if (depth >= MP_MAX_DEPTH || mp_read_array(r, &n)) return NULL;
    json_t *a = json_array();
    for (uint32_t k = 0; k < n; k++) {
      json_t *x = mp_to_json(r, depth + 1);
      if (!x) { json_decref(a); return NULL; }
      json_array_append_new(a, x);
    }
    return a;
  }
  case MP_MAP: {
    if (depth >= MP_MAX_DEPTH || mp_read_map(r, &n)) return NULL;
    json_t *o = json_object();
    for (uint32_t k = 0; k < n; k++) {
      char key[128];
      if (mp_read_str(r, &s, &l) || l >= sizeof key) { json_decref(o); return NULL; }
      memcpy(key, s, l);
      key[l] = 0;
      json_t *x = mp_to_json(r, depth + 1);
      if (!x) { json_decref(o); return NULL; }
      json_object_set_new(o, key, x);
    }
    return o;
  }
  default: return NULL;
  }
}

/* Sends one request; the daemon's answer as JSON, or NULL with *err set
 * (-ECONNREFUSED / -ENOENT: no daemon). */
static json_t *ctl_call(cli *c, int cmd, const char *arg, int timeout_ms, int *err) {
  struct sockaddr_un sa;
  uint8_t req[CTL_ARG_MAX + 64], hdr[4];
  size_t len;
  ctl_req r = { cmd, arg, arg ? (uint32_t)strlen(arg) : 0 };
  int fd = -1;
  json_t *out = NULL;
  uint8_t *buf = NULL;
  *err = 0;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if ((size_t)snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s", c->home, CTL_SOCKET) >= sizeof sa.sun_path) {
    *err = -ENAMETOOLONG;
    return NULL;
  }
  if ((*err = ctl_req_encode(&r, req, sizeof req, &len))) return NULL;
  if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
      connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    *err = -errno;
    goto out;
  }
  ctl_frame_put(hdr, (uint32_t)len);
  if (write(fd, hdr, 4) != 4 || write(fd, req, len) != (ssize_t)len) { *err = -EIO; goto out; }
  size_t got = 0, need = 4;
  uint32_t fl = 0;
  buf = malloc(CTL_MAX + 4);
  if (!buf) { *err = STOA_ENOMEM; goto out; }
  while (got < need) {
    struct pollfd p = { fd, POLLIN, 0 };
    if (poll(&p, 1, timeout_ms) <= 0) { *err = -ETIMEDOUT; goto out; }
    ssize_t n = read(fd, buf + got, need - got);
    if (n <= 0) { *err = -EIO; goto out; }
    got += (size_t)n;
    if (got == 4 && need == 4) {
      if ((*err = ctl_frame_len(buf, &fl))) goto out;
      need = 4 + fl;
    }
  }
  mp_reader rd;
  mp_reader_init(&rd, buf + 4, fl);
  out = mp_to_json(&rd, 0);
  if (!out) *err = STOA_EMALFORMED;
out:
  if (fd >= 0) close(fd);
  free(buf);
  return out;
}

void cli_notify_daemon(cli *c) {
  int err;
  json_t *j = ctl_call(c, CTL_NOTIFY, NULL, 2000, &err);
  json_decref(j); /* no daemon: nothing to tell */
}

static int daemon_error(cli *c, int err) {
  if (err == -ECONNREFUSED || err == -ENOENT) {
    fprintf(stderr, "stoa: the daemon is not running for %s (start it with `stoad --home %s`)\n", c->home, c->home);
    return EX_DAEMON;
  }
  fprintf(stderr, "stoa: talking to the daemon: %s\n", stoa_strerror(err));
  return EX_FAIL;
}

static void print_peers(json_t *peers) {
  size_t i;
  json_t *p;
  if (!json_array_size(peers)) { printf("no peers (add one with `stoa peer add HOST:PORT`)\n"); return; }
  json_array_foreach(peers, i, p) {
    const char *err = json_string_value(json_object_get(p, "last_error"));
    json_int_t last = json_integer_value(json_object_get(p, "last_sync_ms"));
    json_t *eq = json_object_get(p, "equal_at_last_sync");
    char t[32] = "never";
    if (last) cli_time((uint64_t)last, t);
    printf("%-24s %-3s %-12s node %-16s\n", json_string_value(json_object_get(p, "addr")),
           json_string_value(json_object_get(p, "direction")), json_string_value(json_object_get(p, "state")),
           json_string_value(json_object_get(p, "node")));
    printf("    received %lld records (%lld new, %lld bytes), sent %lld (%lld bytes)\n",
           (long long)json_integer_value(json_object_get(p, "rx_records")),
           (long long)json_integer_value(json_object_get(p, "rx_new")),
           (long long)json_integer_value(json_object_get(p, "rx_bytes")),
           (long long)json_integer_value(json_object_get(p, "tx_records")),
           (long long)json_integer_value(json_object_get(p, "tx_bytes")));
    json_int_t come = json_integer_value(json_object_get(p, "to_come")), go = json_integer_value(json_object_get(p, "to_send"));
    json_int_t eta = json_integer_value(json_object_get(p, "eta_s"));
    json_int_t zr = json_integer_value(json_object_get(p, "zip_raw")), zo = json_integer_value(json_object_get(p, "zip_out"));
    json_int_t zp = json_integer_value(json_object_get(p, "zip_plain"));
    if (come || go) {
      printf("    still to come %lld, to send %lld", (long long)come, (long long)go);
      if (eta) printf(", about %lld min %02lld s left", (long long)(eta / 60), (long long)(eta % 60));
      printf("\n");
    }
    json_int_t ta = json_integer_value(json_object_get(p, "tx_announced"));
    json_int_t ra = json_integer_value(json_object_get(p, "rx_announced"));
    if (ta || ra) printf("    relayed records announced by hash: %lld to it, %lld by it\n", (long long)ta, (long long)ra);
    if (zr && zo) printf("    records compressed %.2f:1\n", (double)zr / (double)zo);
    if (zp) printf("    %lld bytes of records sent plain: the peer was the bottleneck, not the link\n", (long long)zp);
    printf("    last sync: %s%s%s\n", t, json_is_true(eq) ? " (sets were equal)" : json_is_false(eq) ? " (sets differed)" : "",
           err && *err ? "" : "");
    if (err && *err) printf("    last error: %s\n", err);
  }
}

int cmd_status(cli *c, int argc, char **argv) {
  int err;
  (void)argv;
  if (argc != 1) { fprintf(stderr, "usage: stoa status\n"); return EX_USAGE; }
  json_t *j = ctl_call(c, CTL_STATUS, NULL, 5000, &err);
  if (!j) return daemon_error(c, err);
  if (c->json) { cli_json_out(j); return 0; }
  printf("node %.16s of %s\n  records: %lld\n  listening: %s\n\n", json_string_value(json_object_get(j, "node")),
         json_string_value(json_object_get(j, "federation_name")),
         (long long)json_integer_value(json_object_get(j, "records")),
         *json_string_value(json_object_get(j, "listen")) ? json_string_value(json_object_get(j, "listen")) : "no");
  print_peers(json_object_get(j, "peers"));
  json_decref(j);
  return 0;
}

/* The address book: one line per address, then what happened there. */
static void print_book(json_t *j) {
  size_t i, n = json_array_size(json_object_get(j, "book"));
  json_int_t total = json_integer_value(json_object_get(j, "total"));
  json_t *e;
  if (!total) {
    printf("the address book is empty (it fills from the peer records of nodes that set `announce`)\n");
    return;
  }
  printf("%lld address%s in the address book", (long long)total, total == 1 ? "" : "es");
  if ((json_int_t)n < total) printf(", the first %zu listed", n);
  printf(":\n");
  json_array_foreach(json_object_get(j, "book"), i, e) {
    char ok[32] = "never", bad[32], next[32];
    json_int_t lok = json_integer_value(json_object_get(e, "last_ok_ms"));
    json_int_t lbad = json_integer_value(json_object_get(e, "last_fail_ms"));
    json_int_t fails = json_integer_value(json_object_get(e, "fails"));
    if (lok) cli_time((uint64_t)lok, ok);
    printf("%-24s node %.16s%s%s%s\n", json_string_value(json_object_get(e, "addr")),
           json_string_value(json_object_get(e, "node")), json_is_true(json_object_get(e, "hub")) ? "  hub" : "",
           json_is_true(json_object_get(e, "dialed")) ? "  dialed now" : "",
           json_is_true(json_object_get(e, "self")) ? "  (this node itself: never dialed)" : "");
    printf("    %lld sync%s, last success %s", (long long)json_integer_value(json_object_get(e, "syncs")),
           json_integer_value(json_object_get(e, "syncs")) == 1 ? "" : "s", ok);
    if (fails && lbad) {
      cli_time((uint64_t)lbad, bad);
      cli_time((uint64_t)json_integer_value(json_object_get(e, "next_try_ms")), next);
      printf("; %lld failure%s since, the last %s; next try %s", (long long)fails, fails == 1 ? "" : "s", bad, next);
    }
    printf("\n");
  }
}

int cmd_peers(cli *c, int argc, char **argv) {
  int err;
  bool book = argc == 2 && !strcmp(argv[1], "--book");
  if (argc != 1 && !book) { fprintf(stderr, "usage: stoa peers [--book]\n"); return EX_USAGE; }
  if (book) {
    json_t *j = ctl_call(c, CTL_BOOK, NULL, 5000, &err);
    if (!j) return daemon_error(c, err);
    if (!json_is_true(json_object_get(j, "ok"))) { /* a daemon older than this command */
      fprintf(stderr, "stoa peers --book: %s\n", json_string_value(json_object_get(j, "error")));
      json_decref(j);
      return EX_FAIL;
    }
    if (c->json) cli_json_out(j);
    else { print_book(j); json_decref(j); }
    return 0;
  }
  json_t *j = ctl_call(c, CTL_PEERS, NULL, 5000, &err);
  if (!j) return daemon_error(c, err);
  if (c->json) cli_json_out(json_incref(json_object_get(j, "peers")));
  else print_peers(json_object_get(j, "peers"));
  json_decref(j);
  return 0;
}

int cmd_peer(cli *c, int argc, char **argv) {
  int err;
  if (argc != 3 || (strcmp(argv[1], "add") && strcmp(argv[1], "remove"))) {
    fprintf(stderr, "usage: stoa peer add|remove HOST:PORT\n");
    return EX_USAGE;
  }
  json_t *j = ctl_call(c, strcmp(argv[1], "add") ? CTL_PEER_REMOVE : CTL_PEER_ADD, argv[2], 5000, &err);
  if (!j) return daemon_error(c, err);
  if (!json_is_true(json_object_get(j, "ok"))) {
    fprintf(stderr, "stoa peer %s: %s\n", argv[1], json_string_value(json_object_get(j, "error")));
    json_decref(j);
    return EX_USAGE;
  }
  if (c->json) cli_json_out(json_incref(json_object_get(j, "peers")));
  else if (!c->quiet) printf("%s %s (saved in stoa.ini)\n", strcmp(argv[1], "add") ? "removed" : "added", argv[2]);
  json_decref(j);
  return 0;
}

int cmd_sync(cli *c, int argc, char **argv) {
  int err;
  if (argc > 2) { fprintf(stderr, "usage: stoa sync [HOST:PORT]\n"); return EX_USAGE; }
  json_t *j = ctl_call(c, CTL_SYNC, argc == 2 ? argv[1] : NULL, 120000, &err);
  if (!j) return daemon_error(c, err);
  if (!json_is_true(json_object_get(j, "ok"))) {
    fprintf(stderr, "stoa sync: %s\n", json_string_value(json_object_get(j, "error")));
    json_decref(j);
    return EX_FAIL;
  }
  if (c->json) { cli_json_out(j); return 0; }
  size_t i;
  json_t *s;
  json_array_foreach(json_object_get(j, "syncs"), i, s)
    printf("%s: %s; %lld new records received from this peer so far, %lld sent, %lld still to send\n",
           json_string_value(json_object_get(s, "addr")),
           json_is_true(json_object_get(s, "equal")) ? "sets equal" : "sets differed",
           (long long)json_integer_value(json_object_get(s, "rx_new")),
           (long long)json_integer_value(json_object_get(s, "tx_records")),
           (long long)json_integer_value(json_object_get(s, "to_send")));
  json_decref(j);
  return 0;
}
