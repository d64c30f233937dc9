/*
 * test_fold.c - unit tests for store/fold.c: folding, tokens, queries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/err.h"
#include "store/fold.h"

/* Fold a NUL-terminated string into a static buffer, asserting success. */
static const char *fold(const char *s) {
  static char out[4096];
  size_t len = 12345;
  assert_int_equal(fold_text(s, strlen(s), out, sizeof out, &len), 0);
  assert_int_equal(len, strlen(out));
  return out;
}

/* Tokens of s joined with '|', in a static buffer. */
typedef struct {
  char buf[8192];
  size_t len;
  int calls;
  int stop_at; /* return 7 from this call (1-based); 0: never */
} toks_t;

static int toks_cb(void *ctx, const char *tok, size_t len) {
  toks_t *t = ctx;
  assert_true(len > 0 && len <= FOLD_TOKEN_MAX);
  assert_int_equal(tok[len], '\0');
  assert_int_equal(strlen(tok), len);
  assert_true(t->len + len + 2 < sizeof t->buf);
  if (t->calls++) t->buf[t->len++] = '|';
  memcpy(t->buf + t->len, tok, len);
  t->len += len;
  t->buf[t->len] = '\0';
  return t->calls == t->stop_at ? 7 : 0;
}

static const char *toks(const char *s) {
  static toks_t t;
  memset(&t, 0, sizeof t);
  assert_int_equal(fold_tokens(s, strlen(s), toks_cb, &t), 0);
  return t.buf;
}

static void test_fold_examples(void **state) {
  (void)state;
  assert_string_equal(fold("Société"), "societe");
  assert_string_equal(fold("Straße"), "strasse");
  assert_string_equal(fold("STRASSE"), "strasse");
  assert_string_equal(fold("\xef\xac\x81" "nance"), "finance"); /* ﬁ */
  assert_string_equal(fold("Ｆｒａｎｃｅ"), "france");
  assert_string_equal(fold("İstanbul"), "istanbul");
  assert_string_equal(fold("Diyarbakır"), "diyarbakir");
  assert_string_equal(fold("Αθήνα"), "αθηνα");
  /* final sigma folds like any sigma, so case does not matter */
  char upper[64];
  snprintf(upper, sizeof upper, "%s", fold("ΟΔΟΣ"));
  assert_string_equal(upper, fold("οδος"));
  assert_string_equal(upper, "οδοσ");
  assert_string_equal(fold("Москва Ёлка"), "москва елка");
  assert_string_equal(fold("東京"), "東京");
  assert_string_equal(fold("Việt Nam"), "viet nam");
  assert_string_equal(fold("œuvre Łódź København Æsir"),
                      "oeuvre lodz kobenhavn aesir");
  assert_string_equal(fold("Ärzte ohne Grenzen"), "arzte ohne grenzen");
  /* Arabic: harakat and hamza carriers go, tatweel goes, letters stay */
  assert_string_equal(fold("مُهَاجِر"), "مهاجر");
  assert_string_equal(fold("أحمد"), "احمد");
  assert_string_equal(fold("بـــيت"), "بيت");
  /* soft hyphen and zero-width space are default-ignorable */
  assert_string_equal(fold("co\xc2\xad" "op\xe2\x80\x8b" "eration"),
                      "cooperation");
  /* marks that are letters of their script are kept, recomposed */
  assert_string_equal(fold("हिन्दी"), "हिन्दी");
  assert_string_equal(fold("한국어"), "한국어");
  assert_string_equal(fold("が"), "が");
  assert_string_equal(fold("ｶﾞｯｺｳ"), "ガッコウ"); /* half-width kana */
  assert_string_equal(fold("ภาษาไทย"), "ภาษาไทย");
}

static void test_fold_decomposed_input(void **state) {
  (void)state;
  /* e + combining acute, split between the ASCII and the slow path */
  assert_string_equal(fold("Socie\xcc\x81te\xcc\x81"), "societe");
  /* U+0338 is an accent like any other: "≠" and "=" + U+0338 agree */
  assert_string_equal(fold("a=\xcc\xb8" "b"), "a=b");
  assert_string_equal(fold("a ≠ b"), "a = b");
  /* a spacing accent typed as an apostrophe leaves no stray mark */
  assert_string_equal(fold("l\xc2\xb4" "Europe"), "l europe");
  assert_string_equal(toks("l\xc2\xb4" "Europe"), "l|europe");
  assert_string_equal(fold("ABC xyz 09"), "abc xyz 09");
}

