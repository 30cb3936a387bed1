#!/usr/bin/env python3
"""Deterministic data set for the disaster-recovery benchmark (bench/dr/dr_compare.sh).

    generate_data.py DIR [--size 500M] [--seed 1]    write a fresh tree into DIR (must be empty)
    generate_data.py --mutate DIR [--seed 1]         change about 1% of DIR's bytes in place
    generate_data.py --manifest DIR                  print one line per entry (path, type, mode,
                                                     size, mtime, SHA-256 or link target), sorted

The tree mixes what a backup tool meets on a real server (shares of --size):
  logs/      ~25%  text logs: nginx access logs, JSON application logs, syslog (compressible)
  media/     ~55%  incompressible "media segments" (2-8 MB each at 500M; scaled down below it)
  projects/  ~12%  thousands of 1-16 KB files in nested dirs: JSON/YAML config, source, docs,
                   CSV, a few duplicated vendor copies
  data/      ~8%   one page-structured database file (4 KiB pages, partly compressible)
plus a few symlinks (to files and to a directory), a few empty directories, executable and
0600 files, and fixed modification times.

The same --size and --seed give the same tree, byte for byte, modes and mtimes included:
random choices come from random.Random(seed) and incompressible bytes from SHAKE-256 keyed by
seed and file name. --mutate is deterministic too (it picks from the sorted listing): it
appends to the current logs, adds a rotated log, rewrites some small files, adds and deletes
a few, replaces one media segment, overwrites pages in the middle of the database and a block
in the middle of the largest media segment, and changes one file's mode. Changed files get a
later fixed mtime. Python 3 standard library only.
"""

import argparse
import hashlib
import json
import os
import random
import stat
import sys

T0 = 1714521600  # 2024-05-01T00:00:00Z: mtimes of the generated tree
T1 = T0 + 30 * 86400  # mtimes of what --mutate changes
PAGE = 4096

SHARES = {"logs": 0.25, "media": 0.55, "small": 0.12, "db": 0.08}


def parse_size(text):
    t = text.strip().upper().rstrip("B").rstrip("I")
    mult = 1
    if t and t[-1] in "KMGT":
        mult = 1 << (10 * ("KMGT".index(t[-1]) + 1))
        t = t[:-1]
    try:
        value = int(float(t) * mult)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad size {text!r} (use e.g. 500M, 50M, 1G)")
    if value < (1 << 20):
        raise argparse.ArgumentTypeError("size must be at least 1M")
    return value


def shake_bytes(seed, name, n):
    """Incompressible, reproducible bytes keyed by seed and name."""
    return hashlib.shake_256(f"{seed}:{name}".encode()).digest(n)


class Writer:
    """Writes files under root with fixed modes and mtimes, and counts what it wrote."""

    def __init__(self, root):
        self.root = root
        self.files = 0
        self.bytes = 0
        self.counter = 0

    def path(self, rel):
        return os.path.join(self.root, rel)

    def write(self, rel, data, mode=0o644, mtime=None):
        p = self.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, mode)
        self.counter += 1
        t = mtime if mtime is not None else T0 + self.counter * 7
        os.utime(p, (t, t))
        self.files += 1
        self.bytes += len(data)

    def symlink(self, rel, target):
        p = self.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        os.symlink(target, p)
        os.utime(p, (T0, T0), follow_symlinks=False)

    def empty_dir(self, rel):
        os.makedirs(self.path(rel), exist_ok=True)


def fix_dir_times(root, t, only=None):
    """Sets directory modes and mtimes (deepest first, so a parent's time is not disturbed)."""
    for dirpath, _, _ in sorted(os.walk(root), key=lambda e: -e[0].count(os.sep)):
        if only is not None and os.path.relpath(dirpath, root) not in only:
            continue
        if only is None:
            os.chmod(dirpath, 0o755)
        os.utime(dirpath, (t, t))


# --- text -------------------------------------------------------------------------------------

