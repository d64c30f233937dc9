/*
 * zip.c - zstd streams for connections (zip.h).
 */
#include "proto/zip.h"

#include <stdlib.h>
#include <zstd.h>

#include "proto/err.h"

struct zip_tx { ZSTD_CCtx *c; };
struct zip_rx { ZSTD_DCtx *d; };

int zip_tx_new(zip_tx **out, int level) {
  zip_tx *z = calloc(1, sizeof *z);
  *out = NULL;
  if (!z || !(z->c = ZSTD_createCCtx())) { free(z); return STOA_ENOMEM; }
  if (ZSTD_isError(ZSTD_CCtx_setParameter(z->c, ZSTD_c_compressionLevel, level)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(z->c, ZSTD_c_windowLog, ZIP_WINDOW_LOG)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(z->c, ZSTD_c_checksumFlag, 0))) {
    zip_tx_free(z);
    return STOA_EINVAL;
  }
  *out = z;
  return 0;
}

void zip_tx_free(zip_tx *z) {
  if (!z) return;
  ZSTD_freeCCtx(z->c);
  free(z);
}

void zip_tx_reset(zip_tx *z) {
  /* Parameters stay; only the stream and its history go. */
  ZSTD_CCtx_reset(z->c, ZSTD_reset_session_only);
}

int zip_tx_msg(zip_tx *z, const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *len) {
  if (n == 0 || n > ZIP_RAW_MAX) return STOA_EINVAL;
  ZSTD_inBuffer ib = { in, n, 0 };
  ZSTD_outBuffer ob = { out, cap, 0 };
  size_t left;
  do { /* flush until all of this message is out; the frame stays open */
    left = ZSTD_compressStream2(z->c, &ob, &ib, ZSTD_e_flush);
    if (ZSTD_isError(left)) return STOA_EINVAL;
    if (left && ob.pos == ob.size) return STOA_ETOOBIG;
  } while (left || ib.pos < ib.size);
  *len = ob.pos;
  return 0;
}

int zip_rx_new(zip_rx **out) {
  zip_rx *z = calloc(1, sizeof *z);
  *out = NULL;
  if (!z || !(z->d = ZSTD_createDCtx())) { free(z); return STOA_ENOMEM; }
  if (ZSTD_isError(ZSTD_DCtx_setParameter(z->d, ZSTD_d_windowLogMax, ZIP_WINDOW_LOG))) {
    zip_rx_free(z);
    return STOA_EINVAL;
  }
  *out = z;
  return 0;
}

void zip_rx_free(zip_rx *z) {
  if (!z) return;
  ZSTD_freeDCtx(z->d);
  free(z);
}

void zip_rx_reset(zip_rx *z) {
  ZSTD_DCtx_reset(z->d, ZSTD_reset_session_only);
}

int zip_rx_msg(zip_rx *z, const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t raw_len) {
  /* One byte of room past raw_len shows a message that decodes longer. */
  if (raw_len == 0 || raw_len >= cap) return STOA_ETOOBIG;
  ZSTD_inBuffer ib = { in, n, 0 };
  ZSTD_outBuffer ob = { out, raw_len + 1, 0 };
  for (;;) {
    size_t in0 = ib.pos, out0 = ob.pos;
    size_t r = ZSTD_decompressStream(z->d, &ob, &ib);
    if (ZSTD_isError(r)) return STOA_EMALFORMED;
    if (ob.pos > raw_len) return STOA_ETOOBIG;
    if (ib.pos == in0 && ob.pos == out0) break; /* input used up, nothing held back */
  }
  if (ib.pos < ib.size) return STOA_EMALFORMED;
  return ob.pos == raw_len ? 0 : STOA_ETRUNCATED;
}