/* Folding must not depend on where a word falls in the text: long runs
 * without ASCII are cut into segments, and a cut must never separate a
 * character from a mark that composes with it. */
static void test_fold_position_independent(void **state) {
  (void)state;
  static char in[4096], out[FOLD_TEXT_CAP(4096)];
  static char want[FOLD_TEXT_CAP(4096)];
  const char *kana = "あ";     /* 3 bytes, no ASCII anywhere */
  const char *e = "e\xcc\x81"; /* e + U+0301 */

  /* Pieces that compose once folded, the last two only because what
   * separates them (an accent, a soft hyphen) is dropped first. */
  static const struct { const char *in, *out; } tail[] = {
      {"ｶﾞ", "ガ"},
      {"\xe1\x84\x80\xcc\x81\xe1\x85\xa1", "가"}, /* L, U+0301, V */
      {"\xe0\xad\x87\xc2\xad\xe0\xac\xbe", "\xe0\xad\x8b"}, /* Oriya o */
  };
  for (size_t t = 0; t < sizeof tail / sizeof *tail; t++) {
    for (size_t k = 150; k < 190; k++) {
      size_t n = 0, tl = strlen(tail[t].in), ol = strlen(tail[t].out);
      for (size_t i = 0; i < k; i++, n += 3) memcpy(in + n, kana, 3);
      memcpy(in + n, tail[t].in, tl);
      n += tl;
      size_t len;
      assert_int_equal(fold_text(in, n, out, sizeof out, &len), 0);
      assert_int_equal(len, 3 * k + ol);
      assert_memory_equal(out + 3 * k, tail[t].out, ol);
    }
  }
  /* Cyrillic with no spaces and a decomposed é at every offset */
  for (size_t k = 240; k < 270; k++) {
    size_t n = 0, w = 0;
    for (size_t i = 0; i <= k; i++, n += 2, w += 2) {
      memcpy(in + n, "Ж", 2);
      memcpy(want + w, "ж", 2);
    }
    memcpy(in + n, e, 3);
    n += 3;
    want[w++] = 'e';
    size_t len;
    assert_int_equal(fold_text(in, n, out, sizeof out, &len), 0);
    assert_int_equal(len, w);
    assert_memory_equal(out, want, w);
  }
}

static void test_fold_empty_and_small_buffer(void **state) {
  (void)state;
  char out[16];
  size_t len = 99;
  assert_int_equal(fold_text("", 0, out, sizeof out, &len), 0);
  assert_int_equal(len, 0);
  assert_int_equal(out[0], '\0');
  assert_int_equal(fold_text(NULL, 0, out, sizeof out, &len), 0);

  /* "strasse" needs 7 bytes and the NUL */
  assert_int_equal(fold_text("Straße", strlen("Straße"), out, 7, &len),
                   STOA_ETOOBIG);
  assert_int_equal(fold_text("Straße", strlen("Straße"), out, 8, &len), 0);
  assert_string_equal(out, "strasse");
  assert_int_equal(fold_text("abc", 3, out, 3, &len), STOA_ETOOBIG);
  assert_int_equal(fold_text("abc", 3, out, 0, &len), STOA_ETOOBIG);
  assert_int_equal(fold_text("abc", 3, out, 4, &len), 0);

  /* the worst expansion fits FOLD_TEXT_CAP exactly */
  const char *fdfa = "\xef\xb7\xba"; /* U+FDFA, 3 bytes -> 33 */
  char big[FOLD_TEXT_CAP(3)];
  assert_int_equal(fold_text(fdfa, 3, big, sizeof big, &len), 0);
  assert_int_equal(len, 33);
  assert_int_equal(fold_text(fdfa, 3, big, sizeof big - 1, &len),
                   STOA_ETOOBIG);
  assert_int_equal(fold_text("a", 1, NULL, 4, &len), STOA_EINVAL);
}

static const char *bad_utf8[] = {
    "\xff", "abc\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
    "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "ok \x80 ok", "\xe2\x82",
};