WORDS = ("request session cache upstream backend token retry timeout segment manifest origin "
         "region shard replica stream client server health check route policy limit bucket "
         "window metric counter gauge latency buffer queue worker thread handler config value "
         "default enabled disabled primary secondary failover restore backup snapshot chunk "
         "index pack digest verify prune retention schedule interval archive volume").split()
PATHS = ["/", "/index.html", "/api/v1/streams", "/api/v1/streams/{}", "/api/v1/users/{}/profile",
         "/live/{}/playlist.m3u8", "/live/{}/seg-{}.ts", "/vod/{}/manifest.mpd", "/static/app.{}.js",
         "/static/style.{}.css", "/healthz", "/metrics", "/login", "/api/v1/search?q={}"]
AGENTS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36",
          "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4 Safari/605.1.15",
          "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
          "VLC/3.0.20 LibVLC/3.0.20", "ExoPlayerLib/2.19.1", "curl/7.88.1",
          "Prometheus/2.45.0", "kube-probe/1.29"]
STATUS = [200] * 40 + [206] * 8 + [304] * 6 + [301, 302, 400, 401, 403, 404, 404, 499, 500, 502, 503]
LEVELS = ["INFO"] * 12 + ["DEBUG"] * 6 + ["WARN"] * 2 + ["ERROR"]
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def fmt_clf_time(t):
    import time as _time
    g = _time.gmtime(t)
    return f"{g.tm_mday:02d}/{MONTHS[g.tm_mon - 1]}/{g.tm_year}:{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d} +0000"


def fmt_iso(t, ms):
    import time as _time
    g = _time.gmtime(t)
    return (f"{g.tm_year}-{g.tm_mon:02d}-{g.tm_mday:02d}T{g.tm_hour:02d}:{g.tm_min:02d}:"
            f"{g.tm_sec:02d}.{ms:03d}Z")


def access_lines(rng, t, nbytes):
    out, size = [], 0
    ips = [f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
           for _ in range(400)]
    while size < nbytes:
        t += rng.random() * 0.05
        p = rng.choice(PATHS)
        if "{}" in p:
            p = p.format(*(rng.randrange(10000) for _ in range(p.count("{}"))))
        st = rng.choice(STATUS)
        line = (f'{rng.choice(ips)} - - [{fmt_clf_time(int(t))}] "GET {p} HTTP/1.1" {st} '
                f'{rng.randrange(200, 2_000_000) if st in (200, 206) else rng.randrange(0, 600)} '
                f'"-" "{rng.choice(AGENTS)}" rt={rng.random() * 0.8:.3f} '
                f'uct="{rng.random() * 0.01:.3f}" req_id={rng.getrandbits(64):016x}\n')
        out.append(line)
        size += len(line)
    return "".join(out).encode(), t


def app_lines(rng, t, nbytes):
    out, size = [], 0
    while size < nbytes:
        t += rng.random() * 0.08
        lvl = rng.choice(LEVELS)
        rec = {
            "ts": fmt_iso(int(t), rng.randrange(1000)),
            "level": lvl,
            "logger": f"streamgate.{rng.choice(WORDS)}",
            "thread": f"worker-{rng.randrange(16)}",
            "msg": " ".join(rng.choice(WORDS) for _ in range(rng.randrange(3, 12))),
            "request_id": f"{rng.getrandbits(64):016x}",
            "duration_ms": round(rng.random() * 250, 2),
        }
        if lvl == "ERROR":
            rec["error"] = f"{rng.choice(WORDS)} failed: connection reset by peer (errno {rng.randrange(1, 130)})"
        line = json.dumps(rec, separators=(",", ":")) + "\n"
        out.append(line)
        size += len(line)
    return "".join(out).encode(), t


