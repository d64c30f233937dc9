#include <gcrypt.h>
#include <stdlib.h>
#include "impl.h"
static const char *ver(void){return gcry_check_version(NULL);}
static void init(void){ if(!gcry_check_version(GCRYPT_VERSION)) abort();
  gcry_control(GCRYCTL_DISABLE_SECMEM,0); gcry_control(GCRYCTL_INITIALIZATION_FINISHED,0);}
static void *im(const uint8_t *pk){gcry_sexp_t k;
  if(gcry_sexp_build(&k,NULL,"(public-key(ecc(curve Ed25519)(flags eddsa)(q %b)))",32,pk)) return NULL;
  return k;}
static int vo(void *k,const uint8_t *m,size_t n,const uint8_t *s){
  gcry_sexp_t sg,d; int ok;
  if(gcry_sexp_build(&sg,NULL,"(sig-val(eddsa(r %b)(s %b)))",32,s,32,s+32)) return 0;
  if(gcry_sexp_build(&d,NULL,"(data(flags eddsa)(hash-algo sha512)(value %b))",(int)n,m)) {gcry_sexp_release(sg);return 0;}
  ok = gcry_pk_verify(sg,d,(gcry_sexp_t)k)==0;
  gcry_sexp_release(sg); gcry_sexp_release(d); return ok;}
static int vr(const uint8_t *pk,const uint8_t *m,size_t n,const uint8_t *s){
  void *k=im(pk); if(!k) return 0; int ok=vo(k,m,n,s); gcry_sexp_release((gcry_sexp_t)k); return ok;}
impl_t impl_gcrypt={"libgcrypt",ver,init,vr,im,vo};
