/*
 * zip.h - zstd streams for the messages of one connection
 * (docs/protocol.md §3, ZIP).
 *
 * Each direction of a connection that negotiated "zstd" runs one zstd
 * stream; every ZIP message is flushed on its own, so the receiver decodes
 * it at once, while the stream's window lets later messages refer to
 * earlier ones (records of one network repeat keys, field names and
 * vocabulary, so small pushes compress too, with no dictionary).
 * The window is capped at 2^ZIP_WINDOW_LOG bytes on both sides, which
 * bounds each side's memory whatever the peer sends.
 */
#ifndef STOA_ZIP_H
#define STOA_ZIP_H

#include <stddef.h>
#include <stdint.h>

#define ZIP_WINDOW_LOG 18
/* The largest message a sender compresses: its compressed form, in the
 * worst case (incompressible data stored raw), still fits in a frame. */
#define ZIP_RAW_MAX 65000

typedef struct zip_tx zip_tx;
typedef struct zip_rx zip_rx;

/* New compressing stream at zstd `level` (stoad uses 1..19; the fast
 * negative levels work too).  0, STOA_ENOMEM or STOA_EINVAL. */
int zip_tx_new(zip_tx **out, int level);
void zip_tx_free(zip_tx *z);
/* Starts a new stream in z, with the same settings, as zip_tx_new would
 * (no history from earlier messages); cheaper than free and new. */
void zip_tx_reset(zip_tx *z);

/*
 * Compresses one message of n bytes (1 <= n <= ZIP_RAW_MAX) into out and
 * flushes it.  Errors: STOA_EINVAL (bad n), STOA_ETOOBIG (out too small:
 * the stream is then unusable, close the connection), STOA_EINVAL (zstd refused).
 */
int zip_tx_msg(zip_tx *z, const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *len);

/* New decompressing stream.  0 or STOA_ENOMEM. */
int zip_rx_new(zip_rx **out);
void zip_rx_free(zip_rx *z);
/* Likewise for a decompressing stream, also after an error. */
void zip_rx_reset(zip_rx *z);

/*
 * Decompresses the n bytes of one message, which must yield exactly
 * raw_len bytes into out (cap > raw_len: one spare byte detects more).  Errors: STOA_EMALFORMED (corrupt data,
 * or a window larger than ZIP_WINDOW_LOG), STOA_ETOOBIG (more than
 * raw_len bytes), STOA_ETRUNCATED (fewer).  After an error the stream is
 * unusable: close the connection.  Output never exceeds raw_len, so a
 * decompression bomb costs nothing.
 */
int zip_rx_msg(zip_rx *z, const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t raw_len);

#endif
