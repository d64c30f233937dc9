/*
 * keys.c - key files, public key text and passphrases.  The file format and
 * the contracts are in keys.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkostemp */
#endif

#include "cli/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "proto/err.h"

#define KEYS__MAGIC "STOAKEY1"
#define KEYS__MAGIC_LEN 8
#define KEYS__HDR_LEN 10
#define KEYS__TYPE_PLAIN 0
#define KEYS__TYPE_PROTECTED 1
/* Offsets in a protected file. */
#define KEYS__OFF_SALT 10
#define KEYS__OFF_OPS 26
#define KEYS__OFF_MEM 34
#define KEYS__OFF_NONCE 42
#define KEYS__OFF_BOX 66
#define KEYS__BOX_LEN (crypto_secretbox_MACBYTES + KEYS_SEED_LEN)
#define KEYS__PUB_FILE_MAX 4096

_Static_assert(KEYS__OFF_SALT + crypto_pwhash_SALTBYTES == KEYS__OFF_OPS,
               "salt size");
_Static_assert(KEYS__OFF_NONCE + crypto_secretbox_NONCEBYTES ==
                   KEYS__OFF_BOX,
               "nonce size");
_Static_assert(KEYS__OFF_BOX + KEYS__BOX_LEN == KEYS_FILE_PROTECTED_LEN,
               "protected size");
_Static_assert(KEYS__HDR_LEN + KEYS_SEED_LEN == KEYS_FILE_PLAIN_LEN,
               "plain size");
_Static_assert(crypto_secretbox_KEYBYTES == 32, "secretbox key");
_Static_assert(crypto_sign_SEEDBYTES == KEYS_SEED_LEN, "seed size");
_Static_assert(crypto_sign_PUBLICKEYBYTES == KEYS_PK_LEN, "pk size");
_Static_assert(crypto_sign_SECRETKEYBYTES == KEYS_SK_LEN, "sk size");

/* ---- small helpers ---------------------------------------------------- */

static void keys__be64_put(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    p[i] = (uint8_t)(v & 0xff);
    v >>= 8;
  }
}

static uint64_t keys__be64_get(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
  return v;
}

static int keys__limits(int strength, unsigned long long *ops, size_t *mem) {
  switch (strength) {
  case KEYS_KDF_MODERATE:
    *ops = crypto_pwhash_OPSLIMIT_MODERATE;
    *mem = crypto_pwhash_MEMLIMIT_MODERATE;
    return 0;
  case KEYS_KDF_INTERACTIVE:
    *ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
    *mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
    return 0;
  case KEYS_KDF_SENSITIVE:
    *ops = crypto_pwhash_OPSLIMIT_SENSITIVE;
    *mem = crypto_pwhash_MEMLIMIT_SENSITIVE;
    return 0;
  default:
    return STOA_EINVAL;
  }
}

