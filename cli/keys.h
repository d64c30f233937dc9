/*
 * keys.h - Stoa's key files: Ed25519 secret keys on disk, public key text,
 * and passphrases.
 *
 * A node home holds network.key (the network key, passphrase-protected by
 * default), editor.key and node.key (plain), each with a .pub beside it.
 *
 * Secret key file format (all integers big-endian)
 * ------------------------------------------------
 *
 *   offset size  field
 *        0    8  magic "STOAKEY1" (ASCII, no NUL); the 1 is the version
 *        8    1  type: 0 = plain, 1 = passphrase-protected
 *        9    1  reserved, must be 0
 *
 *   type 0 (plain), 42 bytes in all:
 *       10   32  Ed25519 seed
 *
 *   type 1 (protected), 114 bytes in all:
 *       10   16  Argon2id salt (random)
 *       26    8  Argon2id opslimit, u64
 *       34    8  Argon2id memlimit in bytes, u64
 *       42   24  XSalsa20 nonce (random)
 *       66   48  crypto_secretbox_easy(seed) = 16-byte Poly1305 tag,
 *                then the 32 encrypted seed bytes
 *
 *   The secretbox key is crypto_pwhash(32 bytes, passphrase, salt, opslimit,
 *   memlimit, crypto_pwhash_ALG_ARGON2ID13) (Argon2id v1.3, one lane).
 *   The header fields are not authenticated on their own, but changing any
 *   of them changes the derived key, so the box fails to open.
 *
 *   The seed is expanded with crypto_sign_seed_keypair; libsodium's 64-byte
 *   secret key is seed || public key.
 *
 *   Readers accept a file only if its size is exactly 42 or 114 bytes and
 *   matches its type, the magic and reserved byte are right, and, for type 1,
 *   1 <= opslimit <= 16 and 8 KiB <= memlimit <= 1 GiB.  The bounds are
 *   checked before Argon2 runs, so a hostile file cannot make the reader
 *   allocate 64 GiB or spin for hours.  Writers use MODERATE limits
 *   (3 passes, 256 MiB) unless asked for INTERACTIVE (2, 64 MiB) or
 *   SENSITIVE (4, 1 GiB).
 *
 *   Files are created mode 0600, never overwrite an existing file, and are
 *   refused on reading when they are not regular files, are symbolic links,
 *   grant any permission to group or others, or belong to another uid.
 *
 * Public key text
 * ---------------
 *
 *   The text form of a public key is its 32 bytes as 64 lowercase hex
 *   digits.  That is what a .pub file starts with ("<hex> <comment>\n",
 *   mode 0644), what `stoa whoami` prints and what `stoa federation admit`
 *   takes.  Parsers also accept upper-case digits and the typed form
 *   "stoa:<hex>", for places where a key must not be mistaken for a record
 *   hash, which is also 64 hex digits.
 *
 * Unless said otherwise every function returns 0 or a negative STOA_E* code
 * or -errno (proto/err.h).  Functions that use libsodium call sodium_init()
 * themselves.  The tty prompt touches process-wide signal handlers, so it is
 * not thread-safe; the rest is.
 */
#ifndef STOA_KEYS_H
#define STOA_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEYS_SEED_LEN 32
#define KEYS_PK_LEN 32
#define KEYS_SK_LEN 64
#define KEYS_PUB_HEX_LEN 64       /* hex digits of a public key, no NUL */
#define KEYS_FILE_PLAIN_LEN 42    /* size of a type 0 key file */
#define KEYS_FILE_PROTECTED_LEN 114 /* size of a type 1 key file */
#define KEYS_OPSLIMIT_MAX 16ULL
#define KEYS_MEMLIMIT_MAX (1ULL << 30)
#define KEYS_COMMENT_MAX 256      /* longest .pub comment, bytes */

/* Argon2id cost for keys_write(); the numbers are libsodium's presets. */
enum keys_kdf {
  KEYS_KDF_MODERATE = 0,    /* default: 3 passes, 256 MiB, ~1 s */
  KEYS_KDF_INTERACTIVE = 1, /* 2 passes, 64 MiB: tests, `init --fast-kdf` */
  KEYS_KDF_SENSITIVE = 2    /* 4 passes, 1 GiB: offline network keys */
};

/* An Ed25519 key pair in libsodium's form; sk[0..31] is the seed. */
typedef struct stoa_key {
  uint8_t pk[KEYS_PK_LEN];
  uint8_t sk[KEYS_SK_LEN];
} stoa_key;

/* Zero *k (sodium_memzero).  Safe on a zeroed or already wiped key. */
void keys_wipe(stoa_key *k);

/* Make a new key pair from a random seed.  Returns 0, or STOA_ENOMEM when
 * libsodium cannot initialise. */
int keys_generate(stoa_key *out);

/* Expand a 32-byte seed into a key pair.  Returns 0, or STOA_ENOMEM when
 * libsodium cannot initialise. */
int keys_from_seed(const uint8_t seed[KEYS_SEED_LEN], stoa_key *out);

/*
 * Write a new key file at path holding seed (pass a stoa_key's sk: its
 * first 32 bytes are the seed).  With pass == NULL the file is plain;
 * otherwise the seed is sealed under pass (passlen bytes, any bytes) with
 * Argon2id at cost strength (enum keys_kdf; ignored for plain files).
 * The file is written under a temporary name in the same directory, synced,
 * then hard-linked into place, so path is either absent or complete and an
 * existing file (or symlink) at path is never replaced; a crash can leave
 * a "<path>.tmpXXXXXX" file (mode 0600) behind.  The mode is 0600 whatever
 * the umask.  Costs one Argon2id run when protected.
 * Errors: STOA_EEXISTS when path exists, STOA_EINVAL for an empty passphrase
 * or unknown strength, STOA_ENOMEM when Argon2 cannot get its memory,
 * -ENAMETOOLONG, -errno of open/write/fsync/link.
 */
