/*
 * err.h - the project's error codes.
 *
 * Every public function returns 0 on success or a negative code: one of the
 * STOA_E* codes below, or -errno for a failing system call.  stoa_strerror()
 * turns either into a message.  LMDB's codes are translated inside store/
 * and never leak above it.
 */
#ifndef STOA_ERR_H
#define STOA_ERR_H

#define STOA_ERRNO_MAP(X)                                                    \
  X(MALFORMED, "malformed encoding")                                         \
  X(TRUNCATED, "input is truncated")                                         \
  X(TRAILING, "trailing bytes after the value")                              \
  X(TOOBIG, "value exceeds its size limit")                                  \
  X(TOODEEP, "nesting too deep")                                             \
  X(UTF8, "invalid UTF-8 in a string")                                       \
  X(EXT, "msgpack ext types are not allowed")                                \
  X(VERSION, "unsupported format version")                                   \
  X(KIND, "unknown record kind")                                             \
  X(BADSIG, "signature does not verify")                                     \
  X(HASH, "body does not match the hash in the header")                      \
  X(FEDERATION, "record or peer of another federation")                      \
  X(SCHEMA, "body does not follow its schema")                               \
  X(UNTRUSTED, "signer is not endorsed for the owner at that time")          \
  X(FUTURE, "timestamp lies too far in the future")                          \
  X(ERASED, "entry was erased")                                              \
  X(NOTFOUND, "not found")                                                   \
  X(AMBIGUOUS, "prefix matches more than one entry")                         \
  X(EXISTS, "already exists")                                                \
  X(KEYPERM, "key file is readable by others")                               \
  X(PASSPHRASE, "wrong passphrase")                                          \
  X(NOSPACE, "store is full and cannot grow")                                \
  X(STORE, "store error")                                                    \
  X(CORRUPT, "store is corrupt")                                             \
  X(PENDING, "pending area is full")                                         \
  X(CHARTER, "invalid charter")                                              \
  X(DECRYPT, "decryption failed")                                            \
  X(HANDSHAKE, "handshake failed")                                           \
  X(PROTOCOL, "protocol violation")                                          \
  X(STATE, "operation not valid in this state")                              \
  X(NOMEM, "out of memory")                                                  \
  X(INVAL, "invalid argument")

enum {
  STOA_OK = 0,
  STOA__ERR_BASE = -1000, /* below the range of -errno */
#define X(name, msg) STOA_E##name,
  STOA_ERRNO_MAP(X)
#undef X
  STOA__ERR_END
};

/* Message for a STOA_E* code or a -errno value.  Never NULL; static. */
const char *stoa_strerror(int err);
/* Short name ("EBADSIG", "ENOENT") for logs and --json.  Never NULL; static. */
const char *stoa_errname(int err);

#endif
