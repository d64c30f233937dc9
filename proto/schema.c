/*
 * schema.c - body schemas of every record kind, the vocabularies, and the
 * value checks (docs/schemas.md).
 *
 * Bodies come from peers, bundles and users, so everything here is hostile
 * input: the bytes are first checked whole by mp_check (one value, UTF-8,
 * no ext, bounded nesting), then walked once with the strict reader.  No
 * allocation: the checker keeps at most SCHEMA_MAX_FIELDS keys and
 * SCHEMA__LIST_MAX list items on the stack, which bounds the quadratic
 * duplicate checks to a few thousand comparisons.
 */
#include "proto/schema.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto/err.h"
#include "proto/mp.h"

/* Largest `max` of any list field; the tables are checked against it. */
#define SCHEMA__LIST_MAX 64

/* ---- vocabularies (DESIGN.md) ---------------------------------------- */

const char *const schema_themes[] = {
  "recruitment", "labour-rights", "domestic-workers", "remittances",
  "diaspora", "health-workforce", "return-reintegration",
  "circular-migration", "integration", "anti-discrimination", "trafficking",
  "children", "gender", "climate", "research-data", "policy-coherence",
  "governance", NULL,
};
const char *const schema_org_types[] = {
  "ngo", "diaspora", "union", "faith", "business", "academic", "government",
  "intergovernmental", "network", "other", NULL,
};
const char *const schema_roles[] = {"member", "editor", "node", NULL};
const char *const schema_practice_status[] = {
  "planned", "ongoing", "completed", "discontinued", NULL,
};

/* ---- field tables ---------------------------------------------------- */

#define REQ SFF_REQUIRED
#define LIST SFF_LIST
#define TEXT SFF_TEXT
#define TITLE SFF_TITLE
#define OPEN SFF_OPEN
#define F(n, t, fl, mx, h) {.name = n, .type = t, .flags = fl, .max = mx, .help = h}
#define FE(n, fl, v, h) {.name = n, .type = SF_ENUM, .flags = fl, .vocab = v, .help = h}
#define FI(n, fl, lo, hi, h) \
  {.name = n, .type = SF_INT, .flags = fl, .min = lo, .maxv = hi, .help = h}

static const schema_field org_fields[] = {
  F("name", SF_STR, REQ | TEXT | TITLE, 200, "name of the organisation"),
  F("country", SF_COUNTRY, REQ, 0, "country of its seat, ISO 3166-1 alpha-2 (PH, DE)"),
  FE("type", REQ | OPEN, schema_org_types, "kind of organisation, one of:"),
  F("themes", SF_THEME, LIST | OPEN, 17, "themes it works on"),
  F("languages", SF_LANG, LIST, 20, "languages it works in, BCP 47 (en, fr-CA)"),
  F("website", SF_URL, 0, 500, "web site, http:// or https://"),
  F("email", SF_EMAIL, 0, 254, "public e-mail address"),
  F("phone", SF_PHONE, 0, 40, "public phone number"),
  F("city", SF_STR, TEXT, 100, "city or town"),
  F("description", SF_STR, TEXT, 8000, "what it does"),
  FI("founded", 0, 1800, 2100, "year founded"),
  F("member_of", SF_REF, LIST, 50, "organisations or networks it belongs to"),
};

static const schema_field actor_fields[] = {
  F("name", SF_STR, REQ | TEXT | TITLE, 200, "name of the person or role"),
  F("role", SF_STR, TEXT, 200, "role or position"),
  F("org", SF_REF, 0, 0, "organisation the actor belongs to"),
  F("country", SF_COUNTRY, 0, 0, "country, ISO 3166-1 alpha-2"),
  F("themes", SF_THEME, LIST | OPEN, 17, "themes the actor works on"),
  F("languages", SF_LANG, LIST, 20, "languages spoken, BCP 47"),
  F("contact", SF_STR, 0, 500, "contact details (only with consent)"),
  F("consent", SF_BOOL, 0, 0, "the person agreed to publish the contact details"),
};

static const schema_field practice_fields[] = {
  F("title", SF_STR, REQ | TEXT | TITLE, 300, "title of the practice"),
  F("summary", SF_STR, REQ | TEXT, 4000, "what was done"),
  F("themes", SF_THEME, REQ | LIST | OPEN, 17, "themes of the practice"),
  F("countries", SF_COUNTRY, LIST, 60, "countries where it took place"),
  F("orgs", SF_REF, LIST, 50, "organisations involved"),
  F("period", SF_PERIOD, 0, 0, "years: YYYY, YYYY-YYYY or YYYY- (ongoing)"),
  F("worked", SF_STR, TEXT, 8000, "what worked well"),
  F("failed", SF_STR, TEXT, 8000, "what did not work"),
  F("evidence", SF_URL, LIST, 20, "links to reports and evaluations"),
  FE("status", OPEN, schema_practice_status, "state of the practice, one of:"),
};