int keys_write(const char *path, const uint8_t seed[KEYS_SEED_LEN],
               const char *pass, size_t passlen, int strength);

/*
 * Read the key file at path into *out; pass (passlen bytes) opens a
 * protected file and is ignored for a plain one.  On failure *out is zeroed.
 * Costs one Argon2id run (up to 16 passes over 1 GiB) when protected.
 * Errors: -ENOENT, -ELOOP when path is a symlink, STOA_EKEYPERM when it is
 * not a regular file, is not owned by the effective uid, or its mode grants
 * anything to group or others; STOA_EMALFORMED for a wrong size, magic,
 * type or reserved byte, or Argon2 limits below libsodium's minimum;
 * STOA_ETOOBIG for limits above KEYS_OPSLIMIT_MAX / KEYS_MEMLIMIT_MAX;
 * STOA_EPASSPHRASE when the file is protected and pass is NULL (ask, then
 * call again) or the box does not open (wrong passphrase or damaged file);
 * STOA_ENOMEM when Argon2 cannot get its memory; -errno of open/read.
 */
int keys_read(const char *path, const char *pass, size_t passlen,
              stoa_key *out);

/* fsync the directory that holds path, so that a new name in it survives a
 * crash (EINVAL from filesystems that cannot is not an error).  0 or -errno. */
int keys_fsync_dir(const char *path);

/* 1 when the key file at path is passphrase-protected, 0 when it is plain,
 * else keys_read()'s errors about the file itself (open, owner, mode, size,
 * header); the Argon2 limits are not looked at. */
int keys_is_protected(const char *path);

/* When this process runs as root and the home directory belongs to another
 * user (the service user of stoad), writes the message that says to run
 * as that user into msg and returns true: a file root creates there (the
 * store's lock file, a compacted store, a key) would lock that user out. */
bool keys_home_foreign(const char *home, const char *prog, char *msg, size_t cap);

/* Write the text form of pk, 64 lowercase hex digits, and a NUL into out. */
void keys_pub_hex(const uint8_t pk[KEYS_PK_LEN],
                  char out[KEYS_PUB_HEX_LEN + 1]);

/*
 * Write "<hex> <comment>\n" (or "<hex>\n" when comment is NULL or empty)
 * to path, mode 0644 whatever the umask, replacing any file there
 * atomically (temporary file, fsync, rename): a public key is not secret,
 * and rewriting it from its secret key must be possible.
 * Errors: STOA_EINVAL when comment is longer than KEYS_COMMENT_MAX or holds
 * a control character, -ENAMETOOLONG, -errno of open/write/fsync/rename.
 */
int keys_pub_write(const char *path, const uint8_t pk[KEYS_PK_LEN],
                   const char *comment);

/*
 * Parse the NUL-terminated text of one public key: optional whitespace,
 * optional "stoa:" prefix (lower case), exactly 64 hex digits (either
 * case), optional whitespace, end.  Writes pk only on success.
 * Errors: STOA_EMALFORMED for anything else (a comment included).
 */
int keys_parse_pub(const char *text, uint8_t pk[KEYS_PK_LEN]);

/* Read a .pub file: its first whitespace-separated word, parsed as by
 * keys_parse_pub(); the rest of the file (the comment) is ignored.
 * Errors: STOA_EMALFORMED, STOA_ETOOBIG past 4 KiB, STOA_EINVAL when it is
 * not a regular file, -errno of open/read. */
int keys_pub_read(const char *path, uint8_t pk[KEYS_PK_LEN]);

/*
 * Passphrases.  The buffers are the caller's and so is wiping them
 * (sodium_memzero); a caller that fears swap may sodium_mlock() buf first.
 * On success buf holds *len bytes and a NUL (so cap >= 2), with no newline.
 */

/*
 * Read the first line of the file at path as a passphrase (a trailing
 * "\r" is dropped too).  The file may have any mode and may be reached
 * through a symlink (secrets are often mounted so), but must be a regular
 * file.  Bytes read past the line are wiped.
 * Errors: STOA_EINVAL when the line is empty or holds a NUL, when the file
 * is not a regular file, or cap < 2; STOA_ETOOBIG when the line does not fit
 * in cap - 1 bytes; -errno of open/read.
 */
int keys_pass_from_file(const char *path, char *buf, size_t cap,
                        size_t *len);

/*
 * Prompt on /dev/tty (not stdin/stdout, which may be pipes) with echo off
 * and read one line; with confirm, ask again ("Repeat passphrase: ") and
 * require the same bytes.  The terminal's modes are restored on every
 * path.  While it waits, SIGINT, SIGHUP, SIGQUIT and SIGTERM are caught:
 * the terminal is restored, the caller's handlers are put back and the
 * signal is raised again, so the default action (exit) happens with a
 * sane terminal; if the process survives, -EINTR is returned.  Job control
 * (^Z) is not handled: a stopped prompt resumes with echo still off.
 * Errors: -ENXIO when there is no controlling terminal; STOA_EINVAL for an
 * empty line, end of input or cap < 2; STOA_ETOOBIG when the line does not
 * fit in cap - 1 bytes; STOA_EPASSPHRASE when the two entries differ;
 * STOA_ENOMEM; -EINTR; -errno of read/write/tcsetattr.
 */
int keys_pass_from_tty(const char *prompt, bool confirm, char *buf,
                       size_t cap, size_t *len);

#endif
