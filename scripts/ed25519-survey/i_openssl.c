#include <openssl/evp.h>
#include <openssl/crypto.h>
#include "impl.h"
static const char *ver(void){return OpenSSL_version(OPENSSL_VERSION);}
static void init(void){}
static EVP_MD_CTX *ctx;
static int vo(void *k,const uint8_t *m,size_t n,const uint8_t *s){
  if(!ctx) ctx=EVP_MD_CTX_new();
  int ok = EVP_DigestVerifyInit(ctx,NULL,NULL,NULL,(EVP_PKEY*)k)==1 && EVP_DigestVerify(ctx,s,64,m,n)==1;
  EVP_MD_CTX_reset(ctx);
  return ok;
}
static void *im(const uint8_t *pk){return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519,NULL,pk,32);}
static int vr(const uint8_t *pk,const uint8_t *m,size_t n,const uint8_t *s){
  EVP_PKEY *k=im(pk); if(!k) return 0; int ok=vo(k,m,n,s); EVP_PKEY_free(k); return ok;}
impl_t impl_openssl={"OpenSSL",ver,init,vr,im,vo};
