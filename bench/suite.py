#!/usr/bin/env python3
"""dstore against pyarrow, delta-rs and Lance: one run, the same data, side by side.

Run it through scripts/bench.sh (which makes the venv and builds dstore). Every measured
operation runs in its own child process: dstore operations as `dstore-bench suite <op>`, peer
operations as `python suite.py worker <op> <json>`. Each child times its own operation (from
opening the table to the last byte) and prints one JSON line; the driver reads the child's peak
RSS with os.wait4. Systems alternate within every repeat (the order rotates), and each figure is
the median of the repeats. bench/README.md says what each row measures.
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

PEERS = ("pyarrow", "delta", "lance")
PEER_NAMES = {"pyarrow": "pyarrow", "delta": "delta-rs", "lance": "Lance"}


# ---------------------------------------------------------------------------------------------
# worker: one peer operation per process
# ---------------------------------------------------------------------------------------------


def _filter_pyarrow(f):
    import pyarrow.compute as pc

    if f is None:
        return None
    col, op, val = f
    assert op == "<"
    return pc.field(col) < val


def _filter_sql(f):
    if f is None:
        return None
    col, op, val = f
    return f"{col} {op} {val}"


def _source_reader(src, kind):
    """The input as a stream of batches: Parquet via pyarrow.dataset, CSV parsed by pyarrow."""
    import pyarrow.csv as pv
    import pyarrow.dataset as ds

    if kind == "parquet":
        return ds.dataset(src, format="parquet").scanner().to_reader()
    return pv.read_csv(src).to_reader()


def worker(op, a):
    t = time.perf_counter
    out = {}
    if op == "pyarrow_ingest":
        import pyarrow.csv as pv
        import pyarrow.dataset as ds
        import pyarrow.parquet as pq

        t0 = t()
        dest = Path(a["dir"]) / f"version={a['version']}"
        if a["kind"] == "parquet":
            # A new version of a plain Parquet dataset: read the file, write zstd Parquet.
            src = ds.dataset(a["src"], format="parquet")
            opts = ds.ParquetFileFormat().make_write_options(compression="zstd")
            ds.write_dataset(src, dest, format="parquet", file_options=opts,
                             basename_template="part-{i}.parquet",
                             existing_data_behavior="overwrite_or_ignore")
        else:
            dest.mkdir(parents=True, exist_ok=True)
            pq.write_table(pv.read_csv(a["src"]), dest / "part-0.parquet", compression="zstd")
        out["seconds"] = t() - t0
    elif op == "delta_ingest":
        from deltalake import WriterProperties, write_deltalake

        t0 = t()
        write_deltalake(a["uri"], _source_reader(a["src"], a["kind"]), mode="append",
                        writer_properties=WriterProperties(compression="ZSTD"))
        out["seconds"] = t() - t0
    elif op == "lance_ingest":
        import lance

        t0 = t()
        lance.write_dataset(_source_reader(a["src"], a["kind"]), a["uri"], mode="append")
        out["seconds"] = t() - t0
    elif op == "pyarrow_scan":
        import pyarrow.dataset as ds

        t0 = t()
        d = ds.dataset(a["path"], format="parquet")
        out["rows"], out["batches"] = count_batches(
            d.to_batches(columns=a.get("columns"), filter=_filter_pyarrow(a.get("filter"))))
        out["seconds"] = t() - t0
    elif op == "delta_scan":
        from deltalake import DeltaTable

        t0 = t()
        d = DeltaTable(a["uri"], version=a.get("version")).to_pyarrow_dataset()
        out["rows"], out["batches"] = count_batches(
            d.to_batches(columns=a.get("columns"), filter=_filter_pyarrow(a.get("filter"))))
        out["seconds"] = t() - t0
    elif op == "lance_scan":
        import lance

        t0 = t()
        d = lance.dataset(a["uri"], version=a.get("version"))
        out["rows"], out["batches"] = count_batches(
            d.scanner(columns=a.get("columns"), filter=_filter_sql(a.get("filter"))).to_batches())
        out["seconds"] = t() - t0
    elif op in ("pyarrow_open", "delta_open", "lance_open"):
        runs = []
        for _ in range(a.get("repeats", 20)):
            t0 = t()
            if op == "pyarrow_open":
                import pyarrow.dataset as ds

                ds.dataset(a["path"], format="parquet").schema  # noqa: B018 (discovery)
            elif op == "delta_open":
                from deltalake import DeltaTable

                DeltaTable(a["uri"], version=a["version"])
            else:
                import lance

                lance.dataset(a["uri"], version=a["version"])
            runs.append(t() - t0)
        out["seconds"] = statistics.median(runs)
    elif op in ("delta_history", "lance_history"):
        out = peer_history(op.split("_")[0], a["uri"], a["levels"])
    else:
        raise SystemExit(f"unknown worker op {op}")
    print(json.dumps(out))


def peer_history(system, uri, levels):
    """Mirror of `dstore-bench suite history`: 10-row appends; at each level the median of the
    last 10 commits, opening the middle version by number and by time, and opening the latest."""
    import pyarrow as pa

    if system == "delta":
        from deltalake import DeltaTable, write_deltalake

        def commit(tb):
            write_deltalake(uri, tb, mode="append")

        # Delta numbers versions from 0: commit number c (1-based) is version c - 1.
        def open_version(c):
            DeltaTable(uri, version=c - 1)

        def open_time(ts):
            DeltaTable(uri).load_as_version(ts)

        def open_head():
            DeltaTable(uri)
    else:
        import lance

        def commit(tb):
            lance.write_dataset(tb, uri, mode="append")

        def open_version(c):  # Lance numbers versions from 1
            lance.dataset(uri, version=c)

        def open_time(ts):
            lance.dataset(uri, asof=ts)

        def open_head():
            lance.dataset(uri)

    def med(f, n=20):
        runs = []
        for _ in range(n):
            t0 = time.perf_counter()
            f()
            runs.append(time.perf_counter() - t0)
        return statistics.median(runs) * 1e3

    lat, stamps, out = [], [], []
    levels = sorted(set(levels))
    for i in range(levels[-1]):
        tb = pa.table({"x": pa.array([i] * 10, pa.int64())})
        t0 = time.perf_counter()
        commit(tb)
        lat.append(time.perf_counter() - t0)
        # Lance compares against naive local times, delta-rs takes an aware datetime.
        stamps.append(dt.datetime.now(dt.timezone.utc) if system == "delta" else dt.datetime.now())
        level = i + 1
        if level in levels:
            mid = level // 2
            out.append({
                "level": level,
                "commit_ms": statistics.median(lat[-10:]) * 1e3,
                "commit_max_ms": max(lat[-10:]) * 1e3,
                "open_version": mid,
                "open_version_ms": med(lambda: open_version(mid)),
                "open_time_ms": med(lambda: open_time(stamps[mid - 1])),
                "open_head_ms": med(open_head),
            })
    return {"levels": out}


# ---------------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------------


class Runner:
    def __init__(self, args):
        self.args = args
        self.bench = str(args.bench_bin)
        self.python = sys.executable
        self.log = []

    def child(self, argv, label):
        """Runs argv; returns its JSON, wall seconds and peak RSS in MiB (os.wait4)."""
        with tempfile.TemporaryFile() as err:
            t0 = time.perf_counter()
            p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err)
            stdout = p.stdout.read()
            p.stdout.close()
            _, status, ru = os.wait4(p.pid, 0)
            wall = time.perf_counter() - t0
            p.returncode = os.waitstatus_to_exitcode(status)
            if p.returncode != 0:
                err.seek(0)
                sys.stderr.write(err.read().decode(errors="replace")[-4000:])
                raise SystemExit(f"{label}: exit {p.returncode}: {' '.join(map(str, argv))}")
        line = stdout.decode().strip().splitlines()[-1] if stdout.strip() else "{}"
        res = json.loads(line)
        res["wall_seconds"] = wall
        res["rss_mib"] = ru.ru_maxrss / 1024  # Linux reports KiB
        self.log.append({"label": label, **res})
        if self.args.verbose:
            print(f"  {label}: {res.get('seconds', 0):.4f} s, {res['rss_mib']:.0f} MiB",
                  file=sys.stderr)
        return res

    def dstore(self, label, *op):
        return self.child([self.bench, "suite", *map(str, op)], label)

    def peer(self, label, op, **a):
        return self.child([self.python, __file__, "worker", op, json.dumps(a)], label)

    def timed(self, label, argv):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True)
        return {"seconds": time.perf_counter() - t0}


def rm(p):
    shutil.rmtree(p, ignore_errors=True)


def dir_bytes(root):
    """Bytes of the regular files under root, each inode once."""
    seen, total = set(), 0
    for d, _, files in os.walk(root):
        for f in files:
            st = os.lstat(os.path.join(d, f))
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_size
    return total


def table_bytes(system, root):
    """(all bytes, data-file bytes) of a system's table directory."""
    root = Path(root)
    total = dir_bytes(root)
    if system == "dstore":
        return total, dir_bytes(root / "segments")
    if system == "delta":
        return total, total - dir_bytes(root / "_delta_log")
    if system == "lance":
        return total, dir_bytes(root / "data")
    return total, total