static int keys__write_all(int fd, const void *buf, size_t len) {
  const uint8_t *p = buf;
  while (len > 0) {
    ssize_t k = write(fd, p, len);
    if (k < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    p += k;
    len -= (size_t)k;
  }
  return 0;
}

/* Read until EOF or cap bytes; *n is what was read. */
static int keys__read_all(int fd, uint8_t *buf, size_t cap, size_t *n) {
  *n = 0;
  while (*n < cap) {
    ssize_t k = read(fd, buf + *n, cap - *n);
    if (k < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (k == 0) break;
    *n += (size_t)k;
  }
  return 0;
}

int keys_fsync_dir(const char *path) {
  char dir[PATH_MAX];
  const char *slash = strrchr(path, '/');
  int fd, r = 0;

  if (slash == NULL) {
    strcpy(dir, ".");
  } else if (slash == path) {
    strcpy(dir, "/");
  } else {
    size_t n = (size_t)(slash - path);
    if (n >= sizeof dir) return -ENAMETOOLONG;
    memcpy(dir, path, n);
    dir[n] = '\0';
  }
  fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  if (fsync(fd) != 0 && errno != EINVAL) r = -errno;
  close(fd);
  return r;
}

/* Create "<path>.tmpXXXXXX" next to path with exactly the given mode
 * (fchmod: the umask must neither widen nor narrow it).  Returns the fd, or
 * a negative code with tmp[0] == '\0'. */
static int keys__tmp_create(const char *path, char *tmp, size_t cap,
                            mode_t mode) {
  int fd, n, r;

  tmp[0] = '\0';
  n = snprintf(tmp, cap, "%s.tmpXXXXXX", path);
  if (n < 0 || (size_t)n >= cap) {
    tmp[0] = '\0';
    return -ENAMETOOLONG;
  }
  fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) {
    r = -errno;
    tmp[0] = '\0';
    return r;
  }
  if (fchmod(fd, mode) != 0) {
    r = -errno;
    close(fd);
    unlink(tmp);
    tmp[0] = '\0';
    return r;
  }
  return fd;
}

/* Write len bytes to fd, fsync, close.  Closes fd on every path. */
static int keys__finish(int fd, const void *buf, size_t len) {
  int r = keys__write_all(fd, buf, len);
  if (r == 0 && fsync(fd) != 0) r = -errno;
  if (close(fd) != 0 && r == 0) r = -errno;
  return r;
}

/*
 * Open, check and read a key file into file[] (KEYS_FILE_PROTECTED_LEN + 1
 * bytes, so that a file that grew after fstat is noticed).  Returns its
 * type (0 or 1) or a negative code.  O_NONBLOCK keeps a FIFO planted at the
 * path from hanging us before fstat says it is not a regular file.
 */
static int keys__load(const char *path, uint8_t *file, size_t *flen) {
  struct stat st;
  size_t n;
  int fd, r;

  fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return -errno;
  if (fstat(fd, &st) != 0) {
    r = -errno;
    goto out;
  }
  if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
      (st.st_mode & 077) != 0) {
    r = STOA_EKEYPERM;
    goto out;
  }
  if (st.st_size != KEYS_FILE_PLAIN_LEN &&
      st.st_size != KEYS_FILE_PROTECTED_LEN) {
    r = STOA_EMALFORMED;
    goto out;
  }
  if ((r = keys__read_all(fd, file, KEYS_FILE_PROTECTED_LEN + 1, &n)) != 0)
    goto out;
  if (n != (size_t)st.st_size ||
      memcmp(file, KEYS__MAGIC, KEYS__MAGIC_LEN) != 0 || file[9] != 0) {
    r = STOA_EMALFORMED;
    goto out;
  }
  if ((file[8] == KEYS__TYPE_PLAIN && n == KEYS_FILE_PLAIN_LEN) ||
      (file[8] == KEYS__TYPE_PROTECTED && n == KEYS_FILE_PROTECTED_LEN)) {
    *flen = n;
    r = file[8];
  } else {
    r = STOA_EMALFORMED;
  }
out:
  close(fd);
  return r;
}

/* ---- key pairs -------------------------------------------------------- */

void keys_wipe(stoa_key *k) { sodium_memzero(k, sizeof *k); }

int keys_from_seed(const uint8_t seed[KEYS_SEED_LEN], stoa_key *out) {
  if (sodium_init() < 0) return STOA_ENOMEM;
  crypto_sign_seed_keypair(out->pk, out->sk, seed);
  return 0;
}

int keys_generate(stoa_key *out) {
  uint8_t seed[KEYS_SEED_LEN];
  int r;

  if (sodium_init() < 0) return STOA_ENOMEM;
  randombytes_buf(seed, sizeof seed);
  r = keys_from_seed(seed, out);
  sodium_memzero(seed, sizeof seed);
  return r;
}

/* ---- secret key files ------------------------------------------------- */

/*
 * Cost: one Argon2id run for a protected file (about a second and 256 MiB
 * at MODERATE), so an existing path is refused before it, not only by
 * link(), which stays the real, race-free check.
 */
