"""Column profiles: what they cost at ingest, how fast `stats` and `diff --stats` are, and how
the drift verdicts compare with Evidently's DataDriftPreset on the same data.

Generates two versions of a 2,000,000-row, 22-column table: 8 float columns, 4 integer, 6
categorical strings, a boolean, a timestamp, an int32 and a nullable float. v2 has drift injected
in four columns (f0: mean shifted by half a standard deviation; s0: category mix changed; s1: a
new category; n0: null rate 1% -> 20%) and none in the other 18. Then, with the release `dstore`
binary:

- `snapshot` of the Parquet file (adopted, every page decoded) with profiles and `--no-profile`;
- `snapshot` of the same data as Arrow IPC (converted to segments) with and without;
- `stats` with stored profiles, and cold (profiles deleted: computed from the segments);
- `diff --stats` between v1 and v2 with stored profiles and cold, and `--html`;
- Evidently's `Report([DataDriftPreset()])` on pandas frames read from the same two Parquet
  files (a child process, so its peak RSS is its own), unless `--no-evidently`;
- the per-column verdicts of both, side by side.

Each dstore timing is the best of `--repeat` runs (default 3) on a quiet machine, Evidently's of
`--evidently-repeat` (default 1); peak RSS from `/usr/bin/time -v` (the child's `wait4` rusage).
Usage: python bench/profiles.py --dstore target/release/dstore --out FILE
"""

import argparse
import json
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


DRIFTED = {
    "f0": "mean shifted by 0.5 std",
    "s0": "category mix changed",
    "s1": "new category (10%)",
    "n0": "null rate 1% -> 20%",
}


def make(rows, seed, drift):
    r = np.random.default_rng(seed)
    cols = {}
    for i in range(8):
        shift = 0.5 * (1 + i) if drift and i == 0 else 0.0
        cols[f"f{i}"] = r.normal(10 * i + shift, 1 + i, rows)
    for i in range(4):
        cols[f"i{i}"] = r.integers(0, 10 ** (i + 1), rows)
    for i in range(6):
        names = [f"cat{i}{c}" for c in "abcdefgh"[: 3 + i]]
        p = np.linspace(2, 1, len(names))
        if drift and i == 0:
            p = p[::-1].copy()
        p = p / p.sum()
        v = r.choice(names, rows, p=p)
        if drift and i == 1:
            v = np.where(r.random(rows) < 0.1, f"cat{i}new", v)
        cols[f"s{i}"] = pa.array(v)
    cols["b0"] = r.random(rows) < 0.3
    cols["t0"] = pa.array((r.integers(0, 86400 * 365, rows) + 1_700_000_000) * 1_000_000, pa.timestamp("us"))
    null_p = 0.2 if drift else 0.01
    cols["n0"] = pa.array(r.normal(0, 1, rows), mask=r.random(rows) < null_p)
    cols["d0"] = pa.array(r.integers(0, 1000, rows)).cast(pa.int32())
    return pa.table(cols)


