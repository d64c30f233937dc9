#!/usr/bin/env bash
# man.sh - the man pages (docs/man/*.scd) are in step with the code:
#   commands   every command `stoa --help` lists is documented in stoa(1)'s
#              COMMANDS, and every command documented there exists; every
#              option and subcommand of each `stoa COMMAND --help` usage is
#              documented in that command's entries, and every option that
#              cli/cmd_*.c parses is documented somewhere in COMMANDS
#   globals    every global option of `stoa --help`'s usage line and of
#              cli/main.c is documented in stoa(1)'s OPTIONS, and nothing
#              else is
#   exits      the exit codes of cli/cli.h are those of stoa(1)'s EXIT STATUS
#   config     every section and key node/config.c accepts (its `strcmp(
#              section, ...)` and `strcmp(name, ...)` tests) has its entry in
#              stoa.ini(5)'s SETTINGS, and every key documented there is
#              accepted (or said to be ignored)
#   stoad      every option of `stoad --help` and of node/main.c's getopt
#              tables is documented in stoad(8)'s OPTIONS, and nothing else
#   scdoc      each page builds with scdoc without a message, the built page
#              (MANDIR) is what its source gives, and groff (when installed)
#              renders it without a warning
# Prints what is missing; exits 1 on any miss, 77 (skipped) when scdoc is
# not installed and everything else passed.
# Environment: STOA, STOAD (the built binaries), SRCDIR (the source tree),
# MANDIR (where meson built the pages; empty: not compared), SCDOC (scdoc's
# path; empty when meson did not find it, unset to look for it in PATH).
set -u
: "${STOA:?STOA is the built stoa}" "${STOAD:?STOAD is the built stoad}"
: "${SRCDIR:?SRCDIR is the source tree}"
export STOA STOAD SRCDIR MANDIR="${MANDIR:-}"
exec python3 - <<'PY'
import os, re, shutil, subprocess, sys

STOA, STOAD, SRC = os.environ["STOA"], os.environ["STOAD"], os.environ["SRCDIR"]
# SCDOC empty: meson did not find scdoc (no page built); unset: look for it.
MANDIR, SCDOC = os.environ["MANDIR"], os.environ.get("SCDOC")
if SCDOC is None:
    SCDOC = shutil.which("scdoc") or ""
PAGES = ["stoa.1", "stoad.8", "stoa.ini.5"]
misses = []


def miss(where, what):
    misses.append(f"{where}: {what}")
    print(f"MISSING {where}: {what}")


def src(rel):
    with open(os.path.join(SRC, rel), encoding="utf-8") as f:
        return f.read()