def alternate(repeats, contestants):
    """contestants: {name: fn() -> result}, run in rotating order (benchlib.rotate); returns
    {name: (median seconds, [results])}."""
    runs = rotate(repeats, contestants)
    return {n: (statistics.median(x["seconds"] for x in rs), rs) for n, rs in runs.items()}


def med_rss(rs):
    vals = [x["rss_mib"] for x in rs if "rss_mib" in x]
    return max(vals) if vals else None


class Table:
    def __init__(self):
        self.rows = []
        self.targets = []

    def add(self, key, label, unit, dstore=None, rss=None, base=None, peers=None, note=""):
        row = {"key": key, "label": label, "unit": unit, "dstore": dstore, "dstore_rss_mib": rss,
               "baseline": base, "peers": peers or {}, "note": note}
        self.rows.append(row)
        return row

    def target(self, text, status, detail):
        self.targets.append({"target": text, "status": status, "detail": detail})


def fmt(v, unit):
    if v is None:
        return "—"
    if unit == "s":
        return f"{v:.3f} s" if v >= 0.1 else f"{v * 1e3:.2f} ms"
    if unit == "ms":
        return f"{v:.2f} ms" if v < 100 else f"{v:.0f} ms"
    if unit == "bytes":
        if abs(v) >= 1e6:
            return f"{v / 1e6:.1f} MB"
        return f"{v / 1e3:.1f} kB" if abs(v) >= 1e3 else f"{v:.0f} B"
    if unit == "MiB":
        return f"{v:.0f} MiB"
    return f"{v:.3g}"


