"""DuckDB as the oracle: `stats` of a file pyarrow wrote with its defaults against DuckDB's exact
aggregates over the same file, and `diff --rows` / `since=` against DuckDB's `EXCEPT ALL`.

The file is not dstore's: pyarrow's `write_table` defaults (one row group of up to 1Mi rows,
snappy, dictionary pages, statistics), adopted as it is. DuckDB reads the file itself, so its
answers owe nothing to dstore's reader.
"""

import json

import duckdb  # scripts/python.sh installs it
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dstore
from conftest import cli

ROWS = 300_000
# The sketches' stated bounds (docs/drift.md): KLL rank error, HLL relative standard error.
RANK_ERROR = 0.0133
HLL_RSE = 0.0163


def table(seed, rows):
    r = np.random.default_rng(seed)
    cats = np.array([f"cat-{c}" for c in "abcdefghijkl"])
    p = np.linspace(3, 1, len(cats))
    return pa.table(
        {
            "id": pa.array(np.arange(rows, dtype=np.int64)),
            "f": pa.array(r.normal(5.0, 2.0, rows), mask=r.random(rows) < 0.05),
            "i": pa.array(r.integers(0, 50, rows)),
            "big": pa.array(r.integers(0, 1_000_000, rows)),
            "s": pa.array(r.choice(cats, rows, p=p / p.sum()), mask=r.random(rows) < 0.02),
            "u": pa.array([f"user-{x}" for x in r.integers(0, 10**9, rows)]),
            "b": pa.array(r.random(rows) < 0.3),
            "ts": pa.array(
                r.integers(1_700_000_000_000_000, 1_730_000_000_000_000, rows), pa.timestamp("us")
            ),
        }
    )


@pytest.fixture(scope="module")
def adopted(tmp_path_factory):
    d = tmp_path_factory.mktemp("oracle")
    path = d / "v1.parquet"
    pq.write_table(table(1, ROWS), path)  # pyarrow's defaults
    store = dstore.Store.init(d / "s.dstore")
    with store.begin() as tx:
        tx.add_files("t", [str(path)])
        tx.commit("v1", tags=["v1"])
    return store, path


def q(sql, *params):
    return duckdb.sql(sql, params=list(params) if params else None).fetchall()


def test_stats_of_a_pyarrow_file_match_duckdb(adopted):
    store, path = adopted
    st = {r["column"]: r for r in store.snapshot("v1").stats("t").to_pylist()}
    src = f"read_parquet('{path}')"
    for col in ["id", "f", "i", "big", "s", "u", "b", "ts"]:
        got = st[col]
        (n, present) = q(f"SELECT count(*), count({col}) FROM {src}")[0]
        assert got["count"] == n, col
        assert got["nulls"] == n - present, col
        (exact_distinct,) = q(f"SELECT count(DISTINCT {col}) FROM {src}")[0]
        assert abs(got["distinct"] - exact_distinct) <= 3 * HLL_RSE * exact_distinct, (
            col,
            got["distinct"],
            exact_distinct,
        )
    for col, expr in [("id", "id"), ("f", "f"), ("i", "i"), ("big", "big"), ("ts", "epoch_us(ts)")]:
        got = st[col]
        lo, hi, mean, std = q(
            f"SELECT min({expr})::DOUBLE, max({expr})::DOUBLE, avg({expr}::DOUBLE), "
            f"stddev_pop({expr}::DOUBLE) FROM {src}"
        )[0]
        assert (got["min"], got["max"]) == (lo, hi), col
        assert got["mean"] == pytest.approx(mean, rel=1e-9), col
        assert got["std"] == pytest.approx(std, rel=1e-7), col
        # Each sketched quantile's exact rank (DuckDB counts the values at or below it).
        for name, rank in [("p05", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95)]:
            (below,) = q(
                f"SELECT count(*) FILTER (WHERE {expr}::DOUBLE <= ?) / count({expr}) FROM {src}",
                got[name],
            )[0]
            assert abs(below - rank) <= RANK_ERROR, (col, name, got[name], below)
    # Categories: DuckDB's exact counts are the top values' (fewer than 192 distinct: exact).
    for col in ["i", "s", "b"]:
        want = {
            str(v).lower() if isinstance(v, bool) else str(v): c
            for v, c in q(f"SELECT {col}, count(*) FROM {src} WHERE {col} IS NOT NULL GROUP BY 1")
        }
        top = {t["value"]: t["count"] for t in json.loads(st[col]["top"])}
        # `stats` shows the most frequent ones; all of them must be exact.
        assert top and all(want[v] == c for v, c in top.items()), col
        assert sorted(top.values(), reverse=True) == sorted(want.values(), reverse=True)[: len(top)]
    # `big` has too many values for frequent items; `b` is booleans: mean is the share of trues.
    assert st["big"]["top"] is None
    (share,) = q(f"SELECT avg(b::INT) FROM {src}")[0]
    assert st["b"]["mean"] == pytest.approx(share, rel=1e-12)
    # String lengths.
    lmin, lmax, lmean = q(f"SELECT min(strlen(s)), max(strlen(s)), avg(strlen(s)) FROM {src}")[0]
    assert (st["s"]["len_min"], st["s"]["len_max"]) == (lmin, lmax)
    assert st["s"]["len_mean"] == pytest.approx(lmean, rel=1e-12)


