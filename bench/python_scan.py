#!/usr/bin/env python3
"""Full-table scans of one dstore snapshot from Rust, from Python and with pyarrow, in one run.

Run it through scripts/bench-python.sh (which builds the release extension into the venv and the
release binaries). The data is the suite's (`dstore-bench suite gen`: ints, floats, strings, a
dictionary column and a 32-float embedding; zstd Parquet), committed once into a fresh store and
checked out once with `dstore checkout`; every contestant reads that same snapshot:

- Rust: `dstore-bench suite scan` (the dstore library: open store, resolve, scan, every batch);
- Python: `dstore.Store.open(..).resolve(..)`, `store.snapshot(id).scan("t")`, consumed through
  `.reader` batch by batch, by iterating the Scan, or with `.to_table()`; also shuffled;
- pyarrow: `pyarrow.dataset.dataset(checkout, format="parquet")` (`.to_batches()` and
  `.to_table()`) over the checkout, and `pyarrow.parquet.read_table` of the Parquet file
  (the same bytes: dstore adopts Parquet files unchanged).

Each measured operation runs in its own child process, which times itself from opening the
store or dataset to the last byte (imports and interpreter start are outside) and prints one JSON
line; the driver reads the child's peak RSS with os.wait4. Contestants alternate within every
repeat (the order rotates) and each figure is the median of the repeats.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import count_batches, ratio, rotate, versions, warm

TABLE = "t"
SEED = 1  # the shuffle of `dstore-bench scan`: seed 1, epoch 0


# ---------------------------------------------------------------------------------------------
# worker: one operation per process
# ---------------------------------------------------------------------------------------------


def worker(op, a):
    t = time.perf_counter
    out = {}
    if op.startswith("dstore_"):
        import dstore

        t0 = t()
        store = dstore.Store.open(a["store"])
        snap = store.snapshot(store.resolve(a["at"]).id)
        scan = snap.scan(TABLE, seed=a.get("seed"), verify=a.get("verify", True))
        if op == "dstore_reader":
            out["rows"], out["batches"] = count_batches(scan.reader)
        elif op == "dstore_iter":
            out["rows"], out["batches"] = count_batches(scan)
        elif op == "dstore_table":
            out["rows"], out["batches"] = scan.to_table().num_rows, None
        else:
            raise SystemExit(f"unknown worker op {op}")
        out["seconds"] = t() - t0
        out["bytes_read"] = scan.stats()["bytes_read"]
    elif op in ("pyarrow_dataset_batches", "pyarrow_dataset_table"):
        import pyarrow.dataset as ds

        t0 = t()
        d = ds.dataset(a["path"], format="parquet")
        if op == "pyarrow_dataset_batches":
            out["rows"], out["batches"] = count_batches(d.to_batches())
        else:
            out["rows"], out["batches"] = d.to_table().num_rows, None
        out["seconds"] = t() - t0
    elif op == "pyarrow_read_table":
        import pyarrow.parquet as pq

        t0 = t()
        out["rows"], out["batches"] = pq.read_table(a["path"]).num_rows, None
        out["seconds"] = t() - t0
    else:
        raise SystemExit(f"unknown worker op {op}")
    print(json.dumps(out))


# ---------------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------------


def child(argv, label, log, verbose):
    """Runs argv; returns its JSON with wall seconds and peak RSS in MiB (os.wait4)."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen([str(x) for x in argv], stdout=subprocess.PIPE, stderr=err)
        stdout = p.stdout.read()
        p.stdout.close()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            sys.stderr.write(err.read().decode(errors="replace")[-4000:])
            raise SystemExit(f"{label}: exit {code}: {' '.join(map(str, argv))}")
    lines = stdout.decode().strip().splitlines()
    res = json.loads(lines[-1]) if lines else {}
    res["wall_seconds"] = wall
    res["rss_mib"] = ru.ru_maxrss / 1024  # Linux reports KiB
    log.append({"label": label, **res})
    if verbose:
        print(f"  {label}: {res.get('seconds', 0):.4f} s, {res['rss_mib']:.0f} MiB", file=sys.stderr)
    return res


