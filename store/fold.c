/*
 * fold.c - text normalisation and tokenising for full-text search.
 *
 * The pipeline, per piece of text: utf8proc decomposes with compatibility
 * mappings, case folding and default-ignorables dropped (NFKD_Casefold, in
 * canonical order); we drop the combining marks that are accents
 * (fold__accent); utf8proc recomposes (so Hangul, kana voicing and Indic
 * marks come back as NFKC); fold__emit spells out the stroked letters.
 *
 * No malloc: text is cut into segments of at most FOLD__SEG_MAX bytes at
 * places where normalisation cannot reach across (fold__seg_end), and each
 * segment is folded in a stack buffer of code points.  One input byte
 * becomes at most 6 code points (U+FDFA, 3 bytes, is 18), so the buffer
 * always fits.  ASCII runs skip utf8proc entirely: folding ASCII is
 * lowercasing A-Z.  Cost: one validation pass, then ASCII at memory speed
 * and the rest at utf8proc's pace (one property lookup per code point for
 * each of decompose, strip, compose and, when tokenising, classify).
 */
#include "store/fold.h"

#include <stdint.h>
#include <string.h>
#include <utf8proc.h>

#include "proto/err.h"

#define FOLD__SEG_MAX 512
#define FOLD__CP_MAX (FOLD__SEG_MAX * 6)
#define FOLD__OPTS                                                           \
  (UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE)
#define FOLD__STOP 1 /* internal: fold_query has all the terms it keeps */

/* Where folded text goes: a run of ASCII still to be lowercased, or one
 * folded code point.  Each returns 0 or a value that stops the walk. */
typedef struct fold__sink {
  int (*ascii)(struct fold__sink *k, const unsigned char *s, size_t n);
  int (*cp)(struct fold__sink *k, int32_t c);
} fold__sink;

static inline unsigned char fold__lower(unsigned char c) {
  return (unsigned char)(c + (((unsigned)c - 'A' < 26u) << 5));
}

static inline bool fold__alnum(unsigned char c) {
  return (unsigned)(c | 0x20) - 'a' < 26u || (unsigned)c - '0' < 10u;
}

/* RFC 3629 UTF-8 (no overlongs, surrogates or code points past U+10FFFF),
 * the rules utf8proc_iterate applies too; says whether s is all ASCII.
 * Checking everything first lets fold_tokens keep its promise that a
 * failing call never calls back. */
static int fold__utf8_check(const unsigned char *s, size_t n, bool *ascii) {
  bool all = true;
  size_t i = 0;

  while (i < n) {
    if (n - i >= 8) {
      uint64_t w;
      memcpy(&w, s + i, 8);
      if (!(w & 0x8080808080808080ull)) {
        i += 8;
        continue;
      }
    }
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    all = false;
    size_t len;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;      /* overlong */
      else if (c == 0xed) hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;      /* overlong */
      else if (c == 0xf4) hi = 0x8f; /* past U+10FFFF */
    } else {
      return STOA_EUTF8;
    }
    if (n - i < len || s[i + 1] < lo || s[i + 1] > hi) return STOA_EUTF8;
    for (size_t k = 2; k < len; k++)
      if ((s[i + k] & 0xc0) != 0x80) return STOA_EUTF8;
    i += len;
  }
  *ascii = all;
  return 0;
}

/* ASCII that starts no canonical composition: all but letters and "<=>"
 * (which compose with U+0338 into U+226E, U+2260, U+226F).  A cut right
 * after such a byte cannot change how the text normalises. */
static inline bool fold__inert(unsigned char c) {
  return c < 0x80 && (unsigned)(c | 0x20) - 'a' >= 26u && c != '<' &&
         c != '=' && c != '>';
}

/* Whether a segment may start at code point c: c folds to something that
 * begins with a starter which is not the second element of any canonical
 * composition.  Those are all marks or Hangul vowel and trailing jamo (no
 * non-mark has a non-zero combining class), so nothing before c can
 * compose with it or reorder past it, even once the marks and ignorables
 * in between are dropped. */
static bool fold__starts(int32_t c) {
  utf8proc_int32_t d[32];
  int lb = 0;
  utf8proc_ssize_t m = utf8proc_decompose_char(c, d, 32, FOLD__OPTS, &lb);
  if (m < 1 || m > 32) return false; /* folds to nothing, or cannot happen */
  utf8proc_category_t cat = utf8proc_category(d[0]);
  return !(cat >= UTF8PROC_CATEGORY_MN && cat <= UTF8PROC_CATEGORY_ME) &&
         !(d[0] >= 0x1160 && d[0] <= 0x11ff);
}