/* endorse and revoke share a body: who, in which role, and why. */
static const schema_field trust_fields[] = {
  F("subject", SF_KEY, REQ, 0, "key endorsed or revoked"),
  /* role stays closed (no OPEN): a role this version does not know must
   * not be taken as an endorsement of some kind by a node that cannot
   * apply it. */
  FE("role", REQ, schema_roles, "member, editor or node"),
  F("note", SF_STR, TEXT, 500, "why"),
};

static const schema_field erase_fields[] = {
  F("target", SF_REF, REQ, 0, "entry whose versions are erased"),
  F("until", SF_TS, REQ, 0, "versions up to this time (ms since the epoch)"),
  F("reason", SF_STR, 0, 500, "why"),
};

static const schema_field peer_fields[] = {
  F("node", SF_KEY, REQ, 0, "node key"),
  F("addrs", SF_ADDR, REQ | LIST, 8, "addresses, host:port"),
  F("hub", SF_BOOL, 0, 0, "relays for a region and keeps everything"),
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const schema_field *schema_fields(int kind, size_t *n) {
  const schema_field *f = NULL;
  size_t k = 0;
  switch (kind) {
  case REC_ORG: f = org_fields; k = NELEM(org_fields); break;
  case REC_ACTOR: f = actor_fields; k = NELEM(actor_fields); break;
  case REC_PRACTICE: f = practice_fields; k = NELEM(practice_fields); break;
  case REC_ENDORSE:
  case REC_REVOKE: f = trust_fields; k = NELEM(trust_fields); break;
  case REC_ERASE: f = erase_fields; k = NELEM(erase_fields); break;
  case REC_PEER: f = peer_fields; k = NELEM(peer_fields); break;
  default: break;
  }
  if (n) *n = k;
  return f;
}

const schema_field *schema_field_find(int kind, const char *name, size_t len) {
  size_t n;
  const schema_field *f = schema_fields(kind, &n);
  if (!name) return NULL;
  for (size_t i = 0; i < n; i++)
    if (len && f[i].name[0] == name[0] && strlen(f[i].name) == len &&
        memcmp(f[i].name, name, len) == 0)
      return &f[i];
  return NULL;
}

/* ---- characters ------------------------------------------------------ */

static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_alnum(int c) { return is_alpha(c) || is_digit(c); }
static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Locale-free ASCII comparison of [s, s+n) with the C string z. */
static bool ieq(const char *s, size_t n, const char *z) {
  size_t i = 0;
  for (; i < n && z[i]; i++)
    if (lower((unsigned char)s[i]) != lower((unsigned char)z[i])) return false;
  return i == n && z[i] == '\0';
}

/*
 * Next code point of s (at *i), advancing *i.  The strings reaching it have
 * passed mp_utf8_valid, but the public checks take any bytes, so a bad
 * sequence yields U+FFFD and one byte rather than reading past the end.
 */
static uint32_t u8_next(const uint8_t *s, size_t n, size_t *i) {
  uint8_t c = s[*i];
  size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;
  if (c < 0x80) { (*i)++; return c; }
  if (n - *i < len || !mp_utf8_valid(s + *i, len)) { (*i)++; return 0xfffd; }
  uint32_t cp = c & (0x3f >> (len - 1));
  for (size_t k = 1; k < len; k++) cp = cp << 6 | (s[*i + k] & 0x3f);
  *i += len;
  return cp;
}

/* C0, DEL and C1: the C1 range matters too, U+009B is CSI to some terminals. */
static bool is_control(uint32_t cp) { return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f); }

/* White space (Unicode Zs, line and paragraph separators) and the
 * zero-width characters that make a string look empty. */
static bool is_blank(uint32_t cp) {
  return cp == ' ' || (cp >= 0x09 && cp <= 0x0d) || cp == 0x85 || cp == 0xa0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200b) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x2060 ||
         cp == 0x3000 || cp == 0xfeff;
}

/* ---- value checks ---------------------------------------------------- */

bool schema_enum_valid(const char *const *vocab, const char *s, size_t n) {
  if (!vocab || !s) return false;
  for (; *vocab; vocab++)
    if (strlen(*vocab) == n && memcmp(*vocab, s, n) == 0) return true;
  return false;
}

bool schema_theme_valid(const char *s, size_t n) {
  return schema_enum_valid(schema_themes, s, n);
}

/* The vocabularies' own shape (every value in them has it): lower case so
 * that one value has one spelling, ASCII so that no look-alike character
 * makes two, a letter first so that it is no number. */
