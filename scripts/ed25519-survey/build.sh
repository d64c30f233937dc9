#!/bin/sh
# build.sh - builds ./bench (the Ed25519 verify survey) from this directory.
# Needs the packages README names; not part of Stoa's build.
set -e
cd "$(dirname "$0")"
for f in i_sodium i_openssl i_nettle i_gcrypt i_wolfssl i_decaf i_xeddsa i_botan bench; do
  gcc -O2 -Wall -c $f.c -I/usr/include/botan-2 -I/usr/include/decaf -Iinc -o $f.o
done
g++ -O2 -Wall -c i_cryptopp.cpp -o i_cryptopp.o
g++ -O2 -o bench bench.o i_*.o -lsodium -lcrypto -lhogweed -lnettle -lgcrypt -lwolfssl -ldecaf -lxeddsa -lbotan-2 -lcryptopp
