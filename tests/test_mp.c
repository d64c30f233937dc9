/* Unit tests of the strict msgpack reader (proto/mp.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "proto/err.h"
#include "proto/mp.h"

static void test_scalars(void **state) {
  (void)state;
  const uint8_t buf[] = { 0x05, 0xcc, 0xff, 0xcd, 0x01, 0x00, 0xd0, 0xfe, 0xc3, 0xc0, 0xa2, 'h', 'i', 0xc4, 0x01, 0x07 };
  mp_reader r;
  uint64_t u;
  int64_t s;
  bool b;
  const char *str;
  const uint8_t *bin;
  uint32_t n;
  mp_reader_init(&r, buf, sizeof buf);
  assert_int_equal(mp_read_uint(&r, &u), 0);
  assert_int_equal(u, 5);
  assert_int_equal(mp_read_uint(&r, &u), 0);
  assert_int_equal(u, 255);
  assert_int_equal(mp_read_uint(&r, &u), 0);
  assert_int_equal(u, 256);
  assert_int_equal(mp_read_uint(&r, &u), STOA_EMALFORMED); /* negative */
  assert_int_equal(mp_read_int(&r, &s), 0);
  assert_int_equal(s, -2);
  assert_int_equal(mp_read_bool(&r, &b), 0);
  assert_true(b);
  assert_int_equal(mp_read_nil(&r), 0);
  assert_int_equal(mp_read_str(&r, &str, &n), 0);
  assert_int_equal(n, 2);
  assert_memory_equal(str, "hi", 2);
  assert_int_equal(mp_read_bin(&r, &bin, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(bin[0], 7);
  assert_int_equal(mp_left(&r), 0);
  assert_int_equal(mp_read_nil(&r), STOA_ETRUNCATED);
}

/* Allocation bombs: counts and lengths far beyond the input are refused
 * before anything trusts them. */
static void test_bombs(void **state) {
  (void)state;
  const uint8_t arr32[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
  const uint8_t map32[] = { 0xdf, 0xff, 0xff, 0xff, 0xff };
  const uint8_t str32[] = { 0xdb, 0xff, 0xff, 0xff, 0xff, 'a' };
  const uint8_t bin32[] = { 0xc6, 0x7f, 0xff, 0xff, 0xff };
  const uint8_t fixarr[] = { 0x9f, 0x01 }; /* 15 elements, one byte left */
  mp_reader r;
  uint32_t n;
  const char *s;
  assert_int_equal(mp_check(arr32, sizeof arr32), STOA_ETRUNCATED);
  assert_int_equal(mp_check(map32, sizeof map32), STOA_ETRUNCATED);
  assert_int_equal(mp_check(str32, sizeof str32), STOA_ETRUNCATED);
  assert_int_equal(mp_check(bin32, sizeof bin32), STOA_ETRUNCATED);
  assert_int_equal(mp_check(fixarr, sizeof fixarr), STOA_ETRUNCATED);
  mp_reader_init(&r, arr32, sizeof arr32);
  assert_int_equal(mp_read_array(&r, &n), STOA_ETRUNCATED);
  assert_ptr_equal(r.p, arr32); /* cursor unmoved on error */
  mp_reader_init(&r, str32, sizeof str32);
  assert_int_equal(mp_read_str(&r, &s, &n), STOA_ETRUNCATED);
}

static void test_depth(void **state) {
  (void)state;
  uint8_t buf[64];
  for (int depth = 1; depth <= 12; depth++) {
    memset(buf, 0x91, (size_t)depth); /* [[[...]]] */
    buf[depth] = 0xc0;
    int e = mp_check(buf, (size_t)depth + 1);
    if (depth <= MP_MAX_DEPTH) assert_int_equal(e, 0);
    else assert_int_equal(e, STOA_ETOODEEP);
  }
  /* Tens of thousands of nested headers: refused without recursing far. */
  size_t big = 50000;
  uint8_t *deep = malloc(big);
  assert_non_null(deep);
  memset(deep, 0x91, big);
  assert_int_equal(mp_check(deep, big), STOA_ETOODEEP);
  free(deep);
}

/* The ASCII fast path reads eight bytes at a time: a bad byte or a
 * character at every offset, and at every length, is still judged as one
 * byte at a time would. */
static void test_utf8_offsets(void **state) {
  (void)state;
  uint8_t s[40];
  for (size_t n = 0; n <= sizeof s; n++) {
    memset(s, 'a', sizeof s);
    assert_true(mp_utf8_valid(s, n));
    for (size_t at = 0; at < n; at++) {
      memset(s, 'a', sizeof s);
      s[at] = 0xff; /* never valid */
      assert_false(mp_utf8_valid(s, n));
      s[at] = 0xc3; /* a lead byte: valid only with its continuation */
      assert_false(mp_utf8_valid(s, n));
      if (at + 1 < n) {
        s[at + 1] = 0xa9; /* é, possibly across an 8-byte boundary */
        assert_true(mp_utf8_valid(s, n));
        s[at + 1] = 0x80;
        s[at] = 0xc0; /* overlong */
        assert_false(mp_utf8_valid(s, n));
      }
      memset(s, 'a', sizeof s);
      s[at] = 0x80; /* a continuation with no lead */
      assert_false(mp_utf8_valid(s, n));
    }
  }
}

static void test_strict(void **state) {
  (void)state;
  const uint8_t trailing[] = { 0x01, 0x02 };
  const uint8_t ext[] = { 0xd4, 0x01, 0x02 };
  const uint8_t never[] = { 0xc1 };
  const uint8_t badutf[] = { 0xa2, 0xc3, 0x28 };
  const uint8_t overlong[] = { 0xa2, 0xc0, 0xaf };
  const uint8_t surrogate[] = { 0xa3, 0xed, 0xa0, 0x80 };
  const uint8_t goodutf[] = { 0xa8, 'S', 'o', 'c', 0xc3, 0xa9, 't', 0xc3 }; /* one byte short */
  assert_int_equal(mp_check(trailing, sizeof trailing), STOA_ETRAILING);
  assert_int_equal(mp_check(ext, sizeof ext), STOA_EEXT);
  assert_int_equal(mp_check(never, sizeof never), STOA_EMALFORMED);
  assert_int_equal(mp_check(badutf, sizeof badutf), STOA_EUTF8);
  assert_int_equal(mp_check(overlong, sizeof overlong), STOA_EUTF8);
  assert_int_equal(mp_check(surrogate, sizeof surrogate), STOA_EUTF8);
  assert_int_equal(mp_check(goodutf, sizeof goodutf), STOA_ETRUNCATED);
  assert_int_equal(mp_check(goodutf + 1, 0), STOA_ETRUNCATED);
  const uint8_t accented[] = { 0xa7, 0x53, 0x6f, 0x63, 0xc3, 0xa9, 0x74, 0xc3 };
  assert_int_equal(mp_check(accented, sizeof accented), STOA_EUTF8); /* ends inside a character */
  assert_int_equal(mp_check(NULL, 0), STOA_ETRUNCATED);
}

/* Whatever msgpack-c packs, the reader reads back (round trip). */
static void test_roundtrip(void **state) {
  (void)state;
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 3);
  msgpack_pack_str_with_body(&pk, "a", 1);
  msgpack_pack_uint64(&pk, UINT64_MAX);
  msgpack_pack_str_with_body(&pk, "b", 1);
  msgpack_pack_int64(&pk, INT64_MIN);
  msgpack_pack_str_with_body(&pk, "c", 1);
  msgpack_pack_array(&pk, 2);
  msgpack_pack_double(&pk, 1.5);
  msgpack_pack_float(&pk, 2.5f);
  assert_int_equal(mp_check(sb.data, sb.size), 0);
  mp_reader r;
  uint32_t n, kl;
  const char *k;
  uint64_t u;
  int64_t s;
  mp_reader_init(&r, sb.data, sb.size);
  assert_int_equal(mp_read_map(&r, &n), 0);
  assert_int_equal(n, 3);
  assert_int_equal(mp_read_str(&r, &k, &kl), 0);
  assert_int_equal(mp_read_uint(&r, &u), 0);
  assert_true(u == UINT64_MAX);
  assert_int_equal(mp_read_str(&r, &k, &kl), 0);
  assert_int_equal(mp_read_int(&r, &s), 0);
  assert_true(s == INT64_MIN);
  assert_int_equal(mp_read_str(&r, &k, &kl), 0);
  assert_int_equal(mp_peek(&r), MP_ARRAY);
  assert_int_equal(mp_skip(&r, 1), 0);
  assert_int_equal(mp_left(&r), 0);
  /* Every truncation of a valid value is refused, never over-read. */
  for (size_t cut = 0; cut < sb.size; cut++) assert_int_not_equal(mp_check(sb.data, cut), 0);
  msgpack_sbuffer_destroy(&sb);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_scalars), cmocka_unit_test(test_bombs), cmocka_unit_test(test_depth),
    cmocka_unit_test(test_strict), cmocka_unit_test(test_utf8_offsets), cmocka_unit_test(test_roundtrip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
