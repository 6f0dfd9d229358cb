"""The 1% filter of issue 14 on files laid out as users' tools write them.

2,000,000 rows (`id` int64 sorted, `label` int8, `text` 10-200 chars, `embedding`
fixed_size_list<float32>[32]) written by pyarrow three ways: its defaults (row groups of 1Mi rows,
no page index) with zstd, the same with `write_page_index=True`, and with 16 KiB pages and a page
index. Each file is adopted into its own store (`dstore snapshot`, bytes unchanged). Then
`id < 20000` is read, one operation per process, alternating, median of --repeats:

- dstore through `dstore-bench suite scan` (the library): verified (default) and unverified, each
  with late materialization (default) and without (`--no-late`: every projected column of a read
  row group decoded, then filtered);
- pyarrow `pq.read_table(FILE, filters=[("id", "<", N)])`;
- polars `pl.scan_parquet(FILE).filter(pl.col("id") < N).collect()` (when installed);
- duckdb `SELECT * FROM read_parquet(FILE) WHERE id < N` (when installed).

Bytes read: dstore's `ScanStats.bytes_read`; for the others the growth of `rchar` in
/proc/self/io over the query (bytes returned by read(2)/pread(2); a reader that mapped the file
into memory would be undercounted: none of these does on a local file here, each shows at least
the bytes of the chunks it must decode).

    ~/.cache/dstore/bench-venv/bin/python bench/filter.py \\
        --dstore-bench $CARGO_TARGET_DIR/release/dstore-bench --dstore $CARGO_TARGET_DIR/release/dstore
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def rchar():
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    return 0


# Filters by name: (column, operator, value as a function of the row count).
FILTERS = {
    "1%": ("id", "<", lambda rows: rows // 100),
    "50%": ("id", "<", lambda rows: rows // 2),
    "label10%": ("label", "=", lambda rows: 3),
}


def dstore_filter(name, rows):
    col, op, v = FILTERS[name]
    return f"{col} {op} {v(rows)}"


def worker(system, path, name, total):
    """One peer query in this process; prints one JSON line."""
    col, op, v = FILTERS[name]
    v = v(total)
    if system == "pyarrow":
        import pyarrow.parquet as pq

        r0, t0 = rchar(), time.perf_counter()
        t = pq.read_table(path, filters=[(col, "==" if op == "=" else op, v)])
        rows = t.num_rows
    elif system == "polars":
        import polars as pl

        c = pl.col(col)
        r0, t0 = rchar(), time.perf_counter()
        rows = pl.scan_parquet(path).filter(c < v if op == "<" else c == v).collect().height
    elif system == "duckdb":
        import duckdb

        con = duckdb.connect()
        r0, t0 = rchar(), time.perf_counter()
        q = f"SELECT * FROM read_parquet('{path}') WHERE {col} {op} {v}"
        rows = con.execute(q).arrow().num_rows
    else:
        raise SystemExit(f"unknown system {system}")
    secs = time.perf_counter() - t0
    print(json.dumps({"seconds": secs, "rows": rows, "bytes_read": rchar() - r0}))


def make_table(rows):
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(14)
    lens = rng.integers(10, 201, size=rows)
    offsets = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    chars = rng.integers(97, 123, size=int(offsets[-1]), dtype=np.uint8)
    text = pa.LargeStringArray.from_buffers(
        rows, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes())
    ).cast(pa.string())
    emb = rng.standard_normal(rows * 32, dtype=np.float32)
    return pa.table(
        {
            "id": pa.array(np.arange(rows, dtype=np.int64)),
            "label": pa.array(rng.integers(0, 10, size=rows, dtype=np.int8)),
            "text": text,
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb), 32),
        }
    )


LAYOUTS = {
    "pyarrow default (2 row groups of 1Mi rows, no page index)": {},
    "pyarrow default + write_page_index=True": {"write_page_index": True},
    "16 KiB pages + page index": {"write_page_index": True, "data_page_size": 16 * 1024},
}


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dstore-bench", required=True)
    ap.add_argument("--dstore", required=True)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dir", default=str(Path.home() / ".cache/dstore/bench-filter"))
    ap.add_argument("--filters", default="1%", help=f"comma-separated, of {list(FILTERS)}")
    ap.add_argument("--out")
    a = ap.parse_args()
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = Path(a.dir)
    d.mkdir(parents=True, exist_ok=True)
    peers = ["pyarrow"]
    for mod in ["polars", "duckdb"]:
        try:
            __import__(mod)
            peers.append(mod)
        except ImportError:
            print(f"({mod} not installed: skipped)", file=sys.stderr)
    table = None
    lines = [
        f"filters {a.filters} of {a.rows} rows; median of {a.repeats}, "
        f"one process per read, alternating; load average before: {os.getloadavg()[0]:.1f}",
        f"pyarrow {pa.__version__}"
        + "".join(f", {p} {__import__(p).__version__}" for p in peers[1:]),
        "",
    ]
    for li, (name, opts) in enumerate(LAYOUTS.items()):
        f = d / f"rows{a.rows}-layout{li}.parquet"
        if not f.exists():
            if table is None:
                table = make_table(a.rows)
            pq.write_table(table, f, compression="zstd", **opts)
        store = d / f"rows{a.rows}-layout{li}.dstore"
        if not store.exists():
            subprocess.run([a.dstore, "init", str(store)], check=True, capture_output=True)
            subprocess.run(
                [a.dstore, "snapshot", "--store", str(store), "-t", "t", str(f), "-m", "bench"],
                check=True,
                capture_output=True,
            )
        md = pq.ParquetFile(f).metadata
        pages = md.row_group(0).column(3)
        systems = {
            "dstore verified": [],
            "dstore verified --no-late": ["--no-late"],
            "dstore unverified": ["--no-verify"],
            "dstore unverified --no-late": ["--no-verify", "--no-late"],
        }
        for p in peers:
            systems[p] = None
        f.read_bytes()  # warm the page cache for everyone
        names = list(systems)
        lines.append(
            f"## {name}: {f.stat().st_size / 1e6:.0f} MB, {md.num_row_groups} row groups, "
            f"embedding chunk of row group 0: {pages.total_compressed_size / 1e6:.0f} MB, "
            f"page index {'yes' if opts.get('write_page_index') else 'no'}"
        )
        for fname in a.filters.split(","):
            lines += table_of(a, names, systems, peers, f, store, fname)
            lines.append("")
            print("\n".join(lines[-len(names) - 3:]), flush=True)
    text = "\n".join(lines)
    if a.out:
        Path(a.out).write_text(text + "\n")
    print(text)


def table_of(a, names, systems, peers, f, store, fname):
    runs = {s: [] for s in systems}
    for r in range(a.repeats):
        order = names[r % len(names):] + names[: r % len(names)]
        for s in order:
            extra = systems[s]
            if extra is None:
                cmd = [sys.executable, __file__, "worker", s, str(f), fname, str(a.rows)]
            else:
                cmd = [a.dstore_bench, "suite", "scan", "--store", str(store),
                       "--filter", dstore_filter(fname, a.rows), *extra]
            runs[s].append(run_json(cmd))
    counts = {x["rows"] for rs in runs.values() for x in rs}
    assert len(counts) == 1, {s: [x["rows"] for x in rs] for s, rs in runs.items()}
    lines = [f"### `{dstore_filter(fname, a.rows)}` ({counts.pop()} rows)"]
    best = min(statistics.median(x["seconds"] for x in runs[p]) for p in peers)
    lines.append(f"{'reader':<30} {'seconds':>8} {'÷ best peer':>12} {'MB read':>9}")
    for s in names:
        secs = statistics.median(x["seconds"] for x in runs[s])
        mb = statistics.median(x["bytes_read"] for x in runs[s]) / 1e6
        lines.append(f"{s:<30} {secs:>8.3f} {secs / best:>11.2f}x {mb:>9.1f}")
    return lines


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        main()
