/*
 * test_keys.c - key files, public key text and passphrases (cli/keys.c).
 *
 * Every test works in its own mkdtemp() directory.  The tty tests run the
 * prompt in a child that has a pseudo-terminal as its controlling terminal
 * and play the user from the master side.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>
#include <sodium.h>

#include "cli/keys.h"
#include "proto/err.h"

#define PASS "correct horse battery staple"

struct scratch {
  char dir[64];
  char path[256];
};

static int scratch_setup(void **state) {
  struct scratch *s = calloc(1, sizeof *s);
  if (s == NULL) return -1;
  strcpy(s->dir, "/tmp/stoa-test-keys-XXXXXX");
  if (mkdtemp(s->dir) == NULL) {
    free(s);
    return -1;
  }
  *state = s;
  return 0;
}

static int scratch_teardown(void **state) {
  struct scratch *s = *state;
  DIR *d = opendir(s->dir);
  struct dirent *e;
  if (d != NULL) {
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
        continue;
      if (unlinkat(dirfd(d), e->d_name, 0) != 0)
        unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
    }
    closedir(d);
  }
  rmdir(s->dir);
  free(s);
  return 0;
}

/* Path of name in the scratch dir; valid until the next call. */
static const char *at(struct scratch *s, const char *name) {
  int n = snprintf(s->path, sizeof s->path, "%s/%s", s->dir, name);
  assert_true(n > 0 && (size_t)n < sizeof s->path);
  return s->path;
}

static size_t dir_entries(struct scratch *s) {
  DIR *d = opendir(s->dir);
  struct dirent *e;
  size_t n = 0;
  assert_non_null(d);
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
  closedir(d);
  return n;
}

static void put_file(const char *path, const void *buf, size_t len,
                     mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, buf, len), (ssize_t)len);
  assert_int_equal(fchmod(fd, mode), 0);
  assert_int_equal(close(fd), 0);
}

static size_t get_file(const char *path, void *buf, size_t cap) {
  int fd = open(path, O_RDONLY);
  ssize_t n;
  assert_true(fd >= 0);
  n = read(fd, buf, cap);
  assert_true(n >= 0);
  close(fd);
  return (size_t)n;
}

static uint64_t be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

static void put_be64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

static int all_zero(const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != 0) return 0;
  return 1;
}

/* Write a protected key with INTERACTIVE cost; returns the key. */
static stoa_key write_protected(const char *path) {
  stoa_key k;
  assert_int_equal(keys_generate(&k), 0);
  assert_int_equal(keys_write(path, k.sk, PASS, strlen(PASS),
                              KEYS_KDF_INTERACTIVE),
                   0);
  return k;
}

/* ---- secret key files ------------------------------------------------- */

static void test_plain_roundtrip(void **state) {
  struct scratch *s = *state;
  stoa_key k, k2, k3;
  uint8_t file[128];
  struct stat st;

  assert_int_equal(keys_generate(&k), 0);
  assert_false(all_zero(k.pk, sizeof k.pk));
  assert_int_equal(keys_write(at(s, "editor.key"), k.sk, NULL, 0, 0), 0);
  assert_int_equal(stat(s->path, &st), 0);
  assert_int_equal(st.st_size, KEYS_FILE_PLAIN_LEN);
  assert_int_equal(keys_is_protected(s->path), 0);

  /* The bytes follow the documented layout. */
  assert_int_equal(get_file(s->path, file, sizeof file), 42);
  assert_memory_equal(file, "STOAKEY1", 8);
  assert_int_equal(file[8], 0);
  assert_int_equal(file[9], 0);
  assert_memory_equal(file + 10, k.sk, 32);

  memset(&k2, 0xaa, sizeof k2);
  assert_int_equal(keys_read(s->path, NULL, 0, &k2), 0);
  assert_memory_equal(k2.pk, k.pk, 32);
  assert_memory_equal(k2.sk, k.sk, 64);
  /* A passphrase is ignored for a plain file. */
  assert_int_equal(keys_read(s->path, "x", 1, &k3), 0);
  assert_memory_equal(k3.sk, k.sk, 64);

  /* keys_from_seed gives the same pair, and the pair signs. */
  assert_int_equal(keys_from_seed(file + 10, &k3), 0);
  assert_memory_equal(k3.pk, k.pk, 32);
  {
    uint8_t sig[64];
    const uint8_t msg[] = "stoa";
    crypto_sign_detached(sig, NULL, msg, sizeof msg, k2.sk);
    assert_int_equal(
        crypto_sign_verify_detached(sig, msg, sizeof msg, k.pk), 0);
  }
  keys_wipe(&k2);
  assert_true(all_zero(&k2, sizeof k2));
  /* Only the key itself is left: no temporary file. */
  assert_int_equal(dir_entries(s), 1);
}

