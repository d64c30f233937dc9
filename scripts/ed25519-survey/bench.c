#define _GNU_SOURCE
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <sched.h>
#include "impl.h"
#include <unistd.h>
#include <sys/wait.h>
extern impl_t impl_sodium, impl_openssl, impl_nettle, impl_gcrypt, impl_wolfssl,
              impl_decaf, impl_xeddsa, impl_botan, impl_cryptopp;
static impl_t *impls[] = {&impl_sodium,&impl_openssl,&impl_nettle,&impl_gcrypt,&impl_wolfssl,
                          &impl_decaf,&impl_xeddsa,&impl_botan,&impl_cryptopp};
#define NI (int)(sizeof impls/sizeof impls[0])
#define NK 8
#define NM 256
#define ML 200
static uint8_t pk[NK][32], sk[NK][64], msg[NM][ML], sig[NM][64];
static void *obj[NI][NK];
static double now(void){struct timespec t; clock_gettime(CLOCK_MONOTONIC,&t); return t.tv_sec+t.tv_nsec*1e-9;}

/* L little-endian */
static const uint8_t Lb[32]={0xed,0xd3,0xf5,0x5c,0x1a,0x63,0x12,0x58,0xd6,0x9c,0xf7,0xa2,0xde,0xf9,0xde,0x14,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0x10};

static int V(int i,const uint8_t *p,const uint8_t *m,size_t n,const uint8_t *s){return impls[i]->verify_raw(p,m,n,s);}

/* run one verify in a child so an abort() inside a library is reported, not fatal: 1 accept, 0 reject, -1 crash */
static int EV(int i,const uint8_t *p,const uint8_t *m,size_t n,const uint8_t *s){
  fflush(stdout); pid_t c=fork(); if(c==0){ _exit(V(i,p,m,n,s)?1:0); }
  int st; waitpid(c,&st,0); return WIFEXITED(st)? WEXITSTATUS(st) : -1; }
/* forge sig for small-order pk encoding A (order dividing ord): R=[r]B, S=r, need k*A = O */
static void forge_small(const uint8_t A[32], int ord, const uint8_t *m, size_t n, uint8_t out[64]){
  for(int tries=0;tries<1000;tries++){
    uint8_t r[32], h[64], k[32]; crypto_core_ed25519_scalar_random(r);
    if(crypto_scalarmult_ed25519_base_noclamp(out,r)!=0) continue;
    memcpy(out+32,r,32);
    crypto_hash_sha512_state st; crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st,out,32); crypto_hash_sha512_update(&st,A,32); crypto_hash_sha512_update(&st,m,n);
    crypto_hash_sha512_final(&st,h); crypto_core_ed25519_scalar_reduce(k,h);
    if(ord==1 || (k[0] % ord)==0) return;  /* ord is 1,2,4 or 8: power of two, k mod ord from low byte */
  }
  abort();
}

