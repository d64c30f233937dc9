/*
 * fuzz_keyfile.c - the key file readers of cli/keys.h, which take a path:
 * the input is written to a private file (mode 0600, in a directory made
 * once under $TMPDIR) and read back with keys_is_protected, keys_read,
 * keys_pub_read and keys_pass_from_file; keys_parse_pub gets the input as
 * a string.
 *
 * keys_read runs Argon2id with the limits the file names, up to 16 passes
 * over 1 GiB; the fuzzer passes a passphrase only when the file asks for at
 * most 2 passes over 64 KiB, so that one input costs microseconds, and
 * otherwise reads without one (the limits are still checked first).
 * Properties: a plain 42-byte file gives the key of its seed; a failure
 * leaves the output key zeroed.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/keys.h"
#include "proto/err.h"
#include "tests/fuzz/fuzz.h"

static char fuzz_path[4096];

static char fuzz_tmpdir[4000];

static void fuzz_cleanup(void) {
  unlink(fuzz_path);
  rmdir(fuzz_tmpdir);
}

static void fuzz_dir(void) {
  const char *t = getenv("TMPDIR");
  if (fuzz_path[0]) return;
  snprintf(fuzz_tmpdir, sizeof fuzz_tmpdir, "%s/stoa-fuzz-keyfile.XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(fuzz_tmpdir)) abort();
  snprintf(fuzz_path, sizeof fuzz_path, "%s/k", fuzz_tmpdir);
  atexit(fuzz_cleanup);
}

static void fuzz_write(const uint8_t *data, size_t size) {
  int fd = open(fuzz_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) abort();
  if (fchmod(fd, 0600) != 0) abort();
  while (size > 0) {
    ssize_t k = write(fd, data, size);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) abort();
    data += k;
    size -= (size_t)k;
  }
  close(fd);
}

static bool fuzz_zero(const stoa_key *k) {
  static const stoa_key z;
  return memcmp(k, &z, sizeof z) == 0;
}

static uint64_t fuzz_be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char text[8192];
  char pass[256];
  size_t plen;
  uint8_t pk[KEYS_PK_LEN];
  stoa_key k, want;
  int prot, e;

  fuzz_sodium();
  fuzz_dir();
  fuzz_write(data, size);

  prot = keys_is_protected(fuzz_path);
  FUZZ_CHECK(prot == 0 || prot == 1 || prot == STOA_EMALFORMED);
  FUZZ_CHECK(prot < 0 || size == KEYS_FILE_PLAIN_LEN || size == KEYS_FILE_PROTECTED_LEN);

  e = keys_read(fuzz_path, NULL, 0, &k);
  if (prot == 0) {
    FUZZ_CHECK(e == 0);
    FUZZ_CHECK(keys_from_seed(data + 10, &want) == 0);
    FUZZ_CHECK(memcmp(&k, &want, sizeof k) == 0);
    keys_wipe(&want);
  } else if (prot == 1) {
    FUZZ_CHECK(e == STOA_EPASSPHRASE || e == STOA_EMALFORMED || e == STOA_ETOOBIG);
    FUZZ_CHECK(fuzz_zero(&k));
    uint64_t ops = fuzz_be64(data + 26), mem = fuzz_be64(data + 34);
    if (e == STOA_EPASSPHRASE && ops <= 2 && mem <= 65536) {
      e = keys_read(fuzz_path, "fuzz", 4, &k);
      FUZZ_CHECK(e == 0 || e == STOA_EPASSPHRASE);
      if (e == 0) fuzz_note("protected key opened");
      FUZZ_CHECK(e == 0 || fuzz_zero(&k));
    }
  } else {
    FUZZ_CHECK(e == prot && fuzz_zero(&k));
  }
  keys_wipe(&k);

  e = keys_pub_read(fuzz_path, pk);
  FUZZ_CHECK(e == 0 || e == STOA_EMALFORMED || e == STOA_ETOOBIG);
  e = keys_pass_from_file(fuzz_path, pass, sizeof pass, &plen);
  FUZZ_CHECK(e == 0 || e == STOA_EINVAL || e == STOA_ETOOBIG);
  if (e == 0) FUZZ_CHECK(plen >= 1 && plen < sizeof pass && pass[plen] == '\0' && !memchr(pass, '\n', plen));
  sodium_memzero(pass, sizeof pass);

  if (size < sizeof text) {
    memcpy(text, data, size);
    text[size] = '\0';
    (void)keys_parse_pub(text, pk);
  }
  return 0;
}