static void test_fold_invalid_utf8(void **state) {
  (void)state;
  char out[64];
  size_t len;
  fold_query_t q;
  for (size_t i = 0; i < sizeof bad_utf8 / sizeof *bad_utf8; i++) {
    /* valid words first: the callback must not have been called */
    char in[64];
    snprintf(in, sizeof in, "word Société %s", bad_utf8[i]);
    size_t n = strlen(in);
    assert_int_equal(fold_text(in, n, out, sizeof out, &len), STOA_EUTF8);
    toks_t t;
    memset(&t, 0, sizeof t);
    assert_int_equal(fold_tokens(in, n, toks_cb, &t), STOA_EUTF8);
    assert_int_equal(t.calls, 0);
    assert_int_equal(fold_query(in, n, &q), STOA_EUTF8);
    assert_int_equal(q.nterms, 0);
  }
  /* NUL is a valid code point when a length is given; it separates */
  assert_int_equal(fold_text("a\0B", 3, out, sizeof out, &len), 0);
  assert_int_equal(len, 3);
  assert_memory_equal(out, "a\0b", 3);
}

static void test_tokens_basic(void **state) {
  (void)state;
  assert_string_equal(toks("l'Europe"), "l|europe");
  assert_string_equal(toks("l’Europe des droits"), "l|europe|des|droits");
  assert_string_equal(toks("  Straße, Société!  "), "strasse|societe");
  assert_string_equal(toks("co-operation 2024/25"), "co|operation|2024|25");
  assert_string_equal(toks(""), "");
  assert_string_equal(toks("!?…—,.;:«»() \t\n\"'*"), "");
  assert_string_equal(toks("ﬁ Ｆｒａｎｃｅ"), "fi|france");
  toks_t t;
  memset(&t, 0, sizeof t);
  assert_int_equal(fold_tokens(NULL, 0, toks_cb, &t), 0);
  assert_int_equal(t.calls, 0);
  assert_int_equal(fold_tokens("a", 1, NULL, NULL), STOA_EINVAL);
}

static void test_tokens_mixed_scripts(void **state) {
  (void)state;
  assert_string_equal(
      toks("Réseau «Migrants» — Москва, Αθήνα; مُهَاجِر हिन्दी 한국어"),
      "reseau|migrants|москва|αθηνα|مهاجر|हिन्दी|한국어");
  /* CJK: one token per character, digits and Latin apart */
  assert_string_equal(toks("東京2020オリンピックとNGO"),
                      "東|京|2020|オ|リ|ン|ピ|ッ|ク|と|ngo");
  assert_string_equal(toks("移民労働者の権利"), "移|民|労|働|者|の|権|利");
  assert_string_equal(toks("ｶﾞｯｺｳ"), "ガ|ッ|コ|ウ");
  /* what the index holds is what a query folds to */
  char a[64];
  snprintf(a, sizeof a, "%.63s", toks("SOCIETE"));
  assert_string_equal(a, toks("société"));
}

static void test_tokens_long_cut(void **state) {
  (void)state;
  char in[512];
  toks_t t;

  /* ASCII: cut at 64 bytes, the rest of the word dropped */
  memset(in, 'A', 100);
  strcpy(in + 100, " next");
  memset(&t, 0, sizeof t);
  assert_int_equal(fold_tokens(in, strlen(in), toks_cb, &t), 0);
  assert_int_equal(t.calls, 2);
  assert_int_equal(strlen(t.buf), 64 + 1 + 4);
  for (size_t i = 0; i < 64; i++) assert_int_equal(t.buf[i], 'a');
  assert_string_equal(t.buf + 64, "|next");

  /* 3-byte characters: 21 fit in 63 bytes, the 22nd would not */
  size_t n = 0;
  for (int i = 0; i < 30; i++, n += 3) memcpy(in + n, "가", 3);
  memcpy(in + n, " b", 3);
  memset(&t, 0, sizeof t);
  assert_int_equal(fold_tokens(in, strlen(in), toks_cb, &t), 0);
  assert_int_equal(t.calls, 2);
  assert_int_equal(t.len, 63 + 2);
  assert_memory_equal(t.buf, in, 63);
  assert_string_equal(t.buf + 63, "|b");

  /* 2-byte characters after one ASCII letter: 32 fit (1 + 31 * 2 = 63) */
  n = 0;
  in[n++] = 'x';
  for (int i = 0; i < 40; i++, n += 2) memcpy(in + n, "Ж", 2);
  in[n] = '\0';
  memset(&t, 0, sizeof t);
  assert_int_equal(fold_tokens(in, n, toks_cb, &t), 0);
  assert_int_equal(t.calls, 1);
  assert_int_equal(t.len, 63);
}