/* Fallback cut for a segment with no safe ASCII cut in FOLD__SEG_MAX bytes
 * (CJK prose, long runs of other scripts): the last code point at or before
 * lim where fold__starts holds, found walking back, usually at once.  With
 * none (hundreds of stacked marks: abuse), the last code point boundary;
 * such text may then fold differently at different offsets. */
static size_t fold__seg_cut(const unsigned char *s, size_t n, size_t start,
                            size_t lim) {
  size_t p = lim, last = 0;

  while (p > start) {
    while (p > start && (s[p] & 0xc0) == 0x80) p--;
    if (p == start) break;
    int32_t c;
    if (utf8proc_iterate(s + p, (utf8proc_ssize_t)(n - p), &c) <= 0)
      break; /* validated already; cannot happen */
    if (fold__starts(c)) return p;
    if (!last) last = p;
    p--;
  }
  return last ? last : lim;
}

/* End of the slow segment that begins at start: the first place where the
 * byte before is ASCII and either the byte after is ASCII too or the byte
 * before is inert.  An ASCII starter blocks composition and reordering on
 * both sides, and maps to itself, so both halves fold on their own. */
static size_t fold__seg_end(const unsigned char *s, size_t n, size_t start) {
  size_t lim = n - start > FOLD__SEG_MAX ? start + FOLD__SEG_MAX : n;

  for (size_t e = start + 1; e <= lim; e++) {
    if (e == n) return n;
    if (s[e - 1] < 0x80 && (s[e] < 0x80 || fold__inert(s[e - 1]))) return e;
  }
  return fold__seg_cut(s, n, start, lim);
}

/* The marks we treat as accents: every mark below U+0900 (Latin, Greek,
 * Cyrillic, Armenian, Hebrew points, Arabic harakat and hamza, Syriac)
 * except Thaana's vowels, which are letters there, and the script-neutral
 * combining blocks.  Marks of Indic, Southeast Asian and kana scripts are
 * kept: stripping a virama or a vowel sign changes the word. */
static bool fold__accent(int32_t c) {
  return (c < 0x900 && !(c >= 0x780 && c < 0x7c0)) ||
         (c >= 0x1ab0 && c <= 0x1aff) || (c >= 0x1dc0 && c <= 0x1dff) ||
         (c >= 0x20d0 && c <= 0x20ff) || (c >= 0xfe20 && c <= 0xfe2f);
}

/* Spell out letters that have no decomposition but that people type
 * without their stroke or as two letters.  None of them composes with a
 * mark that survives fold__accent, so doing this after composition is
 * exact. */
static int fold__emit(fold__sink *k, int32_t c) {
  int32_t a, b = 0;

  if (c < 0xe6 || (c > 0x167 && c != 0x640)) return k->cp(k, c);
  switch (c) {
  case 0xe6: a = 'a', b = 'e'; break;  /* æ */
  case 0xf0: a = 'd'; break;           /* ð */
  case 0xf8: a = 'o'; break;           /* ø */
  case 0xfe: a = 't', b = 'h'; break;  /* þ */
  case 0x111: a = 'd'; break;          /* đ */
  case 0x127: a = 'h'; break;          /* ħ */
  case 0x131: a = 'i'; break;          /* ı */
  case 0x142: a = 'l'; break;          /* ł */
  case 0x153: a = 'o', b = 'e'; break; /* œ */
  case 0x167: a = 't'; break;          /* ŧ */
  case 0x640: return 0;                /* Arabic tatweel: justification */
  default: return k->cp(k, c);
  }
  int r = k->cp(k, a);
  if (r == 0 && b) r = k->cp(k, b);
  return r;
}

/* Fold one segment (which normalises on its own) through utf8proc. */
static int fold__slow(const unsigned char *s, size_t n, fold__sink *k,
                      int32_t *cp) {
  utf8proc_ssize_t m = utf8proc_decompose_custom(
      s, (utf8proc_ssize_t)n, cp, FOLD__CP_MAX, FOLD__OPTS, NULL, NULL);
  if (m < 0) return STOA_EUTF8;
  if (m > FOLD__CP_MAX) return STOA_ETOOBIG; /* cannot happen, see above */

  /* Drop accents; composing is needed only when a mark or a Hangul jamo
   * is left (every second element of a composition is one), and skipping
   * it saves a property lookup and more per code point. */
  utf8proc_ssize_t w = 0;
  bool compose = false;
  for (utf8proc_ssize_t i = 0; i < m; i++) {
    int32_t c = cp[i];
    if (c >= 0x300) {
      utf8proc_category_t cat = utf8proc_category(c);
      if (cat >= UTF8PROC_CATEGORY_MN && cat <= UTF8PROC_CATEGORY_ME) {
        if (fold__accent(c)) continue;
        compose = true;
      } else if (c >= 0x1100 && c <= 0x11ff) {
        compose = true;
      }
    }
    cp[w++] = c;
  }
  m = compose ? utf8proc_normalize_utf32(cp, w, UTF8PROC_COMPOSE) : w;
  if (m < 0) return STOA_EINVAL;

  for (utf8proc_ssize_t i = 0; i < m; i++) {
    int r = fold__emit(k, cp[i]);
    if (r != 0) return r;
  }
  return 0;
}