int keys_write(const char *path, const uint8_t seed[KEYS_SEED_LEN],
               const char *pass, size_t passlen, int strength) {
  uint8_t file[KEYS_FILE_PROTECTED_LEN];
  uint8_t key[crypto_secretbox_KEYBYTES];
  char tmp[PATH_MAX];
  struct stat st;
  unsigned long long ops = 0;
  size_t mem = 0, flen;
  int fd, r, linked = 0;

  tmp[0] = '\0';
  if (sodium_init() < 0) return STOA_ENOMEM;
  if (pass != NULL && passlen == 0) return STOA_EINVAL;
  if (pass != NULL && (r = keys__limits(strength, &ops, &mem)) != 0)
    return r;
  if (lstat(path, &st) == 0) return STOA_EEXISTS;

  memcpy(file, KEYS__MAGIC, KEYS__MAGIC_LEN);
  file[9] = 0;
  if (pass == NULL) {
    file[8] = KEYS__TYPE_PLAIN;
    memcpy(file + KEYS__HDR_LEN, seed, KEYS_SEED_LEN);
    flen = KEYS_FILE_PLAIN_LEN;
  } else {
    file[8] = KEYS__TYPE_PROTECTED;
    randombytes_buf(file + KEYS__OFF_SALT, crypto_pwhash_SALTBYTES);
    keys__be64_put(file + KEYS__OFF_OPS, ops);
    keys__be64_put(file + KEYS__OFF_MEM, mem);
    randombytes_buf(file + KEYS__OFF_NONCE, crypto_secretbox_NONCEBYTES);
    if (crypto_pwhash(key, sizeof key, pass, passlen, file + KEYS__OFF_SALT,
                      ops, mem, crypto_pwhash_ALG_ARGON2ID13) != 0) {
      r = errno == ENOMEM ? STOA_ENOMEM : STOA_EINVAL;
      goto out;
    }
    crypto_secretbox_easy(file + KEYS__OFF_BOX, seed, KEYS_SEED_LEN,
                          file + KEYS__OFF_NONCE, key);
    flen = KEYS_FILE_PROTECTED_LEN;
  }

  if ((fd = keys__tmp_create(path, tmp, sizeof tmp, 0600)) < 0) {
    r = fd;
    goto out;
  }
  if ((r = keys__finish(fd, file, flen)) != 0) goto out;
  /* link() fails with EEXIST instead of replacing, even for a dangling
   * symlink; rename() would replace. */
  if (link(tmp, path) != 0) {
    r = errno == EEXIST ? STOA_EEXISTS : -errno;
    goto out;
  }
  linked = 1;
  if (unlink(tmp) != 0) {
    r = -errno;
    goto out;
  }
  tmp[0] = '\0';
  r = keys_fsync_dir(path);
out:
  if (tmp[0] != '\0') unlink(tmp);
  /* A failed call leaves nothing behind, not even a complete key. */
  if (r != 0 && linked) unlink(path);
  sodium_memzero(file, sizeof file);
  sodium_memzero(key, sizeof key);
  return r;
}

int keys_is_protected(const char *path) {
  uint8_t file[KEYS_FILE_PROTECTED_LEN + 1];
  size_t flen;
  int r = keys__load(path, file, &flen);
  sodium_memzero(file, sizeof file);
  return r;
}

/*
 * The Argon2 limits come from the file, so they are bounded before
 * crypto_pwhash() sees them: a hostile file could otherwise ask for 64 GiB
 * or 2^64 passes.  The worst accepted file costs 16 passes over 1 GiB.
 */
