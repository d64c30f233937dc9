#!/bin/sh
# minimise.sh - folds what a `make fuzz` run found into the committed corpus.
#
#   tests/fuzz/minimise.sh BUILD-DIR [BUDGET-BYTES] [TARGET...]
#
# For each target: libFuzzer -merge=1 of the committed corpus and
# BUILD-DIR/fuzz-out/<target>/new/ (the inputs that reach coverage the
# others do not), then the seed-* files and the smallest of the rest up to
# BUDGET-BYTES (default 100000) per target, so that the corpus stays small
# and its replay in `make test` stays fast.  Replaces
# tests/fuzz/corpus/<target>/; check `git status` before committing.
set -eu
build=${1:?usage: minimise.sh BUILD-DIR [BUDGET-BYTES] [TARGET...]}
budget=${2:-100000}
[ $# -ge 2 ] && shift 2 || shift $#
src=$(cd "$(dirname "$0")" && pwd)
targets=${*:-record wire ctl noise_init noise_resp iblt bundle json csv keyfile sketch zip}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for t in $targets; do
  exe=$build/tests/fuzz/fuzz_$t
  new=$build/fuzz-out/$t/new
  [ -x "$exe" ] || { echo "$t: no $exe" >&2; continue; }
  mkdir -p "$tmp/$t" "$tmp/$t.keep"
  dirs=$src/corpus/$t
  [ -d "$new" ] && dirs="$dirs $new"
  nice -n 19 "$exe" -merge=1 "$tmp/$t" $dirs >"$tmp/$t.log" 2>&1 ||
    { echo "$t: merge failed, see $tmp/$t.log" >&2; cat "$tmp/$t.log" >&2; exit 1; }
  cp "$src/corpus/$t"/seed-* "$tmp/$t.keep/" 2>/dev/null || true
  used=$(cat "$tmp/$t.keep"/* 2>/dev/null | wc -c)
  # The merge names files by the SHA-1 of their content: skip the seeds.
  seeds=$(for s in "$tmp/$t.keep"/*; do [ -f "$s" ] && sha1sum "$s" | cut -d' ' -f1; done | tr '\n' ' ')
  # Smallest first: minimal inputs are the most telling.
  for f in $(ls -Sr "$tmp/$t"); do
    case " $seeds " in *" $f "*) continue ;; esac
    sz=$(wc -c <"$tmp/$t/$f")
    [ $((used + sz)) -gt "$budget" ] && break
    cp "$tmp/$t/$f" "$tmp/$t.keep/$f"
    used=$((used + sz))
  done
  rm -rf "$src/corpus/$t"
  mv "$tmp/$t.keep" "$src/corpus/$t"
  echo "$t: $(ls "$src/corpus/$t" | wc -l) files, $used bytes (merge kept $(ls "$tmp/$t" | wc -l))"
done