def fmt_s(v):
    return "—" if v is None else (f"{v:.3f} s" if v >= 0.1 else f"{v * 1e3:.1f} ms")


# (key, label, system, vs Rust, vs pyarrow.dataset): the ratio columns name the row each row is
# divided by. Streaming rows are compared with streaming rows, whole tables with whole tables.
ROWS = [
    ("rust", "Rust: dstore library scan (verified)", "rust", None, "pa_batches"),
    ("rust_nv", "Rust: dstore library scan, verify off", "rust", None, "pa_batches"),
    ("py_reader", "Python: scan(t).reader, batch by batch", "python", "rust", "pa_batches"),
    ("py_iter", "Python: for batch in scan(t)", "python", "rust", "pa_batches"),
    ("py_table", "Python: scan(t).to_table()", "python", "rust", "pa_table"),
    ("py_reader_nv", "Python: .reader, verify=False", "python", "rust_nv", "pa_batches"),
    ("py_shuffled", f"Python: shuffled (seed {SEED}, epoch 0), .reader", "python", None, None),
    ("pa_batches", "pyarrow.dataset(checkout).to_batches()", "pyarrow", None, None),
    ("pa_table", "pyarrow.dataset(checkout).to_table()", "pyarrow", None, None),
    ("pa_read_table", "pyarrow.parquet.read_table(file)", "pyarrow", None, None),
]


