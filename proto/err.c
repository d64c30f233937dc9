#include "proto/err.h"

#include <errno.h>
#include <string.h>

const char *stoa_strerror(int err) {
  switch (err) {
  case 0: return "success";
#define X(name, msg) case STOA_E##name: return msg;
    STOA_ERRNO_MAP(X)
#undef X
  default: break;
  }
  if (err < 0 && err > STOA__ERR_BASE) return strerror(-err);
  return "unknown error";
}

const char *stoa_errname(int err) {
  switch (err) {
  case 0: return "OK";
#define X(name, msg) case STOA_E##name: return "E" #name;
    STOA_ERRNO_MAP(X)
#undef X
  default: break;
  }
  if (err < 0 && err > STOA__ERR_BASE) {
    const char *n = strerrorname_np(-err);
    if (n) return n;
  }
  return "EUNKNOWN";
}