static void test_protected_roundtrip(void **state) {
  struct scratch *s = *state;
  stoa_key k, k2;
  uint8_t file[128], file2[128];
  struct stat st;

  k = write_protected(at(s, "network.key"));
  assert_int_equal(stat(s->path, &st), 0);
  assert_int_equal(st.st_size, KEYS_FILE_PROTECTED_LEN);
  assert_int_equal(keys_is_protected(s->path), 1);
  assert_int_equal(get_file(s->path, file, sizeof file), 114);
  assert_memory_equal(file, "STOAKEY1", 8);
  assert_int_equal(file[8], 1);
  assert_int_equal(file[9], 0);
  assert_true(be64(file + 26) == crypto_pwhash_OPSLIMIT_INTERACTIVE);
  assert_true(be64(file + 34) == crypto_pwhash_MEMLIMIT_INTERACTIVE);
  /* The seed does not appear in clear. */
  assert_null(memmem(file, KEYS_FILE_PROTECTED_LEN, k.sk, 32)); /* 114 read of 128 */

  assert_int_equal(keys_read(s->path, PASS, strlen(PASS), &k2), 0);
  assert_memory_equal(k2.pk, k.pk, 32);
  assert_memory_equal(k2.sk, k.sk, 64);

  /* Same seed, same passphrase: fresh salt and nonce. */
  assert_int_equal(keys_write(at(s, "again.key"), k.sk, PASS, strlen(PASS),
                              KEYS_KDF_INTERACTIVE),
                   0);
  assert_int_equal(get_file(s->path, file2, sizeof file2), 114);
  assert_memory_not_equal(file + 10, file2 + 10, 16);
  assert_memory_not_equal(file + 42, file2 + 42, 24);
  assert_int_equal(dir_entries(s), 2);
}

static void test_wrong_passphrase(void **state) {
  struct scratch *s = *state;
  const char *p = at(s, "network.key");
  stoa_key k;

  write_protected(p);
  memset(&k, 0xaa, sizeof k);
  assert_int_equal(keys_read(p, "correct horse battery stapler", 29, &k),
                   STOA_EPASSPHRASE);
  assert_true(all_zero(&k, sizeof k));
  /* A prefix of the right passphrase is a different passphrase. */
  assert_int_equal(keys_read(p, PASS, strlen(PASS) - 1, &k),
                   STOA_EPASSPHRASE);
  assert_int_equal(keys_read(p, "", 0, &k), STOA_EPASSPHRASE);
}

static void test_protected_without_pass(void **state) {
  struct scratch *s = *state;
  const char *p = at(s, "network.key");
  stoa_key k;

  write_protected(p);
  memset(&k, 0xaa, sizeof k);
  assert_int_equal(keys_read(p, NULL, 0, &k), STOA_EPASSPHRASE);
  assert_true(all_zero(&k, sizeof k));
}

static void test_write_arguments(void **state) {
  struct scratch *s = *state;
  uint8_t seed[32] = {1};

  assert_int_equal(keys_write(at(s, "a.key"), seed, "", 0, 0), STOA_EINVAL);
  assert_int_equal(keys_write(at(s, "a.key"), seed, "pw", 2, 7),
                   STOA_EINVAL);
  assert_int_equal(keys_write(at(s, "nodir/a.key"), seed, NULL, 0, 0),
                   -ENOENT);
  assert_int_equal(dir_entries(s), 0);
}

static void test_mode_refused(void **state) {
  struct scratch *s = *state;
  const mode_t bad[] = {0644, 0640, 0604, 0660, 0602, 0620, 0610, 0601,
                        0700 | 0001};
  stoa_key k, k2;

  assert_int_equal(keys_generate(&k), 0);
  assert_int_equal(keys_write(at(s, "node.key"), k.sk, NULL, 0, 0), 0);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(chmod(s->path, bad[i]), 0);
    assert_int_equal(keys_read(s->path, NULL, 0, &k2), STOA_EKEYPERM);
    assert_int_equal(keys_is_protected(s->path), STOA_EKEYPERM);
  }
  assert_int_equal(chmod(s->path, 0400), 0);
  assert_int_equal(keys_read(s->path, NULL, 0, &k2), 0);
  assert_memory_equal(k2.sk, k.sk, 64);
}

static void test_owner_refused(void **state) {
  struct scratch *s = *state;
  stoa_key k;

  if (geteuid() != 0) skip(); /* only root can give a file away */
  assert_int_equal(keys_generate(&k), 0);
  assert_int_equal(keys_write(at(s, "node.key"), k.sk, NULL, 0, 0), 0);
  assert_int_equal(chown(s->path, 65534, 65534), 0);
  assert_int_equal(keys_read(s->path, NULL, 0, &k), STOA_EKEYPERM);
}