bool schema_slug_valid(const char *s, size_t n) {
  if (!s || n == 0 || n > SCHEMA_SLUG_MAX || s[0] < 'a' || s[0] > 'z') return false;
  for (size_t i = 1; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || is_digit(s[i]) || s[i] == '-')) return false;
  return true;
}

/*
 * The 249 officially assigned ISO 3166-1 alpha-2 codes (as in Debian's
 * iso-codes 4.x), sorted, plus XK: Kosovo's code is user-assigned, not
 * official, but the EU, UN agencies and IOM use it, and so do networks
 * working there.
 */
static const char countries[] =
  "ADAEAFAGAIALAMAOAQARASATAUAWAXAZ"
  "BABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZ"
  "CACCCDCFCGCHCICKCLCMCNCOCRCUCVCWCXCYCZ"
  "DEDJDKDMDODZ"
  "ECEEEGEHERESET"
  "FIFJFKFMFOFR"
  "GAGBGDGEGFGGGHGIGLGMGNGPGQGRGSGTGUGWGY"
  "HKHMHNHRHTHU"
  "IDIEILIMINIOIQIRISIT"
  "JEJMJOJP"
  "KEKGKHKIKMKNKPKRKWKYKZ"
  "LALBLCLILKLRLSLTLULVLY"
  "MAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZ"
  "NANCNENFNGNINLNONPNRNUNZ"
  "OM"
  "PAPEPFPGPHPKPLPMPNPRPSPTPWPY"
  "QA"
  "RERORSRURW"
  "SASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZ"
  "TCTDTFTGTHTJTKTLTMTNTOTRTTTVTWTZ"
  "UAUGUMUSUYUZ"
  "VAVCVEVGVIVNVU"
  "WFWS"
  "XK"
  "YEYT"
  "ZAZMZW";

