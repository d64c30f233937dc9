/*
 * main.c - `stoa`: global options and the command table.
 */
#include <errno.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/cli.h"
#include "config.h"


typedef struct command {
  const char *name;
  cli_cmd_fn fn;
  const char *usage;
  const char *help;
} command;

static const command commands[] = {
  { "init", cmd_init, "init --network NAME [--country CC] [--charter FILE] [--federation NAME]\n"
    "          [--no-passphrase | --passphrase-file FILE] [--fast-kdf]",
    "create the node home: keys, store, and a new federation or the one of --charter" },
  { "whoami", cmd_whoami, "whoami", "show this node's keys and federation" },
  { "add", cmd_add, "add org|actor|practice [--FIELD VALUE ...] | --from-json FILE | --from-csv FILE",
    "sign and store new entries; prints their ids" },
  { "edit", cmd_edit, "edit ID [--FIELD VALUE ...] [--unset FIELD ...]", "write a new version of an entry" },
  { "erase", cmd_erase, "erase ID [--reason TEXT]",
    "erase an entry's bodies network-wide (headers stay)" },
  { "show", cmd_show, "show ID", "show the current version of an entry" },
  { "log", cmd_log, "log ID", "every version of an entry: when, who signed" },
  { "ls", cmd_ls, "ls [--kind K] [--country CC] [--theme T] [--limit N] [--offset N]", "list entries" },
  { "search", cmd_search, "search TEXT [--kind K] [--country CC] [--theme T] [--limit N] [--offset N]",
    "full-text search (accents and case do not matter)" },
  { "export", cmd_export, "export [-o FILE] [--format bundle|jsonl|csv] [--kind K]\n"
    "          [--for SKETCH | --since DATE] [--max-size SIZE] [--separator ,|;|tab] [--bom]",
    "write a bundle of signed records, or plain data" },
  { "import", cmd_import, "import [--progress] FILE...", "verify and store the records of bundles (parts in any order)" },
  { "sketch", cmd_sketch, "sketch -o FILE [--symbols K | --differences D]",
    "this node's sketch, for `export --for` at a connected node (sync by hand)" },
  { "federation", cmd_federation, "federation show | charter -o FILE | admit KEY | remove KEY",
    "the federation: charter and membership" },
  { "members", cmd_members, "members", "member networks and who vouched for whom" },
  { "key", cmd_key, "key endorse|revoke --role editor|node KEY\n       stoa key rotate --role editor|node",
    "manage this network's keys: endorse or revoke one, or give this home a new one" },
  { "backup", cmd_backup, "backup DIR", "copy this node's keys, settings and records into a new directory DIR" },
  { "restore", cmd_restore, "restore DIR", "make the home (--home, which must be new or empty) again from a backup" },
  { "verify", cmd_verify, "verify", "re-check every signature and index" },
  { "reindex", cmd_reindex, "reindex", "rebuild every index from the records" },
  { "compact", cmd_compact, "compact", "give the store's free space back to the disk (stop stoad first)" },
  { "status", cmd_status, "status", "the running daemon: records, peers, what moved (needs stoad)" },
  { "peers", cmd_peers, "peers [--book]", "the daemon's peers and their state, or with --book every address it learned and how each fared (needs stoad)" },
  { "peer", cmd_peer, "peer add|remove HOST:PORT", "add or remove a peer, saved in stoa.ini (needs stoad)" },
  { "sync", cmd_sync, "sync [HOST:PORT]", "reconcile with one or every connected peer now (needs stoad)" },
};

static void usage(FILE *f) {
  fprintf(f, "usage: stoa [--home DIR] [--json] [--quiet] [--passphrase-file FILE] COMMAND [ARGS]\n\n"
             "Stoa keeps a signed, replicated directory of civil-society organisations,\n"
             "actors and practices.  Commands:\n\n");
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].help);
  fprintf(f, "\n`stoa COMMAND --help` tells more.  The home is --home, else $STOA_HOME,\n"
             "else $XDG_DATA_HOME/stoa (~/.local/share/stoa).\n");
}

/* What `--help` adds for the commands that take fields or themes: the
 * fields of the kind named (`stoa add org --help`), else of every kind. */
