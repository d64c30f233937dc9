#include <stdint.h>
#include <gcrypt.h>
#include <stdio.h>
#include <string.h>
int main(int c,char**v){ gcry_check_version(NULL); gcry_control(GCRYCTL_DISABLE_SECMEM,0); gcry_control(GCRYCTL_INITIALIZATION_FINISHED,0);
 uint8_t pk[32]={0}, sig[64]; const char m[]="abc"; memset(sig,0x11,64); sig[63]=0x01; if(c>1) pk[0]=1; 
 gcry_sexp_t k,s,d; gcry_sexp_build(&k,NULL,"(public-key(ecc(curve Ed25519)(flags eddsa)(q %b)))",32,pk);
 gcry_sexp_build(&s,NULL,"(sig-val(eddsa(r %b)(s %b)))",32,sig,32,sig+32);
 gcry_sexp_build(&d,NULL,"(data(flags eddsa)(hash-algo sha512)(value %b))",3,m);
 printf("rc=%d %s\n",gcry_pk_verify(s,d,k), gcry_strerror(gcry_pk_verify(s,d,k))); }
