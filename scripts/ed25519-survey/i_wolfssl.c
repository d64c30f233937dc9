#include <wolfssl/options.h>
#include <wolfssl/version.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <stdlib.h>
#include "impl.h"
static const char *ver(void){return LIBWOLFSSL_VERSION_STRING;}
static void init(void){}
static void *im(const uint8_t *pk){ed25519_key *k=malloc(sizeof *k); wc_ed25519_init(k);
  if(wc_ed25519_import_public(pk,32,k)!=0){wc_ed25519_free(k);free(k);return NULL;} return k;}
static int vo(void *k,const uint8_t *m,size_t n,const uint8_t *s){int res=0;
  int rc=wc_ed25519_verify_msg(s,64,m,(word32)n,&res,(ed25519_key*)k); return rc==0 && res==1;}
static int vr(const uint8_t *pk,const uint8_t *m,size_t n,const uint8_t *s){
  ed25519_key k; wc_ed25519_init(&k); int ok=0;
  if(wc_ed25519_import_public(pk,32,&k)==0) ok=vo(&k,m,n,s);
  wc_ed25519_free(&k); return ok;}
impl_t impl_wolfssl={"wolfSSL",ver,init,vr,im,vo};
