/*
 * cli.h - shared state and helpers of the `stoa` command line.
 *
 * The CLI prints; nothing below it does.  Errors go to stderr as
 * "stoa: <what>: <why>" and the process exits with one of the codes below
 * (docs/cli.md lists them).
 */
#ifndef STOA_CLI_H
#define STOA_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "cli/keys.h"
#include "store/store.h"

enum cli_exit {
  EX_OK = 0,
  EX_FAIL = 1,       /* a failure not listed below */
  EX_USAGE = 2,      /* wrong command line */
  EX_NOTFOUND = 3,   /* no such entry, or an ambiguous id prefix */
  EX_INVALID = 4,    /* input that breaks the schema or cannot be read */
  EX_VERIFY = 5,     /* bad signature, damaged bundle, verify found problems */
  EX_KEY = 6,        /* key file unsafe or unreadable, wrong passphrase, key revoked */
  EX_STORE = 7,      /* the store cannot be opened or written */
  EX_NOHOME = 8,     /* no node home here: run `stoa init` */
  EX_DAEMON = 9,     /* the daemon is not running */
};

typedef struct cli {
  char home[4096];
  bool json;
  bool quiet;
  const char *pass_file;
  store *st;
  bool tty;             /* stderr is a terminal: progress allowed */
  bool wrote;           /* records were stored: tell a running daemon */
} cli;

typedef int (*cli_cmd_fn)(cli *c, int argc, char **argv);

/* Paths inside the home. */
void cli_path(const cli *c, char *out, size_t cap, const char *rel);
/* Small files: the whole of one of at most max bytes (caller frees; -errno,
 * STOA_ETOOBIG), and one written whole and synced with the given mode. */
int cli_read_file(const char *path, size_t max, uint8_t **out, size_t *len);
int cli_write_file(const char *path, const void *buf, size_t len, mode_t mode);
/* mkdir -p, each new directory 0700.  0 or -errno. */
int cli_mkdirs(const char *path);
/* rm -rf (symbolic links are removed, not followed).  0 or -errno. */
int cli_rmtree(const char *path);
/* Opens the store; errors are printed.  Returns an exit code. */
int cli_open(cli *c);
/* Prints "stoa: what: strerror(err)" and maps err to an exit code. */
int cli_fail(const char *what, int err);
int cli_exit_for(int err);
/* Loads a key of the home ("network", "editor", "node"), asking for the
 * passphrase when needed.  Prints errors.  Returns an exit code. */
int cli_key(cli *c, const char *name, stoa_key *k);
int cli_pub(cli *c, const char *name, uint8_t pk[32]);

/* Milliseconds since the epoch. */
uint64_t cli_now(void);
void cli_hex(const uint8_t *p, size_t n, char *out); /* writes 2n chars + NUL */
/* Entry ids as people type them: the 16-byte id in hex. */
#define SHORT_ID 10
void cli_id(const uint8_t ekey[EKEY_LEN], char out[2 * ID_LEN + 1]);
/* UTC time "2026-11-27 13:46:50" */
void cli_time(uint64_t ms, char out[32]);

/* cmd_sketch.c: `stoa sketch`, and the records a sketch's owner lacks
 * (for `export --for`). */
int cmd_sketch(cli *c, int argc, char **argv);
/* Reads the sketch at path and decodes the difference with our set: the
 * hashes we hold and it lacks in *give (caller frees), how many it holds
 * that we lack in *nwant.  0 or an exit code, the reason printed. */
int cli_sketch_missing(cli *c, store_rd *rd, const char *path, uint8_t **give, size_t *ngive,
                       size_t *nwant);
/* cmd_export.c: every record into one new bundle file at path (the store
 * is open), trust records first.  0 or an error; no file on error. */
int cli_export_all(cli *c, const char *path, size_t *count);
/* 0 when signer may write for owner now (or owner is not yet a member:
 * the records will wait); else prints why and returns EX_KEY. */
