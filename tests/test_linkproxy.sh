#!/usr/bin/env bash
# test_linkproxy.sh - the link simulator (tests/linkproxy.c) does what the
# tests that use it rely on.  Python plays both ends on loopback; the proxy
# listens on a port the kernel picks (its stats file says which).
#   intact     8 MiB each way at once, through jitter and a small buffer:
#              both arrive intact and in order (SHA-256), the stats count
#              every byte, SIGTERM exits 0 and writes them
#   pressure   a receiver that does not read: the sender can only push
#              what the kernel buffers and --buffer hold (back-pressure)
#   cut        a cut closes both sides; a new connection works afterwards
#   rate       the cap holds in each direction independently (measured
#              rate reported against the cap; asserted loosely)
#   delay      round trip against twice --delay (reported; the bound
#              below is what the proxy guarantees)
#   stall      a stall freezes the link for --stall-for
#   seed       the same seed draws the same schedule, another seed not
#   args       bad arguments exit 2
# Timings are reported; the only bounds asserted are loose sanity or
# guarantees of the implementation (nothing arrives before its delay).
set -u
if [ -z "${LINKPROXY:-}" ] || [ ! -x "$LINKPROXY" ]; then
  echo "LINKPROXY must name the linkproxy binary (got '${LINKPROXY:-}')" >&2
  exit 1
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/linkproxy-test.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
export T
# Not exec: the shell stays to remove $T when python is done.
python3 - "$LINKPROXY" <<'EOF'
import hashlib, os, re, signal, socket, subprocess, sys, threading, time

LP = sys.argv[1]
T = os.environ["T"]
SAN_RE = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:")
procs = []
fails = 0

def check(cond, what):
    global fails
    if not cond:
        fails += 1
        print("FAIL: " + what, flush=True)
    return cond

def report(s):
    print("    " + s, flush=True)

class Proxy:
    """A linkproxy in front of a listening socket of ours."""
    n = 0
    def __init__(self, target_port, *args):
        Proxy.n += 1
        self.stats = os.path.join(T, "p%d.stats" % Proxy.n)
        self.logp = os.path.join(T, "p%d.log" % Proxy.n)
        self.log = open(self.logp, "w")
        self.p = subprocess.Popen([LP, "--listen", "127.0.0.1:0", "--to", "127.0.0.1:%d" % target_port,
                                   "--stats", self.stats] + list(args), stderr=self.log)
        procs.append(self.p)
        end = time.time() + 30
        while not os.path.exists(self.stats):
            if self.p.poll() is not None or time.time() > end:
                raise SystemExit("FAIL: linkproxy did not start: " + open(self.logp).read())
            time.sleep(0.02)
        self.port = self.read()["listen_port"]

    def read(self):
        d = {}
        for line in open(self.stats):
            k, v = line.split()
            d[k] = int(v)
        return d

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(30)
        self.log.close()
        text = open(self.logp).read()
        check(rc == 0, "linkproxy exited %s after SIGTERM, expected 0" % rc)
        check(not SAN_RE.search(text), "sanitizer report from linkproxy:\n" + text[-3000:])
        return self.read()

    def logtext(self):
        return open(self.logp).read()

def listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s, s.getsockname()[1]

def connect(port):
    c = socket.create_connection(("127.0.0.1", port), timeout=60)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c

def pipe(port, lsock):
    """A connection through the proxy: (client side, server side)."""
    c = connect(port)
    lsock.settimeout(30)
    s, _ = lsock.accept()
    s.settimeout(60)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c, s

def sender(sock, data, chunk=65536):
    def run():
        for i in range(0, len(data), chunk):
            sock.sendall(data[i:i + chunk])
        sock.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=run)
    t.start()
    return t

def drain(sock, out):
    """Reads to EOF; out gets the SHA-256, the byte count, first and last times."""
    def run():
        h, n, first = hashlib.sha256(), 0, None
        while True:
            b = sock.recv(1 << 16)
            if not b:
                break
            if first is None:
                first = time.time()
            h.update(b)
            n += len(b)
        out.update(sha=h.hexdigest(), n=n, first=first, last=time.time())
    t = threading.Thread(target=run)
    t.start()
    return t

def section(name):
    print("--- " + name, flush=True)

