/*
 * fold.h - text normalisation and tokenising for full-text search.
 *
 * Text is folded for matching, never for display: Unicode NFKC with case
 * folding (so "Straße" -> "strasse", "ﬁ" -> "fi", "Ｆｒａｎｃｅ" -> "france"),
 * default-ignorable code points dropped (soft hyphen, ZWJ/ZWNJ, variation
 * selectors), and accents stripped where they are accents: combining marks
 * of the Latin, Greek, Cyrillic, Armenian, Hebrew, Arabic and Syriac blocks
 * and the generic combining blocks ("Société" -> "societe", "أ" -> "ا").
 * Marks that are letters of their script (Indic vowel signs and viramas,
 * Thai, kana voicing marks, Thaana) are kept.  A few Latin letters that have
 * no decomposition but that users type without their stroke are spelled out
 * as well: æ->ae, œ->oe, ø->o, ł->l, đ/ð->d, ħ->h, ŧ->t, þ->th, ı->i; the
 * Arabic tatweel is dropped.
 *
 * A token is a maximal run of letters, digits and the marks that remain
 * (Unicode L*, N*, M*); everything else separates, apostrophes and hyphens
 * included ("l'Europe" -> "l", "europe").  Han, Hiragana and Katakana
 * characters are one-character tokens each, since those scripts put no
 * spaces between words; a phrase is then found as the AND of its characters.
 *
 * The same folding runs on indexed text and on queries, so only agreement
 * matters; it is deterministic and independent of where a word sits in the
 * text.
 *
 * Nothing here allocates: work buffers live on the stack (about 12 KiB).
 * utf8proc 2.x does the Unicode work.
 */
#ifndef STOA_FOLD_H
#define STOA_FOLD_H

#include <stdbool.h>
#include <stddef.h>

/* Longest token, in bytes of folded UTF-8; longer words are cut (the rest
 * of the word is dropped) at a code point boundary. */
#define FOLD_TOKEN_MAX 64
/* Most terms fold_query() keeps. */
#define FOLD_QUERY_MAX 16
/* An output capacity that always suffices for fold_text() on n input bytes:
 * U+FDFA folds 3 bytes into 33, and one byte is for the NUL. */
#define FOLD_TEXT_CAP(n) ((n) * 11 + 1)

typedef struct fold_term {
  char text[FOLD_TOKEN_MAX + 1]; /* folded, NUL-terminated */
  size_t len;                    /* bytes in text, without the NUL */
  bool prefix;                   /* match as a prefix, not a whole token */
} fold_term_t;

typedef struct fold_query {
  size_t nterms;
  bool dropped; /* the query had more than FOLD_QUERY_MAX terms */
  fold_term_t term[FOLD_QUERY_MAX];
} fold_query_t;

/* Fold the n bytes of UTF-8 at s into out (cap bytes, NUL-terminated) and
 * set *outlen to the folded length without the NUL; returns 0, STOA_EUTF8
 * on invalid UTF-8, STOA_ETOOBIG when out is too small (FOLD_TEXT_CAP(n)
 * never is), STOA_EINVAL on NULL arguments; out is unspecified on error. */
int fold_text(const char *s, size_t n, char *out, size_t cap, size_t *outlen);

/* Fold the n bytes at s and call cb once per token in order, with tok
 * NUL-terminated and valid only during the call; returns 0, the first
 * non-zero value cb returns (which stops the walk), STOA_EUTF8 on invalid
 * UTF-8 (checked before cb is ever called) or STOA_EINVAL. */
int fold_tokens(const char *s, size_t n,
                int (*cb)(void *ctx, const char *tok, size_t len), void *ctx);

/* Split a search query into at most FOLD_QUERY_MAX folded terms in *q; a
 * term is a prefix when '*' follows it or when it ends the query with
 * nothing after it (the user is still typing); returns 0, STOA_EUTF8 or
 * STOA_EINVAL, and leaves q empty on error. */
int fold_query(const char *s, size_t n, fold_query_t *q);

#endif