int cli_signer_check(cli *c, const stoa_key *signer, const uint8_t owner[KEY_LEN]);
/* Signs a record with `signer` for the home's network and ingests it.
 * Prints why when it is not accepted.  On success copies the record's hash. */
int cli_publish(cli *c, int kind, const uint8_t id[ID_LEN], const uint8_t *body,
                size_t blen, const stoa_key *signer, uint8_t hash_out[HASH_LEN], int *status);

/* cmd_init.c: an endorse or revoke record (kind) of subject in role
 * ("member", "editor", "node"), signed with the network key net and
 * stored; cli_trust_publish reads the network key first (asking for its
 * passphrase).  An exit code. */
int cli_trust_sign(cli *c, const stoa_key *net, int kind, const uint8_t subject[32], const char *role);
int cli_trust_publish(cli *c, int kind, const uint8_t subject[32], const char *role);
/* A new key pair in keys/NAME.key (0600; sealed under pass unless NULL)
 * and keys/NAME.pub; *k holds it (the caller wipes it).  An exit code. */
int cli_make_key(cli *c, const char *name, stoa_key *k, const char *pass, size_t plen, int strength);

/* Tells why n records of ours wait in the pending area (not with --quiet). */
void cli_pending_note(cli *c, size_t n);

/* Resolves an id prefix to an entry; prints errors.  Returns an exit code. */
int cli_resolve(cli *c, const char *prefix, store_entry *e);
/* body_resolver callback over the store. */
int cli_ref_resolve(void *ctx, const char *text, uint8_t out[EKEY_LEN]);

/* Title of an entry's current body into out (or "(erased)"). */
void cli_title(store_rd *rd, const store_entry *e, char *out, size_t cap);

/* A record as a JSON object: id, kind, owner, signer, ts, hash, then the
 * body's fields ("erased": true without a body).  New reference. */
json_t *record_json(const rec *r, const store_entry *en);

/* Prints a JSON value on stdout and frees it. */
void cli_json_out(json_t *v);

/* Option parsing: is argv[*i] "--name" (value in next arg or after '=')? */
bool cli_opt(int argc, char **argv, int *i, const char *name, const char **val);
bool cli_flag(char **argv, int i, const char *name);

/* cmd_entry.c: for --help, a kind's fields as `stoa add` takes them, and
 * the theme vocabulary. */
void cli_fields_help(FILE *out, int kind);
void cli_themes_help(FILE *out, bool fields);

/* Commands. */
int cmd_init(cli *c, int argc, char **argv);
int cmd_whoami(cli *c, int argc, char **argv);
int cmd_add(cli *c, int argc, char **argv);
int cmd_edit(cli *c, int argc, char **argv);
int cmd_erase(cli *c, int argc, char **argv);
int cmd_show(cli *c, int argc, char **argv);
int cmd_log(cli *c, int argc, char **argv);
int cmd_ls(cli *c, int argc, char **argv);
int cmd_search(cli *c, int argc, char **argv);
int cmd_export(cli *c, int argc, char **argv);
int cmd_import(cli *c, int argc, char **argv);
int cmd_federation(cli *c, int argc, char **argv);
int cmd_members(cli *c, int argc, char **argv);
int cmd_key(cli *c, int argc, char **argv);
int cmd_backup(cli *c, int argc, char **argv);
int cmd_restore(cli *c, int argc, char **argv);
int cmd_verify(cli *c, int argc, char **argv);
int cmd_reindex(cli *c, int argc, char **argv);
int cmd_compact(cli *c, int argc, char **argv);
int cmd_status(cli *c, int argc, char **argv);
int cmd_peers(cli *c, int argc, char **argv);
int cmd_peer(cli *c, int argc, char **argv);
int cmd_sync(cli *c, int argc, char **argv);

/* Tells a running daemon that records were written (nothing if none runs). */
void cli_notify_daemon(cli *c);

#endif