# ---- intact -------------------------------------------------------------------
section("intact: 8 MiB each way at once, jitter 3 ms, 64 KiB buffer")
ls, lport = listener()
px = Proxy(lport, "--delay", "2", "--jitter", "3", "--buffer", "65536", "--seed", "1")
c, s = pipe(px.port, ls)
N = 8 << 20
up, down = os.urandom(N), os.urandom(N)
got_up, got_down = {}, {}
t0 = time.time()
ts = [sender(c, up), sender(s, down), drain(s, got_up), drain(c, got_down)]
for t in ts:
    t.join(120)
el = time.time() - t0
check(got_up.get("n") == N, "upstream delivered %s bytes of %d" % (got_up.get("n"), N))
check(got_up.get("sha") == hashlib.sha256(up).hexdigest(), "upstream bytes differ (corrupted or reordered)")
check(got_down.get("n") == N, "downstream delivered %s bytes of %d" % (got_down.get("n"), N))
check(got_down.get("sha") == hashlib.sha256(down).hexdigest(), "downstream bytes differ (corrupted or reordered)")
report("16 MiB through the proxy in %.2f s" % el)
c.close(); s.close()
time.sleep(0.3)
st = px.stop()
check(st["up_bytes"] == N and st["down_bytes"] == N,
      "stats at SIGTERM count up %d / down %d bytes, expected %d each" % (st["up_bytes"], st["down_bytes"], N))
check(st["connections"] == 1 and st["cuts"] == 0, "stats: %r" % st)
check(st["open"] == 0, "the connection is still open after both sides closed: %r" % st)
ls.close()

# ---- pressure -----------------------------------------------------------------
section("pressure: a receiver that does not read stops the sender")
ls, lport = listener()
px = Proxy(lport, "--buffer", "262144")
c, s = pipe(px.port, ls)
c.setblocking(False)
pushed, chunk, end = 0, b"x" * 65536, time.time() + 3
while time.time() < end and pushed < (1 << 30):
    try:
        pushed += c.send(chunk)
    except BlockingIOError:
        time.sleep(0.01)
report("sender pushed %.1f MiB in 3 s while nobody read (kernel buffers + 256 KiB)" % (pushed / 1048576))
check(pushed < (256 << 20), "the sender pushed %d bytes without a reader: no back-pressure" % pushed)
# and everything pushed still arrives once the receiver reads
c.setblocking(True)
c.shutdown(socket.SHUT_WR)
got = {}
drain(s, got).join(60)
check(got.get("n") == pushed, "after the stall of the reader, %s of %d bytes arrived" % (got.get("n"), pushed))
c.close(); s.close()
px.stop()
ls.close()

# ---- cut ------------------------------------------------------------------------
section("cut: both sides closed, new connections accepted")
ls, lport = listener()
px = Proxy(lport, "--cut-every", "1:1.5", "--seed", "7")
c, s = pipe(px.port, ls)
c.sendall(b"hello")
check(s.recv(5) == b"hello", "bytes before the cut did not arrive")
def closed(sock):
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, socket.timeout) as e:
        return isinstance(e, ConnectionResetError)
t0 = time.time()
c.settimeout(10); s.settimeout(10)
cc, sc = closed(c), closed(s)
report("connection cut after %.2f s" % (time.time() - t0))
check(cc, "the client side was not closed by the cut")
check(sc, "the server side was not closed by the cut")
c.close(); s.close()
c, s = pipe(px.port, ls)
c.sendall(b"again")
check(s.recv(5) == b"again", "a connection after the cut does not work")
c.close(); s.close()
time.sleep(0.2)
st = px.stop()
check(st["cuts"] >= 1 and st["cut_connections"] >= 1, "stats after a cut: %r" % st)
check(st["connections"] == 2, "connections counted: %d, expected 2" % st["connections"])
ls.close()

# ---- rate -----------------------------------------------------------------------
RATE, SIZE = 300000, 900000
section("rate: %d B/s cap, %d bytes each way at once" % (RATE, SIZE))
ls, lport = listener()
px = Proxy(lport, "--rate", str(RATE))
c, s = pipe(px.port, ls)
up, down = os.urandom(SIZE), os.urandom(SIZE)
got_up, got_down = {}, {}
t0 = time.time()
ts = [sender(c, up), sender(s, down), drain(s, got_up), drain(c, got_down)]
for t in ts:
    t.join(120)
for name, got, data in (("up", got_up, up), ("down", got_down, down)):
    check(got.get("sha") == hashlib.sha256(data).hexdigest(), "%s: bytes differ under the rate cap" % name)
    el = got["last"] - t0
    r = SIZE / el
    report("%s: %d bytes in %.2f s = %.0f B/s, %.2f x the cap of %d (ideal %.2f s)"
           % (name, SIZE, el, r, r / RATE, RATE, SIZE / RATE))
    check(r <= 2 * RATE, "%s: %.0f B/s is more than twice the cap" % (name, r))
    check(r >= RATE / 10, "%s: %.0f B/s is hopelessly below the cap" % (name, r))