def print_table(table, meta):
    head = ["measurement", "dstore", "RSS", "baseline", "pyarrow", "delta-rs", "Lance",
            "÷base", "÷pyarrow", "÷delta", "÷Lance"]
    lines = []
    for r in table.rows:
        u, p = r["unit"], r["peers"]
        base = r["baseline"]
        lines.append([
            r["label"], fmt(r["dstore"], u), fmt(r["dstore_rss_mib"], "MiB"),
            fmt(base[1], u) if base else "—",
            fmt(p.get("pyarrow"), u), fmt(p.get("delta"), u), fmt(p.get("lance"), u),
            ratio(r["dstore"], base[1]) if base else "—",
            ratio(r["dstore"], p.get("pyarrow")), ratio(r["dstore"], p.get("delta")),
            ratio(r["dstore"], p.get("lance")),
        ])
    w = [max(len(h), *(len(x[i]) for x in lines)) for i, h in enumerate(head)]
    out = [" | ".join(h.ljust(w[i]) for i, h in enumerate(head)),
           "-|-".join("-" * n for n in w)]
    for x in lines:
        out.append(" | ".join(c.ljust(w[0]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(x)))
    print()
    print(f"dstore benchmark suite — {meta['rows']:,} rows, Parquet {meta['parquet_bytes'] / 1e6:.1f} MB, "
          f"CSV {meta['csv_bytes'] / 1e6:.1f} MB, median of {meta['repeats']}, {meta['when']}")
    print("\n".join(out))
    bases = [f"  baseline of '{r['label']}': {r['baseline'][0]}" for r in table.rows
             if r["baseline"] and r["dstore"] is not None]
    notes = [f"  {r['label']}: {r['note']}" for r in table.rows if r["note"]]
    if bases or notes:
        print()
        print("\n".join(dict.fromkeys(bases)))
        print("\n".join(notes))
    print()
    print("targets (issue 5):")
    for t in table.targets:
        print(f"  {t['status']:<8} {t['target']} — {t['detail']}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--history", default="10,1000,10000,100000",
                    help="history levels for dstore (commits), comma-separated")
    ap.add_argument("--peer-history-max", type=int, default=1000,
                    help="highest history level the peers are taken to (default 1000)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 20,000 rows, history 10, 1 repeat")
    ap.add_argument("--dir", type=Path, default=Path.home() / ".cache/dstore/bench-suite")
    ap.add_argument("--bench-bin", type=Path, required=True)
    ap.add_argument("--dstore-bin", type=Path)
    ap.add_argument("--out", type=Path, help="JSON output (default DIR/suite-ROWS.json)")
    ap.add_argument("--verbose", "-v", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.rows, args.history, args.repeats = 20_000, "10", 1
        args.peer_history_max = 10
    levels = sorted({int(x) for x in args.history.split(",") if x})
    peer_levels = [x for x in levels if x <= args.peer_history_max]
    run = Runner(args)
    d = args.dir.resolve()
    work = d / "work"
    rm(work)
    work.mkdir(parents=True)
    t_start = time.time()

    def step(msg):
        print(f"[{time.time() - t_start:6.0f} s] {msg}", file=sys.stderr, flush=True)

    step(f"generating {args.rows:,} rows")
    gen = run.dstore("gen", "gen", "--rows", args.rows, "--dir", d / "data")
    pq_file, csv_file = gen["parquet"], gen["csv"]
    warm(pq_file, csv_file)
    table = Table()
    reps = args.repeats
    S = {  # where each system keeps its table
        "dstore": work / "dstore", "pyarrow": work / "pyarrow", "delta": work / "delta",
        "lance": work / "lance",
    }

    # ---- ingest Parquet as a new version ---------------------------------------------------
    step("ingest Parquet")
    copy_to = work / "copy.parquet"

    def cp(src):
        def f():
            Path(copy_to).unlink(missing_ok=True)
            return run.timed("cp", ["cp", src, str(copy_to)])
        return f

    def fresh_peer(system, kind, src):
        def f():
            rm(S[system])
            if system == "pyarrow":
                return run.peer(f"pyarrow ingest {kind}", "pyarrow_ingest", src=src,
                                dir=str(S[system]), version=1, kind=kind)
            return run.peer(f"{system} ingest {kind}", f"{system}_ingest", src=src,
                            uri=str(S[system]), kind=kind)
        return f

    res = alternate(reps, {
        "cp": cp(pq_file),
        "b3": lambda: run.dstore("blake3", "hash", pq_file),
        "dstore": lambda: run.dstore("ingest parquet", "ingest", "--store", S["dstore"],
                                     "--fresh", pq_file),
        "dstore_nv": lambda: run.dstore("ingest parquet --no-validate", "ingest", "--store",
                                        work / "dstore-nv", "--fresh", "--no-validate", pq_file),
        "pyarrow": fresh_peer("pyarrow", "parquet", pq_file),
        "delta": fresh_peer("delta", "parquet", pq_file),
        "lance": fresh_peer("lance", "parquet", pq_file),
    })
    rm(work / "dstore-nv")
    Path(copy_to).unlink(missing_ok=True)
    med = {k: v[0] for k, v in res.items()}
    base = med["cp"] + med["b3"]
    peers = {p: med[p] for p in PEERS}
    table.add("cp", "cp of the Parquet file", "s", base=("cp", med["cp"]))
    table.add("blake3", "BLAKE3 of the Parquet file (1 thread)", "s", base=("BLAKE3", med["b3"]))
    table.add("ingest_parquet_novalidate", "ingest Parquet, --no-validate", "s", med["dstore_nv"],
              med_rss(res["dstore_nv"][1]), ("cp + BLAKE3 of the file", base))
    table.add("ingest_parquet", "ingest Parquet (default: full validation)", "s", med["dstore"],
              med_rss(res["dstore"][1]), ("cp + BLAKE3 of the file", base), peers)
    r = med["dstore_nv"] / base
    table.target("Parquet ingest --no-validate ≤ 1.5× (cp + BLAKE3)",
                 "MET" if r <= 1.5 else "MISSED", f"{r:.2f}×")
    fastest = min(peers, key=peers.get)
    r = med["dstore"] / peers[fastest]
    table.target("Parquet ingest, full validation, ≥ 3× faster than the fastest peer",
                 "MET" if r <= 1 / 3 else "MISSED",
                 f"dstore/{PEER_NAMES[fastest]} = {r:.2f}× (needs ≤ 0.33×)")

    # ---- scans of the version just written -----------------------------------------------
    step("scans")
    nfilter = max(1, args.rows // 100)
    scans = [
        ("scan_full", "full scan to Arrow", {}, []),
        ("scan_proj", "2-column projection (id, score)", {"columns": ["id", "score"]},
         ["--columns", "id,score"]),
        ("scan_filter", f"filter id < {nfilter:,} (1% of rows)",
         {"filter": ["id", "<", nfilter]}, ["--filter", f"id < {nfilter}"]),
    ]
    scan_res = {}
    for key, label, pa_args, ds_args in scans:
        res = alternate(reps, {
            "dstore": lambda a=ds_args, k=key: run.dstore(k, "scan", "--store", S["dstore"], *a),
            "pyarrow": lambda a=pa_args, k=key: run.peer(k, "pyarrow_scan", path=pq_file, **a),
            "delta": lambda a=pa_args, k=key: run.peer(k, "delta_scan", uri=str(S["delta"]), **a),
            "lance": lambda a=pa_args, k=key: run.peer(k, "lance_scan", uri=str(S["lance"]), **a),
        })
        rows = {n: v[1][-1]["rows"] for n, v in res.items()}
        if len(set(rows.values())) != 1:
            raise SystemExit(f"{label}: systems disagree on the row count: {rows}")
        scan_res[key] = {k: v[0] for k, v in res.items()}
        note = ""
        if key == "scan_filter":
            x = res["dstore"][1][-1]
            note = (f"dstore read {fmt(x['bytes_read'], 'bytes')} of {fmt(gen['parquet_bytes'], 'bytes')}"
                    f" ({x['row_groups_read']} row groups read, {x['row_groups_pruned']} pruned)")
        table.add(key, label, "s", scan_res[key]["dstore"], med_rss(res["dstore"][1]), None,
                  {p: scan_res[key][p] for p in PEERS}, note)
    s = scan_res["scan_full"]
    table.target("Full scan at least pyarrow's throughput", "MET" if s["dstore"] <= s["pyarrow"]
                 else "MISSED", f"dstore/pyarrow = {s['dstore'] / s['pyarrow']:.2f}× (≤ 1.00×)")
    table.target("Full scan: aim for Lance's throughput", "MET" if s["dstore"] <= s["lance"]
                 else "MISSED", f"dstore/Lance = {s['dstore'] / s['lance']:.2f}× (≤ 1.00×)")
    s = scan_res["scan_proj"]
    table.target("Projection at least delta-rs's throughput", "MET" if s["dstore"] <= s["delta"]
                 else "MISSED", f"dstore/delta-rs = {s['dstore'] / s['delta']:.2f}× (≤ 1.00×)")

    # ---- re-ingest identical data ----------------------------------------------------------
    step("re-ingest identical data")
    added, added_data, reingest_t = {}, {}, {}
    for system in ("dstore", *PEERS):
        before = table_bytes(system, S[system])
        if system == "dstore":
            x = run.dstore("re-ingest", "ingest", "--store", S["dstore"], pq_file)
        elif system == "pyarrow":
            x = run.peer("pyarrow re-ingest", "pyarrow_ingest", src=pq_file, dir=str(S["pyarrow"]),
                         version=2, kind="parquet")
        else:
            x = run.peer(f"{system} re-ingest", f"{system}_ingest", src=pq_file,
                         uri=str(S[system]), kind="parquet")
        after = table_bytes(system, S[system])
        added[system] = after[0] - before[0]
        added_data[system] = after[1] - before[1]
        reingest_t[system] = x
    table.add("reingest_bytes", "re-ingest identical Parquet: bytes added", "bytes",
              added["dstore"], reingest_t["dstore"]["rss_mib"], None,
              {p: added[p] for p in PEERS},
              note="data files only: " + ", ".join(
                  f"{PEER_NAMES.get(k, k)} {fmt(v, 'bytes')}" for k, v in added_data.items()))
    table.add("reingest_time", "re-ingest identical Parquet: time (1 run)", "s",
              reingest_t["dstore"]["seconds"], None, None,
              {p: reingest_t[p]["seconds"] for p in PEERS})
    table.target("Re-ingesting identical data adds 0 bytes",
                 "MET" if added_data["dstore"] == 0 else "MISSED",
                 f"segment bytes added {added_data['dstore']}, total {fmt(added['dstore'], 'bytes')} "
                 "(the new manifest, log record and catalog)")

    # ---- an old version (version 1 of 2) ---------------------------------------------------
    step("old version")
    res = alternate(reps, {
        "dstore": lambda: run.dstore("open v1", "open", "--store", S["dstore"], "--at", "HEAD~1"),
        "pyarrow": lambda: run.peer("pyarrow open v1", "pyarrow_open",
                                    path=str(S["pyarrow"] / "version=1")),
        "delta": lambda: run.peer("delta open v1", "delta_open", uri=str(S["delta"]), version=0),
        "lance": lambda: run.peer("lance open v1", "lance_open", uri=str(S["lance"]), version=1),
    })
    table.add("old_open", "open old version (1 of 2), median of 20 in process", "s",
              res["dstore"][0], med_rss(res["dstore"][1]), None, {p: res[p][0] for p in PEERS})
    res = alternate(reps, {
        "dstore": lambda: run.dstore("read v1", "scan", "--store", S["dstore"], "--at", "HEAD~1"),
        "pyarrow": lambda: run.peer("pyarrow read v1", "pyarrow_scan",
                                    path=str(S["pyarrow"] / "version=1")),
        "delta": lambda: run.peer("delta read v1", "delta_scan", uri=str(S["delta"]), version=0),
        "lance": lambda: run.peer("lance read v1", "lance_scan", uri=str(S["lance"]), version=1),
    })
    table.add("old_read", "read old version (1 of 2) to Arrow", "s", res["dstore"][0],
              med_rss(res["dstore"][1]), None, {p: res[p][0] for p in PEERS})
    co = work / "checkout"

    def checkout():
        rm(co)
        return run.dstore("checkout v1", "checkout", "--store", S["dstore"], "--at", "HEAD~1",
                          "--out", co)

    res = alternate(reps, {"dstore": checkout, "cp": cp(pq_file)})
    table.add("old_checkout", "checkout old version to Parquet files (hard links)", "s",
              res["dstore"][0], med_rss(res["dstore"][1]), ("cp of the file", res["cp"][0]),
              note=f"{res['dstore'][1][-1]['linked']} of {res['dstore'][1][-1]['files']} files linked")
    rm(co)
    Path(copy_to).unlink(missing_ok=True)
    for s_ in S.values():
        rm(s_)

    # ---- ingest CSV ------------------------------------------------------------------------
    step("ingest CSV")
    res = alternate(reps, {
        "cp": cp(csv_file),
        "b3": lambda: run.dstore("blake3 csv", "hash", csv_file),
        "dstore": lambda: run.dstore("ingest csv", "ingest", "--store", S["dstore"], "--fresh",
                                     csv_file),
        "pyarrow": fresh_peer("pyarrow", "csv", csv_file),
        "delta": fresh_peer("delta", "csv", csv_file),
        "lance": fresh_peer("lance", "csv", csv_file),
    })
    Path(copy_to).unlink(missing_ok=True)
    med = {k: v[0] for k, v in res.items()}
    table.add("ingest_csv", "ingest CSV (→ zstd Parquet for dstore, pyarrow, delta-rs)", "s",
              med["dstore"], med_rss(res["dstore"][1]), ("cp + BLAKE3 of the CSV", med["cp"] + med["b3"]),
              {p: med[p] for p in PEERS})
    r = med["dstore"] / med["pyarrow"]
    table.target("CSV ingest no slower than pyarrow reading the CSV and writing zstd Parquet",
                 "MET" if r <= 1.0 else "MISSED", f"{r:.2f}×")
    for s_ in S.values():
        rm(s_)

    # ---- peak RSS of CSV ingest against input size ------------------------------------------
    step("CSV ingest RSS at 1× and ≥10× the row-group budget")
    rg = min(131_072, max(1_000, args.rows // 10))
    small = run.dstore("gen small", "gen", "--rows", rg, "--dir", d / "data")
    rss = {}
    for name, f in (("1x", small["csv"]), ("10x", csv_file)):
        x = run.dstore(f"ingest csv {name}", "ingest", "--store", work / "rss", "--fresh",
                       "--row-group-rows", rg, f)
        rss[name] = x
    rm(work / "rss")
    ratio_rg = args.rows / rg
    table.add("rss_csv_1x", f"peak RSS, CSV ingest of {rg:,} rows (1 row group)", "MiB",
              rss["1x"]["rss_mib"], None, None, None,
              note=f"CSV {fmt(small['csv_bytes'], 'bytes')}")
    table.add("rss_csv_10x", f"peak RSS, CSV ingest of {args.rows:,} rows ({ratio_rg:.0f} row groups)",
              "MiB", rss["10x"]["rss_mib"], None, None, None,
              note=f"CSV {fmt(gen['csv_bytes'], 'bytes')}")
    r = rss["10x"]["rss_mib"] / rss["1x"]["rss_mib"]
    table.target("Peak RSS ingesting a CSV ten times the budget stays bounded",
                 "MET" if r <= 1.5 and ratio_rg >= 10 else "MISSED",
                 f"{rss['10x']['rss_mib']:.0f} MiB for {ratio_rg:.0f}× the budget vs "
                 f"{rss['1x']['rss_mib']:.0f} MiB for 1× ({r:.2f}×, bounded if ≤ 1.5×); budget = one "
                 f"parse batch (8,192 rows) + one row group being encoded ({rg:,} rows, capped at 64 MiB)")

    # ---- checkout per segment --------------------------------------------------------------
    step("checkout per segment")
    seg_rows = [max(100, args.rows // 1000), max(1_000, args.rows // 10)]
    x = run.dstore("checkout segments", "checkout-segments", "--dir", work, "--segment-rows",
                   ",".join(map(str, seg_rows)), "--segments", 10, "--repeats", max(reps, 5))
    per = []
    for sz in x["sizes"]:
        table.add(f"checkout_seg_{sz['segment_rows']}",
                  f"checkout --no-verify per segment, {fmt(sz['segment_bytes'], 'bytes')} segments", "ms",
                  sz["ms_per_segment"], x["rss_mib"], None, None,
                  note=f"{sz['segments']} segments, {sz['linked']} linked, median of {max(reps, 5)}")
        per.append(sz["ms_per_segment"])
    spread = max(per) / min(per)
    table.target("Checkout by hard link under 1 ms per segment, independent of segment size",
                 "MET" if max(per) < 1 and spread <= 1.5 else "MISSED",
                 f"{' / '.join(f'{p:.3f} ms' for p in per)} per segment; large/small "
                 f"{per[-1] / per[0]:.2f}× (independent if within 1.5× either way)")

    # ---- history -----------------------------------------------------------------------------
    step(f"history {levels} (dstore), {peer_levels} (peers)")
    hist = {"dstore": run.dstore("history", "history", "--dir", work, "--levels",
                                 ",".join(map(str, levels)),
                                 *(["--dstore", args.dstore_bin] if args.dstore_bin else []))}
    if peer_levels:
        for p in ("delta", "lance"):
            rm(work / f"hist-{p}")
            hist[p] = run.peer(f"{p} history", f"{p}_history", uri=str(work / f"hist-{p}"),
                               levels=peer_levels)
            rm(work / f"hist-{p}")
    by_level = {s: {x["level"]: x for x in h["levels"]} for s, h in hist.items()}
    for lv in levels:
        dl = by_level["dstore"][lv]
        pl = {p: by_level[p].get(lv) for p in ("delta", "lance") if p in by_level}
        table.add(f"commit_{lv}", f"commit (10-row append) at {lv:,} versions", "ms",
                  dl["commit_ms"], None, None,
                  {p: v["commit_ms"] for p, v in pl.items() if v})
        table.add(f"resolve_{lv}", f"resolve a ref/time (slowest of 6) at {lv:,}", "ms",
                  dl["resolve_max_ms"], None, None, None,
                  note="; ".join(f"{k} {v:.2f}" for k, v in dl["resolve_ms"].items()))
        table.add(f"open_version_{lv}", f"open version {dl['open_version']:,} of {lv:,} by number",
                  "ms", dl["open_version_ms"], None, None,
                  {p: v["open_version_ms"] for p, v in pl.items() if v})
        table.add(f"open_time_{lv}", f"open version {dl['open_version']:,} of {lv:,} by time", "ms",
                  dl["open_time_ms"], None, None,
                  {p: v["open_time_ms"] for p, v in pl.items() if v})
    lo, hi = by_level["dstore"][levels[0]], by_level["dstore"][levels[-1]]
    at = f"{levels[-1]:,} vs {levels[0]:,}" + ("" if levels[-1] >= 100_000 else
                                                 " (not 100,000: raise --history)")
    rc = hi["commit_ms"] / lo["commit_ms"]
    rr = hi["resolve_max_ms"] / lo["resolve_max_ms"]
    one = len(levels) < 2  # nothing to compare against
    table.target("Commit latency at 100,000 snapshots within 1.2× of at 10",
                 "N/A" if one else "MET" if rc <= 1.2 else "MISSED", f"{rc:.2f}× at {at}")
    table.target("Ref/time resolve at 100,000 snapshots within 1.2× of at 10",
                 "N/A" if one else "MET" if rr <= 1.2 else "MISSED", f"{rr:.2f}× at {at}")
    table.target("A resolve under 1 ms", "MET" if hi["resolve_max_ms"] < 1 else "MISSED",
                 f"slowest {hi['resolve_max_ms']:.2f} ms at {levels[-1]:,} (store already open)")
    if levels[-1] > args.peer_history_max:
        table.rows[-1]["note"] = (f"peers stop at {args.peer_history_max:,} versions "
                                  "(--peer-history-max): see bench/README.md")

    meta = {
        "rows": args.rows, "repeats": reps, "history": levels, "peer_history": peer_levels,
        "parquet_bytes": gen["parquet_bytes"], "csv_bytes": gen["csv_bytes"],
        "when": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_avg": os.getloadavg()},
        "versions": versions(("pyarrow", "deltalake", "pylance", "numpy")),
        "seconds": time.time() - t_start,
    }
    print_table(table, meta)
    out = args.out or d / f"suite-{args.rows}.json"
    out.write_text(json.dumps({"meta": meta, "rows": table.rows, "targets": table.targets,
                               "history": hist, "runs": run.log}, indent=1, default=str))
    print(f"\nwrote {out}")
    rm(work)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "worker":
        worker(sys.argv[2], json.loads(sys.argv[3]))
    else:
        main()