static void test_not_regular(void **state) {
  struct scratch *s = *state;
  stoa_key k;

  assert_int_equal(mkdir(at(s, "dir.key"), 0700), 0);
  assert_int_equal(keys_read(s->path, NULL, 0, &k), STOA_EKEYPERM);
  /* A FIFO must not block the reader. */
  assert_int_equal(mkfifo(at(s, "fifo.key"), 0600), 0);
  assert_int_equal(keys_read(s->path, NULL, 0, &k), STOA_EKEYPERM);
  assert_int_equal(keys_read(at(s, "absent.key"), NULL, 0, &k), -ENOENT);
}

static void test_symlink_refused(void **state) {
  struct scratch *s = *state;
  stoa_key k, k2;
  char real[256];

  assert_int_equal(keys_generate(&k), 0);
  assert_int_equal(keys_write(at(s, "real.key"), k.sk, NULL, 0, 0), 0);
  strcpy(real, s->path);
  assert_int_equal(keys_read(real, NULL, 0, &k2), 0);
  assert_int_equal(symlink(real, at(s, "link.key")), 0);
  assert_int_equal(keys_read(s->path, NULL, 0, &k2), -ELOOP);
  assert_int_equal(keys_is_protected(s->path), -ELOOP);
}

static void test_no_overwrite(void **state) {
  struct scratch *s = *state;
  stoa_key a, b, r;
  struct stat st;

  assert_int_equal(keys_generate(&a), 0);
  assert_int_equal(keys_generate(&b), 0);
  assert_int_equal(keys_write(at(s, "editor.key"), a.sk, NULL, 0, 0), 0);
  assert_int_equal(keys_write(s->path, b.sk, NULL, 0, 0), STOA_EEXISTS);
  assert_int_equal(keys_write(s->path, b.sk, PASS, strlen(PASS),
                              KEYS_KDF_INTERACTIVE),
                   STOA_EEXISTS);
  assert_int_equal(keys_read(s->path, NULL, 0, &r), 0);
  assert_memory_equal(r.sk, a.sk, 64);

  /* A dangling symlink is not followed to create its target. */
  assert_int_equal(symlink("target.key", at(s, "trap.key")), 0);
  assert_int_equal(keys_write(s->path, b.sk, NULL, 0, 0), STOA_EEXISTS);
  assert_int_equal(lstat(at(s, "target.key"), &st), -1);
  assert_int_equal(errno, ENOENT);
  /* editor.key and trap.key, no temporary file. */
  assert_int_equal(dir_entries(s), 2);
}

static void expect_read(struct scratch *s, const uint8_t *buf, size_t len,
                        const char *pass, int want) {
  stoa_key k;
  const char *p = at(s, "bad.key");
  unlink(p);
  put_file(p, buf, len, 0600);
  assert_int_equal(keys_read(p, pass, pass ? strlen(pass) : 0, &k), want);
}

static void test_malformed(void **state) {
  struct scratch *s = *state;
  uint8_t plain[128], prot[128], buf[128];
  stoa_key k;

  assert_int_equal(keys_generate(&k), 0);
  assert_int_equal(keys_write(at(s, "plain.key"), k.sk, NULL, 0, 0), 0);
  assert_int_equal(get_file(s->path, plain, sizeof plain), 42);
  write_protected(at(s, "prot.key"));
  assert_int_equal(get_file(s->path, prot, sizeof prot), 114);

  /* Sanity: the copies are accepted as they are. */
  expect_read(s, plain, 42, NULL, 0);
  expect_read(s, prot, 114, PASS, 0);

  /* Truncated or extended. */
  expect_read(s, plain, 0, NULL, STOA_EMALFORMED);
  expect_read(s, plain, 10, NULL, STOA_EMALFORMED);
  expect_read(s, plain, 41, NULL, STOA_EMALFORMED);
  memcpy(buf, plain, 42);
  buf[42] = 0;
  expect_read(s, buf, 43, NULL, STOA_EMALFORMED);
  expect_read(s, prot, 113, PASS, STOA_EMALFORMED);
  memcpy(buf, prot, 114);
  buf[114] = '\n';
  expect_read(s, buf, 115, PASS, STOA_EMALFORMED);
  expect_read(s, prot, 42, PASS, STOA_EMALFORMED); /* type 1, plain size */

  /* Bad magic, version, type, reserved byte. */
  memcpy(buf, plain, 42);
  buf[0] ^= 0x20;
  expect_read(s, buf, 42, NULL, STOA_EMALFORMED);
  memcpy(buf, plain, 42);
  buf[7] = '2';
  expect_read(s, buf, 42, NULL, STOA_EMALFORMED);
  memcpy(buf, plain, 42);
  buf[8] = 2;
  expect_read(s, buf, 42, NULL, STOA_EMALFORMED);
  memcpy(buf, plain, 42);
  buf[9] = 1;
  expect_read(s, buf, 42, NULL, STOA_EMALFORMED);
  memcpy(buf, prot, 114);
  buf[8] = 0; /* plain type at the protected size */
  expect_read(s, buf, 114, NULL, STOA_EMALFORMED);

  /* Damage inside the box, salt or nonce: the box does not open. */
  const size_t flips[] = {10, 50, 66, 100, 113};
  for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
    memcpy(buf, prot, 114);
    buf[flips[i]] ^= 1;
    expect_read(s, buf, 114, PASS, STOA_EPASSPHRASE);
  }
}

