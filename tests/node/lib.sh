# tests/node/lib.sh - helpers of the multi-process tests: real stoad
# processes on loopback, driven and observed with the stoa CLI.
#
# Sourced by the scripts next to it; meson runs them with bash, with STOA
# and STOAD naming the built binaries (and EVIL_PEER the hostile helper).
# On top of tests/cli/lib.sh (scratch directory $T, run/ok/fail, records_of):
#   - homes are $T/NAME, daemons listen on 127.0.0.1:${PORT[NAME]}, from a
#     block of ports derived from the test's PID and checked to be free;
#   - every daemon's stderr goes to $T/NAME.log; a daemon that dies, or a
#     log with a sanitizer report, fails the test;
#   - every daemon is killed on exit, whatever happened (trap);
#   - waits poll the CLI with a generous bound and fail with a diagnosis
#     when it passes: a slow machine makes a test slow, never red.
. "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"

if [ -z "${STOAD:-}" ] || [ ! -x "$STOAD" ]; then
  echo "STOAD must name the stoad binary (got '${STOAD:-}')" >&2
  exit 1
fi

declare -A PID=()     # NAME -> pid of its running daemon (absent: stopped)
declare -A PORT=()    # NAME -> its listening port
NODES=()              # every home made, in order
WAIT_MAX=${NODE_WAIT_MAX:-90}   # seconds, the bound of every wait

SAN_RE='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|UndefinedBehaviorSanitizer'

# ---- cleanup ------------------------------------------------------------------

alive() {
  kill -0 "$1" 2>/dev/null || return 1
  # a zombie is not alive
  ! grep -qE '^[0-9]+ \(.*\) Z' "/proc/$1/stat" 2>/dev/null
}

