"""File datasets beside DVC and `cp -r` + `b3sum` (docs/files.md, "Cost").

Two folders of incompressible files (as images and audio are): many small files (4-64 KiB) and
fewer large ones (1-8 MiB). For each: ingest (`dstore snapshot --files` / `dvc add` / `cp -r`
then `b3sum` of the copy), a re-run with nothing changed, a re-run after rewriting 1% of the
files, and a checkout of the folder back (`dstore checkout --format files` / `dvc checkout`
after removing the folder). Each command runs once, in a child process whose peak RSS is taken
from wait4; the page cache is warm for every tool alike (the machine cannot drop it).

    scripts/bench-files.sh [--small N] [--large N] [--segment-mib N] [--skip-peers]
    (installs DVC and b3sum, builds dstore, then runs
    python bench/files.py --dstore target/release/dstore --dvc DVC --b3sum B3SUM ...)
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import time


def run(cmd, cwd=None, env=None):
    """Runs `cmd`, returning (seconds, peak RSS in MiB, stdout)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, shell=isinstance(cmd, str))
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    secs = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {cmd}\n{out.decode()}\n{err.decode()}")
    return secs, ru.ru_maxrss / 1024, out.decode()


def make(folder, n, lo, hi, seed):
    rng = random.Random(seed)
    old = time.time() - 3600
    names = []
    total = 0
    for i in range(n):
        rel = f"c{i % 100:02}/{i:07}.bin"
        p = os.path.join(folder, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        size = rng.randint(lo, hi)
        with open(p, "wb") as f:
            f.write(os.urandom(size))
        os.utime(p, (old, old))
        names.append(rel)
        total += size
    return names, total


def touch_one_percent(folder, names, seed):
    rng = random.Random(seed)
    old = time.time() - 1800
    picked = rng.sample(names, max(1, len(names) // 100))
    for rel in picked:
        p = os.path.join(folder, rel)
        size = os.path.getsize(p)
        with open(p, "wb") as f:
            f.write(os.urandom(size))
        os.utime(p, (old, old))
    return len(picked)


def du(path):
    return int(subprocess.check_output(["du", "-sb", path]).split()[0])


def bench(name, n, lo, hi, args):
    work = os.path.join(args.work, name)
    shutil.rmtree(work, ignore_errors=True)
    repo = os.path.join(work, "repo")
    data = os.path.join(repo, "data")
    os.makedirs(data)
    t = time.perf_counter()
    names, total = make(data, n, lo, hi, 1)
    time.sleep(2.5)  # the state cache records only files whose status changed 2 s before a walk
    print(f"\n## {name}: {n} files of {lo >> 10}-{hi >> 10} KiB, {total / 2**30:.2f} GiB (made in {time.perf_counter() - t:.0f} s)")
    rows = []

    def row(tool, step, secs, rss, note=""):
        rows.append((tool, step, secs, rss, note))
        fps = n / secs if step.startswith("ingest") else None
        print(f"{tool:<16} {step:<22} {secs:8.2f} s  {rss:7.0f} MiB  {'' if fps is None else f'{fps:8.0f} files/s  {total / secs / 2**20:6.0f} MiB/s'}  {note}", flush=True)

    store = os.path.join(work, "s.dstore")
    run([args.dstore, "init", store])
    d = [args.dstore, "--store", store]
    seg = ["--segment-mib", str(args.segment_mib)] if args.segment_mib else []
    s, r, _ = run(d + ["snapshot", "-t", "f", data, "--files", "-m", "v1"] + seg)
    row("dstore", "ingest", s, r, f"store {du(store) / 2**30:.2f} GiB")
    s, r, _ = run(d + ["snapshot", "-t", "f", data, "--files", "-m", "again"] + seg)
    row("dstore", "re-run, unchanged", s, r)
    dvc_env = dict(os.environ, DVC_NO_ANALYTICS="1")
    peers = not args.skip_peers
    if peers:
        run([args.dvc, "init", "--no-scm", "-q"], cwd=repo, env=dvc_env)
    else:
        return bench_rest(name, n, total, names, data, d, seg, row, work, rows)
    s, r, _ = run([args.dvc, "add", "-q", "data"], cwd=repo, env=dvc_env)
    row("dvc add", "ingest", s, r, f"cache {du(os.path.join(repo, '.dvc', 'cache')) / 2**30:.2f} GiB")
    s, r, _ = run([args.dvc, "add", "-q", "data"], cwd=repo, env=dvc_env)
    row("dvc add", "re-run, unchanged", s, r)
    copy = os.path.join(work, "copy")
    s, r, _ = run(["cp", "-r", data, copy])
    row("cp -r", "ingest (copy)", s, r)
    s2, r2, _ = run(f"find {copy} -type f -print0 | xargs -0 {args.b3sum} > /dev/null")
    row("b3sum", "ingest (hash copy)", s2, r2)
    row("cp -r + b3sum", "ingest", s + s2, max(r, r2))
    shutil.rmtree(copy)
    changed = touch_one_percent(data, names, 2)
    time.sleep(2.5)
    s, r, out = run(d + ["--json", "snapshot", "-t", "f", data, "--files", "-m", "v2"] + seg)
    import json

    inp = json.loads(out)["inputs"][0]
    row("dstore", "re-run, 1% changed", s, r, f"{changed} changed: {inp['files_read']} files read, {inp['segments_kept']}/{inp['segments']} segments kept")
    s, r, _ = run([args.dvc, "add", "-q", "data"], cwd=repo, env=dvc_env)
    row("dvc add", "re-run, 1% changed", s, r)
    out_dir = os.path.join(work, "out")
    s, r, _ = run(d + ["checkout", "HEAD", "-t", "f", "-o", out_dir, "--format", "files"])
    row("dstore", "checkout", s, r)
    shutil.rmtree(out_dir)
    shutil.rmtree(data)
    s, r, _ = run([args.dvc, "checkout", "-q"], cwd=repo, env=dvc_env)
    row("dvc", "checkout", s, r)
    shutil.rmtree(work)
    return rows


def bench_rest(name, n, total, names, data, d, seg, row, work, rows):
    """dstore's re-run after 1% changed and its checkout, without the peers."""
    import json

    changed = touch_one_percent(data, names, 2)
    time.sleep(2.5)
    s, r, out = run(d + ["--json", "snapshot", "-t", "f", data, "--files", "-m", "v2"] + seg)
    inp = json.loads(out)["inputs"][0]
    row("dstore", "re-run, 1% changed", s, r, f"{changed} changed: {inp['files_read']} files read, {inp['segments_kept']}/{inp['segments']} segments kept")
    out_dir = os.path.join(work, "out")
    s, r, _ = run(d + ["checkout", "HEAD", "-t", "f", "-o", out_dir, "--format", "files"])
    row("dstore", "checkout", s, r)
    shutil.rmtree(work)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dstore", required=True)
    ap.add_argument("--dvc", required=True)
    ap.add_argument("--b3sum", required=True)
    ap.add_argument("--work", default="/tmp/dstore-bench-files")
    ap.add_argument("--small", type=int, default=100_000)
    ap.add_argument("--large", type=int, default=1_000)
    ap.add_argument("--segment-mib", type=int, help="dstore's --segment-mib (default: its own, 16)")
    ap.add_argument("--skip-peers", action="store_true", help="dstore only")
    a = ap.parse_args()
    for tool in ("dvc", "b3sum"):
        v = subprocess.run([getattr(a, tool), "--version"], capture_output=True, text=True).stdout.strip()
        print(f"{tool}: {v}")
    print(f"cpus: {os.cpu_count()}; dstore --segment-mib {a.segment_mib or 'default (16)'}")
    print("tool             step                       time      peak RSS")
    if a.small:
        bench("small", a.small, 4 << 10, 64 << 10, a)
    if a.large:
        bench("large", a.large, 1 << 20, 8 << 20, a)


if __name__ == "__main__":
    main()