/*
 * The limits come from the file.  STOA_ETOOBIG can only come from the bound
 * check: had Argon2 been run on 64 GiB it would have failed with ENOMEM
 * (STOA_ENOMEM), and on any allowed size with a changed limit it derives
 * another key (STOA_EPASSPHRASE).  The right passphrase is given, so
 * nothing but the limit stops the read.
 */
static void test_hostile_limits(void **state) {
  struct scratch *s = *state;
  uint8_t prot[128], buf[128];
  const struct {
    uint64_t ops, mem;
    int want;
  } cases[] = {
      {2, 64ULL << 30, STOA_ETOOBIG},
      {2, (1ULL << 30) + 1, STOA_ETOOBIG},
      {2, UINT64_MAX, STOA_ETOOBIG},
      {17, 8192, STOA_ETOOBIG},
      {UINT64_MAX, 8192, STOA_ETOOBIG},
      {0, 8192, STOA_EMALFORMED},
      {2, 8191, STOA_EMALFORMED},
      {2, 0, STOA_EMALFORMED},
      /* At the bounds it runs, cheaply, and the key differs. */
      {16, 8192, STOA_EPASSPHRASE},
      {1, 8192, STOA_EPASSPHRASE},
  };

  write_protected(at(s, "prot.key"));
  assert_int_equal(get_file(s->path, prot, sizeof prot), 114);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    memcpy(buf, prot, 114);
    put_be64(buf + 26, cases[i].ops);
    put_be64(buf + 34, cases[i].mem);
    expect_read(s, buf, 114, PASS, cases[i].want);
    /* The bounds are checked before the caller is asked to type. */
    if (cases[i].want != STOA_EPASSPHRASE)
      expect_read(s, buf, 114, NULL, cases[i].want);
  }
}

/* A file built from the documented format alone, at the upper opslimit,
 * opens with keys_read(). */
static void test_handmade_file(void **state) {
  struct scratch *s = *state;
  uint8_t seed[32], file[114], key[32];
  stoa_key want, got;

  randombytes_buf(seed, sizeof seed);
  assert_int_equal(keys_from_seed(seed, &want), 0);
  memcpy(file, "STOAKEY1", 8);
  file[8] = 1;
  file[9] = 0;
  randombytes_buf(file + 10, 16);
  put_be64(file + 26, 16);
  put_be64(file + 34, 8192);
  randombytes_buf(file + 42, 24);
  assert_int_equal(crypto_pwhash(key, 32, PASS, strlen(PASS), file + 10, 16,
                                 8192, crypto_pwhash_ALG_ARGON2ID13),
                   0);
  assert_int_equal(crypto_secretbox_easy(file + 66, seed, 32, file + 42, key),
                   0);
  put_file(at(s, "hand.key"), file, sizeof file, 0600);
  assert_int_equal(keys_is_protected(s->path), 1);
  assert_int_equal(keys_read(s->path, PASS, strlen(PASS), &got), 0);
  assert_memory_equal(got.pk, want.pk, 32);
  assert_memory_equal(got.sk, want.sk, 64);

  memcpy(file + 10, seed, 32);
  file[8] = 0;
  put_file(at(s, "handplain.key"), file, 42, 0600);
  assert_int_equal(keys_read(s->path, NULL, 0, &got), 0);
  assert_memory_equal(got.sk, want.sk, 64);
}