/* Feed the folded form of s (valid UTF-8) to k: ASCII runs as they are,
 * the rest segment by segment.  An ASCII letter or "<=>" right before
 * non-ASCII goes with the segment, since a mark may follow it.  (Today
 * every mark that composes with ASCII is an accent and dropped anyway;
 * the byte this costs keeps the cut exact if the accent list changes.) */
static int fold__run(const unsigned char *s, size_t n, bool ascii,
                     fold__sink *k) {
  int32_t cp[FOLD__CP_MAX];
  size_t i = 0;
  int r;

  if (ascii) return n ? k->ascii(k, s, n) : 0;
  while (i < n) {
    size_t j = i;
    while (j < n && s[j] < 0x80) j++;
    size_t start = j;
    if (j < n && j > i && !fold__inert(s[j - 1])) start = j - 1;
    if (start > i && (r = k->ascii(k, s + i, start - i)) != 0) return r;
    if (start == n) break;
    size_t e = fold__seg_end(s, n, start);
    if ((r = fold__slow(s + start, e - start, k, cp)) != 0) return r;
    i = e;
  }
  return 0;
}

/* ---- fold_text ---- */

typedef struct fold__out {
  fold__sink k; /* first: the sink pointer is the struct's */
  char *p;
  size_t len, cap; /* len < cap always: room for the NUL */
} fold__out;

static int fold__out_ascii(fold__sink *k, const unsigned char *s, size_t n) {
  fold__out *o = (fold__out *)k;
  if (n >= o->cap - o->len) return STOA_ETOOBIG;
  for (size_t i = 0; i < n; i++) o->p[o->len + i] = (char)fold__lower(s[i]);
  o->len += n;
  return 0;
}

static int fold__out_cp(fold__sink *k, int32_t c) {
  fold__out *o = (fold__out *)k;
  utf8proc_uint8_t b[4];
  size_t l = (size_t)utf8proc_encode_char(c, b);
  if (l >= o->cap - o->len) return STOA_ETOOBIG;
  memcpy(o->p + o->len, b, l);
  o->len += l;
  return 0;
}

int fold_text(const char *s, size_t n, char *out, size_t cap, size_t *outlen) {
  fold__out o = {{fold__out_ascii, fold__out_cp}, out, 0, cap};
  bool ascii;
  int r;

  if ((s == NULL && n > 0) || out == NULL || outlen == NULL) return STOA_EINVAL;
  if (cap == 0) return STOA_ETOOBIG;
  if ((r = fold__utf8_check((const unsigned char *)s, n, &ascii)) != 0)
    return r;
  if ((r = fold__run((const unsigned char *)s, n, ascii, &o.k)) != 0) return r;
  out[o.len] = '\0';
  *outlen = o.len;
  return 0;
}

/* ---- fold_tokens ---- */

typedef struct fold__tok {
  fold__sink k; /* first: the sink pointer is the struct's */
  int (*cb)(void *ctx, const char *tok, size_t len);
  void *ctx;
  size_t len;
  bool cut;      /* word longer than FOLD_TOKEN_MAX: drop the rest */
  bool cjk;      /* buf holds one CJK character (and any marks after it) */
  int32_t endcp; /* what ended the token being handed out; -1: the end */
  char buf[FOLD_TOKEN_MAX + 1];
} fold__tok;

static int fold__tok_flush(fold__tok *t, int32_t endcp) {
  size_t len = t->len;
  t->buf[len] = '\0';
  t->len = 0;
  t->cut = t->cjk = false;
  t->endcp = endcp;
  return t->cb(t->ctx, t->buf, len);
}

static inline void fold__tok_put(fold__tok *t, const void *b, size_t l) {
  if (t->cut || l > FOLD_TOKEN_MAX - t->len) {
    t->cut = true; /* once cut, nothing more of this word, even if short */
    return;
  }
  memcpy(t->buf + t->len, b, l);
  t->len += l;
}