node_cleanup() {
  local rc=$? n p i
  trap - EXIT
  for n in "${!PID[@]}"; do
    p=${PID[$n]}
    alive "$p" && kill -TERM "$p" 2>/dev/null
  done
  for n in "${!PID[@]}"; do
    p=${PID[$n]}
    for i in $(seq 50); do alive "$p" || break; sleep 0.1; done
    alive "$p" && kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  if [ "$rc" -eq 0 ]; then
    for n in "${NODES[@]}"; do
      if [ -f "$T/$n.log" ] && grep -qE "$SAN_RE" "$T/$n.log"; then
        echo "FAIL [$TEST_NAME]: sanitizer report in the log of $n:" >&2
        grep -E -A 30 "$SAN_RE" "$T/$n.log" | sed -n '1,60s/^/    | /p' >&2
        rc=1
      fi
    done
  fi
  if [ "$rc" -ne 0 ]; then
    for n in "${NODES[@]}"; do
      [ -f "$T/$n.log" ] || continue
      echo "---- last lines of $n's daemon log ($T/$n.log)" >&2
      tail -n 25 "$T/$n.log" | sed 's/^/    | /' >&2
    done
  fi
  if [ -n "${KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
  exit "$rc"
}
trap node_cleanup EXIT
trap 'exit 130' INT TERM

# ---- ports ------------------------------------------------------------------------
# Below Linux's ephemeral range (32768-60999), so that no outgoing connection
# takes one of them; a block of 20 per test process, probed before use.

PORT_NEXT=$((20000 + ($$ % 600) * 20))

port_free() {
  python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}

# new_port NAME: picks a free port for NAME (sets PORT[NAME]).
new_port() {
  while ! port_free "$PORT_NEXT"; do PORT_NEXT=$((PORT_NEXT + 1)); done
  PORT[$1]=$PORT_NEXT
  PORT_NEXT=$((PORT_NEXT + 1))
}

addr() { echo "127.0.0.1:${PORT[$1]}"; }

# ---- homes --------------------------------------------------------------------------

# sn NAME ARGS...: stoa on NAME's home, silently; its exit code.
sn() { "$STOA" --home "$T/$1" "${@:2}"; }

# found NAME FEDERATION: a home founding a new federation; its charter in
# $T/NAME.charter.
found() {
  NODES+=("$1")
  new_port "$1"
  ok --home "$T/$1" init --network "Network $1" --federation "$2" --no-passphrase
  ok --home "$T/$1" federation charter -o "$T/$1.charter"
}

# join NAME CHARTER: a home joining the federation of CHARTER (not admitted).
join() {
  NODES+=("$1")
  new_port "$1"
  ok --home "$T/$1" init --network "Network $1" --charter "$2" --no-passphrase
}

# admit BY NAME: BY votes NAME's network in.
admit() {
  local k
  k=$(whoami_field "$T/$2" network_key) || fail "no network key for $2"
  ok --home "$T/$1" federation admit "$k"
}

# set_peers NAME OTHER...: NAME's stoa.ini dials these nodes (before start).
set_peers() {
  local n=$1 o
  shift
  { echo; echo "[peers]"; for o in "$@"; do echo "peer = $(addr "$o")"; done; } >>"$T/$n/stoa.ini"
}

# ---- daemons ------------------------------------------------------------------------

# daemon_up NAME: its daemon answers on the control socket.
daemon_up() {
  alive "${PID[$1]}" || fail "the daemon of $1 died"
  "$STOA" --home "$T/$1" status >/dev/null 2>&1
}

# node_start NAME [STOAD ARGS...]: starts NAME's daemon and waits until its
# control socket answers.
node_start() {
  local n=$1
  shift
  [ -z "${PID[$n]:-}" ] || fail "$n is already running"
  echo "==== start $(date +%T.%N)" >>"$T/$n.log"
  "$STOAD" --home "$T/$n" --listen "$(addr "$n")" "$@" 2>>"$T/$n.log" </dev/null &
  PID[$n]=$!
  wait_until "the daemon of $n to answer" daemon_up "$n"
}

# node_stop NAME: SIGTERM; the daemon must exit 0 and remove its socket.
node_stop() {
  local n=$1 p=${PID[$1]} rc
  kill -TERM "$p" || fail "cannot signal $n"
  # Bounded by the clock, not by a count of sleeps: under ThreadSanitizer,
  # with 21 daemons, the count once ran out within a second (sleeps or the
  # seq that counted them failing to start), and a stop that worked failed.
  local end=$((SECONDS + WAIT_MAX))
  while alive "$p" && [ "$SECONDS" -lt "$end" ]; do sleep 0.1; done
  alive "$p" && fail "$n did not exit within ${WAIT_MAX}s of SIGTERM"
  wait "$p"
  rc=$?
  unset "PID[$n]"
  [ "$rc" -eq 0 ] || fail "$n exited with $rc after SIGTERM, expected 0"
  [ ! -e "$T/$n/stoad.sock" ] || fail "$n left its control socket behind"
  check_log "$n"
}

# node_kill NAME: SIGKILL, as a crash or a power cut would.
node_kill() {
  local n=$1 p=${PID[$1]}
  kill -KILL "$p" || fail "cannot kill $n"
  wait "$p" 2>/dev/null
  unset "PID[$n]"
}

# check_log NAME: no sanitizer report in NAME's daemon log.
check_log() {
  if grep -qE "$SAN_RE" "$T/$1.log"; then
    grep -E -A 30 "$SAN_RE" "$T/$1.log" | sed -n '1,60s/^/    | /p' >&2
    fail "sanitizer report in the daemon log of $1"
  fi
}

check_all_logs() {
  local n
  for n in "${NODES[@]}"; do [ -f "$T/$n.log" ] && check_log "$n"; done
  return 0
}

# stop_all: stops every running daemon with SIGTERM (exit 0, socket gone,
# and - at exit - the leak checker has had its say in the logs).
stop_all() {
  local n
  for n in "${NODES[@]}"; do [ -n "${PID[$n]:-}" ] && node_stop "$n"; done
  check_all_logs
}

# ---- waiting ------------------------------------------------------------------------

# wait_until WHAT CMD...: polls CMD (silently) until it succeeds; fails after
# WAIT_MAX seconds, or at once when a running daemon died.
wait_until() {
  local what=$1 n end=$((SECONDS + WAIT_MAX))
  shift
  while :; do
    for n in "${!PID[@]}"; do
      alive "${PID[$n]}" || fail "the daemon of $n died while waiting for $what"
    done
    "$@" >/dev/null 2>&1 && return 0
    if [ "$SECONDS" -ge "$end" ]; then
      diag
      fail "gave up after ${WAIT_MAX}s waiting for $what"
    fi
    sleep 0.2
  done
}

# diag: what each running daemon says about itself.
diag() {
  local n
  for n in "${!PID[@]}"; do
    echo "---- status of $n" >&2
    "$STOA" --home "$T/$n" status 2>&1 | sed -n '1,40s/^/    | /p' >&2
  done
}

# status_of NAME EXPR: a Python expression over NAME's `status --json` (d).
status_of() {
  "$STOA" --home "$T/$1" --json status 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1])