def print_table(rows, meta):
    head = ["scan (same snapshot)", "seconds", "MB/s", "peak RSS", "÷Rust", "÷pyarrow.dataset"]
    lines = [[r["label"], fmt_s(r["seconds"]), f"{r['mb_s']:.0f}", f"{r['rss_mib']:.0f} MiB",
              ratio(r["seconds"], r["rust_seconds"]), ratio(r["seconds"], r["pa_seconds"])]
             for r in rows]
    w = [max(len(h), *(len(x[i]) for x in lines)) for i, h in enumerate(head)]
    out = [" | ".join(h.ljust(w[i]) for i, h in enumerate(head)), "-|-".join("-" * n for n in w)]
    for x in lines:
        out.append(" | ".join(c.ljust(w[0]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(x)))
    print()
    print(f"dstore scans from Rust and Python — {meta['rows']:,} rows, table {meta['table_bytes'] / 1e6:.1f} MB "
          f"zstd Parquet in {meta['segments']} segment(s), snapshot {meta['snapshot'][:12]}, "
          f"median of {meta['repeats']}, {meta['when']}")
    print("\n".join(out))
    print()
    print("  MB/s: table bytes (the Parquet file dstore adopted) ÷ seconds. Each figure is one process")
    print("  timing itself from opening the store or dataset to the last row; imports excluded.")
    print("  ÷Rust: the Python row ÷ the Rust row of the same verification (the binding's overhead).")
    print("  ÷pyarrow.dataset: ÷ to_batches() for streaming rows, ÷ to_table() for to_table().")
    print("  Rust shuffled: not measured on this snapshot (`dstore-bench suite scan` has no shuffle);")
    print("  `dstore-bench scan` measures it on its own table.")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smoke test: 20,000 rows, 1 repeat")
    ap.add_argument("--dir", type=Path, default=Path.home() / ".cache/dstore/bench-python")
    ap.add_argument("--bench-bin", type=Path, required=True, help="release dstore-bench")
    ap.add_argument("--dstore-bin", type=Path, required=True, help="release dstore CLI")
    ap.add_argument("--out", type=Path, help="JSON output (default DIR/python-scan-ROWS.json)")
    ap.add_argument("--verbose", "-v", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.rows, args.repeats = 20_000, 1
    t_start = time.time()
    d = args.dir.resolve()
    work = d / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log = []

    def rust(label, *op):
        return child([args.bench_bin, "suite", *op], label, log, args.verbose)

    def py(label, op, **a):
        return child([sys.executable, __file__, "worker", op, json.dumps(a)], label, log,
                     args.verbose)

    print(f"generating {args.rows:,} rows", file=sys.stderr)
    gen = rust("gen", "gen", "--rows", args.rows, "--dir", d / "data")
    pq_file = gen["parquet"]
    store = work / "store"
    print("committing and checking out one snapshot", file=sys.stderr)
    snap = rust("ingest", "ingest", "--store", store, "--fresh", pq_file)["snapshot"]
    checkout = work / "checkout"
    subprocess.run([args.dstore_bin, "checkout", snap, "--store", store, "-t", TABLE,
                    "-o", checkout], check=True, stdout=subprocess.DEVNULL)
    parts = sorted(p for p in checkout.rglob("*.parquet"))
    table_dir = parts[0].parent  # the checkout's manifest sits beside, not among, the files
    info = json.loads(subprocess.run(
        [args.dstore_bin, "show", snap, "--store", store, "--json"], check=True,
        capture_output=True, text=True).stdout)
    warm(pq_file, *parts)
    table_bytes = gen["parquet_bytes"]

    common = {"store": str(store), "at": snap}
    contestants = {
        "rust": lambda: rust("rust", "scan", "--store", store, "--at", snap),
        "rust_nv": lambda: rust("rust_nv", "scan", "--store", store, "--at", snap, "--no-verify"),
        "py_reader": lambda: py("py_reader", "dstore_reader", **common),
        "py_iter": lambda: py("py_iter", "dstore_iter", **common),
        "py_table": lambda: py("py_table", "dstore_table", **common),
        "py_reader_nv": lambda: py("py_reader_nv", "dstore_reader", verify=False, **common),
        "py_shuffled": lambda: py("py_shuffled", "dstore_reader", seed=SEED, **common),
        "pa_batches": lambda: py("pa_batches", "pyarrow_dataset_batches", path=str(table_dir)),
        "pa_table": lambda: py("pa_table", "pyarrow_dataset_table", path=str(table_dir)),
        "pa_read_table": lambda: py("pa_read_table", "pyarrow_read_table", path=pq_file),
    }
    print(f"scanning: {len(contestants)} contestants × {args.repeats} repeats", file=sys.stderr)
    runs = rotate(args.repeats, contestants)
    for key, rs in runs.items():
        bad = [x["rows"] for x in rs if x["rows"] != args.rows]
        if bad:
            raise SystemExit(f"{key} returned {bad[0]} rows, expected {args.rows}")

    med = {k: statistics.median(x["seconds"] for x in rs) for k, rs in runs.items()}
    rows = []
    for key, label, system, vs_rust, vs_pa in ROWS:
        s = med[key]
        rows.append({
            "key": key, "label": label, "system": system, "seconds": s,
            "mb_s": table_bytes / 1e6 / s,
            "rss_mib": max(x["rss_mib"] for x in runs[key]),
            "rust_seconds": med[vs_rust] if vs_rust else None,
            "pa_seconds": med[vs_pa] if vs_pa else None,
            "vs_rust": vs_rust, "vs_pyarrow": vs_pa,
            "bytes_read": runs[key][0].get("bytes_read"),
            "batches": runs[key][0].get("batches"),
        })
    meta = {
        "rows": args.rows, "repeats": args.repeats, "snapshot": snap, "table": TABLE,
        "table_bytes": table_bytes, "parquet": pq_file, "checkout": str(table_dir),
        "segments": sum(t.get("segments", 0) for t in info.get("tables", [])) or len(parts),
        "when": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_avg": os.getloadavg()},
        "versions": versions(("pyarrow", "dstore")),
        "seconds": time.time() - t_start,
    }
    print_table(rows, meta)
    out = args.out or d / f"python-scan-{args.rows}.json"
    out.write_text(json.dumps({"meta": meta, "rows": rows, "runs": log}, indent=1, default=str))
    print(f"\nwrote {out}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "worker":
        worker(sys.argv[2], json.loads(sys.argv[3]))
    else:
        main()