static void test_created_modes(void **state) {
  struct scratch *s = *state;
  const mode_t masks[] = {0, 022, 0777};
  stoa_key k, k2;
  struct stat st;
  char name[32];

  assert_int_equal(keys_generate(&k), 0);
  for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
    mode_t old = umask(masks[i]);
    snprintf(name, sizeof name, "k%zu.key", i);
    int r = keys_write(at(s, name), k.sk, NULL, 0, 0);
    umask(old);
    assert_int_equal(r, 0);
    assert_int_equal(stat(s->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(keys_read(s->path, NULL, 0, &k2), 0);

    old = umask(masks[i]);
    snprintf(name, sizeof name, "k%zu.pub", i);
    r = keys_pub_write(at(s, name), k.pk, "test");
    umask(old);
    assert_int_equal(r, 0);
    assert_int_equal(stat(s->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
  }
}

/* ---- public keys ------------------------------------------------------ */

static void test_pub_parse(void **state) {
  (void)state;
  const char *hex =
      "00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210";
  const uint8_t want[32] = {
      0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa,
      0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
      0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
  char text[256], back[65];
  uint8_t pk[32];
  const char *good[] = {"%s", " \t%s\n", "stoa:%s", "  stoa:%s\r\n"};
  const char *bad[] = {
      "",
      "   ",
      "%s0",       /* 65 digits */
      "%s comment",
      "stoa: %s",
      "STOA:%s",
      "key:%s",
      "stoa:",
      "0x%s",
  };

  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    snprintf(text, sizeof text, good[i], hex);
    memset(pk, 0, sizeof pk);
    assert_int_equal(keys_parse_pub(text, pk), 0);
    assert_memory_equal(pk, want, 32);
  }
  /* Upper case is accepted; output is lower case. */
  strcpy(text, hex);
  for (char *c = text; *c; c++)
    if (*c >= 'a' && *c <= 'f') *c = (char)(*c - 'a' + 'A');
  assert_int_equal(keys_parse_pub(text, pk), 0);
  assert_memory_equal(pk, want, 32);
  keys_pub_hex(pk, back);
  assert_string_equal(back, hex);

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(text, sizeof text, bad[i], hex);
    memset(pk, 0x5a, sizeof pk);
    assert_int_equal(keys_parse_pub(text, pk), STOA_EMALFORMED);
    assert_int_equal(pk[0], 0x5a); /* untouched on failure */
  }
  /* 63 digits, a non-hex digit, a space inside. */
  snprintf(text, sizeof text, "%.63s", hex);
  assert_int_equal(keys_parse_pub(text, pk), STOA_EMALFORMED);
  strcpy(text, hex);
  text[17] = 'g';
  assert_int_equal(keys_parse_pub(text, pk), STOA_EMALFORMED);
  strcpy(text, hex);
  text[32] = ' ';
  assert_int_equal(keys_parse_pub(text, pk), STOA_EMALFORMED);
}

static void test_pub_write_read(void **state) {
  struct scratch *s = *state;
  stoa_key k, k2;
  char text[512], hex[65], want[512], comment[300];
  uint8_t pk[32];
  size_t n;

  assert_int_equal(keys_generate(&k), 0);
  assert_int_equal(keys_generate(&k2), 0);
  keys_pub_hex(k.pk, hex);
  assert_int_equal(strlen(hex), 64);

  assert_int_equal(keys_pub_write(at(s, "network.pub"), k.pk,
                                  "network key of Réseau Migrants"),
                   0);
  n = get_file(s->path, text, sizeof text - 1);
  text[n] = '\0';
  snprintf(want, sizeof want, "%s network key of Réseau Migrants\n", hex);
  assert_string_equal(text, want);
  assert_int_equal(keys_pub_read(s->path, pk), 0);
  assert_memory_equal(pk, k.pk, 32);

  /* A public key may be rewritten. */
  assert_int_equal(keys_pub_write(s->path, k2.pk, NULL), 0);
  n = get_file(s->path, text, sizeof text - 1);
  text[n] = '\0';
  keys_pub_hex(k2.pk, hex);
  snprintf(want, sizeof want, "%s\n", hex);
  assert_string_equal(text, want);
  assert_int_equal(keys_pub_read(s->path, pk), 0);
  assert_memory_equal(pk, k2.pk, 32);

  /* Comments: one line, bounded. */
  assert_int_equal(keys_pub_write(at(s, "x.pub"), k.pk, "two\nlines"),
                   STOA_EINVAL);
  assert_int_equal(keys_pub_write(s->path, k.pk, "tab\there"), STOA_EINVAL);
  memset(comment, 'c', sizeof comment);
  comment[KEYS_COMMENT_MAX + 1] = '\0';
  assert_int_equal(keys_pub_write(s->path, k.pk, comment), STOA_EINVAL);
  comment[KEYS_COMMENT_MAX] = '\0';
  assert_int_equal(keys_pub_write(s->path, k.pk, comment), 0);
  assert_int_equal(keys_pub_read(s->path, pk), 0);
  assert_memory_equal(pk, k.pk, 32);

  /* Bad .pub files. */
  put_file(at(s, "bad.pub"), "not a key\n", 10, 0644);
  assert_int_equal(keys_pub_read(s->path, pk), STOA_EMALFORMED);
  put_file(s->path, "", 0, 0644);
  assert_int_equal(keys_pub_read(s->path, pk), STOA_EMALFORMED);
  snprintf(text, sizeof text, "%s", hex);
  text[10] = '\0';
  put_file(s->path, text, 64, 0644); /* NUL inside */
  assert_int_equal(keys_pub_read(s->path, pk), STOA_EMALFORMED);
  {
    char big[5000];
    memset(big, ' ', sizeof big);
    memcpy(big, hex, 64);
    put_file(s->path, big, sizeof big, 0644);
    assert_int_equal(keys_pub_read(s->path, pk), STOA_ETOOBIG);
  }
  assert_int_equal(keys_pub_read(s->dir, pk), STOA_EINVAL);
}

/* ---- passphrase files ------------------------------------------------- */

static int pass_file(struct scratch *s, const char *content, size_t clen,
                     size_t cap, char *buf, size_t *len) {
  const char *p = at(s, "pass");
  unlink(p);
  put_file(p, content, clen, 0644); /* any mode is fine for a pass file */
  memset(buf, 0, cap);
  *len = 999;
  return keys_pass_from_file(p, buf, cap, len);
}

static void test_pass_file(void **state) {
  struct scratch *s = *state;
  char buf[64];
  size_t len;

  assert_int_equal(pass_file(s, "secret\nsecond line\n", 19, 64, buf, &len),
                   0);
  assert_int_equal(len, 6);
  assert_string_equal(buf, "secret");
  /* What followed the line was wiped, not left in the buffer. */
  assert_true(all_zero(buf + 6, sizeof buf - 6));

  assert_int_equal(pass_file(s, "secret", 6, 64, buf, &len), 0);
  assert_int_equal(len, 6);
  assert_int_equal(pass_file(s, "sec ret\r\n", 9, 64, buf, &len), 0);
  assert_int_equal(len, 7);
  assert_string_equal(buf, "sec ret");

  /* Exactly cap - 1 bytes fits, with or without a line end. */
  assert_int_equal(pass_file(s, "secret\n", 7, 7, buf, &len), 0);
  assert_int_equal(len, 6);
  assert_int_equal(pass_file(s, "secret", 6, 7, buf, &len), 0);
  assert_int_equal(pass_file(s, "secret\r\n", 8, 7, buf, &len), 0);
  assert_string_equal(buf, "secret");
  assert_int_equal(pass_file(s, "secret\r", 7, 7, buf, &len), 0);
  assert_int_equal(len, 6);
  assert_int_equal(pass_file(s, "secretX", 7, 7, buf, &len), STOA_ETOOBIG);
  assert_true(all_zero(buf, 7));
  assert_int_equal(pass_file(s, "secret\rX", 8, 7, buf, &len),
                   STOA_ETOOBIG);
  assert_int_equal(pass_file(s, "secret", 6, 6, buf, &len), STOA_ETOOBIG);

  /* Empty, NUL inside, tiny buffer. */
  assert_int_equal(pass_file(s, "", 0, 64, buf, &len), STOA_EINVAL);
  assert_int_equal(pass_file(s, "\nsecret\n", 8, 64, buf, &len),
                   STOA_EINVAL);
  assert_int_equal(pass_file(s, "\r\n", 2, 64, buf, &len), STOA_EINVAL);
  assert_int_equal(pass_file(s, "ab\0cd\n", 6, 64, buf, &len), STOA_EINVAL);
  assert_int_equal(pass_file(s, "a\n", 2, 1, buf, &len), STOA_EINVAL);
  assert_int_equal(pass_file(s, "a\n", 2, 2, buf, &len), 0);
  assert_int_equal(len, 1);

  /* A symlink to a regular file is fine; a directory or FIFO is not. */
  assert_int_equal(symlink("pass", at(s, "pass.link")), 0);
  assert_int_equal(keys_pass_from_file(s->path, buf, sizeof buf, &len), 0);
  assert_string_equal(buf, "a");
  assert_int_equal(keys_pass_from_file(s->dir, buf, sizeof buf, &len),
                   STOA_EINVAL);
  assert_int_equal(mkfifo(at(s, "pass.fifo"), 0600), 0);
  assert_int_equal(keys_pass_from_file(s->path, buf, sizeof buf, &len),
                   STOA_EINVAL);
  assert_int_equal(
      keys_pass_from_file(at(s, "absent"), buf, sizeof buf, &len), -ENOENT);
}

/* ---- the tty prompt --------------------------------------------------- */

/*
 * A child becomes a session leader and opens the pty's slave, which makes
 * it its controlling terminal, then runs a scenario that returns its exit
 * status (0 = passed; cmocka is not used in the child).  The parent plays
 * the user on the master side and records what the terminal displayed.
 */
struct pty_run {
  int master;
  pid_t pid;
  char slave[128];
  char out[8192];
  size_t outlen;
};

static void pty_start(struct pty_run *pr, int (*scenario)(int tty)) {
  memset(pr, 0, sizeof *pr);
  pr->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  assert_true(pr->master >= 0);
  assert_int_equal(grantpt(pr->master), 0);
  assert_int_equal(unlockpt(pr->master), 0);
  assert_int_equal(ptsname_r(pr->master, pr->slave, sizeof pr->slave), 0);
  pr->pid = fork();
  assert_true(pr->pid >= 0);
  if (pr->pid == 0) {
    int tty;
    close(pr->master);
    if (setsid() < 0) _exit(90);
    if ((tty = open(pr->slave, O_RDWR)) < 0) _exit(91);
    _exit(scenario(tty)); /* _exit: no atexit handlers, no leak report */
  }
}

/* Read what the terminal shows until it contains want (10 s at most). */
static void pty_wait_for(struct pty_run *pr, const char *want) {
  time_t end = time(NULL) + 10;
  while (memmem(pr->out, pr->outlen, want, strlen(want)) == NULL) {
    struct pollfd pfd = {.fd = pr->master, .events = POLLIN};
    ssize_t k;
    assert_true(time(NULL) < end);
    if (poll(&pfd, 1, 200) <= 0) continue;
    k = read(pr->master, pr->out + pr->outlen, sizeof pr->out - pr->outlen);
    assert_true(k > 0);
    pr->outlen += (size_t)k;
  }
}

static void pty_type(struct pty_run *pr, const char *text) {
  assert_int_equal(write(pr->master, text, strlen(text)),
                   (ssize_t)strlen(text));
}

/* Reap the child, collecting output meanwhile; returns its wait status.
 * The master stays open. */
static int pty_finish(struct pty_run *pr) {
  time_t end = time(NULL) + 10;
  int status = 0;
  for (;;) {
    struct pollfd pfd = {.fd = pr->master, .events = POLLIN};
    pid_t w = waitpid(pr->pid, &status, WNOHANG);
    if (poll(&pfd, 1, w == pr->pid ? 0 : 50) > 0 &&
        (pfd.revents & POLLIN) != 0 && pr->outlen < sizeof pr->out) {
      ssize_t k =
          read(pr->master, pr->out + pr->outlen, sizeof pr->out - pr->outlen);
      if (k > 0) pr->outlen += (size_t)k;
    }
    if (w == pr->pid) break;
    if (time(NULL) >= end) {
      kill(pr->pid, SIGKILL);
      waitpid(pr->pid, &status, 0);
      fail_msg("tty child timed out");
    }
  }
  return status; /* the caller closes master: that hangs the slave up */
}

static int echo_is_on(int tty) {
  struct termios t;
  return tcgetattr(tty, &t) == 0 && (t.c_lflag & ECHO) != 0;
}

static int scenario_read(int tty) {
  char buf[64];
  size_t len = 0;
  if (!echo_is_on(tty)) return 9;
  int r = keys_pass_from_tty("Key passphrase: ", false, buf, sizeof buf,
                             &len);
  if (r != 0) return 10;
  if (len != 7 || strcmp(buf, "hunter2") != 0) return 11;
  if (!echo_is_on(tty)) return 12; /* restored */
  return 0;
}

static void test_tty_read(void **state) {
  (void)state;
  struct pty_run pr;
  int status, watch;

  pty_start(&pr, scenario_read);
  pty_wait_for(&pr, "Key passphrase: ");
  /* While the prompt waits, echo is off. */
  watch = open(pr.slave, O_RDWR | O_NOCTTY | O_CLOEXEC);
  assert_true(watch >= 0);
  assert_false(echo_is_on(watch));
  close(watch);
  pty_type(&pr, "hunter2\n");
  status = pty_finish(&pr);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_null(memmem(pr.out, pr.outlen, "hunter2", 7));
  close(pr.master);
}

static int scenario_confirm(int tty) {
  char buf[64];
  size_t len = 0;
  int r = keys_pass_from_tty("Key passphrase: ", true, buf, sizeof buf, &len);
  if (!echo_is_on(tty)) return 12;
  if (r == STOA_EPASSPHRASE) return 20; /* entries differ */
  if (r != 0) return 10;
  if (len != 8 || strcmp(buf, "same one") != 0) return 11;
  return 0;
}

static void test_tty_confirm(void **state) {
  (void)state;
  struct pty_run pr;
  int status;

  pty_start(&pr, scenario_confirm);
  pty_wait_for(&pr, "Key passphrase: ");
  pty_type(&pr, "same one\n");
  pty_wait_for(&pr, "Repeat passphrase: ");
  pty_type(&pr, "same one\n");
  status = pty_finish(&pr);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_null(memmem(pr.out, pr.outlen, "same one", 8));
  close(pr.master);

  pty_start(&pr, scenario_confirm);
  pty_wait_for(&pr, "Key passphrase: ");
  pty_type(&pr, "same one\n");
  pty_wait_for(&pr, "Repeat passphrase: ");
  pty_type(&pr, "same onE\n");
  status = pty_finish(&pr);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 20);
  close(pr.master);
}

static int scenario_too_long(int tty) {
  char buf[8];
  size_t len = 0;
  int r = keys_pass_from_tty("Key passphrase: ", false, buf, sizeof buf,
                             &len);
  if (r != STOA_ETOOBIG) return 10;
  if (!all_zero(buf, sizeof buf)) return 11;
  /* The overlong line was consumed whole: the next answer is clean. */
  r = keys_pass_from_tty("Next: ", false, buf, sizeof buf, &len);
  if (r != 0 || strcmp(buf, "short") != 0) return 12;
  if (!echo_is_on(tty)) return 13;
  return 0;
}

static void test_tty_too_long(void **state) {
  (void)state;
  struct pty_run pr;
  int status;

  pty_start(&pr, scenario_too_long);
  pty_wait_for(&pr, "Key passphrase: ");
  pty_type(&pr, "much too long for eight\n");
  pty_wait_for(&pr, "Next: ");
  pty_type(&pr, "short\n");
  status = pty_finish(&pr);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  close(pr.master);
}

static volatile sig_atomic_t got_sigint;
static void on_sigint(int signo) {
  (void)signo;
  got_sigint = 1;
}

/* ^C with a handler installed: the prompt restores the terminal, puts the
 * handler back, re-raises, and returns -EINTR. */
static int scenario_sigint_handled(int tty) {
  struct sigaction sa, now;
  char buf[64];
  size_t len = 0;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  int r = keys_pass_from_tty("Key passphrase: ", false, buf, sizeof buf,
                             &len);
  if (r != -EINTR) return 10;
  if (!got_sigint) return 11;
  if (!echo_is_on(tty)) return 12;
  if (sigaction(SIGINT, NULL, &now) != 0 || now.sa_handler != on_sigint)
    return 13;
  return 0;
}

static void test_tty_sigint_handled(void **state) {
  (void)state;
  struct pty_run pr;
  int status;

  pty_start(&pr, scenario_sigint_handled);
  pty_wait_for(&pr, "Key passphrase: ");
  pty_type(&pr, "hunt\x03"); /* VINTR: the line discipline sends SIGINT */
  status = pty_finish(&pr);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  close(pr.master);
}

static int scenario_sigint_default(int tty) {
  char buf[64];
  size_t len = 0;
  (void)tty;
  signal(SIGINT, SIG_DFL);
  (void)keys_pass_from_tty("Key passphrase: ", false, buf, sizeof buf, &len);
  return 30; /* not reached: SIGINT kills us */
}

/* ^C with the default action: the process dies of SIGINT, and the terminal
 * it leaves behind echoes again. */
static void test_tty_sigint_default(void **state) {
  (void)state;
  struct pty_run pr;
  int status, watch;

  pty_start(&pr, scenario_sigint_default);
  pty_wait_for(&pr, "Key passphrase: ");
  watch = open(pr.slave, O_RDWR | O_NOCTTY | O_CLOEXEC);
  assert_true(watch >= 0);
  assert_false(echo_is_on(watch));
  pty_type(&pr, "\x03");
  status = pty_finish(&pr);
  assert_true(WIFSIGNALED(status));
  assert_int_equal(WTERMSIG(status), SIGINT);
  assert_true(echo_is_on(watch));
  close(watch);
  close(pr.master);
}

static void test_tty_none(void **state) {
  (void)state;
  int status;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    char buf[16];
    size_t len;
    if (setsid() < 0) _exit(90); /* no controlling terminal any more */
    _exit(keys_pass_from_tty(NULL, false, buf, sizeof buf, &len) == -ENXIO
              ? 0
              : 1);
  }
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, scratch_setup, scratch_teardown)
      T(test_plain_roundtrip),
      T(test_protected_roundtrip),
      T(test_wrong_passphrase),
      T(test_protected_without_pass),
      T(test_write_arguments),
      T(test_mode_refused),
      T(test_owner_refused),
      T(test_not_regular),
      T(test_symlink_refused),
      T(test_no_overwrite),
      T(test_malformed),
      T(test_hostile_limits),
      T(test_handmade_file),
      T(test_created_modes),
      T(test_pub_parse),
      T(test_pub_write_read),
      T(test_pass_file),
      cmocka_unit_test(test_tty_read),
      cmocka_unit_test(test_tty_confirm),
      cmocka_unit_test(test_tty_too_long),
      cmocka_unit_test(test_tty_sigint_handled),
      cmocka_unit_test(test_tty_sigint_default),
      cmocka_unit_test(test_tty_none),
#undef T
  };
  if (sodium_init() < 0) return 1;
  return cmocka_run_group_tests(tests, NULL, NULL);
}