int keys_read(const char *path, const char *pass, size_t passlen,
              stoa_key *out) {
  uint8_t file[KEYS_FILE_PROTECTED_LEN + 1];
  uint8_t key[crypto_secretbox_KEYBYTES];
  uint8_t seed[KEYS_SEED_LEN];
  uint64_t ops, mem;
  size_t flen;
  int r;

  sodium_memzero(out, sizeof *out);
  if (sodium_init() < 0) return STOA_ENOMEM;
  if ((r = keys__load(path, file, &flen)) < 0) goto out;
  if (r == KEYS__TYPE_PLAIN) {
    r = keys_from_seed(file + KEYS__HDR_LEN, out);
    goto out;
  }
  ops = keys__be64_get(file + KEYS__OFF_OPS);
  mem = keys__be64_get(file + KEYS__OFF_MEM);
  if (ops < crypto_pwhash_argon2id_OPSLIMIT_MIN ||
      mem < crypto_pwhash_argon2id_MEMLIMIT_MIN) {
    r = STOA_EMALFORMED;
    goto out;
  }
  if (ops > KEYS_OPSLIMIT_MAX || mem > KEYS_MEMLIMIT_MAX) {
    r = STOA_ETOOBIG;
    goto out;
  }
  if (pass == NULL) {
    r = STOA_EPASSPHRASE;
    goto out;
  }
  if (crypto_pwhash(key, sizeof key, pass, passlen, file + KEYS__OFF_SALT,
                    (unsigned long long)ops, (size_t)mem,
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    r = errno == ENOMEM ? STOA_ENOMEM : STOA_EINVAL;
    goto out;
  }
  if (crypto_secretbox_open_easy(seed, file + KEYS__OFF_BOX, KEYS__BOX_LEN,
                                 file + KEYS__OFF_NONCE, key) != 0) {
    r = STOA_EPASSPHRASE;
    goto out;
  }
  r = keys_from_seed(seed, out);
out:
  sodium_memzero(file, sizeof file);
  sodium_memzero(key, sizeof key);
  sodium_memzero(seed, sizeof seed);
  if (r != 0) sodium_memzero(out, sizeof *out);
  return r;
}

/* ---- public keys ------------------------------------------------------ */

void keys_pub_hex(const uint8_t pk[KEYS_PK_LEN],
                  char out[KEYS_PUB_HEX_LEN + 1]) {
  sodium_bin2hex(out, KEYS_PUB_HEX_LEN + 1, pk, KEYS_PK_LEN);
}

int keys_pub_write(const char *path, const uint8_t pk[KEYS_PK_LEN],
                   const char *comment) {
  char line[KEYS_PUB_HEX_LEN + 1 + KEYS_COMMENT_MAX + 2];
  char tmp[PATH_MAX];
  size_t clen = comment != NULL ? strnlen(comment, KEYS_COMMENT_MAX + 1) : 0;
  size_t n = KEYS_PUB_HEX_LEN;
  int fd, r;

  tmp[0] = '\0';
  if (clen > KEYS_COMMENT_MAX) return STOA_EINVAL;
  for (size_t i = 0; i < clen; i++) {
    unsigned char c = (unsigned char)comment[i];
    if (c < 0x20 || c == 0x7f) return STOA_EINVAL;
  }
  keys_pub_hex(pk, line);
  if (clen > 0) {
    line[n++] = ' ';
    memcpy(line + n, comment, clen);
    n += clen;
  }
  line[n++] = '\n';

  if ((fd = keys__tmp_create(path, tmp, sizeof tmp, 0644)) < 0) return fd;
  if ((r = keys__finish(fd, line, n)) != 0) goto out;
  if (rename(tmp, path) != 0) {
    r = -errno;
    goto out;
  }
  tmp[0] = '\0';
  r = keys_fsync_dir(path);
out:
  if (tmp[0] != '\0') unlink(tmp);
  return r;
}

static int keys__is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

static int keys__hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int keys_parse_pub(const char *text, uint8_t pk[KEYS_PK_LEN]) {
  uint8_t tmp[KEYS_PK_LEN];
  const char *p = text;

  while (keys__is_space(*p)) p++;
  if (strncmp(p, "stoa:", 5) == 0) p += 5;
  for (size_t i = 0; i < KEYS_PK_LEN; i++) {
    /* Stops at the NUL too: it is not a hex digit. */
    int hi = keys__hexval(p[0]), lo;
    if (hi < 0) return STOA_EMALFORMED;
    if ((lo = keys__hexval(p[1])) < 0) return STOA_EMALFORMED;
    tmp[i] = (uint8_t)(hi << 4 | lo);
    p += 2;
  }
  while (keys__is_space(*p)) p++;
  if (*p != '\0') return STOA_EMALFORMED;
  memcpy(pk, tmp, KEYS_PK_LEN);
  return 0;
}

int keys_pub_read(const char *path, uint8_t pk[KEYS_PK_LEN]) {
  uint8_t text[KEYS__PUB_FILE_MAX + 1];
  struct stat st;
  size_t n, i;
  int fd, r;

  fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return -errno;
  if (fstat(fd, &st) != 0) {
    r = -errno;
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    r = STOA_EINVAL;
    goto out;
  }
  if ((r = keys__read_all(fd, text, KEYS__PUB_FILE_MAX + 1, &n)) != 0)
    goto out;
  if (n > KEYS__PUB_FILE_MAX) {
    r = STOA_ETOOBIG;
    goto out;
  }
  if (memchr(text, '\0', n) != NULL) {
    r = STOA_EMALFORMED;
    goto out;
  }
  /* Cut after the first word; keys_parse_pub() checks the rest. */
  for (i = 0; i < n && keys__is_space((char)text[i]); i++) {
  }
  for (; i < n && !keys__is_space((char)text[i]); i++) {
  }
  text[i] = '\0';
  r = keys_parse_pub((const char *)text, pk);
out:
  close(fd);
  return r;
}

/* ---- passphrases ------------------------------------------------------ */

/* Read one byte, retrying EINTR: 1, 0 at EOF, or -errno. */
static int keys__read_byte(int fd, char *c) {
  for (;;) {
    ssize_t k = read(fd, c, 1);
    if (k >= 0) return (int)k;
    if (errno != EINTR) return -errno;
  }
}

/* Is the passphrase in buf[0..n) usable?  Then NUL-terminate it. */
static int keys__pass_finish(char *buf, size_t n, size_t *len) {
  if (n == 0 || memchr(buf, '\0', n) != NULL) return STOA_EINVAL;
  buf[n] = '\0';
  *len = n;
  return 0;
}

int keys_pass_from_file(const char *path, char *buf, size_t cap,
                        size_t *len) {
  struct stat st;
  size_t n = 0;
  int fd, r, found = 0;
  char c = 0;

  if (cap < 2) return STOA_EINVAL;
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return -errno;
  if (fstat(fd, &st) != 0) {
    r = -errno;
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    r = STOA_EINVAL;
    goto out;
  }
  while (n < cap - 1) {
    ssize_t k = read(fd, buf + n, cap - 1 - n);
    char *nl;
    if (k < 0) {
      if (errno == EINTR) continue;
      r = -errno;
      goto out;
    }
    if (k == 0) break;
    if ((nl = memchr(buf + n, '\n', (size_t)k)) != NULL) {
      /* Wipe what followed the line: it may be another secret. */
      sodium_memzero(nl, (size_t)(buf + n + k - nl));
      n = (size_t)(nl - buf);
      found = 1;
      break;
    }
    n += (size_t)k;
  }
  if (!found && n == cap - 1) {
    /* The buffer is full: the line fits only if it ends right here. */
    if ((r = keys__read_byte(fd, &c)) < 0) goto out;
    if (r == 1 && c == '\r' && (r = keys__read_byte(fd, &c)) < 0) goto out;
    if (r == 1 && c != '\n') {
      r = STOA_ETOOBIG;
      goto out;
    }
  }
  if (n > 0 && buf[n - 1] == '\r') n--;
  r = keys__pass_finish(buf, n, len);
out:
  c = 0;
  sodium_memzero(&c, sizeof c);
  close(fd);
  if (r != 0) sodium_memzero(buf, cap);
  return r;
}

static volatile sig_atomic_t keys__signo;
static const int keys__sigs[] = {SIGINT, SIGHUP, SIGQUIT, SIGTERM};
#define KEYS__NSIGS (sizeof keys__sigs / sizeof keys__sigs[0])

static void keys__on_signal(int signo) { keys__signo = signo; }

/* Prompt and read one line from the tty, byte by byte (as readpassphrase
 * does), so nothing after the newline is consumed.  An overlong line is
 * read to its end before failing, so its tail does not become the next
 * answer. */
static int keys__tty_line(int fd, const char *prompt, char *buf, size_t cap,
                          size_t *len) {
  size_t n = 0;
  int r, over = 0;
  char c = 0;

  if ((r = keys__write_all(fd, prompt, strlen(prompt))) != 0) return r;
  for (;;) {
    ssize_t k;
    if (keys__signo != 0) {
      r = -EINTR;
      break;
    }
    k = read(fd, &c, 1);
    if (k < 0) {
      if (errno == EINTR) continue; /* the loop head looks at the flag */
      r = -errno;
      break;
    }
    if (k == 0 || c == '\n' || c == '\r') break;
    if (n < cap - 1)
      buf[n++] = c;
    else
      over = 1;
  }
  sodium_memzero(&c, sizeof c);
  (void)keys__write_all(fd, "\n", 1); /* echo was off: end the line */
  if (r != 0) return r;
  if (over) return STOA_ETOOBIG;
  return keys__pass_finish(buf, n, len);
}

/*
 * Echo is turned off but canonical mode stays, so the line discipline
 * still handles backspace and ^U, and ISIG stays, so ^C still interrupts.
 * Signals are caught without SA_RESTART so a blocked read() returns EINTR;
 * a signal landing between the flag test and read() waits for the next key
 * (the same narrow window as readpassphrase(3)).
 */
int keys_pass_from_tty(const char *prompt, bool confirm, char *buf,
                       size_t cap, size_t *len) {
  struct termios saved, quiet;
  struct sigaction sa, old[KEYS__NSIGS];
  char *again = NULL;
  size_t againlen = 0, n = 0;
  int fd, r, signo, quiet_set = 0, handlers_set = 0;

  if (cap < 2) return STOA_EINVAL;
  if (prompt == NULL) prompt = "Passphrase: ";
  fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    r = errno;
    return (r == ENXIO || r == ENOENT || r == ENODEV || r == ENOTTY) ? -ENXIO
                                                                     : -r;
  }
  if (tcgetattr(fd, &saved) != 0) {
    r = errno == ENOTTY ? -ENXIO : -errno;
    goto out;
  }
  if (confirm) {
    if (sodium_init() < 0 || (again = sodium_malloc(cap)) == NULL) {
      r = STOA_ENOMEM;
      goto out;
    }
  }

  keys__signo = 0;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = keys__on_signal;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < KEYS__NSIGS; i++) {
    sigaction(keys__sigs[i], &sa, &old[i]);
    /* A signal the caller ignores (nohup) stays ignored. */
    if (old[i].sa_handler == SIG_IGN) sigaction(keys__sigs[i], &old[i], NULL);
  }
  handlers_set = 1;

  quiet = saved;
  quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
  while (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
    if (errno != EINTR || keys__signo != 0) {
      r = errno == EINTR ? -EINTR : -errno;
      goto out;
    }
  }
  quiet_set = 1;

  if ((r = keys__tty_line(fd, prompt, buf, cap, &n)) != 0) goto out;
  if (confirm) {
    if ((r = keys__tty_line(fd, "Repeat passphrase: ", again, cap,
                            &againlen)) != 0)
      goto out;
    if (againlen != n || sodium_memcmp(again, buf, n) != 0) {
      r = STOA_EPASSPHRASE;
      goto out;
    }
  }
  *len = n;
