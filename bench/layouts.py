#!/usr/bin/env python3
"""Reads of the Parquet layouts users have, by dstore and its peers, in one run (issue 14).

Run it through scripts/bench-layouts.sh (which builds the release extension into the bench venv
and installs the peers pinned in bench/requirements.txt). One table of rows (`id` int64 in
order, `label` int8, `text` utf8 of 10-200 characters, `embedding` fixed_size_list<float32, 32>)
is written three ways with pyarrow:

- `pyarrow-default`: `pq.write_table(table, path)` with no options (snappy, row groups of up to
  1,048,576 rows, no page index) — what pyarrow and pandas users get;
- `spark-like`: snappy with row groups of ~128 MB (Spark's `parquet.block.size`), 1 MiB pages;
- `small`: row groups of 16,384 rows (zstd), with a page index.

Each file is committed into its own dstore store (`dstore snapshot`: adopted byte for byte);
the same rows are written once into a Lance dataset and a Delta table with those systems'
defaults. Every contestant then does three reads, each to an in-memory Arrow table (polars: a
DataFrame): the whole table, two columns (`id`, `label`), and a 1% filter (`id < N/100`).

- dstore: `Store.snapshot(..).scan(t, columns=, filter=, verify=).to_table()`, verified (the
  default) and with `verify=False`;
- pyarrow: `pq.read_table(path, columns=, filters=)`;
- polars: `pl.scan_parquet(path).select(..).filter(..).collect()`;
- Lance: `lance.dataset(uri).to_table(columns=, filter=)`;
- delta-rs: `DeltaTable(uri).to_pyarrow_dataset().to_table(columns=, filter=)` (pyarrow decodes)
  and `QueryBuilder` (delta-rs's own DataFusion reader).

Each operation runs in its own child process, which times itself from opening the store/file to
the last row (imports excluded) and reports the bytes it read (dstore: its scan counter; the
others: `rchar` of /proc/self/io, bytes through read syscalls, which misses mmap'ed reads — polars
mmaps local files, so its figure is a lower bound). The driver reads each child's peak RSS with
os.wait4. Within a repeat every contestant runs once, the order rotating between repeats; figures
are medians.
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

from benchlib import rotate, versions, warm

TABLE = "t"
OPS = ("full", "cols2", "filter")
OP_NAMES = {"full": "whole table", "cols2": "2 columns", "filter": "1% filter"}
COLS2 = ["id", "label"]


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------


def make_table(rows: int, seed: int = 7):
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    ids = pa.array(np.arange(rows, dtype=np.int64))
    label = pa.array(rng.integers(0, 10, rows, dtype=np.int8))
    lens = rng.integers(10, 201, rows, dtype=np.int32)
    offsets = np.zeros(rows + 1, dtype=np.int32)
    np.cumsum(lens, out=offsets[1:])
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz      ", dtype=np.uint8)
    chars = letters[rng.integers(0, len(letters), int(offsets[-1]))]
    text = pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))
    emb = rng.standard_normal(rows * 32, dtype=np.float32)
    embedding = pa.FixedSizeListArray.from_arrays(pa.array(emb), 32)
    return pa.table({"id": ids, "label": label, "text": text, "embedding": embedding})


def write_layouts(table, d: Path):
    import pyarrow.parquet as pq

    d.mkdir(parents=True, exist_ok=True)
    out = {}
    p = d / "pyarrow-default.parquet"
    pq.write_table(table, p)
    out["pyarrow-default"] = p
    # Spark: snappy, parquet.block.size 128 MB, page 1 MiB. Row count per group from the
    # default file's bytes per row.
    per_row = p.stat().st_size / table.num_rows
    rg = max(1, int(128e6 / per_row))
    p = d / "spark-like.parquet"
    pq.write_table(table, p, row_group_size=rg, data_page_size=1 << 20)
    out["spark-like"] = p
    p = d / "small.parquet"
    pq.write_table(table, p, row_group_size=16_384, compression="zstd", write_page_index=True)
    out["small"] = p
    return out


def layout_facts(path: Path):
    import pyarrow.parquet as pq

    md = pq.ParquetFile(path).metadata
    return {
        "bytes": path.stat().st_size,
        "row_groups": md.num_row_groups,
        "rows_per_group": md.row_group(0).num_rows,
        "codec": md.row_group(0).column(0).compression,
        "page_index": md.row_group(0).column(0).has_offset_index,
    }


# ---------------------------------------------------------------------------------------------
# worker: one operation per process
# ---------------------------------------------------------------------------------------------


def rchar():
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def worker(system, op, a):
    t = time.perf_counter
    # Lazy imports are not read costs: pyarrow imports its dataset module (and pandas, when
    # installed, for a file's pandas metadata) on a first read_table; warm them before timing.
    if system in ("pyarrow", "delta"):
        import pyarrow.dataset  # noqa: F401
        try:
            import pandas  # noqa: F401
        except ImportError:
            pass
    cols = COLS2 if op == "cols2" else None
    k = a["rows"] // 100
    r0 = rchar()
    bytes_read = None
    if system.startswith("dstore"):
        import pyarrow  # noqa: F401  (the bindings import it on a first scan: not a read cost)

        import dstore

        t0 = t()
        store = dstore.Store.open(a["store"])
        snap = store.snapshot("HEAD")
        scan = snap.scan(TABLE, columns=cols, filter=f"id < {k}" if op == "filter" else None,
                         verify=system == "dstore")
        rows = scan.to_table().num_rows
        secs = t() - t0
        bytes_read = scan.stats()["bytes_read"]
    elif system == "pyarrow":
        import pyarrow.parquet as pq

        t0 = t()
        tb = pq.read_table(a["path"], columns=cols,
                           filters=[("id", "<", k)] if op == "filter" else None)
        rows = tb.num_rows
        secs = t() - t0
    elif system == "polars":
        import polars as pl

        t0 = t()
        lf = pl.scan_parquet(a["path"])
        if cols:
            lf = lf.select(cols)
        if op == "filter":
            lf = lf.filter(pl.col("id") < k)
        rows = lf.collect().height
        secs = t() - t0
    elif system == "lance":
        import lance

        t0 = t()
        ds = lance.dataset(a["uri"])
        rows = ds.to_table(columns=cols, filter=f"id < {k}" if op == "filter" else None).num_rows
        secs = t() - t0
    elif system == "delta":
        import pyarrow.dataset as pads
        from deltalake import DeltaTable

        t0 = t()
        d = DeltaTable(a["uri"]).to_pyarrow_dataset()
        rows = d.to_table(columns=cols, filter=pads.field("id") < k if op == "filter" else None).num_rows
        secs = t() - t0
    elif system == "delta_qb":
        from deltalake import DeltaTable, QueryBuilder

        t0 = t()
        qb = QueryBuilder().register("t", DeltaTable(a["uri"]))
        sel = ", ".join(cols) if cols else "*"
        where = f" WHERE id < {k}" if op == "filter" else ""
        rows = sum(b.num_rows for b in qb.execute(f"SELECT {sel} FROM t{where}"))
        secs = t() - t0
    else:
        raise SystemExit(f"unknown system {system}")
    if bytes_read is None and r0 is not None:
        bytes_read = rchar() - r0
    print(json.dumps({"seconds": secs, "rows": rows, "bytes_read": bytes_read}), flush=True)
    # Skip interpreter teardown: deltalake 1.6's threads abort it now and then ("terminate
    # called without an active exception") after the read is done and reported.
    os._exit(0)


# ---------------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------------


def child(argv, label, log, verbose):
    """Runs argv; returns its JSON with peak RSS in MiB (os.wait4)."""
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen([str(x) for x in argv], stdout=subprocess.PIPE, stderr=err)
        stdout = p.stdout.read()
        p.stdout.close()
        _, status, ru = os.wait4(p.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            sys.stderr.write(err.read().decode(errors="replace")[-4000:])
            raise SystemExit(f"{label}: exit {code}: {' '.join(map(str, argv))}")
    lines = stdout.decode().strip().splitlines()
    res = json.loads(lines[-1])
    res["rss_mib"] = ru.ru_maxrss / 1024
    log.append({"label": label, **res})
    if verbose:
        print(f"  {label}: {res['seconds']:.4f} s, {res['rss_mib']:.0f} MiB", file=sys.stderr)
    return res


def fmt_s(v):
    return "—" if v is None else (f"{v:.3f} s" if v >= 0.1 else f"{v * 1e3:.1f} ms")


def fmt_b(v):
    return "—" if v is None else f"{v / 1e6:.1f} MB"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="smoke test: 50,000 rows, 1 repeat")
    ap.add_argument("--layouts", default="pyarrow-default,spark-like,small")
    ap.add_argument("--dir", type=Path, default=Path.home() / ".cache/dstore/bench-layouts")
    ap.add_argument("--dstore-bin", type=Path, required=True, help="release dstore CLI")
    ap.add_argument("--out", type=Path, help="JSON output (default DIR/layouts-ROWS.json)")
    ap.add_argument("--verbose", "-v", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.rows, args.repeats = 50_000, 1
    t_start = time.time()
    d = args.dir.resolve()
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    log = []
    # The data is made in a child: the driver stays small, since a child's peak RSS (wait4)
    # starts from its parent's at fork.
    print(f"generating {args.rows:,} rows, writing the layouts, Lance and Delta", file=sys.stderr)
    subprocess.run([sys.executable, __file__, "gen", str(args.rows), str(d)], check=True)
    files = {k: d / "data" / f"{k}.parquet" for k in ("pyarrow-default", "spark-like", "small")}
    wanted = args.layouts.split(",")
    files = {k: v for k, v in files.items() if k in wanted}
    facts = json.loads((d / "data" / "facts.json").read_text())
    facts = {k: v for k, v in facts.items() if k in files}
    stores = {}
    for name, f in files.items():
        s = d / f"store-{name}"
        subprocess.run([args.dstore_bin, "init", s], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([args.dstore_bin, "snapshot", "--store", s, "-t", TABLE, f, "-m", name],
                       check=True, stdout=subprocess.DEVNULL)
        stores[name] = s
    lance_uri, delta_uri = d / "lance", d / "delta"
    warm(*files.values(), *lance_uri.rglob("*.lance"), *delta_uri.rglob("*.parquet"),
         *(p for s in stores.values() for p in s.rglob("*.parquet")))

    me = [sys.executable, __file__, "worker"]
    base = {"rows": args.rows}
    contestants = {}
    for op in OPS:
        for name in files:
            for system in ("dstore", "dstore_nv"):
                a = {**base, "store": str(stores[name])}
                contestants[(op, name, system)] = (system, op, a)
            for system in ("pyarrow", "polars"):
                contestants[(op, name, system)] = (system, op, {**base, "path": str(files[name])})
        contestants[(op, "own", "lance")] = ("lance", op, {**base, "uri": str(lance_uri)})
        contestants[(op, "own", "delta")] = ("delta", op, {**base, "uri": str(delta_uri)})
        contestants[(op, "own", "delta_qb")] = ("delta_qb", op, {**base, "uri": str(delta_uri)})

    def run(key):
        system, op, a = contestants[key]
        return child([*me, system, op, json.dumps(a)], "/".join(key), log, args.verbose)

    print(f"reading: {len(contestants)} contestants × {args.repeats} repeats", file=sys.stderr)
    runs = rotate(args.repeats, {k: (lambda k=k: run(k)) for k in contestants})
    want = {"full": args.rows, "cols2": args.rows, "filter": args.rows // 100}
    for (op, name, system), rs in runs.items():
        bad = [x["rows"] for x in rs if x["rows"] != want[op]]
        if bad:
            raise SystemExit(f"{op}/{name}/{system} returned {bad[0]} rows, expected {want[op]}")
    res = {
        k: {
            "seconds": statistics.median(x["seconds"] for x in rs),
            "rss_mib": max(x["rss_mib"] for x in rs),
            "bytes_read": statistics.median(x["bytes_read"] for x in rs)
            if all(x["bytes_read"] is not None for x in rs) else None,
        }
        for k, rs in runs.items()
    }
    meta = {
        "rows": args.rows, "repeats": args.repeats, "layouts": facts,
        "when": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_avg": os.getloadavg()},
        "versions": versions(("pyarrow", "polars", "pylance", "deltalake", "dstore")),
        "seconds": time.time() - t_start,
    }
    print_report(res, meta, files)
    out = args.out or d / f"layouts-{args.rows}.json"
    out.write_text(json.dumps({"meta": meta, "results": [
        {"op": k[0], "layout": k[1], "system": k[2], **v} for k, v in res.items()], "runs": log},
        indent=1, default=str))
    print(f"\nwrote {out}")


NAMES = {"dstore": "dstore (verified)", "dstore_nv": "dstore (verify off)", "pyarrow": "pyarrow",
         "polars": "polars", "lance": "Lance", "delta": "delta-rs (pyarrow dataset)",
         "delta_qb": "delta-rs (QueryBuilder)"}


def print_report(res, meta, files):
    print()
    print(f"Reads of {meta['rows']:,} rows (id, label, text 10-200 chars, embedding 32×f32), "
          f"median of {meta['repeats']}, {meta['when']}, {meta['machine']['cpus']} cores, "
          f"load {meta['machine']['load_avg'][0]:.1f}")
    for name, f in meta["layouts"].items():
        print(f"  {name}: {f['bytes'] / 1e6:.0f} MB, {f['row_groups']} row groups of "
              f"{f['rows_per_group']:,} rows, {f['codec']}, page index: {f['page_index']}")
    print("  Lance and delta-rs read their own copy of the rows, written with their defaults.")
    for op in OPS:
        print()
        print(f"## {OP_NAMES[op]}")
        head = ["layout", "system", "seconds", "bytes read", "peak RSS", "÷ best peer"]
        rows = []
        peers = {k: v for k, v in res.items() if k[0] == op and not k[2].startswith("dstore")}
        best = min(v["seconds"] for v in peers.values())
        best_key = min(peers, key=lambda k: peers[k]["seconds"])
        for layout in [*files, "own"]:
            for k, v in res.items():
                if k[0] == op and k[1] == layout:
                    rows.append([layout, NAMES[k[2]], fmt_s(v["seconds"]), fmt_b(v["bytes_read"]),
                                 f"{v['rss_mib']:.0f} MiB", f"{v['seconds'] / best:.2f}×"])
        w = [max(len(h), *(len(x[i]) for x in rows)) for i, h in enumerate(head)]
        print(" | ".join(h.ljust(w[i]) for i, h in enumerate(head)))
        print("-|-".join("-" * n for n in w))
        for x in rows:
            print(" | ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(x)))
        print(f"  best peer: {NAMES[best_key[2]]} on {best_key[1]}, {fmt_s(best)}")
    print()
    print("  bytes read: dstore's scan counter; others rchar of /proc/self/io (read syscalls;")
    print("  mmap'ed reads are not counted, so polars's figure is a lower bound).")


def gen(rows: int, d: Path):
    """The child that makes the data: the three layouts, the Lance dataset, the Delta table."""
    import lance
    from deltalake import write_deltalake

    table = make_table(rows)
    files = write_layouts(table, d / "data")
    (d / "data" / "facts.json").write_text(json.dumps({k: layout_facts(v) for k, v in files.items()}))
    lance.write_dataset(table, str(d / "lance"))
    write_deltalake(str(d / "delta"), table)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "gen":
        gen(int(sys.argv[2]), Path(sys.argv[3]))
    elif len(sys.argv) >= 2 and sys.argv[1] == "worker":
        worker(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))
    else:
        main()
