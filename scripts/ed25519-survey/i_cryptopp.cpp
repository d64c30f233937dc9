#include <cryptopp/xed25519.h>
#include <cryptopp/config_ver.h>
#include <stdio.h>
#include "impl.h"
using namespace CryptoPP;
static char vb[32];
static const char *ver(void){snprintf(vb,sizeof vb,"%d (lib %d)",CRYPTOPP_VERSION,LibraryVersion());return vb;}
static void init(void){}
static void *im(const uint8_t *pk){return new ed25519::Verifier(pk);}
static int vo(void *k,const uint8_t *m,size_t n,const uint8_t *s){return ((ed25519::Verifier*)k)->VerifyMessage(m,n,s,64);}
static int vr(const uint8_t *pk,const uint8_t *m,size_t n,const uint8_t *s){ed25519::Verifier v(pk); return v.VerifyMessage(m,n,s,64);}
extern "C" { impl_t impl_cryptopp={"Crypto++",ver,init,vr,im,vo}; }