out:
  if (quiet_set)
    while (tcsetattr(fd, TCSAFLUSH, &saved) != 0 && errno == EINTR) {
    }
  if (handlers_set)
    for (size_t i = 0; i < KEYS__NSIGS; i++)
      sigaction(keys__sigs[i], &old[i], NULL);
  signo = keys__signo;
  keys__signo = 0;
  if (again != NULL) sodium_free(again); /* wipes */
  close(fd);
  if (signo != 0) r = -EINTR;
  if (r != 0) sodium_memzero(buf, cap);
  /* The terminal and the caller's handlers are back: let the signal do
   * what it would have done.  If we are still alive, report it. */
  if (signo != 0) raise(signo);
  return r;
}

bool keys_home_foreign(const char *home, const char *prog, char *msg, size_t cap) {
  struct stat sb;
  if (geteuid() != 0 || stat(home, &sb) || sb.st_uid == 0) return false;
  const struct passwd *pw = getpwuid(sb.st_uid);
  char name[64];
  if (pw && pw->pw_name) snprintf(name, sizeof name, "%s", pw->pw_name);
  else snprintf(name, sizeof name, "%lu", (unsigned long)sb.st_uid);
  snprintf(msg, cap,
           "%s: %s belongs to the user %s: run %s as that user (runuser -u %s -- %s ...); files "
           "written there as root would lock that user out",
           prog, home, name, prog, name, prog);
  return true;
}
