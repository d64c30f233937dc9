# tests/cli/lib.sh - helpers of the end-to-end tests of the `stoa` CLI.
#
# Sourced by the scripts next to it, which meson runs with bash and with
# STOA set to the path of the built binary.  Each test:
#   - works in a scratch directory ($T, removed on exit), never in a real home;
#   - runs commands through `run`, which keeps stdout, stderr and the exit
#     code, and fails at once on a crash or a sanitizer report;
#   - checks with the expect_* helpers, which print what failed (the command,
#     its output) and exit 1.
# Nothing is timed: a slow machine makes a test slow, never red.

set -u
set -o pipefail

if [ -z "${STOA:-}" ] || [ ! -x "$STOA" ]; then
  echo "STOA must name the stoa binary (got '${STOA:-}')" >&2
  exit 1
fi
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/stoa-cli-test.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
# Never touch the real home of whoever runs the tests.
export HOME="$T/home"
unset STOA_HOME XDG_DATA_HOME
mkdir -p "$HOME"
cd "$T" || exit 1

TEST_NAME=$(basename "$0" .sh)
STEP=""

# What the last `run` did.
RC=0
OUT="$T/.out"
ERR="$T/.err"
LAST_CMD=""

# step TEXT: names the part of the test that follows, for failure messages.
step() {
  STEP="$*"
  echo "--- [${SECONDS}s] $STEP"
}

# The CLI itself.
stoa() { "$STOA" "$@"; }

# fail MSG: prints the failure with the last command and its output; exits 1.
fail() {
  {
    echo "FAIL [$TEST_NAME${STEP:+: $STEP}]: $*"
    if [ -n "$LAST_CMD" ]; then
      echo "  last command: $LAST_CMD"
      echo "  exit code:    $RC"
      echo "  stdout:"; sed -n '1,40s/^/    | /p' "$OUT" 2>/dev/null
      echo "  stderr:"; sed -n '1,40s/^/    | /p' "$ERR" 2>/dev/null
    fi
  } >&2
  exit 1
}

# run CMD ARGS...: runs a command, keeping stdout in $OUT, stderr in $ERR and
# the exit code in $RC.  A crash (killed by a signal) or a sanitizer report
# is a failure whatever the test expected.
run() {
  LAST_CMD="$*"
  "$@" >"$OUT" 2>"$ERR"
  RC=$?
  if [ "$RC" -ge 128 ]; then fail "crashed (signal $((RC - 128)))"; fi
  if grep -qE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$ERR"; then
    fail "sanitizer report"
  fi
  return 0
}

# s ARGS...: `run stoa ARGS...`, the common case.
s() { run stoa "$@"; }

# ok ARGS...: runs stoa and requires exit 0.
ok() {
  s "$@"
  [ "$RC" -eq 0 ] || fail "expected success"
}

expect_rc() {
  [ "$RC" -eq "$1" ] || fail "expected exit code $1, got $RC"
}

# expect_rc_in N...: the exit code is one of these.
expect_rc_in() {
  local c
  for c in "$@"; do [ "$RC" -eq "$c" ] && return 0; done
  fail "expected an exit code in {$*}, got $RC"
}

expect_nonzero() {
  [ "$RC" -ne 0 ] || fail "expected a failure (non-zero exit), got 0"
}

expect_out_contains() {
  grep -qF -- "$1" "$OUT" || fail "stdout does not contain '$1'"
}
expect_out_lacks() {
  ! grep -qF -- "$1" "$OUT" || fail "stdout contains '$1', which it should not"
}
expect_err_contains() {
  grep -qF -- "$1" "$ERR" || fail "stderr does not contain '$1'"
}
expect_err_lacks() {
  ! grep -qF -- "$1" "$ERR" || fail "stderr contains '$1', which it should not"
}
# expect_err_matches REGEX (grep -E, case-insensitive).
expect_err_matches() {
  grep -qiE -- "$1" "$ERR" || fail "stderr does not match /$1/"
}
expect_out_matches() {
  grep -qiE -- "$1" "$OUT" || fail "stdout does not match /$1/"
}
# A failure must say something on stderr, and not dump usage only.
expect_err_nonempty() {
  [ -s "$ERR" ] || fail "no message on stderr"
}