static void more_help(cli_cmd_fn fn, int argc, char **argv) {
  if (fn == cmd_add || fn == cmd_edit) {
    int kind = 0;
    for (int j = 1; j < argc && !kind; j++)
      if (argv[j][0] != '-') kind = rec_kind_from_name(argv[j], strlen(argv[j]));
    if (fn == cmd_add && rec_kind_is_entry(kind)) cli_fields_help(stdout, kind);
    else
      for (int k = REC_ORG; k <= REC_PRACTICE; k++) cli_fields_help(stdout, k);
  }
  if (fn == cmd_add || fn == cmd_edit || fn == cmd_ls || fn == cmd_search)
    cli_themes_help(stdout, fn == cmd_add || fn == cmd_edit);
}

static void default_home(cli *c) {
  const char *h = getenv("STOA_HOME"), *x = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
  if (h && *h) snprintf(c->home, sizeof c->home, "%s", h);
  else if (x && *x) snprintf(c->home, sizeof c->home, "%s/stoa", x);
  else snprintf(c->home, sizeof c->home, "%s/.local/share/stoa", home ? home : ".");
}

int main(int argc, char **argv) {
  cli c;
  int i, r;
  memset(&c, 0, sizeof c);
  setlocale(LC_CTYPE, "C.UTF-8");
  if (sodium_init() < 0) {
    fprintf(stderr, "stoa: libsodium failed to start\n");
    return EX_FAIL;
  }
  default_home(&c);
  c.tty = isatty(2);
  for (i = 1; i < argc && argv[i][0] == '-'; i++) {
    const char *v;
    if (cli_opt(argc, argv, &i, "--home", &v)) snprintf(c.home, sizeof c.home, "%s", v);
    else if (cli_opt(argc, argv, &i, "--passphrase-file", &v)) c.pass_file = v;
    else if (cli_flag(argv, i, "--json")) c.json = true;
    else if (cli_flag(argv, i, "--quiet") || cli_flag(argv, i, "-q")) c.quiet = true;
    else if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) { usage(stdout); return 0; }
    else if (cli_flag(argv, i, "--version")) { printf("stoa %s\n", STOA_VERSION); return 0; }
    else { fprintf(stderr, "stoa: unknown option %s\n", argv[i]); usage(stderr); return EX_USAGE; }
  }
  if (i >= argc) { usage(stderr); return EX_USAGE; }
  for (size_t k = 0; k < sizeof commands / sizeof *commands; k++) {
    const command *cmd = &commands[k];
    if (strcmp(argv[i], cmd->name)) continue;
    for (int j = i + 1; j < argc; j++)
      if (!strcmp(argv[j], "--help") || !strcmp(argv[j], "-h")) {
        printf("usage: stoa %s\n\n%s.\n", cmd->usage, cmd->help);
        more_help(cmd->fn, argc - i, argv + i);
        return 0;
      }
    /* Global options may also follow the command. */
    int n = 0;
    char **args = malloc(sizeof *args * (size_t)(argc - i + 1));
    if (!args) return EX_FAIL;
    for (int j = i; j < argc; j++) {
      const char *v;
      if (cli_opt(argc, argv, &j, "--home", &v)) snprintf(c.home, sizeof c.home, "%s", v);
      else if (cli_opt(argc, argv, &j, "--passphrase-file", &v)) c.pass_file = v;
      else if (cli_flag(argv, j, "--json")) c.json = true;
      else if (cli_flag(argv, j, "--quiet") || cli_flag(argv, j, "-q")) c.quiet = true;
      else args[n++] = argv[j];
    }
    args[n] = NULL;
    /* Root on the service user's home: only what goes through the daemon. */
    char msg[512];
    if (cmd->fn != cmd_status && cmd->fn != cmd_peers && cmd->fn != cmd_peer && cmd->fn != cmd_sync &&
        keys_home_foreign(c.home, "stoa", msg, sizeof msg)) {
      fprintf(stderr, "%s\n", msg);
      free(args);
      return EX_FAIL;
    }
    r = cmd->fn(&c, n, args);
    if (c.wrote) cli_notify_daemon(&c);
    free(args);
    if (c.st) store_close(c.st);
    if (fflush(stdout) != 0 && r == 0) {
      fprintf(stderr, "stoa: writing the output: %s\n", strerror(errno));
      r = EX_FAIL;
    }
    return r;
  }
  fprintf(stderr, "stoa: unknown command '%s'\n", argv[i]);
  usage(stderr);
  return EX_USAGE;
}
