
#include <xeddsa.h>
#include <stdio.h>
#include "impl.h"
static char vb[32];
static const char *ver(void){snprintf(vb,sizeof vb,"%u.%u.%u",XEDDSA_VERSION_MAJOR,XEDDSA_VERSION_MINOR,XEDDSA_VERSION_REVISION);return vb;}
static void init(void){xeddsa_init();}
static int vr(const uint8_t *pk,const uint8_t *m,size_t n,const uint8_t *s){return ed25519_verify(s,pk,m,(uint32_t)n)==0;}
impl_t impl_xeddsa={"libxeddsa",ver,init,vr,0,0};