# expect_eq WHAT GOT WANT
expect_eq() {
  [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"
}

# json EXPR: evaluates a Python expression over the JSON in $OUT (bound to d),
# prints the result.  Fails when $OUT is not JSON.
json() {
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
v = eval(sys.argv[2])
print(v if not isinstance(v, (list, dict, bool)) else json.dumps(v))
' "$OUT" "$1" 2>"$T/.pyerr" || { cat "$T/.pyerr" >&2; fail "stdout is not the JSON expected by: $1"; }
}

# expect_listed ID... / expect_unlisted ID...: the JSON array in $OUT (of
# `--json ls`, `--json search`) holds / does not hold entries with these ids.
expect_listed() {
  local ids i
  ids=" $(json '" ".join(e["id"] for e in d)') "
  for i in "$@"; do [[ "$ids" == *" $i "* ]] || fail "entry $i is not listed"; done
}
expect_unlisted() {
  local ids i
  ids=" $(json '" ".join(e["id"] for e in d)') "
  for i in "$@"; do [[ "$ids" != *" $i "* ]] || fail "entry $i is listed, and should not be"; done
}

# is_id TEXT: 32 lower-case hex digits.
is_id() { [[ "$1" =~ ^[0-9a-f]{32}$ ]]; }

# ---- bundles ---------------------------------------------------------------
# A bundle is "STOABDL1", then frames (u32 big-endian length, payload): the
# header first, then one record envelope each, then the trailer
# ["end", count, BLAKE2b-256 of every byte before the trailer frame].

BUNDLE_PY='
import hashlib, sys

def frames(b):
    """(offset, payload) of each whole frame after the magic; stops at damage."""
    out, p = [], 8
    while p + 4 <= len(b):
        n = int.from_bytes(b[p:p + 4], "big")
        if p + 4 + n > len(b):
            break
        out.append((p, b[p + 4:p + 4 + n]))
        p += 4 + n
    return out

def is_trailer(pl):
    return pl[:5] == b"\x93\xa3end"

def records(b):
    """Record frames of a bundle: all frames but the first and a trailer."""
    if b[:8] != b"STOABDL1":
        return []
    fr = frames(b)[1:]
    return [(o, pl) for o, pl in fr if not is_trailer(pl)]

def fix_trailer(b):
    """Recomputes the trailer checksum, as a forger would."""
    fr = frames(b)
    o, pl = fr[-1]
    assert is_trailer(pl) and pl[-34:-32] == b"\xc4\x20"
    h = hashlib.blake2b(b[:o], digest_size=32).digest()
    return b[:o + 4] + pl[:-32] + h

def parts(pl):
    """Offsets in an envelope [bin header, bin sig(64), body]: header start,
    header length, signature start, body start."""
    assert pl[0] == 0x93 and pl[1] == 0xc4
    hl = pl[2]
    so = 3 + hl
    assert pl[so] == 0xc4 and pl[so + 1] == 64
    return 3, hl, so + 2, so + 2 + 64

cmd = sys.argv[1]
b = open(sys.argv[2], "rb").read()
if cmd == "records":        # one line per record: BLAKE2b-256 of its frame
    for h in sorted(hashlib.blake2b(pl, digest_size=32).hexdigest() for _, pl in records(b)):
        print(h)
elif cmd == "count":
    print(len(records(b)))
elif cmd == "size":
    print(len(b))
elif cmd == "flip":         # flip FILE OFFSET XOR OUT [fix]
    off, x = int(sys.argv[3]), int(sys.argv[4], 0)
    c = bytearray(b)
    c[off] ^= x
    c = bytes(c)
    if len(sys.argv) > 6 and sys.argv[6] == "fix":
        c = fix_trailer(c)
    open(sys.argv[5], "wb").write(c)
elif cmd == "spots":        # spots FILE: "index offset what" for each record
    for i, (o, pl) in enumerate(records(b)):
        hs, hl, ss, bs = parts(pl)
        base = o + 4
        print(i, base + hs + hl - 40, "header")     # inside the timestamp/signer
        print(i, base + ss, "sig-first")
        print(i, base + ss + 63, "sig-last")
        if bs < len(pl) and pl[bs] != 0xc0:
            print(i, base + len(pl) - 1, "body-last")
elif cmd == "frame-hash":   # frame-hash FILE INDEX: hash of record INDEX
    print(hashlib.blake2b(records(b)[int(sys.argv[3])][1], digest_size=32).hexdigest())
elif cmd == "frame-end":    # frame-end FILE INDEX: offset just past record INDEX
    o, pl = records(b)[int(sys.argv[3])]
    print(o + 4 + len(pl))
elif cmd == "drop":         # drop FILE OUT HASHFILE: without those records,
    drop = set(open(sys.argv[4]).read().split())  # with a valid trailer
    fr = frames(b)
    keep = [pl for _, pl in fr[1:] if not is_trailer(pl)
            and hashlib.blake2b(pl, digest_size=32).hexdigest() not in drop]
    def frame(pl):
        return len(pl).to_bytes(4, "big") + pl
    body = b[:8] + frame(fr[0][1]) + b"".join(frame(pl) for pl in keep)
    n = len(keep)
    cnt = (bytes([n]) if n < 128 else b"\xcc" + bytes([n]) if n < 256
           else b"\xcd" + n.to_bytes(2, "big"))
    h = hashlib.blake2b(body, digest_size=32).digest()
    open(sys.argv[3], "wb").write(body + frame(b"\x93\xa3end" + cnt + b"\xc4\x20" + h))
'

# bundle CMD FILE ARGS...: the tools above.
bundle() { python3 -c "$BUNDLE_PY" "$@"; }

# snapshot HOME FILE: what the store holds, exactly: the hash of every record
# frame of a full export (trust records, erased stubs and all), then the
# JSON Lines export of the current entries.
snapshot() {
  local h=$1 f=$2
  "$STOA" --home "$h" --quiet export -o "$T/.snap.bdl" 2>"$T/.snaperr" ||
    { cat "$T/.snaperr" >&2; fail "snapshot of $h: export failed"; }
  bundle records "$T/.snap.bdl" >"$f"
  echo "--" >>"$f"
  "$STOA" --home "$h" export --format jsonl >>"$f" 2>"$T/.snaperr" ||
    { cat "$T/.snaperr" >&2; fail "snapshot of $h: jsonl export failed"; }
  rm -f "$T/.snap.bdl"
}

# expect_unchanged HOME FILE: the store is as snapshot FILE recorded it.
expect_unchanged() {
  snapshot "$1" "$T/.snap.now"
  if ! cmp -s "$2" "$T/.snap.now"; then
    diff "$2" "$T/.snap.now" | sed -n '1,20s/^/    /p' >&2
    fail "the store at $1 changed"
  fi
}

# records_of HOME FILE: the record hashes of the store (one a line, sorted).
records_of() {
  "$STOA" --home "$1" --quiet export -o "$T/.rec.bdl" 2>"$T/.recerr" ||
    { cat "$T/.recerr" >&2; fail "export of $1 failed"; }
  bundle records "$T/.rec.bdl" >"$2"
  rm -f "$T/.rec.bdl"
}

# expect_subset A B WHAT: every line of file A is in file B.
expect_subset() {
  local extra
  extra=$(comm -23 <(sort -u "$1") <(sort -u "$2"))
  [ -z "$extra" ] || fail "$3: $(echo "$extra" | wc -l) record(s) not among the originals"
}

# net_key HOME / editor_key HOME: keys from `whoami --json`.
whoami_field() {
  "$STOA" --home "$1" --json whoami | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}

# notty CMD...: runs CMD without a controlling terminal, so a passphrase
# prompt cannot block the test.
notty() {
  if command -v setsid >/dev/null; then setsid -w "$@" </dev/null; else "$@" </dev/null; fi
}