int main(int argc,char **argv){
  setvbuf(stdout,NULL,_IOLBF,0);
  double dur = argc>1? atof(argv[1]) : 2.0; int reps = argc>2? atoi(argv[2]) : 3;
  cpu_set_t cs; CPU_ZERO(&cs); CPU_SET(1,&cs); sched_setaffinity(0,sizeof cs,&cs);
  for(int i=0;i<NI;i++) impls[i]->init();
  /* deterministic data */
  uint8_t key[32]={0}; uint8_t nonce[8]={0};
  for(int k=0;k<NK;k++){uint8_t seed[32]; memset(seed,0,32); seed[0]=k+1; crypto_generichash(seed,32,seed,32,NULL,0);
    crypto_sign_seed_keypair(pk[k],sk[k],seed);}
  crypto_stream_chacha20((uint8_t*)msg,sizeof msg,nonce,key);
  for(int j=0;j<NM;j++) crypto_sign_detached(sig[j],NULL,msg[j],ML,sk[j%NK]);
  for(int i=0;i<NI;i++) printf("# %-14s version %s\n",impls[i]->name,impls[i]->version());

  /* correctness */
  int allok=1;
  for(int i=0;i<NI;i++){
    int good=0,badsig=0,badmsg=0,goodo=0,badsigo=0;
    if(impls[i]->import) for(int k=0;k<NK;k++){obj[i][k]=impls[i]->import(pk[k]); if(!obj[i][k]){printf("import fail %s\n",impls[i]->name);abort();}}
    for(int j=0;j<NM;j++){
      uint8_t s2[64]; memcpy(s2,sig[j],64); s2[(j*7)%64] ^= (uint8_t)(1u<<(j%8));
      uint8_t m2[ML]; memcpy(m2,msg[j],ML); m2[j%ML]^=0x01;
      good += V(i,pk[j%NK],msg[j],ML,sig[j]);
      badsig += V(i,pk[j%NK],msg[j],ML,s2);
      badmsg += V(i,pk[j%NK],m2,ML,sig[j]);
      if(impls[i]->import){goodo+=impls[i]->verify_obj(obj[i][j%NK],msg[j],ML,sig[j]);
        badsigo+=impls[i]->verify_obj(obj[i][j%NK],msg[j],ML,s2);}
    }
    int ok = good==NM && badsig==0 && badmsg==0 && (!impls[i]->import || (goodo==NM && badsigo==0));
    allok &= ok;
    printf("check %-14s valid %d/%d  bitflip-sig accepted %d  bitflip-msg accepted %d", impls[i]->name,good,NM,badsig,badmsg);
    if(impls[i]->import) printf("  [obj: valid %d, flipped accepted %d]",goodo,badsigo);
    printf("  %s\n", ok?"OK":"FAIL");
  }
  /* edge cases */
  {
    uint8_t sA[64]; memcpy(sA,sig[0],64); unsigned c=0;
    for(int b=0;b<32;b++){unsigned t=sA[32+b]+Lb[b]+c; sA[32+b]=t&0xff; c=t>>8;}
    uint8_t id[32]={1}, o4[32]={0};              /* identity (y=1), order-4 point (y=0) */
    uint8_t idnc[32], o4nc[32];                    /* y=p+1, y=p : non-canonical encodings */
    memset(idnc,0xff,32); idnc[0]=0xee; idnc[31]=0x7f;
    memset(o4nc,0xff,32); o4nc[0]=0xed; o4nc[31]=0x7f;
    uint8_t s_id[64], s_o4[64], s_idnc[64], s_o4nc[64];
    forge_small(id,1,msg[0],ML,s_id); forge_small(o4,4,msg[0],ML,s_o4);
    forge_small(idnc,1,msg[0],ML,s_idnc); forge_small(o4nc,4,msg[0],ML,s_o4nc);
    printf("\nedge cases (1 = ACCEPTED, 0 = rejected, -1 = process aborted/crashed):\n%-14s %8s %10s %10s %12s %12s\n","impl","(a)S+L","(b)pk=id","(b)pk=ord4","(c)pk=p+1","(c)pk=p");
    for(int i=0;i<NI;i++)
      printf("%-14s %8d %10d %10d %12d %12d\n",impls[i]->name, EV(i,pk[0],msg[0],ML,sA),
        EV(i,id,msg[0],ML,s_id), EV(i,o4,msg[0],ML,s_o4), EV(i,idnc,msg[0],ML,s_idnc), EV(i,o4nc,msg[0],ML,s_o4nc));
  }
  if(!allok){printf("correctness FAIL\n"); return 1;}
  if(dur<=0) return 0;
  /* bench */
  printf("\nbench: %.1fs per run, %d reps, pinned to CPU 1\n",dur,reps);
  double best[NI][2]={{0}}, worst[NI][2]; for(int i=0;i<NI;i++){worst[i][0]=worst[i][1]=1e30;}
  for(int r=0;r<reps;r++){
    for(int ii=0;ii<NI;ii++){ int i=(ii+r)%NI;
      for(int mode=0;mode<2;mode++){
        if(mode==1 && !impls[i]->import) continue;
        for(int phase=0;phase<2;phase++){
          double T = phase==0? 0.3 : dur; long cnt=0, okc=0; double t0=now(), t1;
          do { for(int j=0;j<NM;j++) okc += mode? impls[i]->verify_obj(obj[i][j%NK],msg[j],ML,sig[j])
                                               : impls[i]->verify_raw(pk[j%NK],msg[j],ML,sig[j]);
               cnt+=NM; t1=now(); } while(t1-t0<T);
          if(okc!=cnt){printf("verify failure during bench %s\n",impls[i]->name); return 1;}
          if(phase==1){ double rate=cnt/(t1-t0);
            printf("rep %d %-14s %-4s %10.0f /s\n",r+1,impls[i]->name,mode?"obj":"raw",rate); fflush(stdout);
            if(rate>best[i][mode]) best[i][mode]=rate;
            if(rate<worst[i][mode]) worst[i][mode]=rate; }
        }
      }
    }
  }
  printf("\nSUMMARY (best of %d, spread = (best-worst)/best)\n",reps);
  double ref=best[0][0];
  for(int i=0;i<NI;i++) for(int mode=0;mode<2;mode++){ if(mode==1&&!impls[i]->import) continue;
    printf("%-14s %-4s %-28s %10.0f /s  spread %4.1f%%  ratio %.2f\n",impls[i]->name,mode?"obj":"raw",impls[i]->version(),
      best[i][mode],100*(best[i][mode]-worst[i][mode])/best[i][mode],best[i][mode]/ref);}
  return 0;
}
