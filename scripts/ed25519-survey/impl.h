#include <stdint.h>
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
typedef struct {
  const char *name;
  const char *(*version)(void);
  void (*init)(void);
  /* raw: parse pk bytes on every call; returns 1 if valid */
  int (*verify_raw)(const uint8_t *pk, const uint8_t *m, size_t n, const uint8_t *sig);
  /* optional pre-imported key object */
  void *(*import)(const uint8_t *pk);
  int (*verify_obj)(void *key, const uint8_t *m, size_t n, const uint8_t *sig);
} impl_t;
#ifdef __cplusplus
}
#endif