c.close(); s.close()
px.stop()
ls.close()

# ---- delay ------------------------------------------------------------------------
DELAY = 150
section("delay: %d ms each way" % DELAY)
ls, lport = listener()
px = Proxy(lport, "--delay", str(DELAY), "--jitter", "20", "--seed", "3")
c, s = pipe(px.port, ls)
rtts = []
for i in range(5):
    t = time.time()
    c.sendall(b"p")
    check(s.recv(1) == b"p", "ping lost")
    s.sendall(b"q")
    check(c.recv(1) == b"q", "pong lost")
    rtts.append((time.time() - t) * 1000)
rtts.sort()
report("round trips %s ms; median %.0f ms against %d ms of added delay"
       % (", ".join("%.0f" % x for x in rtts), rtts[2], 2 * DELAY))
# Jitter is +-20 ms each way, so no round trip can be under 2 x (150 - 20).
check(rtts[0] >= 2 * (DELAY - 20) - 1, "a round trip of %.0f ms is shorter than the delay allows" % rtts[0])
c.close(); s.close()
px.stop()
ls.close()

# ---- stall --------------------------------------------------------------------------
section("stall: the link freezes for 1.5 s")
ls, lport = listener()
px = Proxy(lport, "--stall-every", "0.5:0.5", "--stall-for", "1.5", "--seed", "5")
c, s = pipe(px.port, ls)
gap, last, end = 0.0, time.time(), time.time() + 2.5
while time.time() < end:
    c.sendall(b"p")
    check(s.recv(1) == b"p", "ping lost in a stall")
    now = time.time()
    gap, last = max(gap, now - last), now
    time.sleep(0.02)
report("longest wait for a ping: %.2f s (stall 1.5 s)" % gap)
check(gap >= 1.4, "no ping waited through the stall (longest %.2f s)" % gap)
c.close(); s.close()
st = px.stop()
check(st["stalls"] >= 1, "no stall counted: %r" % st)
ls.close()

# ---- seed ----------------------------------------------------------------------------
section("seed: the schedule is a function of the seed")
def schedule(seed):
    ls, lport = listener()
    px = Proxy(lport, "--cut-every", "0.05:0.2", "--stall-every", "0.05:0.2", "--stall-for", "0.05",
               "--seed", str(seed))
    time.sleep(1.2)
    px.stop()
    ls.close()
    log = px.logtext()
    # cuts and stalls are drawn from streams of their own: compare each
    # (their interleaving depends on the clock)
    return [re.findall(r"(?:first|next) %s in ([0-9.]+) s" % k, log) for k in ("cut", "stall")]
a, b, o = schedule(42), schedule(42), schedule(43)
for k, name in enumerate(("cut", "stall")):
    n = min(len(a[k]), len(b[k]))
    report("%s times drawn: seed 42: %d, then %d; seed 43: %d" % (name, len(a[k]), len(b[k]), len(o[k])))
    check(n >= 3 and a[k][:n] == b[k][:n],
          "the same seed drew different %s times:\n%s\n%s" % (name, a[k][:n], b[k][:n]))
    m = min(n, len(o[k]))
    check(a[k][:m] != o[k][:m], "seeds 42 and 43 drew the same %s times" % name)

# ---- args ------------------------------------------------------------------------------
section("args: bad arguments exit 2")
for args in (["--to", "127.0.0.1:1"], ["--listen", "127.0.0.1:0", "--to", "127.0.0.1:1", "--rate", "-5"],
             ["--listen", "127.0.0.1:0", "--to", "127.0.0.1:1", "--cut-every", "5:1"],
             ["--listen", "127.0.0.1:0", "--to", "127.0.0.1:1", "--stall-every", "1:2"],
             ["--listen", "127.0.0.1:0", "--to", "127.0.0.1:1", "--delay", "1x"]):
    r = subprocess.run([LP] + args, capture_output=True, timeout=30)
    check(r.returncode == 2 and r.stderr, "linkproxy %s: exit %d, expected 2 with a message" % (" ".join(args), r.returncode))

for p in procs:
    if p.poll() is None:
        p.kill()
if fails:
    print("FAIL test_linkproxy: %d check(s) failed" % fails)
    sys.exit(1)
print("PASS test_linkproxy")
EOF
