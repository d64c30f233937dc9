#include <sodium.h>
#include "impl.h"
static const char *ver(void){return sodium_version_string();}
static void init(void){ if (sodium_init()<0) abort(); }
static int vr(const uint8_t *pk,const uint8_t *m,size_t n,const uint8_t *s){return crypto_sign_verify_detached(s,m,n,pk)==0;}
impl_t impl_sodium={"libsodium",ver,init,vr,0,0};