def evidently_child(ref_path, cur_path, out_path):
    """Runs in a child process: Evidently's data-drift preset on the two Parquet files."""
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    t0 = time.perf_counter()
    ref = pd.read_parquet(ref_path)
    cur = pd.read_parquet(cur_path)
    t1 = time.perf_counter()
    snap = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
    d = snap.dict()
    t2 = time.perf_counter()
    cols = {}
    for m in d["metrics"]:
        cfg = m["config"]
        if cfg.get("type", "").endswith("ValueDrift"):
            method = cfg["method"]
            p_value = "p_value" in method.lower() or "test" in method.lower()
            v = float(m["value"])
            th = float(cfg["threshold"])
            cols[cfg["column"]] = {
                "method": method,
                "score": v,
                "threshold": th,
                "drifted": bool(v < th if p_value else v >= th),
            }
        elif cfg.get("type", "").endswith("DriftedColumnsCount"):
            share = float(m["value"]["share"])
    pathlib.Path(out_path).write_text(
        json.dumps({"read_s": t1 - t0, "report_s": t2 - t1, "share": share, "columns": cols})
    )


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
    ap.add_argument("--dstore")
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--evidently-repeat", type=int, default=1)
    ap.add_argument("--no-evidently", action="store_true")
    ap.add_argument("--out")
    ap.add_argument("--evidently-child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.evidently_child:
        return evidently_child(*a.evidently_child)
    if not a.dstore:
        ap.error("--dstore is required")
    d = os.path.abspath(a.dstore)
    work = pathlib.Path(tempfile.mkdtemp(prefix="dstore-profiles-"))
    lines = [
        f"rows {a.rows}, 22 columns; {os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.2f}; dstore {d}",
        "drift injected in v2: " + "; ".join(f"{k}: {v}" for k, v in DRIFTED.items()) + "; none in the other 18",
    ]
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
        # The cold `stats` left v1's profiles deleted: a first diff stores them again.
        run([d, "--store", str(s), "diff", "v1", "v2", "--stats", "--json"])
        best("diff v1 v2 --stats (stored profiles)", lambda: run([d, "--store", str(s), "diff", "v1", "v2", "--stats", "--json"]), a.repeat, lines)
        best("diff v1 v2 --stats (cold: both profiles computed)", lambda: (cold(), run([d, "--store", str(s), "diff", "v1", "v2", "--stats", "--json"]))[1], a.repeat, lines)
        run([d, "--store", str(s), "diff", "v1", "v2", "--stats", "--json"])
        best("diff v1 v2 --stats --html (stored profiles)", lambda: run([d, "--store", str(s), "diff", "v1", "v2", "--stats", "--html", str(work / "drift.html")]), a.repeat, lines)
        rep = json.loads(subprocess.run([d, "--store", str(s), "diff", "v1", "v2", "--stats", "--json"], capture_output=True, text=True).stdout)
        ours = {c["column"]: c for c in rep["tables"][0]["columns"]}
        theirs = None
        if not a.no_evidently:
            import evidently

            ev_out = work / "evidently.json"
            child = [sys.executable, os.path.abspath(__file__), "--evidently-child", str(work / "v1.parquet"), str(work / "v2.parquet"), str(ev_out)]
            best(f"evidently {evidently.__version__} DataDriftPreset (read Parquet + report)", lambda: run(child), a.evidently_repeat, lines)
            theirs = json.loads(ev_out.read_text())
            lines.append(f"  of which read_parquet into pandas {theirs['read_s']:.3f} s, Report.run {theirs['report_s']:.3f} s (last run)")
        first = len(lines)
        lines.append("")
        lines.append("per-column verdicts (dstore diff v1 v2 --stats; evidently DataDriftPreset defaults):")
        head = f"  {'column':<7} {'injected':<24} {'dstore test':<14} {'score':>10} {'verdict':<8} {'evidently method':<32} {'score':>10} {'verdict':<8} agree"
        lines.append(head)
        agree = 0
        for name in ours:
            c = ours[name]
            dv = "DRIFT" if c["drifted"] else "-"
            score = "-" if c.get("score") is None else f"{c['score']:.4g}"
            test = c.get("test") or "-"
            reasons = [r for r in c.get("reasons", []) if "null" in r]
            inj = DRIFTED.get(name, "")
            if theirs is not None and name in theirs["columns"]:
                e = theirs["columns"][name]
                ev = "DRIFT" if e["drifted"] else "-"
                same = e["drifted"] == c["drifted"]
                agree += same
                line = f"  {name:<7} {inj:<24} {test:<14} {score:>10} {dv:<8} {e['method'][:32]:<32} {e['score']:>10.4g} {ev:<8} {'yes' if same else 'NO'}"
            else:
                line = f"  {name:<7} {inj:<24} {test:<14} {score:>10} {dv:<8} {'(not tested)':<32} {'':>10} {'':<8}"
            if reasons:
                line += "   dstore: " + "; ".join(reasons)
            lines.append(line)
        t = rep["tables"][0]
        lines.append(f"  dstore: {t['drifted_columns']} of {t['tested']} columns drifted (share {t['drift_share']:.3f}), dataset drift {t['dataset_drift']}")
        if theirs is not None:
            n_ev = sum(1 for e in theirs["columns"].values() if e["drifted"])
            lines.append(f"  evidently: {n_ev} of {len(theirs['columns'])} columns drifted (share {theirs['share']:.3f})")
            lines.append(f"  verdicts agree on {agree} of {sum(1 for n in ours if n in theirs['columns'])} columns tested by both")
        for l in lines[first:]:
            print(l)
        if os.environ.get("DSTORE_SCREENSHOT"):
            shutil.copy(work / "drift.html", os.environ["DSTORE_SCREENSHOT"] + ".html")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if a.out:
        pathlib.Path(a.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