def syslog_lines(rng, t, nbytes):
    out, size = [], 0
    procs = ["kernel", "systemd[1]", "sshd[{}]", "CRON[{}]", "streamgate[{}]", "dockerd[{}]"]
    import time as _time
    while size < nbytes:
        t += rng.random() * 2
        g = _time.gmtime(int(t))
        proc = rng.choice(procs)
        if "{}" in proc:
            proc = proc.format(rng.randrange(300, 65000))
        line = (f"{MONTHS[g.tm_mon - 1]} {g.tm_mday:2d} {g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d} "
                f"edge-{rng.randrange(4):02d} {proc}: "
                + " ".join(rng.choice(WORDS) for _ in range(rng.randrange(4, 14))) + "\n")
        out.append(line)
        size += len(line)
    return "".join(out).encode(), t


LOG_KINDS = {"access": access_lines, "app": app_lines, "syslog": syslog_lines}


def log_plan(budget):
    """(relative path, kind, size) for the log files; the first of each kind is the 'current' one."""
    plan = []
    shares = {"access": 0.55, "app": 0.35, "syslog": 0.10}
    for kind, share in shares.items():
        total = int(budget * share)
        # Rotated files: current, then .1, .2, ... shrinking geometrically.
        n = 6
        weights = [0.75 ** i for i in range(n)]
        wsum = sum(weights)
        for i, w in enumerate(weights):
            size = max(4096, int(total * w / wsum))
            if kind == "access":
                name = "logs/nginx/access.log" + ("" if i == 0 else f".{i}")
            elif kind == "app":
                name = f"logs/app/app-2024-04-{30 - i:02d}.log"
            else:
                name = "logs/syslog" + ("" if i == 0 else f".{i}")
            plan.append((name, kind, size))
    return plan


# --- small files ------------------------------------------------------------------------------

EXTS = ["json", "yaml", "py", "cpp", "hpp", "js", "md", "csv", "sh", "conf"]
AREAS = ["src", "src", "src", "tests", "config", "docs", "vendor/lib", "tools"]
IDENTS = ("parse load store fetch update render encode decode split merge resolve apply "
          "validate schedule dispatch connect close flush reset emit collect").split()


def small_content(rng, ext, size):
    parts, n = [], 0
    while n < size:
        if ext == "json":
            s = json.dumps({rng.choice(WORDS): {"id": rng.randrange(1 << 20), "enabled": rng.random() < 0.5,
                                                 "name": f"{rng.choice(WORDS)}-{rng.randrange(100)}",
                                                 "weights": [round(rng.random(), 3) for _ in range(4)]}},
                           indent=2) + "\n"
        elif ext in ("yaml", "conf"):
            s = (f"{rng.choice(WORDS)}:\n  {rng.choice(WORDS)}: {rng.randrange(10000)}\n"
                 f"  {rng.choice(WORDS)}: \"{rng.choice(WORDS)}-{rng.getrandbits(24):06x}\"\n")
        elif ext == "csv":
            s = ",".join([str(rng.randrange(1 << 30)), rng.choice(WORDS), f"{rng.random() * 1000:.4f}",
                          fmt_iso(T0 - rng.randrange(10 ** 7), rng.randrange(1000))]) + "\n"
        elif ext == "md":
            s = "## " + " ".join(rng.choice(WORDS) for _ in range(4)).title() + "\n\n" + \
                " ".join(rng.choice(WORDS) for _ in range(rng.randrange(20, 60))) + ".\n\n"
        elif ext == "sh":
            s = f"{rng.choice(IDENTS)}_{rng.choice(WORDS)}() {{\n  echo \"{rng.choice(WORDS)}\" >&2\n  " \
                f"\"$@\" --{rng.choice(WORDS)} {rng.randrange(100)}\n}}\n"
        else:  # source-like
            fn = f"{rng.choice(IDENTS)}_{rng.choice(WORDS)}"
            if ext == "py":
                s = (f"def {fn}(self, {rng.choice(WORDS)}, {rng.choice(WORDS)}=None):\n"
                     f"    \"\"\"{' '.join(rng.choice(WORDS) for _ in range(8))}.\"\"\"\n"
                     f"    if {rng.choice(WORDS)} is None:\n        return {rng.randrange(1000)}\n"
                     f"    return self.{rng.choice(IDENTS)}({rng.choice(WORDS)}) + {rng.randrange(100)}\n\n")
            elif ext == "js":
                s = (f"export function {fn}({rng.choice(WORDS)}, opts = {{}}) {{\n"
                     f"  const {rng.choice(WORDS)} = opts.{rng.choice(WORDS)} ?? {rng.randrange(1000)};\n"
                     f"  return {rng.choice(IDENTS)}({rng.choice(WORDS)});\n}}\n\n")
            else:
                s = (f"int {fn}(const {rng.choice(WORDS).title()}& {rng.choice(WORDS)}, int n) {{\n"
                     f"  // {' '.join(rng.choice(WORDS) for _ in range(7))}\n"
                     f"  for (int i = 0; i < n; ++i) total_ += {rng.choice(WORDS)}.{rng.choice(IDENTS)}(i);\n"
                     f"  return static_cast<int>(total_ % {rng.randrange(2, 1 << 16)});\n}}\n\n")
        parts.append(s)
        n += len(s)
    return "".join(parts).encode()[:size]