static inline int fold__tok_byte(fold__tok *t, unsigned char c) {
  int r;
  if (fold__alnum(c)) {
    if (t->cjk && (r = fold__tok_flush(t, c)) != 0) return r;
    if (!t->cut && t->len < FOLD_TOKEN_MAX)
      t->buf[t->len++] = (char)fold__lower(c);
    else
      t->cut = true;
    return 0;
  }
  return t->len ? fold__tok_flush(t, c) : 0;
}

static int fold__tok_ascii(fold__sink *k, const unsigned char *s, size_t n) {
  fold__tok *t = (fold__tok *)k;
  for (size_t i = 0; i < n; i++) {
    int r = fold__tok_byte(t, s[i]);
    if (r != 0) return r;
  }
  return 0;
}

/* Scripts written without spaces, whose characters become tokens of their
 * own: CJK ideographs (with 々〆〇), Hiragana, Katakana.  Half-width and
 * compatibility forms are folded into these ranges before we get here. */
static bool fold__cjk(int32_t c) {
  return (c >= 0x3005 && c <= 0x3007) || (c >= 0x3040 && c <= 0x30ff) ||
         (c >= 0x31f0 && c <= 0x31ff) || (c >= 0x3400 && c <= 0x4dbf) ||
         (c >= 0x4e00 && c <= 0x9fff) || (c >= 0xf900 && c <= 0xfaff) ||
         (c >= 0x20000 && c <= 0x3134f);
}

static int fold__tok_cp(fold__sink *k, int32_t c) {
  fold__tok *t = (fold__tok *)k;
  utf8proc_uint8_t b[4];
  int r;

  if (c < 0x80) return fold__tok_byte(t, (unsigned char)c);
  utf8proc_category_t cat = utf8proc_category(c);
  if (cat < UTF8PROC_CATEGORY_LU || cat > UTF8PROC_CATEGORY_NO)
    return t->len ? fold__tok_flush(t, c) : 0;
  bool mark = cat >= UTF8PROC_CATEGORY_MN && cat <= UTF8PROC_CATEGORY_ME;
  if (t->cjk && !mark && (r = fold__tok_flush(t, c)) != 0) return r;
  if (!mark && fold__cjk(c)) {
    if (t->len && (r = fold__tok_flush(t, c)) != 0) return r;
    t->cjk = true;
  }
  fold__tok_put(t, b, (size_t)utf8proc_encode_char(c, b));
  return 0;
}

static int fold__tokenise(const char *s, size_t n, fold__tok *t) {
  bool ascii;
  int r;

  if ((r = fold__utf8_check((const unsigned char *)s, n, &ascii)) != 0)
    return r;
  if ((r = fold__run((const unsigned char *)s, n, ascii, &t->k)) != 0)
    return r;
  return t->len ? fold__tok_flush(t, -1) : 0;
}

int fold_tokens(const char *s, size_t n,
                int (*cb)(void *ctx, const char *tok, size_t len), void *ctx) {
  fold__tok t = {.k = {fold__tok_ascii, fold__tok_cp}, .cb = cb, .ctx = ctx,
                 .endcp = -1};

  if ((s == NULL && n > 0) || cb == NULL) return STOA_EINVAL;
  return fold__tokenise(s, n, &t);
}

/* ---- fold_query ---- */

typedef struct fold__qctx {
  fold_query_t *q;
  const fold__tok *t;
} fold__qctx;

static int fold__query_add(void *ctx, const char *tok, size_t len) {
  fold__qctx *x = ctx;
  fold_query_t *q = x->q;

  if (q->nterms == FOLD_QUERY_MAX) {
    q->dropped = true;
    return FOLD__STOP;
  }
  fold_term_t *term = &q->term[q->nterms++];
  memcpy(term->text, tok, len + 1);
  term->len = len;
  term->prefix = x->t->endcp == '*' || x->t->endcp < 0;
  return 0;
}

int fold_query(const char *s, size_t n, fold_query_t *q) {
  fold__qctx x = {q, NULL};
  fold__tok t = {.k = {fold__tok_ascii, fold__tok_cp},
                 .cb = fold__query_add, .ctx = &x, .endcp = -1};
  int r;

  if (q == NULL) return STOA_EINVAL;
  q->nterms = 0;
  q->dropped = false;
  if (s == NULL && n > 0) return STOA_EINVAL;
  x.t = &t;
  r = fold__tokenise(s, n, &t);
  if (r == FOLD__STOP) r = 0;
  if (r != 0) {
    q->nterms = 0;
    q->dropped = false;
  }
  return r;
}