def test_row_diff_and_since_match_duckdb_except_all(adopted, tmp_path):
    store, path = adopted
    # v2: 1% of the rows changed, 0.5% deleted, 2,000 appended, as another tool would rewrite it.
    old = pq.read_table(path)
    r = np.random.default_rng(7)
    keep = r.random(old.num_rows) >= 0.005
    new = old.filter(pa.array(keep))
    change = r.random(new.num_rows) < 0.01
    fs = new["f"].to_numpy(zero_copy_only=False)  # nulls as NaN
    new = new.set_column(1, "f", pa.array(np.where(change, fs + 1.0, fs), mask=np.isnan(fs)))
    extra = table(2, 2000).set_column(0, "id", pa.array(np.arange(2000, dtype=np.int64) + ROWS))
    new = pa.concat_tables([new, extra])
    v2 = tmp_path / "v2.parquet"
    pq.write_table(new, v2)
    with store.begin() as tx:
        tx.set_mode("t", "overwrite")
        tx.add_files("t", [str(v2)])
        tx.commit("v2", tags=["v2"])
    out = tmp_path / "changes"
    res = cli("diff", "--store", store.path, "v1", "v2", "-t", "t", "--rows", "--output", out, "--json")
    counts = json.loads(res.stdout)
    src1, src2 = f"read_parquet('{path}')", f"read_parquet('{v2}')"
    added = f"SELECT * FROM {src2} EXCEPT ALL SELECT * FROM {src1}"
    removed = f"SELECT * FROM {src1} EXCEPT ALL SELECT * FROM {src2}"
    (n_added,) = q(f"SELECT count(*) FROM ({added})")[0]
    (n_removed,) = q(f"SELECT count(*) FROM ({removed})")[0]
    # Changed rows count as removed and added; the appended rows as added.
    assert n_added > 2000 and n_removed > 0
    assert (counts["added"], counts["removed"]) == (n_added, n_removed)
    assert counts["table_in_old"] and counts["table_in_new"]
    # The rows themselves, as multisets: dstore's output files against DuckDB's EXCEPT ALL.
    for name, want in [("added", added), ("removed", removed)]:
        written = out / f"{name}.parquet"
        (extra_rows,) = q(
            f"SELECT count(*) FROM ((SELECT * FROM read_parquet('{written}') EXCEPT ALL ({want})) "
            f"UNION ALL (({want}) EXCEPT ALL SELECT * FROM read_parquet('{written}')))"
        )[0]
        assert extra_rows == 0, name
    # `since=v1`: exactly the added rows.
    got = store.snapshot("v2").scan("t", since="v1").read_all()
    con = duckdb.connect()
    con.register("since_rows", got)
    (diff_rows,) = con.sql(
        f"SELECT count(*) FROM ((SELECT * FROM since_rows EXCEPT ALL ({added})) "
        f"UNION ALL (({added}) EXCEPT ALL SELECT * FROM since_rows))"
    ).fetchall()[0]
    assert got.num_rows == n_added and diff_rows == 0


@pytest.mark.parametrize("order", [1, 2])
def test_shuffled_sharded_scans_are_the_file_rows(adopted, order):
    """Every shard of a shuffled epoch together holds each of the file's rows exactly once, as
    DuckDB reads them (its `EXCEPT ALL` both ways, so duplicates count), in an order that is
    not the file's; a second epoch is another order of the same rows."""
    store, path = adopted
    snap = store.snapshot("v1")
    con = duckdb.connect()
    parts = [snap.scan("t", seed=42, shard=(k, 3), order=order).read_all() for k in range(3)]
    rows = pa.concat_tables(parts)
    con.register("scanned", rows)
    src = f"read_parquet('{path}')"
    (mismatch,) = con.sql(
        f"SELECT count(*) FROM ((SELECT * FROM scanned EXCEPT ALL SELECT * FROM {src}) "
        f"UNION ALL (SELECT * FROM {src} EXCEPT ALL SELECT * FROM scanned))"
    ).fetchall()[0]
    assert rows.num_rows == ROWS and mismatch == 0
    ids = rows["id"].to_numpy()
    assert not np.array_equal(ids, np.arange(ROWS))
    # The shuffle mixes the whole table: the first tenth of the output draws from all tenths.
    first = ids[: ROWS // 10] // (ROWS // 10)
    assert len(set(first.tolist())) == 10
    again = snap.scan("t", seed=42, epoch=1, shard=(0, 3), order=order).read_all()["id"]
    assert again.to_pylist() != parts[0]["id"].to_pylist()