def small_plan(rng, budget):
    plan, total, i = [], 0, 0
    nproj = max(4, int(budget / 8500 / 400))
    while total < budget:
        size = int(1024 * 16 ** rng.random())  # log-uniform 1-16 KiB
        proj = rng.randrange(nproj)
        area = rng.choice(AREAS)
        if area == "vendor/lib":
            area = f"vendor/lib{rng.randrange(6)}"
        ext = rng.choice(EXTS)
        if area == "config":
            ext = rng.choice(["json", "yaml", "conf"])
        rel = f"projects/p{proj:02d}/{area}/m{rng.randrange(12):02d}/{rng.choice(IDENTS)}_{i:05d}.{ext}"
        plan.append((rel, ext, size))
        total += size
        i += 1
    return plan


def small_mode(rng, ext, rel):
    if ext == "sh" or "/tools/" in rel:
        return 0o755
    if "/config/" in rel and rng.random() < 0.2:
        return 0o600
    return 0o644


# --- database-like file -----------------------------------------------------------------------

def db_page(seed, rng, n):
    """One 4 KiB page: header, sorted-ish records and some random (encrypted-column-like) bytes."""
    head = f"PAGE{n:08d}".encode()
    recs = []
    while sum(map(len, recs)) < PAGE // 2:
        recs.append(f"|{rng.randrange(1 << 31):010d}|{rng.choice(WORDS)}|{rng.choice(WORDS)}|{rng.random():.6f}".encode())
    body = head + b"".join(recs)
    body = body[:PAGE // 2 + 512]
    return body + shake_bytes(seed, f"db-page-{n}-{rng.getrandbits(32)}", PAGE - len(body))


# --- generate ---------------------------------------------------------------------------------

def generate(root, size, seed):
    if os.path.exists(root) and os.listdir(root):
        sys.exit(f"generate_data: {root} exists and is not empty")
    os.makedirs(root, exist_ok=True)
    rng = random.Random(seed)
    w = Writer(root)
    parts = {}

    # logs
    before = w.bytes
    t = T0 - 14 * 86400
    for rel, kind, n in reversed(log_plan(int(size * SHARES["logs"]))):  # oldest first
        data, t = LOG_KINDS[kind](rng, t, n)
        w.write(rel, data)
    parts["logs"] = w.bytes - before

    # media: segments of 2-8 MB at 500M, scaled down for smaller sets (at least 64 KiB-256 KiB)
    before = w.bytes
    budget = int(size * SHARES["media"])
    scale = min(1.0, size / (500 << 20))
    lo, hi = max(64 << 10, int((2 << 20) * scale)), max(256 << 10, int((8 << 20) * scale))
    nstreams = 4
    seg = 0
    while w.bytes - before < budget:
        n = min(rng.randrange(lo, hi + 1), max(lo, budget - (w.bytes - before)))
        w.write(f"media/stream-{seg % nstreams:02d}/seg-{seg // nstreams:05d}.ts", shake_bytes(seed, f"seg{seg}", n))
        seg += 1
    parts["media"] = w.bytes - before

    # many small files, some vendor files duplicated verbatim into a second project
    before = w.bytes
    plan = small_plan(rng, int(size * SHARES["small"]))
    dups = 0
    for rel, ext, n in plan:
        data = small_content(rng, ext, n)
        w.write(rel, data, mode=small_mode(rng, ext, rel))
        if "/vendor/" in rel and rng.random() < 0.25:
            w.write(rel.replace("projects/p", "projects/mirror-p", 1), data)
            dups += 1
    parts["small"] = w.bytes - before

    # database file
    before = w.bytes
    npages = max(16, int(size * SHARES["db"]) // PAGE)
    w.write("data/app.db", b"".join(db_page(seed, rng, i) for i in range(npages)), mode=0o600)
    parts["db"] = w.bytes - before

    # symlinks (all inside the tree) and empty directories
    links = [("logs/nginx/current", "access.log"),
             ("media/latest", "stream-00"),
             ("data/current.db", "app.db"),
             ("projects/p00/config/active", "../../p01/config"),
             ("bin/backup.sh", "../projects/p01/tools")]
    for rel, target in links:
        w.symlink(rel, target)
    empties = ["tmp", "var/spool/outgoing", "projects/p02/build", "media/incoming"]
    for rel in empties:
        w.empty_dir(rel)
    fix_dir_times(root, T0)

    print(f"generated {root}: {w.files} files, {w.bytes} bytes "
          f"(logs {parts['logs']}, media {parts['media']} in {seg} segments, "
          f"small {parts['small']} in {len(plan) + dups} files ({dups} duplicates), db {parts['db']}), "
          f"{len(links)} symlinks, {len(empties)} empty dirs, seed {seed}")


# --- mutate -----------------------------------------------------------------------------------

def listing(root):
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = os.path.join(dirpath, name)
            if os.path.isfile(p) and not os.path.islink(p):
                files.append((os.path.relpath(p, root), os.path.getsize(p)))
    files.sort()
    return files


def mutate(root, seed):
    if not os.path.isdir(os.path.join(root, "media")):
        sys.exit(f"generate_data: {root} is not a generated tree")
    rng = random.Random(f"mutate-{seed}")
    files = listing(root)
    total = sum(s for _, s in files)
    changed = 0
    touched_dirs = set()
    counts = {"appended": 0, "added": 0, "rewritten": 0, "deleted": 0, "overwritten": 0, "replaced": 0}

    def touch(rel, t=T1):
        p = os.path.join(root, rel)
        os.utime(p, (t, t))

    # 1. Append to the current logs (~0.3%) and add a freshly rotated one (~0.15%).
    t = T1 - 3600
    for rel, kind in [("logs/nginx/access.log", "access"), ("logs/app/app-2024-04-30.log", "app"),
                      ("logs/syslog", "syslog")]:
        share = {"access": 0.0018, "app": 0.0009, "syslog": 0.0003}[kind]
        data, t = LOG_KINDS[kind](rng, t, int(total * share))
        with open(os.path.join(root, rel), "ab") as f:
            f.write(data)
        touch(rel)
        changed += len(data)
        counts["appended"] += 1
    data, t = app_lines(rng, t, int(total * 0.0015))
    rel = "logs/app/app-2024-05-01.log"
    with open(os.path.join(root, rel), "wb") as f:
        f.write(data)
    os.chmod(os.path.join(root, rel), 0o644)
    touch(rel)
    touched_dirs.add(os.path.dirname(rel))
    changed += len(data)
    counts["added"] += 1

    # 2. Rewrite some small files, add some, delete some.
    small = [(r, s) for r, s in files if r.startswith("projects/")]
    k = min(1.0, max(0.1, total / (500 << 20)))  # fewer small-file changes on smaller sets
    nrew, ndel, nadd = max(3, round(20 * k)), max(2, round(10 * k)), max(2, round(10 * k))
    picks = rng.sample(small, min(len(small), nrew + ndel))
    for rel, s in picks[:nrew]:
        data = small_content(rng, rel.rsplit(".", 1)[-1], s + rng.randrange(-256, 256) if s > 512 else s)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)
        touch(rel)
        changed += len(data)
        counts["rewritten"] += 1
    for rel, _ in picks[nrew:]:
        os.unlink(os.path.join(root, rel))
        touched_dirs.add(os.path.dirname(rel))
        counts["deleted"] += 1
    for i in range(nadd):
        ext = rng.choice(EXTS)
        rel = f"projects/p{i % 4:02d}/src/new/{rng.choice(IDENTS)}_n{i:03d}.{ext}"
        data = small_content(rng, ext, int(1024 * 16 ** rng.random()))
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)
        os.chmod(os.path.join(root, rel), 0o644)
        touch(rel)
        touched_dirs.add(os.path.dirname(rel))
        touched_dirs.add(os.path.dirname(os.path.dirname(rel)))
        changed += len(data)
        counts["added"] += 1
    # one mode change, content untouched
    for rel, _ in small:
        if rel.endswith(".sh"):
            os.chmod(os.path.join(root, rel), 0o700)
            break

    # 3. Replace the smallest media segment with new content of the same size (~0.4%).
    media = sorted((s, r) for r, s in files if r.startswith("media/"))
    s, rel = media[0]
    with open(os.path.join(root, rel), "wb") as f:
        f.write(shake_bytes(seed, f"replaced-{rel}", s))
    touch(rel)
    changed += s
    counts["replaced"] += 1

    # 4. Overwrite bytes in the middle of large files, size unchanged: 16 database pages and one
    #    64 KiB block in the middle of the largest media segment.
    rel = "data/app.db"
    p = os.path.join(root, rel)
    npages = os.path.getsize(p) // PAGE
    with open(p, "r+b") as f:
        for n in sorted(rng.sample(range(npages // 4, npages), min(16, npages - npages // 4))):
            f.seek(n * PAGE)
            f.write(db_page(seed, rng, n))
            changed += PAGE
    touch(rel)
    s, rel = media[-1]
    block = min(64 << 10, s // 4)
    with open(os.path.join(root, rel), "r+b") as f:
        f.seek(s // 2)
        f.write(shake_bytes(seed, f"middle-{rel}", block))
    touch(rel)
    changed += block
    counts["overwritten"] += 2

    fix_dir_times(root, T1, only=touched_dirs)
    print(f"mutated {root}: {changed} bytes written ({100.0 * changed / total:.2f}% of {total}); "
          + ", ".join(f"{v} {k}" for k, v in counts.items()) + ", 1 mode changed")


# --- manifest ---------------------------------------------------------------------------------

def manifest(root, out):
    """One tab-separated line per entry below root, sorted by path:
    path, type (f/d/l), mode, size, mtime (regular files), SHA-256 or link target."""
    lines = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            mode = f"{stat.S_IMODE(st.st_mode):04o}"
            if stat.S_ISLNK(st.st_mode):
                lines.append((rel, "l", "-", "-", "-", os.readlink(p)))
            elif stat.S_ISDIR(st.st_mode):
                lines.append((rel, "d", mode, "-", "-", "-"))
            elif stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    while chunk := f.read(1 << 20):
                        h.update(chunk)
                lines.append((rel, "f", mode, str(st.st_size), str(int(st.st_mtime)), h.hexdigest()))
            else:
                lines.append((rel, "?", mode, "-", "-", "-"))
    lines.sort()
    out.write("".join("\t".join(l) + "\n" for l in lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="tree to generate, mutate or list")
    ap.add_argument("--size", type=parse_size, default=parse_size("500M"), help="total size (default 500M)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--mutate", action="store_true", help="change about 1%% of DIR in place")
    mode.add_argument("--manifest", action="store_true", help="print DIR's manifest")
    args = ap.parse_args()
    if args.mutate:
        mutate(args.dir, args.seed)
    elif args.manifest:
        manifest(args.dir, sys.stdout)
    else:
        generate(args.dir, args.size, args.seed)


if __name__ == "__main__":
    main()