def run(*args):
    p = subprocess.run(list(args), capture_output=True, text=True)
    if p.returncode != 0:
        miss(" ".join(args), f"exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def options(text):
    """Options named in text: -o, --max-size; not placeholders (--FIELD)."""
    return set(re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", text))


# ---- scdoc pages: sections, and the entries (definitions) in them ---------

def sections(text, level):
    """{header: [lines]} of the `#` (level 1) or `##` (level 2) headers."""
    out, cur = {}, None
    mark = "#" * level + " "
    for line in text.split("\n"):
        if line.startswith(mark):
            cur = line[len(mark):].strip()
            out[cur] = []
        elif level == 1 and line.startswith("# "):
            cur = None
        elif cur is not None:
            if level == 2 and line.startswith("# "):
                cur = None
            else:
                out[cur].append(line)
    return out


def entries(lines):
    """[(term, body)]: a term is the unindented lines of a definition (bold
    first, or a continuation of the term); its body the indented lines that
    follow.  A term without a body is prose, not an entry."""
    out, term, body, blank = [], None, None, True
    for line in lines:
        if not line.strip():
            blank = True
            continue
        if line.startswith("\t"):
            if term is not None:
                body.append(line)
        elif line.startswith("*") or (line.startswith("\\[") and term is not None):
            if term is not None and not body and not blank:
                term.append(line)            # a term over several lines
            elif line.startswith("*"):
                term, body = [line], []
                out.append((term, body))
            else:
                term, body = None, None
        else:
            term, body = None, None          # prose
        blank = False
    return [("\n".join(t), "\n".join(b)) for t, b in out if b]


def bold(text):
    return set(re.findall(r"\*([^*\s][^*]*?)\*", text.replace("\\*", "")))


def page(name):
    try:
        return src(f"docs/man/{name}.scd")
    except OSError as e:
        miss(name, f"cannot read the page: {e}")
        return ""


stoa1, stoad8, ini5 = page("stoa.1"), page("stoad.8"), page("stoa.ini.5")

# ---- stoa(1): commands ----------------------------------------------------

top = run(STOA, "--help")
m = re.search(r"Commands:\n\n((?:  \S.*\n)+)", top)
commands = re.findall(r"^  ([a-z][a-z-]*)\s", m.group(1), re.M) if m else []
table = re.findall(r'\{\s*"([a-z][a-z-]*)",\s*cmd_\w+', src("cli/main.c"))
if len(commands) < 10:
    miss("stoa --help", f"cannot read its command list (found {commands})")
if set(table) != set(commands):
    miss("stoa --help", f"lists {sorted(commands)} but cli/main.c's table has {sorted(table)}")

s1 = sections(stoa1, 1)
cmd_entries = {}
for term, body in entries(s1.get("COMMANDS", [])):
    for line in term.split("\n"):
        w = re.match(r"\*([a-z][a-z-]*)[* ]", line)
        if w:
            cmd_entries.setdefault(w.group(1), []).append(term + "\n" + body)
if not cmd_entries:
    miss("stoa.1", "no COMMANDS section with entries")
for c in commands:
    if c not in cmd_entries:
        miss("stoa.1 COMMANDS", f"command '{c}' (in `stoa --help`) is not documented")
for c in cmd_entries:
    if commands and c not in commands:
        miss("stoa.1 COMMANDS", f"documents '{c}', which `stoa --help` does not list")

for c in commands:
    out = run(STOA, c, "--help")
    um = re.search(r"^usage: stoa (.*(?:\n[ \t]+\S.*)*)", out, re.M)
    if not um:
        miss(f"stoa {c} --help", "no usage line")
        continue
    text = "\n".join(cmd_entries.get(c, []))
    for o in sorted(options(um.group(1))):
        if c in cmd_entries and o not in bold(text):
            miss("stoa.1 COMMANDS", f"'{c}' does not document {o} (in `stoa {c} --help`)")
    # Subcommands and fixed words (key rotate, --format csv): lower case
    # words of the usage that are not options; placeholders are upper case.
    words = {w for b in bold(text) for w in re.split(r"[\s|]+", b)}
    for w in sorted(set(re.findall(r"(?<![\w-])([a-z][a-z-]*)(?![\w-])", um.group(1))) - {c, "stoa"}):
        if c in cmd_entries and w not in words:
            miss("stoa.1 COMMANDS", f"'{c}' does not document '{w}' (in `stoa {c} --help`)")

parsed = set()
for f in sorted(os.listdir(os.path.join(SRC, "cli"))):
    if f.startswith("cmd_") and f.endswith(".c"):
        t = src(f"cli/{f}")
        parsed |= set(re.findall(r'cli_opt\(\s*\w+,\s*\w+,\s*&\w+,\s*"(-[^"]+)"', t))
        parsed |= set(re.findall(r'cli_flag\(\s*\w+,\s*\w+,\s*"(-[^"]+)"', t))
        parsed |= set(re.findall(r'strcmp\(\s*argv\[\w+\],\s*"(-[^"]+)"\s*\)', t))
if len(parsed) < 10:
    miss("cli/cmd_*.c", f"cannot read the options the commands parse (found {sorted(parsed)})")
all_cmd_text = "\n".join(x for v in cmd_entries.values() for x in v)
for o in sorted(parsed):
    if o not in bold(all_cmd_text):
        miss("stoa.1 COMMANDS", f"option {o} (parsed in cli/cmd_*.c) is not documented")

# ---- stoa(1): global options ----------------------------------------------

um = re.search(r"^usage: stoa (.*?) COMMAND", top, re.M)
globals_help = options(um.group(1)) if um else set()
if not um or len(globals_help) < 3:
    miss("stoa --help", f"cannot read the global options of its usage line ({top[:80]!r})")
mm = re.search(r"int main\(.*?\n\}\n", src("cli/main.c"), re.S)
main_c = mm.group(0) if mm else ""
globals_code = set(re.findall(r'cli_opt\(\s*\w+,\s*\w+,\s*&\w+,\s*"(-[^"]+)"', main_c))
globals_code |= set(re.findall(r'cli_flag\(\s*\w+,\s*\w+,\s*"(-[^"]+)"', main_c))
if len(globals_code) < 3:
    miss("cli/main.c", f"cannot read the global options main() parses ({sorted(globals_code)})")
def same_options(where, lines, taken, prog):
    """The options an OPTIONS section documents are exactly those taken."""
    terms = set()
    for term, _ in entries(lines):
        terms |= {b for b in bold(term) if b.startswith("-")}
    for o in sorted(taken - terms):
        miss(where, f"option {o} is not documented")
    for o in sorted(terms - taken):
        miss(where, f"documents {o}, which {prog} does not take")


same_options("stoa.1 OPTIONS", s1.get("OPTIONS", []), globals_help | globals_code, "stoa")

# ---- stoa(1): exit codes --------------------------------------------------

codes = set(re.findall(r"\bEX_[A-Z]+\s*=\s*(\d+)", src("cli/cli.h")))
documented = set()
for term, _ in entries(s1.get("EXIT STATUS", [])):
    documented |= {b for b in bold(term) if b.isdigit()}
if len(codes) < 5:
    miss("cli/cli.h", f"cannot read the exit codes ({sorted(codes)})")
for c in sorted(codes - documented, key=int):
    miss("stoa.1 EXIT STATUS", f"exit code {c} (cli/cli.h) is not documented")
for c in sorted(documented - codes, key=int):
    miss("stoa.1 EXIT STATUS", f"documents exit code {c}, which cli/cli.h does not have")

# ---- stoa.ini(5): every section and key of node/config.c ------------------

cfg = src("node/config.c")
fm = re.search(r"static int on_value\(.*?\n\}\n", cfg, re.S)
accepted = {}
if fm:
    body, cur = fm.group(0), None
    for t in re.finditer(r'strcmp\(\s*(section|name)\s*,\s*"([^"]+)"\s*\)', body):
        if t.group(1) == "section":
            cur = t.group(2)
            accepted.setdefault(cur, set())
        elif cur is None:
            miss("node/config.c", f"key '{t.group(2)}' tested before any section")
        else:
            accepted[cur].add(t.group(2))
nkeys = sum(len(v) for v in accepted.values())
if len(accepted) < 2 or nkeys < 10:
    miss("node/config.c", f"cannot read the sections and keys on_value() accepts ({accepted})")

settings = sections("\n".join(sections(ini5, 1).get("SETTINGS", [])), 2)
doc_sections = {}
for h, lines in settings.items():
    hm = re.fullmatch(r"\[(\w+)\]", h)
    if hm:
        doc_sections[hm.group(1)] = entries(lines)
for sec in sorted(accepted):
    if sec not in doc_sections:
        miss("stoa.ini.5 SETTINGS", f"section [{sec}] (node/config.c) has no '## [{sec}]'")
        continue
    keys = set()
    for term, _ in doc_sections[sec]:
        keys |= bold(term.split("=")[0])
    for k in sorted(accepted[sec] - keys):
        miss("stoa.ini.5 SETTINGS", f"[{sec}] {k} (node/config.c) is not documented")
for sec, ents in sorted(doc_sections.items()):
    if sec not in accepted:
        miss("stoa.ini.5 SETTINGS", f"documents section [{sec}], which node/config.c does not read")
        continue
    for term, body in ents:
        if "ignore" in body:
            continue
        for k in sorted(bold(term.split("=")[0])):
            if re.fullmatch(r"[a-z_]+", k) and k not in accepted[sec]:
                miss("stoa.ini.5 SETTINGS", f"documents [{sec}] {k}, which node/config.c does not accept")

# ---- stoad(8): options ----------------------------------------------------

dh = run(STOAD, "--help")
um = re.search(r"^usage: stoad (.*)$", dh, re.M)
stoad_help = options(um.group(1)) if um else set()
if len(stoad_help) < 2:
    miss("stoad --help", f"cannot read the options of its usage line ({dh[:80]!r})")
nm = src("node/main.c")
stoad_code = {"--" + o for o in re.findall(r'\{\s*"([a-z][a-z-]*)",\s*(?:no|required|optional)_argument', nm)}
for short in re.findall(r'getopt_long\(\s*\w+,\s*\w+,\s*"([^"]*)"', nm):
    stoad_code |= {"-" + ch for ch in short if ch.isalnum()}
if len(stoad_code) < 3:
    miss("node/main.c", f"cannot read stoad's getopt tables ({sorted(stoad_code)})")
same_options("stoad.8 OPTIONS", sections(stoad8, 1).get("OPTIONS", []), stoad_help | stoad_code, "stoad")

# ---- the pages build ------------------------------------------------------

skipped = False
if not SCDOC:
    print("scdoc is not installed: the pages are not built or checked")
    skipped = True
else:
    groff = shutil.which("groff")
    for p in PAGES:
        with open(os.path.join(SRC, "docs/man", p + ".scd"), "rb") as f:
            r = subprocess.run([SCDOC], stdin=f, capture_output=True)
        if r.returncode != 0 or r.stderr:
            miss(f"{p}.scd", f"scdoc exited {r.returncode}: {r.stderr.decode(errors='replace').strip()}")
            continue
        if MANDIR:
            try:
                with open(os.path.join(MANDIR, p), "rb") as f:
                    built = f.read()
                strip = lambda b: re.sub(rb'^\.TH .*$', b'', b, flags=re.M)
                if strip(built) != strip(r.stdout):
                    miss(os.path.join(MANDIR, p), "differs from what its source gives: rebuild")
            except OSError as e:
                miss(p, f"not built: {e}")
        if groff:
            g = subprocess.run([groff, "-k", "-man", "-Tutf8", "-ww", "-z"], input=r.stdout,
                               capture_output=True)
            if g.returncode != 0 or g.stderr:
                miss(f"{p} (groff)", g.stderr.decode(errors="replace").strip())

if misses:
    print(f"\n{len(misses)} miss(es): the man pages are not in step with the code")
    sys.exit(1)
print(f"man pages in step: {len(commands)} commands, {len(globals_help | globals_code)} global options, "
      f"{nkeys} settings in {len(accepted)} sections, {len(stoad_help | stoad_code)} stoad options, "
      f"{len(codes)} exit codes" + ("" if skipped else f"; {len(PAGES)} pages build"))
sys.exit(77 if skipped else 0)
PY
