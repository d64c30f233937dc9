#include <decaf/ed255.h>
#include "impl.h"
static const char *ver(void){return "1.0.2 (pkg)";}
static void init(void){}
static int vr(const uint8_t *pk,const uint8_t *m,size_t n,const uint8_t *s){return decaf_ed25519_verify(s,pk,m,n,0,DECAF_ED25519_NO_CONTEXT,0)==DECAF_SUCCESS;}
impl_t impl_decaf={"libdecaf",ver,init,vr,0,0};