bool schema_country_valid(const char *s, size_t n) {
  if (!s || n != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z') return false;
  size_t lo = 0, hi = (sizeof(countries) - 1) / 2;
  while (lo < hi) { /* binary search over 250 pairs: 8 steps */
    size_t mid = lo + (hi - lo) / 2;
    int c = memcmp(countries + 2 * mid, s, 2);
    if (c == 0) return true;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return false;
}

/* RFC 5646 2.2.8: tags that do not follow the syntax but are valid.  The
 * regular grandfathered tags (art-lojban, zh-min-nan, ...) already do. */
static const char *const lang_irregular[] = {
  "en-GB-oed", "i-ami", "i-bnn", "i-default", "i-enochian", "i-hak",
  "i-klingon", "i-lux", "i-mingo", "i-navajo", "i-pwn", "i-tao", "i-tay",
  "i-tsu", "sgn-BE-FR", "sgn-BE-NL", "sgn-CH-DE", NULL,
};

#define LANG_MAX 35
#define LANG_SUBTAGS (LANG_MAX / 2 + 1)

static bool all_of(const char *s, size_t n, bool (*pred)(int)) {
  for (size_t i = 0; i < n; i++)
    if (!pred((unsigned char)s[i])) return false;
  return true;
}

static bool subtag_eq(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return false;
  return true;
}

/*
 * The shape of RFC 5646 section 2.1, case-insensitive:
 *   language ["-" script] ["-" region] *("-" variant) *("-" extension)
 *   ["-" privateuse], or privateuse alone, or an irregular grandfathered tag.
 * Also refuses what 2.2.5 and 2.2.6 forbid: a variant or a singleton twice.
 * Whether a subtag is in the IANA registry is not checked: shape only.
 */
bool schema_lang_valid(const char *s, size_t n) {
  const char *t[LANG_SUBTAGS];
  size_t tl[LANG_SUBTAGS], cnt = 0, k = 0;
  if (!s || n == 0 || n > LANG_MAX) return false;
  for (size_t i = 0; lang_irregular[i]; i++)
    if (ieq(s, n, lang_irregular[i])) return true;
  for (size_t i = 0; i <= n;) { /* split on '-': every subtag 1..8 alnum */
    size_t j = i;
    while (j < n && s[j] != '-') j++;
    if (j == i || j - i > 8 || cnt == LANG_SUBTAGS || !all_of(s + i, j - i, is_alnum))
      return false;
    t[cnt] = s + i;
    tl[cnt++] = j - i;
    i = j + 1;
  }
  if (!(tl[0] == 1 && lower(t[0][0]) == 'x')) {
    if (tl[0] < 2 || !all_of(t[0], tl[0], is_alpha)) return false;
    k = 1;
    for (int e = 0; tl[0] <= 3 && e < 3 && k < cnt && tl[k] == 3 && all_of(t[k], 3, is_alpha); e++)
      k++; /* extlang */
    if (k < cnt && tl[k] == 4 && all_of(t[k], 4, is_alpha)) k++; /* script */
    if (k < cnt && ((tl[k] == 2 && all_of(t[k], 2, is_alpha)) ||
                    (tl[k] == 3 && all_of(t[k], 3, is_digit))))
      k++; /* region */
    for (size_t v0 = k; k < cnt && (tl[k] >= 5 || (tl[k] == 4 && is_digit(t[k][0]))); k++)
      for (size_t p = v0; p < k; p++) /* variant, each at most once */
        if (tl[p] == tl[k] && subtag_eq(t[p], t[k], tl[k])) return false;
    uint64_t singletons = 0;
    while (k < cnt && tl[k] == 1 && lower(t[k][0]) != 'x') { /* extension */
      int c = lower((unsigned char)t[k][0]);
      uint64_t bit = 1ull << (is_digit(c) ? c - '0' : c - 'a' + 10);
      if (singletons & bit) return false;
      singletons |= bit;
      size_t m = ++k;
      while (k < cnt && tl[k] >= 2) k++;
      if (k == m) return false;
    }
    if (k == cnt) return true;
    if (!(tl[k] == 1 && lower(t[k][0]) == 'x')) return false;
  }
  return k + 1 < cnt; /* "x" and at least one subtag of 1..8 */
}

/* "1".."65535", no sign and no leading zero, so that equal ports are
 * equal strings (list items are compared byte for byte). */
static bool port_valid(const char *s, size_t n) {
  uint32_t v = 0;
  if (n == 0 || n > 5 || s[0] == '0' || !all_of(s, n, is_digit)) return false;
  for (size_t i = 0; i < n; i++) v = v * 10 + (uint32_t)(s[i] - '0');
  return v <= 65535;
}

static bool ip_valid(int af, const char *s, size_t n) {
  char buf[INET6_ADDRSTRLEN];
  uint8_t out[16];
  if (n == 0 || n >= sizeof(buf) || memchr(s, '\0', n)) return false;
  memcpy(buf, s, n);
  buf[n] = '\0';
  return inet_pton(af, buf, out) == 1; /* pure conversion, no resolver */
}

/*
 * A dotted name: labels non-empty, of ASCII letters, digits and '-' (with
 * idn, also any non-ASCII character that is neither space nor control: the
 * letters of an internationalised name, checked for shape only, since
 * proto/ does not carry Unicode tables), not starting or ending with '-'.
 * An all-digit last label is no name (no TLD is numeric): it must be a
 * dotted-quad IPv4 address.  Counts the dots.
 */
static bool host_valid(const char *s, size_t n, bool idn, size_t *dots) {
  const uint8_t *u = (const uint8_t *)s;
  size_t i = 0, start = 0, last = 0;
  bool numeric = true;
  *dots = 0;
  if (n == 0 || (!idn && n > 253)) return false;
  while (i <= n) {
    if (i == n || s[i] == '.') {
      size_t len = i - start;
      if (len == 0 || s[start] == '-' || s[i - 1] == '-' || (!idn && len > 63)) return false;
      last = start;
      if (i < n) (*dots)++;
      start = ++i;
      continue;
    }
    if (u[i] < 0x80) {
      if (!is_alnum(u[i]) && u[i] != '-') return false;
      i++;
      continue;
    }
    uint32_t cp = idn ? u8_next(u, n, &i) : 0xfffd;
    if (!idn || cp == 0xfffd || is_control(cp) || is_blank(cp)) return false;
  }
  for (size_t j = last; j < n; j++)
    if (!is_digit(u[j])) numeric = false;
  return numeric ? ip_valid(AF_INET, s, n) : true;
}

/*
 * http:// or https://, a host (see host_valid; at least one dot, or
 * "localhost"), an optional :port, then optionally a path, query or fragment
 * with no spaces or control characters.  No user:password@ (a host check
 * refuses the '@'), which also closes the "https://bank@evil" trick.
 */
bool schema_url_valid(const char *s, size_t n) {
  const uint8_t *u = (const uint8_t *)s;
  size_t i, h, dots;
  if (!s) return false;
  if (n > 7 && ieq(s, 7, "http://")) i = 7;
  else if (n > 8 && ieq(s, 8, "https://")) i = 8;
  else return false;
  for (h = i; h < n && s[h] != ':' && s[h] != '/' && s[h] != '?' && s[h] != '#'; h++) {}
  if (!host_valid(s + i, h - i, true, &dots)) return false;
  if (dots == 0 && !ieq(s + i, h - i, "localhost")) return false;
  i = h;
  if (i < n && s[i] == ':') {
    for (h = ++i; h < n && s[h] != '/' && s[h] != '?' && s[h] != '#'; h++) {}
    if (!port_valid(s + i, h - i)) return false;
    i = h;
  }
  while (i < n) {
    uint32_t cp = u8_next(u, n, &i);
    if (cp == 0xfffd || is_control(cp) || is_blank(cp)) return false;
  }
  return true;
}

/* local@domain: one '@', a local part of 1..64 printable non-space
 * characters, a dotted domain (IDN allowed).  Shape only: whether the
 * mailbox exists is for a person to find out. */
bool schema_email_valid(const char *s, size_t n) {
  const uint8_t *u = (const uint8_t *)s;
  const char *at;
  size_t i = 0, local, dots;
  if (!s || n == 0 || n > 254 || !(at = memchr(s, '@', n))) return false;
  local = (size_t)(at - s);
  if (local == 0 || local > 64 || memchr(at + 1, '@', n - local - 1)) return false;
  while (i < local) {
    uint32_t cp = u8_next(u, local, &i);
    if (cp == 0xfffd || is_control(cp) || is_blank(cp)) return false;
  }
  return host_valid(at + 1, n - local - 1, true, &dots) && dots > 0;
}

bool schema_phone_valid(const char *s, size_t n) {
  size_t digits = 0;
  if (!s || n == 0 || n > 40) return false;
  for (size_t i = 0; i < n; i++) {
    if (is_digit(s[i])) digits++;
    else if (!strchr("+-()./ ", s[i]) || s[i] == '\0') return false;
  }
  return digits >= 4;
}

static bool year(const char *s, int *y) {
  if (!all_of(s, 4, is_digit)) return false;
  *y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
  return *y >= 1800 && *y <= 2100;
}

bool schema_period_valid(const char *s, size_t n) {
  int a, b;
  if (!s || (n != 4 && n != 5 && n != 9) || !year(s, &a)) return false;
  if (n == 4) return true;
  if (s[4] != '-') return false;
  return n == 5 || (year(s + 5, &b) && b >= a);
}

/* host:port, where host is a DNS name (ASCII), a dotted-quad IPv4 address
 * or a bracketed IPv6 address without zone. */
bool schema_addr_valid(const char *s, size_t n) {
  const char *colon;
  size_t dots;
  if (!s || n == 0 || n > 255) return false;
  if (s[0] == '[') {
    const char *close = memchr(s, ']', n);
    if (!close || close + 1 == s + n || close[1] != ':') return false;
    if (!ip_valid(AF_INET6, s + 1, (size_t)(close - s - 1))) return false;
    colon = close + 1;
  } else {
    if (!(colon = memchr(s, ':', n)) || memchr(colon + 1, ':', (size_t)(s + n - colon - 1)))
      return false;
    if (!host_valid(s, (size_t)(colon - s), false, &dots)) return false;
  }
  return port_valid(colon + 1, (size_t)(s + n - colon - 1));
}

/* ---- errors ---------------------------------------------------------- */

/*
 * Copies at most about 40 bytes of untrusted text into dst for a message,
 * control characters replaced by '?', cut on a character boundary.  The
 * message is shown to a person in a terminal, so no escape sequence from a
 * peer's record may reach it.
 */
static void quote(char *dst, size_t cap, const char *s, size_t n) {
  const uint8_t *u = (const uint8_t *)s;
  size_t i = 0, o = 0, lim = cap < 44 ? cap - 4 : 40;
  while (i < n) {
    size_t i0 = i;
    uint32_t cp = u8_next(u, n, &i);
    size_t len = i - i0;
    bool bad = cp == 0xfffd || is_control(cp);
    if (o + (bad ? 1 : len) > lim) { memcpy(dst + o, "...", 3); o += 3; break; }
    if (bad) dst[o++] = '?';
    else { memcpy(dst + o, s + i0, len); o += len; }
  }
  dst[o] = '\0';
}

/* Fills *why (field, and "item N: " before the message for list items) and
 * returns STOA_ESCHEMA. */
__attribute__((format(printf, 4, 5)))
static int fail(schema_error *why, const char *field, uint32_t item, const char *fmt, ...) {
  va_list ap;
  int o = 0;
  if (!why) return STOA_ESCHEMA;
  snprintf(why->field, sizeof(why->field), "%s", field);
  if (item) o = snprintf(why->msg, sizeof(why->msg), "item %u: ", (unsigned)item);
  va_start(ap, fmt);
  vsnprintf(why->msg + o, sizeof(why->msg) - (size_t)o, fmt, ap);
  va_end(ap);
  return STOA_ESCHEMA;
}

static const char *mp_type_word(int t) {
  switch (t) {
  case MP_NIL: return "nil";
  case MP_BOOL: return "a boolean";
  case MP_UINT: case MP_INT: return "an integer";
  case MP_FLOAT: return "a float";
  case MP_STR: return "a string";
  case MP_BIN: return "binary";
  case MP_ARRAY: return "a list";
  case MP_MAP: return "a map";
  default: return "something else";
  }
}

static const char *sf_type_word(int t) {
  switch (t) {
  case SF_INT: return "an integer";
  case SF_BOOL: return "true or false";
  case SF_REF: return "an entry reference (bin of 48 bytes)";
  case SF_KEY: return "a public key (bin of 32 bytes)";
  case SF_TS: return "a timestamp (unsigned integer)";
  default: return "a string";
  }
}

/* Byte limit of one string of a type where the field gives none (list
 * items, countries, enums): a bound on hostile input and on messages. */
static uint32_t type_limit(int t) {
  switch (t) {
  case SF_URL: return 500;
  case SF_EMAIL: return 254;
  case SF_PHONE: return 40;
  case SF_LANG: return LANG_MAX;
  case SF_ADDR: return 255;
  default: return 64;
  }
}

/* ---- the checker ----------------------------------------------------- */

/* The next code point of a string mp_check has passed (valid UTF-8). */
static uint32_t u8_next_valid(const uint8_t *s, size_t *i) {
  uint8_t c = s[*i];
  if (c < 0x80) { (*i)++; return c; }
  size_t len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;
  uint32_t cp = c & (0x3f >> (len - 1));
  for (size_t k = 1; k < len; k++) cp = cp << 6 | (s[*i + k] & 0x3f);
  *i += len;
  return cp;
}

/* s has passed mp_check, so it is valid UTF-8.  Printable ASCII, by far the
 * most common, is taken eight bytes at a time. */
static int check_text(const schema_field *f, const char *s, size_t n, uint32_t item,
                      schema_error *why) {
  const uint8_t *u = (const uint8_t *)s;
  bool blank = true;
  for (size_t i = 0; i < n;) {
    if (n - i >= 8) {
      uint64_t w;
      memcpy(&w, u + i, 8);
      /* every byte in 0x20..0x7e: printable ASCII or a space, no control */
      uint64_t lo = w - 0x2020202020202020ull, hi = w + 0x0101010101010101ull;
      if (!((lo | hi | w) & 0x8080808080808080ull)) {
        if (w != 0x2020202020202020ull) blank = false;
        i += 8;
        continue;
      }
    }
    uint32_t cp = u8_next_valid(u, &i);
    if (is_control(cp) && ((f->flags & SFF_TITLE) || (cp != '\n' && cp != '\t')))
      return fail(why, f->name, item, "control character U+%04X is not allowed%s",
                  (unsigned)cp, (f->flags & SFF_TITLE) ? " in a name or title" : "");
    if (!is_blank(cp)) blank = false;
  }
  if (blank) return fail(why, f->name, item, "only white space");
  return 0;
}

/* quote() into q, for a message: only on the way to a failure. */
static const char *quoted(char *q, size_t cap, const char *s, size_t n) {
  quote(q, cap, s, n);
  return q;
}

static int check_string(const schema_field *f, const char *s, uint32_t n, uint32_t item,
                        schema_error *why) {
  static const char open_rule[] = "1-32 of a-z 0-9 -, a letter first";
  uint32_t lim = (item || f->max == 0) ? type_limit(f->type) : f->max;
  char q[48];
  if (n == 0) return fail(why, f->name, item, "empty");
  if (n > lim)
    return fail(why, f->name, item, "too long (%u bytes, at most %u)", (unsigned)n,
                (unsigned)lim);
  switch (f->type) {
  case SF_STR: return check_text(f, s, n, item, why);
  case SF_ENUM:
    if (schema_enum_valid(f->vocab, s, n)) return 0;
    if (f->flags & SFF_OPEN) {
      if (schema_slug_valid(s, n)) return 0; /* a later version's value */
      return fail(why, f->name, item, "\"%s\" is not a known value nor a slug (%s)",
                  quoted(q, sizeof(q), s, n), open_rule);
    }
    {
      char list[112];
      size_t o = 0;
      for (const char *const *v = f->vocab; *v && o < sizeof(list); v++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", o ? ", " : "", *v);
      return fail(why, f->name, item, "unknown value \"%s\" (one of: %s)",
                  quoted(q, sizeof(q), s, n), list);
    }
  case SF_COUNTRY:
    if (schema_country_valid(s, n)) return 0;
    if (n == 2 && is_alpha(s[0]) && is_alpha(s[1])) {
      char up[3] = {(char)(s[0] & ~0x20), (char)(s[1] & ~0x20), 0};
      if (schema_country_valid(up, 2) && memcmp(up, s, 2) != 0)
        return fail(why, f->name, item, "country codes are upper case: \"%s\", not \"%s\"",
                    up, quoted(q, sizeof(q), s, n));
    }
    return fail(why, f->name, item, "unknown country code \"%s\" (ISO 3166-1 alpha-2)",
                quoted(q, sizeof(q), s, n));
  case SF_THEME:
    if (schema_theme_valid(s, n)) return 0;
    if (!(f->flags & SFF_OPEN))
      return fail(why, f->name, item, "unknown theme \"%s\"", quoted(q, sizeof(q), s, n));
    if (schema_slug_valid(s, n)) return 0; /* a later version's theme */
    return fail(why, f->name, item, "\"%s\" is not a known theme nor a slug (%s)",
                quoted(q, sizeof(q), s, n), open_rule);
  case SF_LANG:
    if (schema_lang_valid(s, n)) return 0;
    return fail(why, f->name, item, "not a BCP 47 language tag: \"%s\"",
                quoted(q, sizeof(q), s, n));
  case SF_URL:
    if (schema_url_valid(s, n)) return 0;
    return fail(why, f->name, item, "not an http:// or https:// URL: \"%s\"",
                quoted(q, sizeof(q), s, n));
  case SF_EMAIL:
    if (schema_email_valid(s, n)) return 0;
    return fail(why, f->name, item, "not an e-mail address: \"%s\"", quoted(q, sizeof(q), s, n));
  case SF_PHONE:
    if (schema_phone_valid(s, n)) return 0;
    return fail(why, f->name, item,
                "not a phone number (digits, spaces, + - ( ) . /; 4 digits or more)");
  case SF_PERIOD:
    if (schema_period_valid(s, n)) return 0;
    return fail(why, f->name, item,
                "not a period: \"%s\" (YYYY, YYYY-YYYY or YYYY-, years 1800..2100)",
                quoted(q, sizeof(q), s, n));
  case SF_ADDR:
    if (schema_addr_valid(s, n)) return 0;
    return fail(why, f->name, item, "not host:port: \"%s\"", quoted(q, sizeof(q), s, n));
  default: return fail(why, f->name, item, "field type %d unknown", f->type);
  }
}

/* A string of a body that mp_check has passed: its UTF-8 is not checked a
 * second time (lengths still are). */
static int read_checked_str(mp_reader *r, const char **s, uint32_t *n) {
  const uint8_t *p = r->p;
  size_t left = mp_left(r), hl;
  uint32_t len;
  if (left >= 1 && (p[0] & 0xe0) == 0xa0) { len = p[0] & 0x1f; hl = 1; }
  else if (left >= 2 && p[0] == 0xd9) { len = p[1]; hl = 2; }
  else if (left >= 3 && p[0] == 0xda) { len = (uint32_t)p[1] << 8 | p[2]; hl = 3; }
  else return mp_read_str(r, s, n); /* str32, or not a string: the reader's verdict */
  if (len > left - hl) return STOA_ETRUNCATED;
  *s = (const char *)p + hl;
  *n = len;
  r->p = p + hl + len;
  return 0;
}

/* One value of field f (item > 0: the item-th of a list). */
static int check_value(const schema_field *f, mp_reader *r, uint32_t item, schema_error *why) {
  int t = mp_peek(r), e;
  int want = f->type == SF_INT ? MP_INT
           : f->type == SF_BOOL ? MP_BOOL
           : f->type == SF_TS ? MP_UINT
           : (f->type == SF_REF || f->type == SF_KEY) ? MP_BIN : MP_STR;
  if (t < 0) return t;
  if (t != want && !(want == MP_INT && t == MP_UINT))
    return fail(why, f->name, item, "expected %s, got %s", sf_type_word(f->type),
                mp_type_word(t));
  switch (f->type) {
  case SF_INT: {
    int64_t v;
    if ((e = mp_read_int(r, &v)) == STOA_ETOOBIG || (e == 0 && (v < f->min || v > f->maxv)))
      return fail(why, f->name, item, "out of range (%lld..%lld)", (long long)f->min,
                  (long long)f->maxv);
    return e;
  }
  case SF_BOOL: {
    bool b;
    return mp_read_bool(r, &b);
  }
  case SF_TS: {
    uint64_t v;
    return mp_read_uint(r, &v);
  }
  case SF_REF: case SF_KEY: {
    const uint8_t *b;
    uint32_t n, want_len = f->type == SF_REF ? EKEY_LEN : KEY_LEN;
    if ((e = mp_read_bin(r, &b, &n)) != 0) return e;
    if (n != want_len)
      return fail(why, f->name, item, "expected %u bytes, got %u", (unsigned)want_len,
                  (unsigned)n);
    return 0;
  }
  default: {
    const char *s;
    uint32_t n;
    if ((e = read_checked_str(r, &s, &n)) != 0) return e;
    return check_string(f, s, n, item, why);
  }
  }
}

/* A field's value: one value, or a list of unique ones. */
static int check_field(const schema_field *f, mp_reader *r, schema_error *why) {
  const uint8_t *item[SCHEMA__LIST_MAX];
  size_t len[SCHEMA__LIST_MAX];
  uint32_t cnt;
  int t, e;
  if (!(f->flags & SFF_LIST)) return check_value(f, r, 0, why);
  if ((t = mp_peek(r)) != MP_ARRAY)
    return t < 0 ? t : fail(why, f->name, 0, "expected a list, got %s", mp_type_word(t));
  if (f->max > SCHEMA__LIST_MAX) return STOA_EINVAL; /* a table bug, not input */
  if ((e = mp_read_array(r, &cnt)) != 0) return e;
  if (cnt > f->max)
    return fail(why, f->name, 0, "too many items (%u, at most %u)", (unsigned)cnt,
                (unsigned)f->max);
  if (cnt == 0 && (f->flags & SFF_REQUIRED))
    return fail(why, f->name, 0, "needs at least one item");
  for (uint32_t i = 0; i < cnt; i++) {
    item[i] = r->p;
    if ((e = check_value(f, r, i + 1, why)) != 0) return e;
    len[i] = (size_t)(r->p - item[i]);
    for (uint32_t j = 0; j < i; j++)
      if (len[j] == len[i] && memcmp(item[j], item[i], len[i]) == 0)
        return fail(why, f->name, i + 1, "repeats item %u", (unsigned)j + 1);
  }
  return 0;
}

int schema_check(int kind, const uint8_t *body, size_t len, schema_error *why) {
  const char *key[SCHEMA_MAX_FIELDS];
  uint32_t klen[SCHEMA_MAX_FIELDS], n;
  uint32_t seen = 0; /* bit i: fields[i] present; tables have < 32 fields */
  bool consent = false;
  size_t nf;
  const schema_field *fields = schema_fields(kind, &nf);
  mp_reader r;
  int e, t;
  char q[48];

  if (why) why->field[0] = why->msg[0] = '\0';
  if (!fields) return STOA_EKIND;
  if (!body) return STOA_EINVAL;
  if ((e = mp_check(body, len)) != 0) {
    if (why) snprintf(why->msg, sizeof(why->msg), "%s", stoa_strerror(e));
    return e;
  }
  mp_reader_init(&r, body, len);
  if ((t = mp_peek(&r)) != MP_MAP) return fail(why, "", 0, "the body is %s, not a map",
                                               mp_type_word(t));
  if ((e = mp_read_map(&r, &n)) != 0) return e;
  if (n > SCHEMA_MAX_FIELDS)
    return fail(why, "", 0, "too many fields (%u, at most %d)", (unsigned)n, SCHEMA_MAX_FIELDS);
  for (uint32_t i = 0; i < n; i++) {
    if ((t = mp_peek(&r)) != MP_STR)
      return fail(why, "", 0, "key of field %u is %s, not a string", (unsigned)i + 1,
                  mp_type_word(t));
    if ((e = read_checked_str(&r, &key[i], &klen[i])) != 0) return e;
    for (uint32_t j = 0; j < i; j++)
      if (klen[j] == klen[i] && memcmp(key[j], key[i], klen[i]) == 0) {
        quote(q, sizeof(why->field), key[i], klen[i]); /* fits whole: no cut character */
        return fail(why, q, 0, "field appears twice");
      }
    const schema_field *f = schema_field_find(kind, key[i], klen[i]);
    if (!f) { /* unknown: a newer version's field, kept as it is */
      if ((e = mp_skip(&r, 1)) != 0) return e;
      continue;
    }
    mp_reader at = r;
    if ((e = check_field(f, &r, why)) != 0) return e;
    seen |= 1u << (unsigned)(f - fields);
    if (f->type == SF_BOOL && strcmp(f->name, "consent") == 0)
      (void)mp_read_bool(&at, &consent); /* checked just above; false if not */
  }
  for (size_t i = 0; i < nf; i++)
    if ((fields[i].flags & SFF_REQUIRED) && !(seen & (1u << i)))
      return fail(why, fields[i].name, 0, "required field missing");
  /* Actors are people: contact details are published only with their consent. */
  if (kind == REC_ACTOR) {
    const schema_field *c = schema_field_find(kind, "contact", 7);
    if (c && (seen & (1u << (unsigned)(c - fields))) && !consent)
      return fail(why, "contact", 0, "contact details need consent = true");
  }
  return 0;
}
