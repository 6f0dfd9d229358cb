"""Column profiles: what they cost at ingest, and how fast `stats` and `diff --stats` are.

Generates two versions of a 2,000,000-row, 20-column table (v2: some columns shifted, a category
mix changed, a null rate raised), then times with the release `dstore` binary:

- `snapshot` of the Parquet file (adopted, every page decoded) with profiles and `--no-profile`;
- `snapshot` of the same data as Arrow IPC (converted to segments) with and without;
- `stats` with stored profiles, and cold (profiles deleted: computed from the segments);
- `diff --stats` between v1 and v2 with stored profiles and cold, and `--html`.

Each timing is the best of `--repeat` runs (default 3) on a quiet machine; peak RSS from
`/usr/bin/time -v`. Usage: python bench/profiles.py --dstore target/release/dstore --out FILE
"""

import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq


def make(rows, seed, drift):
    r = np.random.default_rng(seed)
    cols = {}
    for i in range(6):
        shift = 0.5 if drift and i < 2 else 0.0
        cols[f"f{i}"] = r.normal(10 * i + shift, 1 + i, rows)
    for i in range(4):
        cols[f"i{i}"] = r.integers(0, 10 ** (i + 1), rows)
    for i in range(4):
        p = [0.5, 0.3, 0.2] if not (drift and i == 0) else [0.3, 0.3, 0.4]
        cols[f"s{i}"] = pa.array(r.choice([f"cat{i}a", f"cat{i}b", f"cat{i}c"], rows, p=p))
    cols["id"] = pa.array(np.arange(rows).astype(str))
    cols["b0"] = r.random(rows) < 0.3
    cols["t0"] = pa.array((r.integers(0, 86400 * 365, rows) + 1_700_000_000) * 1_000_000, pa.timestamp("us"))
    null_p = 0.2 if drift else 0.01
    cols["n0"] = pa.array(r.normal(0, 1, rows), mask=r.random(rows) < null_p)
    cols["d0"] = pa.array(r.integers(0, 1000, rows)).cast(pa.int32())
    cols["l0"] = pa.array([[1, 2]] * rows, pa.list_(pa.int8()))
    return pa.table(cols)


def run(cmd, env=None):
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if p.returncode not in (0, 3):
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    return dt, rss / 1024


def best(label, fn, repeat, lines):
    times, rss = [], 0.0
    for _ in range(repeat):
        t, m = fn()
        times.append(t)
        rss = max(rss, m)
    line = f"{label:<58} {min(times):8.3f} s   (runs: {', '.join(f'{t:.3f}' for t in times)})   peak RSS {rss:7.1f} MiB"
    print(line, flush=True)
    lines.append(line)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dstore", required=True)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out")
    a = ap.parse_args()
    d = os.path.abspath(a.dstore)
    work = pathlib.Path(tempfile.mkdtemp(prefix="dstore-profiles-"))
    lines = [f"rows {a.rows}, 20 columns; {os.cpu_count()} cores; dstore {d}"]
    try:
        v1, v2 = make(a.rows, 1, False), make(a.rows, 2, True)
        pq.write_table(v1, work / "v1.parquet")
        pq.write_table(v2, work / "v2.parquet")
        feather.write_feather(v1, work / "v1.arrow", compression="uncompressed")
        sizes = {p.name: p.stat().st_size for p in work.iterdir()}
        lines.append("inputs: " + ", ".join(f"{k} {v / 2**20:.0f} MiB" for k, v in sorted(sizes.items())))

        def ingest(src, *flags):
            def f():
                s = work / "s.dstore"
                shutil.rmtree(s, ignore_errors=True)
                subprocess.run([d, "init", str(s)], check=True, capture_output=True)
                return run([d, "--store", str(s), "snapshot", "-t", "t", str(work / src), *flags])
            return f

        with_p = best("snapshot v1.parquet (adopted, validated), profiles", ingest("v1.parquet"), a.repeat, lines)
        without = best("snapshot v1.parquet (adopted, validated), --no-profile", ingest("v1.parquet", "--no-profile"), a.repeat, lines)
        lines.append(f"  profiling adds {100 * (with_p - without) / without:+.1f}% to the adopted-Parquet ingest")
        with_c = best("snapshot v1.arrow (converted), profiles", ingest("v1.arrow"), a.repeat, lines)
        without_c = best("snapshot v1.arrow (converted), --no-profile", ingest("v1.arrow", "--no-profile"), a.repeat, lines)
        lines.append(f"  profiling adds {100 * (with_c - without_c) / without_c:+.1f}% to the converted ingest")

        s = work / "s.dstore"
        shutil.rmtree(s, ignore_errors=True)
        subprocess.run([d, "init", str(s)], check=True)
        subprocess.run([d, "--store", str(s), "snapshot", "-t", "t", str(work / "v1.parquet"), "--tag", "v1"], check=True, capture_output=True)
        subprocess.run([d, "--store", str(s), "snapshot", "-t", "t", str(work / "v2.parquet"), "--mode", "overwrite", "--tag", "v2"], check=True, capture_output=True)
        prof = sorted(s.glob("derived/*/*.profile"))
        lines.append(f"profiles: {len(prof)} files, {sum(p.stat().st_size for p in prof) / 1024:.0f} KiB in all")

        def cold():
            for p in s.glob("derived/*/*.profile"):
                p.unlink()

        best("stats v2 -t t (stored profiles)", lambda: run([d, "--store", str(s), "stats", "v2", "-t", "t", "--json"]), a.repeat, lines)
        best("stats v2 -t t (cold: profile computed from the segment)", lambda: (cold(), run([d, "--store", str(s), "stats", "v2", "-t", "t", "--json"]))[1], a.repeat, lines)
        best("diff v1 v2 --stats (stored profiles)", lambda: run([d, "--store", str(s), "diff", "v1", "v2", "--stats", "--json"]), a.repeat, lines)
        best("diff v1 v2 --stats (cold: both profiles computed)", lambda: (cold(), run([d, "--store", str(s), "diff", "v1", "v2", "--stats", "--json"]))[1], a.repeat, lines)
        best("diff v1 v2 --stats --html (stored profiles)", lambda: run([d, "--store", str(s), "diff", "v1", "v2", "--stats", "--html", str(work / "drift.html")]), a.repeat, lines)
        out = subprocess.run([d, "--store", str(s), "diff", "v1", "v2", "--stats"], capture_output=True, text=True).stdout
        lines.append("verdicts (diff v1 v2 --stats):")
        lines.extend("  " + l for l in out.splitlines())
        if os.environ.get("DSTORE_SCREENSHOT"):
            shutil.copy(work / "drift.html", os.environ["DSTORE_SCREENSHOT"] + ".html")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if a.out:
        pathlib.Path(a.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