print(json.dumps(v) if isinstance(v, (list, dict, bool)) else v)' "$2"
}

# connected NAME ADDR...: NAME has a ready outgoing connection to each ADDR.
connected() {
  local n=$1 a
  shift
  for a in "$@"; do
    [ "$(status_of "$n" "[p['state'] for p in d['peers'] if p['addr'] == '$a' and p['direction'] == 'out']")" = '["connected"]' ] || return 1
  done
}

# nready NAME: how many of NAME's connections are past HELLO.
nready() { status_of "$1" "sum(p['state'] == 'connected' for p in d['peers'])"; }

# ---- sets -------------------------------------------------------------------------

# set_of NAME FILE: NAME's record hashes (every record, trust ones too).
set_of() { records_of "$T/$1" "$2"; }

# ids_of NAME: NAME's current entries, "id hash-of-current-version", sorted,
# one a line (from the plain-data export, which does not go through the
# search index; `--json ls` is checked on its own where it matters).
ids_of() {
  "$STOA" --home "$T/$1" export --format jsonl |
    python3 -c 'import json, sys; print("\n".join(sorted(j["id"] + " " + j["hash"] for j in (json.loads(l) for l in sys.stdin if l.strip()))))'
}

# ls_ids NAME: the ids `stoa --json ls` lists on NAME, sorted.
ls_ids() {
  "$STOA" --home "$T/$1" --json ls --limit 1000000 |
    python3 -c 'import json, sys; print("\n".join(sorted(e["id"] for e in json.load(sys.stdin))))'
}

# same_sets NAME...: every node holds the same records (compared by hash)
# and the same entries.
same_sets() {
  local first=$1 n
  set_of "$first" "$T/.set.$first" || return 1
  ids_of "$first" >"$T/.ids.$first" || return 1
  for n in "${@:2}"; do
    set_of "$n" "$T/.set.$n" || return 1
    cmp -s "$T/.set.$first" "$T/.set.$n" || return 1
    ids_of "$n" >"$T/.ids.$n" || return 1
    cmp -s "$T/.ids.$first" "$T/.ids.$n" || return 1
  done
}

# has_ids NAME ID...: NAME lists every one of these entries.
has_ids() {
  local n=$1 i
  shift
  ids_of "$n" >"$T/.has.$n" || return 1
  for i in "$@"; do grep -q "^$i " "$T/.has.$n" || return 1; done
}

# wait_converged NAME...: waits until the nodes hold the same records, then
# says how many.
wait_converged() {
  wait_until "$* to converge" same_sets "$@"
  echo "    converged: $* hold $(wc -l <"$T/.set.$1") records, $(wc -l <"$T/.ids.$1") entries"
}