static void test_tokens_callback_stop(void **state) {
  (void)state;
  toks_t t;
  const char *s = "un deux trois quatre";
  memset(&t, 0, sizeof t);
  t.stop_at = 2;
  assert_int_equal(fold_tokens(s, strlen(s), toks_cb, &t), 7);
  assert_int_equal(t.calls, 2);
  assert_string_equal(t.buf, "un|deux");
  /* the last token, emitted at the end of input, can stop too */
  memset(&t, 0, sizeof t);
  t.stop_at = 4;
  assert_int_equal(fold_tokens(s, strlen(s), toks_cb, &t), 7);
  assert_int_equal(t.calls, 4);
  /* and a stop in the middle of non-ASCII text */
  s = "société générale ελληνικά";
  memset(&t, 0, sizeof t);
  t.stop_at = 1;
  assert_int_equal(fold_tokens(s, strlen(s), toks_cb, &t), 7);
  assert_int_equal(t.calls, 1);
  assert_string_equal(t.buf, "societe");
}

static void test_query(void **state) {
  (void)state;
  fold_query_t q;
  const char *s;

  s = "Droits des travailleurs migr";
  assert_int_equal(fold_query(s, strlen(s), &q), 0);
  assert_int_equal(q.nterms, 4);
  assert_false(q.dropped);
  assert_string_equal(q.term[0].text, "droits");
  assert_int_equal(q.term[0].len, 6);
  assert_false(q.term[0].prefix);
  assert_false(q.term[2].prefix);
  assert_string_equal(q.term[3].text, "migr");
  assert_true(q.term[3].prefix);

  s = "Société Straße ";
  assert_int_equal(fold_query(s, strlen(s), &q), 0);
  assert_int_equal(q.nterms, 2);
  assert_string_equal(q.term[0].text, "societe");
  assert_string_equal(q.term[1].text, "strasse");
  assert_false(q.term[1].prefix);

  s = "soc* labour rights.";
  assert_int_equal(fold_query(s, strlen(s), &q), 0);
  assert_int_equal(q.nterms, 3);
  assert_true(q.term[0].prefix);
  assert_false(q.term[1].prefix);
  assert_false(q.term[2].prefix);

  s = "Ｍｉｇ＊ gen* * ";  /* full-width star folds to '*' */
  assert_int_equal(fold_query(s, strlen(s), &q), 0);
  assert_int_equal(q.nterms, 2);
  assert_string_equal(q.term[0].text, "mig");
  assert_true(q.term[0].prefix);
  assert_true(q.term[1].prefix);

  s = "";
  assert_int_equal(fold_query(s, 0, &q), 0);
  assert_int_equal(q.nterms, 0);
  s = " * -- ";
  assert_int_equal(fold_query(s, strlen(s), &q), 0);
  assert_int_equal(q.nterms, 0);

  /* at most FOLD_QUERY_MAX terms; the 16th is not the last one typed */
  s = "a1 b2 c3 d4 e5 f6 g7 h8 i9 j10 k11 l12 m13 n14 o15 p16 q17 r18";
  assert_int_equal(fold_query(s, strlen(s), &q), 0);
  assert_int_equal(q.nterms, FOLD_QUERY_MAX);
  assert_true(q.dropped);
  assert_string_equal(q.term[15].text, "p16");
  assert_false(q.term[15].prefix);
  s = "a1 b2 c3 d4 e5 f6 g7 h8 i9 j10 k11 l12 m13 n14 o15 p16";
  assert_int_equal(fold_query(s, strlen(s), &q), 0);
  assert_int_equal(q.nterms, FOLD_QUERY_MAX);
  assert_false(q.dropped);
  assert_true(q.term[15].prefix);

  /* terms agree with indexed tokens, CJK included */
  s = "東京 NGO";
  assert_int_equal(fold_query(s, strlen(s), &q), 0);
  assert_int_equal(q.nterms, 3);
  assert_string_equal(q.term[0].text, "東");
  assert_string_equal(q.term[1].text, "京");
  assert_string_equal(q.term[2].text, "ngo");

  assert_int_equal(fold_query("x", 1, NULL), STOA_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fold_examples),
      cmocka_unit_test(test_fold_decomposed_input),
      cmocka_unit_test(test_fold_position_independent),
      cmocka_unit_test(test_fold_empty_and_small_buffer),
      cmocka_unit_test(test_fold_invalid_utf8),
      cmocka_unit_test(test_tokens_basic),
      cmocka_unit_test(test_tokens_mixed_scripts),
      cmocka_unit_test(test_tokens_long_cut),
      cmocka_unit_test(test_tokens_callback_stop),
      cmocka_unit_test(test_query),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
