#!/bin/sh
# run.sh - runs every libFuzzer target for a while (`make fuzz`).
#
#   tests/fuzz/run.sh BUILD-DIR SECONDS [TARGET...]
#
# BUILD-DIR was set up with CC=clang -Dfuzz=true (the Makefile does it).
# Each target runs alone, under nice, for SECONDS, from the committed corpus
# and past crash inputs (read only: new inputs go to a scratch directory,
# so the committed corpus does not grow), with its dictionary if it has one.
# Prints per target the executions, the rate and whether it found a crash,
# leak, timeout or out-of-memory; exits 1 if any did.  Artifacts are kept
# under BUILD-DIR/fuzz-out/<target>/ (and the new inputs in .../new/, to
# minimise into the corpus with -merge=1 by hand: docs/security.md).
# FUZZ_RUNS=N also stops each target after N executions (libFuzzer -runs),
# for a campaign counted in executions rather than seconds.
set -u
build=${1:?usage: run.sh BUILD-DIR SECONDS [TARGET...]}
secs=${2:?usage: run.sh BUILD-DIR SECONDS [TARGET...]}
shift 2
src=$(cd "$(dirname "$0")" && pwd)
targets=${*:-record wire ctl noise_init noise_resp iblt bundle json csv keyfile sketch zip}
[ -d /dev/shm ] && [ -w /dev/shm ] && export TMPDIR=${TMPDIR:-/dev/shm}
# Leaks are checked; an abort is what libFuzzer records as a crash.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

bad=0
printf '%-11s %12s %9s  %s\n' target executions exec/s result
for t in $targets; do
  exe=$build/tests/fuzz/fuzz_$t
  out=$build/fuzz-out/$t
  if [ ! -x "$exe" ]; then
    printf '%-11s %12s %9s  %s\n' "$t" - - "MISSING ($exe)"
    bad=1
    continue
  fi
  rm -rf "$out"
  mkdir -p "$out/new" "$out/artifacts"
  dict=
  [ -f "$src/$t.dict" ] && dict=-dict=$src/$t.dict
  crashes=
  [ -d "$src/crashes/$t" ] && crashes=$src/crashes/$t
  nice -n 19 "$exe" -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 \
    -timeout=10 -artifact_prefix="$out/artifacts/" $dict ${FUZZ_RUNS:+-runs=$FUZZ_RUNS} \
    "$out/new" "$src/corpus/$t" $crashes >"$out/log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/log")
  found=$(cd "$out/artifacts" && ls 2>/dev/null | sed 's/-.*//' | sort -u | tr '\n' ' ')
  if [ $rc -ne 0 ] || [ -n "$found" ]; then
    res="FOUND ${found:-exit $rc} (see $out/log)"
    bad=1
  else
    res=ok
  fi
  printf '%-11s %12s %9s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$res"
done
exit $bad