# expect_found NAME WORD ID: a search for WORD on NAME lists entry ID.
expect_found() {
  ok --home "$T/$1" --json search "$2"
  expect_listed "$3"
}

# pair A B FEDERATION: A founds, B joins and is admitted, B dials A; both
# daemons run and B is connected.
pair() {
  found "$1" "$3"
  join "$2" "$T/$1.charter"
  admit "$1" "$2"
  set_peers "$2" "$1"
  node_start "$1"
  node_start "$2"
  wait_until "$2 to be connected to $1" connected "$2" "$(addr "$1")"
}

# orgs_jsonl N NAME CC > FILE: N organisations "NAME 0".. of country CC, with
# a short description each, as JSON Lines for `stoa add --from-json`.
orgs_jsonl() {
  python3 -c '
import json, sys
n, name, cc = int(sys.argv[1]), sys.argv[2], sys.argv[3]
for i in range(n):
    print(json.dumps({"kind": "org", "name": "%s %d" % (name, i), "country": cc, "type": "ngo",
                      "description": "a cooperative of fishers and market traders, number %d" % i}))' "$@"
}

# add_org NAME WORD: NAME adds an organisation named after WORD (a word
# unique to the test); its id in $ID.
add_org() {
  ok --home "$T/$1" add org --name "$2 Collective" --country FR --type ngo --theme integration
  ID=$(tr -d '[:space:]' <"$OUT")
  is_id "$ID" || fail "add printed no id: '$ID'"
}

# ---- link simulator (tests/linkproxy.c, docs/testing.md) ----------------------------
# A proxy is named like a node: it listens on PORT[NAME] (so `addr NAME` and
# `set_peers X NAME` point at it), logs to $T/NAME.log and writes its stats
# to $T/NAME.stats.  Its pid is kept in PID[NAME], so that it is killed at
# exit with the daemons and its death fails any wait at once.

# proxy_start NAME TARGET [LINKPROXY OPTIONS...]: a linkproxy in front of
# node TARGET's listening address; waits until it has written its stats.
proxy_start() {
  local n=$1 to=$2
  shift 2
  { [ -n "${LINKPROXY:-}" ] && [ -x "$LINKPROXY" ]; } ||
    fail "LINKPROXY must name the linkproxy binary (got '${LINKPROXY:-}')"
  [ -z "${PID[$n]:-}" ] || fail "$n is already running"
  new_port "$n"
  rm -f "$T/$n.stats"
  echo "==== start $(date +%T.%N)" >>"$T/$n.log"
  "$LINKPROXY" --listen "$(addr "$n")" --to "$(addr "$to")" --stats "$T/$n.stats" "$@" \
    2>>"$T/$n.log" </dev/null &
  PID[$n]=$!
  wait_until "the link proxy $n to start" test -s "$T/$n.stats"
}

# proxy_stop NAME: SIGTERM; the proxy must exit 0, write its last stats
# and have no sanitizer report.
proxy_stop() {
  local n=$1 p=${PID[$1]} i rc
  kill -TERM "$p" || fail "cannot signal the link proxy $n"
  for i in $(seq 100); do alive "$p" || break; sleep 0.1; done
  alive "$p" && fail "the link proxy $n did not exit within 10 s of SIGTERM"
  wait "$p"
  rc=$?
  unset "PID[$n]"
  [ "$rc" -eq 0 ] || fail "the link proxy $n exited with $rc after SIGTERM, expected 0"
  check_log "$n"
}

# proxy_stat NAME KEY: one figure of NAME's stats file (up_bytes,
# down_bytes, connections, open, cuts, cut_connections, stalls, ...), as
# last written (every second, and at exit).
proxy_stat() {
  awk -v k="$2" '$1 == k { print $2; found = 1 } END { exit !found }' "$T/$1.stats" 2>/dev/null ||
    fail "no '$2' in the stats of the link proxy $1"
}
