#include <nettle/eddsa.h>
#include <nettle/version.h>
#include <stdio.h>
#include "impl.h"
static char vb[32];
static const char *ver(void){snprintf(vb,sizeof vb,"%d.%d",nettle_version_major(),nettle_version_minor());return vb;}
static void init(void){}
static int vr(const uint8_t *pk,const uint8_t *m,size_t n,const uint8_t *s){return ed25519_sha512_verify(pk,n,m,s)==1;}
impl_t impl_nettle={"nettle",ver,init,vr,0,0};
