"""Decode speed per column and for the whole table: dstore's scan against pq.read_table.

    python bench/decode.py [--rows 2000000] [--repeats 5] [--threads 1,2] [--compression C]
                           [--dir DIR] [--dstore-bin DIR] [--before BENCH] [--out FILE.json]

Generates (once, cached in DIR) the file of bench/decode_gen.py with pyarrow's defaults,
ingests it into a store with `dstore snapshot` (adopted as it is, so both systems read the
same bytes), then for every case (each column alone, the whole table) and thread count runs
one read per process: `dstore-bench`'s `decode` binary (open the store, resolve HEAD, scan,
every batch; verified, and for the whole table also unverified) and `pq.read_table(path,
columns=..., use_threads=threads > 1)` in a Python child. Systems alternate within each
repeat (the order rotates); figures are medians; peak RSS per process from wait4; CPU
seconds (all threads) as each child measures them around its read. The file is read once first
so the page cache is warm for all. One-thread runs are pinned to CPU 0 (`taskset -c 0`) for
every system. `--before BENCH` adds an older `dstore-bench` binary (its `suite scan`, whose pool
has as many threads as CPUs it may use: pinned, one) as "before".

Build first: `cargo build --release -p dstore-cli -p dstore-bench`.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
COLUMNS = ["id", "label", "text", "embedding", None]  # None: the whole table


def worker(a: argparse.Namespace) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    import pyarrow.dataset  # noqa: F401  (read_table imports it on first use: not a read cost)

    pa.set_cpu_count(max(a.threads, 1))
    pq.read_metadata(a.file)
    cols = None if a.columns is None else a.columns.split(",")
    t, c = time.perf_counter(), time.process_time()
    table = pq.read_table(a.file, columns=cols, use_threads=a.threads > 1)
    d, c = time.perf_counter() - t, time.process_time() - c
    print(json.dumps({"seconds": d, "cpu_seconds": c, "rows": table.num_rows}))


def run(cmd: list[str], threads: int) -> dict:
    if threads == 1:
        cmd = ["taskset", "-c", "0"] + cmd
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"failed ({status}): {' '.join(cmd)}")
    r = json.loads(out.decode().strip().splitlines()[-1])
    r["peak_rss_mib"] = ru.ru_maxrss / 1024
    # CPU of the whole process (start-up included: small for dstore, not for Python).
    r["process_cpu_seconds"] = ru.ru_utime + ru.ru_stime
    return r


def prepare(a: argparse.Namespace) -> tuple[str, str]:
    os.makedirs(a.dir, exist_ok=True)
    name = f"{a.compression or 'default'}-{a.rows}"
    path = os.path.join(a.dir, f"{name}.parquet")
    if not os.path.exists(path):
        gen = [sys.executable, os.path.join(HERE, "decode_gen.py"), path, "--rows", str(a.rows)]
        if a.compression:
            gen += ["--compression", a.compression]
        subprocess.run(gen, check=True)
    store = os.path.join(a.dir, f"{name}.dstore")
    if not os.path.exists(store):
        dstore = os.path.join(a.dstore_bin, "dstore")
        subprocess.run([dstore, "init", store], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(
            [dstore, "snapshot", "--store", store, "-t", "t", path, "-m", "decode bench"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    with open(path, "rb") as f:  # warm the page cache
        while f.read(1 << 24):
            pass
    return path, store


def chunk_bytes(path: str, col: str | None) -> int:
    import pyarrow.parquet as pq

    md = pq.ParquetFile(path).metadata
    total = 0
    for g in range(md.num_row_groups):
        rg = md.row_group(g)
        for c in range(rg.num_columns):
            cc = rg.column(c)
            if col is None or cc.path_in_schema.split(".")[0] == col:
                total += cc.total_compressed_size
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--compression", default=None)
    ap.add_argument("--dir", default=os.path.expanduser("~/.cache/dstore/bench-decode"))
    ap.add_argument(
        "--dstore-bin",
        default=os.path.join(
            os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/dstore/target")),
            "release",
        ),
    )
    ap.add_argument("--out", default=None)
    ap.add_argument("--before", default=None, help="an older dstore-bench binary")
    sub = ap.add_subparsers(dest="cmd")
    w = sub.add_parser("worker")
    w.add_argument("--file", required=True)
    w.add_argument("--columns", default=None)
    w.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    if a.cmd == "worker":
        worker(a)
        return
    path, store = prepare(a)
    threads = [int(t) for t in a.threads.split(",")]
    bench = os.path.join(a.dstore_bin, "decode")
    cases = []
    for col in COLUMNS:
        for n in threads:
            systems = {
                "dstore": [bench, "--store", store, "--threads", str(n)]
                + ([] if col is None else ["--columns", col]),
                "pyarrow": [sys.executable, __file__, "worker", "--file", path, "--threads", str(n)]
                + ([] if col is None else ["--columns", col]),
            }
            if col is None:
                systems["dstore-unverified"] = systems["dstore"] + ["--no-verify"]
            if a.before and (n == 1 or n == os.cpu_count()):
                systems["before"] = [a.before, "suite", "scan", "--store", store] + (
                    [] if col is None else ["--columns", col]
                )
            cases.append((col, n, systems))
    runs: dict = {}
    for r in range(a.repeats):
        for col, n, systems in cases:
            names = list(systems)
            names = names[r % len(names) :] + names[: r % len(names)]
            for s in names:
                runs.setdefault((col, n, s), []).append(run(systems[s], n))
        print(f"repeat {r + 1}/{a.repeats} done", file=sys.stderr)
    med = lambda xs, k: statistics.median(x[k] for x in xs) if xs else None  # noqa: E731
    fmt = lambda v, f=".0f": "" if v is None else format(v, f)  # noqa: E731
    lines = [
        f"file: {path} ({os.path.getsize(path):,} bytes), {a.repeats} repeats, medians;"
        " ms = wall; cpu = CPU ms of all threads around the read; proc cpu = whole process"
        " (wait4), dstore now and before",
        f"{'read':<12} {'thr':>3} {'dstore ms':>9} {'before ms':>9} {'pyarrow ms':>10} "
        f"{'ratio':>5} {'dstore cpu':>10} {'pyarrow cpu':>11} {'proc cpu':>8} {'before':>6} "
        f"{'unverif ms':>10} {'open ms':>7} "
        f"{'MiB read':>8} {'chunk MiB':>9} {'RSS MiB dstore':>14} {'before':>6} {'pyarrow':>7}",
    ]
    out = []
    for col, n, systems in cases:
        d, p = runs[(col, n, "dstore")], runs[(col, n, "pyarrow")]
        u = runs.get((col, n, "dstore-unverified"))
        bf = runs.get((col, n, "before"), [])
        row = {
            "read": col or "whole table",
            "threads": n,
            "dstore_ms": med(d, "seconds") * 1e3,
            "dstore_cpu_ms": med(d, "cpu_seconds") * 1e3,
            "before_ms": med(bf, "seconds") * 1e3 if bf else None,
            "dstore_process_cpu_ms": med(d, "process_cpu_seconds") * 1e3,
            "before_process_cpu_ms": med(bf, "process_cpu_seconds") * 1e3 if bf else None,
            "before_rss_mib": med(bf, "peak_rss_mib"),
            "pyarrow_cpu_ms": med(p, "cpu_seconds") * 1e3,
            "dstore_open_ms": med(d, "open_seconds") * 1e3,
            "pyarrow_ms": med(p, "seconds") * 1e3,
            "dstore_unverified_ms": med(u, "seconds") * 1e3 if u else None,
            "dstore_bytes_read": d[0]["bytes_read"],
            "chunk_bytes": chunk_bytes(path, col),
            "dstore_rss_mib": med(d, "peak_rss_mib"),
            "pyarrow_rss_mib": med(p, "peak_rss_mib"),
            "runs": {s: runs[(col, n, s)] for s in systems},
        }
        out.append(row)
        lines.append(
            f"{row['read']:<12} {n:>3} {row['dstore_ms']:>9.0f} {fmt(row['before_ms']):>9} "
            f"{row['pyarrow_ms']:>10.0f} {row['dstore_ms'] / row['pyarrow_ms']:>5.2f} "
            f"{row['dstore_cpu_ms']:>10.0f} {row['pyarrow_cpu_ms']:>11.0f} "
            f"{row['dstore_process_cpu_ms']:>8.0f} {fmt(row['before_process_cpu_ms']):>6} "
            f"{fmt(row['dstore_unverified_ms']):>10} {row['dstore_open_ms']:>7.1f} "
            f"{row['dstore_bytes_read'] / 2**20:>8.1f} {row['chunk_bytes'] / 2**20:>9.1f} "
            f"{row['dstore_rss_mib']:>14.0f} {fmt(row['before_rss_mib']):>6} "
            f"{row['pyarrow_rss_mib']:>7.0f}"
        )
    print("\n".join(lines))
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"file": path, "repeats": a.repeats, "cases": out}, f, indent=1)


if __name__ == "__main__":
    main()
