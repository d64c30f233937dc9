#include <botan/ffi.h>
#include <stdio.h>
#include "impl.h"
static char vb[32];
static const char *ver(void){snprintf(vb,sizeof vb,"%u.%u.%u",botan_version_major(),botan_version_minor(),botan_version_patch());return vb;}
static void init(void){}
static void *im(const uint8_t *pk){botan_pubkey_t k; if(botan_pubkey_load_ed25519(&k,pk)!=0) return NULL; return k;}
static int vo(void *k,const uint8_t *m,size_t n,const uint8_t *s){botan_pk_op_verify_t op; int ok;
  if(botan_pk_op_verify_create(&op,(botan_pubkey_t)k,"Pure",0)!=0) return 0;
  ok = botan_pk_op_verify_update(op,m,n)==0 && botan_pk_op_verify_finish(op,s,64)==0;
  botan_pk_op_verify_destroy(op); return ok;}
static int vr(const uint8_t *pk,const uint8_t *m,size_t n,const uint8_t *s){
  void *k=im(pk); if(!k) return 0; int ok=vo(k,m,n,s); botan_pubkey_destroy((botan_pubkey_t)k); return ok;}
impl_t impl_botan={"Botan2 (FFI)",ver,init,vr,im,vo};
