"""Column profiles and the drift report from Python: `snap.stats`, `store.diff(stats=True)`."""

import json

import pyarrow as pa
import pytest

import dstore


def table(seed, n, shift=0.0, cats=("a", "b", "c"), null_every=0):
    import random

    r = random.Random(seed)
    xs = [r.gauss(10.0 + shift, 2.0) for _ in range(n)]
    if null_every:
        xs = [None if i % null_every == 0 else x for i, x in enumerate(xs)]
    return pa.table(
        {
            "x": pa.array(xs, pa.float64()),
            "c": pa.array([r.choice(cats) for _ in range(n)], pa.string()),
            "k": pa.array([i % 4 for i in range(n)], pa.int64()),
        }
    )


def commit(store, t, tag, mode="overwrite"):
    with store.begin() as tx:
        if mode == "overwrite":
            tx.set_mode("t", mode)
        tx.add("t", t)
        tx.commit(tag, tags=[tag])


def test_stats_is_a_table_of_exact_counts_and_sketches(store):
    t = table(1, 5000, null_every=10)
    commit(store, t, "v1", mode="append")
    st = store.snapshot("v1").stats("t")
    assert isinstance(st, pa.Table)
    rows = {r["column"]: r for r in st.to_pylist()}
    assert set(rows) == {"x", "c", "k"}
    x = rows["x"]
    assert x["count"] == 5000
    assert x["nulls"] == 500
    vals = [v for v in t["x"].to_pylist() if v is not None]
    assert x["min"] == min(vals) and x["max"] == max(vals)
    assert x["mean"] == pytest.approx(sum(vals) / len(vals), rel=1e-12)
    assert x["kind"] == "numeric"
    # The median within the sketch's rank error (1.33%).
    s = sorted(vals)
    rank = sum(1 for v in s if v <= x["p50"]) / len(s)
    assert abs(rank - 0.5) <= 0.0133
    c = rows["c"]
    top = {v["value"]: v["count"] for v in json.loads(c["top"])}
    want = {}
    for v in t["c"].to_pylist():
        want[v] = want.get(v, 0) + 1
    assert top == want
    assert store.snapshot("v1").stats("t", columns=["k"]).num_rows == 1
    with pytest.raises(dstore.NotFound, match="column `nope`"):
        store.snapshot("v1").stats("t", columns=["nope"])


def test_diff_stats_report(store, tmp_path):
    commit(store, table(1, 20000), "v1", mode="append")
    commit(store, table(2, 20000), "v2")
    commit(store, table(3, 20000, shift=1.0, cats=("a", "b", "c", "d")), "v3")
    same = store.diff("v1", "v2", stats=True)
    assert isinstance(same, dstore.DriftReport)
    assert same.drifted is False
    assert all(not c["drifted"] for c in same.columns)
    r = store.diff("v1", "v3", stats=True)
    assert r.drifted is True
    cols = {c["column"]: c for c in r.columns}
    assert cols["x"]["drifted"] and cols["x"]["test"] == "wasserstein"
    assert cols["c"]["new_categories"] == ["d"]
    assert not cols["k"]["drifted"]
    d = r.to_dict()
    assert d["tables"][0]["table"] == "t"
    assert d["tables"][0]["dataset_drift"] is True
    out = tmp_path / "drift.html"
    r.to_html(out)
    html = out.read_text()
    assert '<svg class="plot histogram" data-column="x"' in html
    assert "<script" not in html
    # Rules: skip x and c; nothing drifts.
    rules = tmp_path / "drift.toml"
    rules.write_text("[columns.x]\nskip = true\n[columns.c]\nskip = true\n")
    ruled = store.diff("v1", "v3", stats=True, rules=rules)
    assert ruled.drifted is False
    rules.write_text("[columns.x]\ntest = 'nope'\n")
    with pytest.raises(dstore.InvalidInput, match="drift.toml"):
        store.diff("v1", "v3", stats=True, rules=rules)
    # Without stats: the table-level diff.
    plain = store.diff("v1", "v3")
    assert plain[0]["table"] == "t" and plain[0]["status"] == "changed"


EXACT = ("kind", "count", "nulls", "nans", "min", "max", "len_min", "len_max", "len_mean", "top")


def same_stats(got, want):
    """The exact parts of two `stats` tables are equal; mean and std up to rounding."""
    g = {r["column"]: r for r in got.to_pylist()}
    w = {r["column"]: r for r in want.to_pylist()}
    assert list(g) == list(w)
    for c in g:
        for k in EXACT:
            assert g[c][k] == w[c][k], (c, k)
        for k in ("mean", "std"):
            if w[c][k] is None:
                assert g[c][k] is None, (c, k)
            else:
                assert g[c][k] == pytest.approx(w[c][k], rel=1e-9), (c, k)


def test_stats_since_is_the_profile_of_just_the_new_rows(store, tmp_path):
    a = table(1, 8000, null_every=7)
    b = table(2, 1500, shift=3.0, cats=("a", "z"))
    commit(store, a, "v1")
    with store.begin() as tx:
        tx.add("t", b)
        tx.commit("v2", tags=["v2"])

    def alone(t):
        s = dstore.Store.init(tmp_path / f"alone{t.num_rows}.dstore")
        with s.begin() as tx:
            tx.add("t", t)
            tx.commit("alone", tags=["alone"])
        return s.snapshot("alone").stats("t")

    snap = store.snapshot("v2")
    # An append: the added segment.
    got = snap.stats("t", since="v1")
    assert got.column("count")[0].as_py() == 1500
    same_stats(got, alone(b))
    assert store.snapshot("v2").stats("t").column("count")[0].as_py() == 9500
    # A rewrite of `a` with 1% of its rows changed: only those rows.
    xs = a["x"].to_pylist()
    cs = a["c"].to_pylist()
    picked = [i for i in range(len(xs)) if i % 100 == 5]
    for i in picked:
        xs[i] = 100.0 + i
        cs[i] = "new"
    a2 = pa.table({"x": pa.array(xs, pa.float64()), "c": pa.array(cs), "k": a["k"]})
    with store.begin() as tx:
        tx.set_mode("t", "overwrite")
        tx.add("t", a2)
        tx.add("t", b)
        tx.commit("v3", tags=["v3"])
    got = store.snapshot("v3").stats("t", since="v2")
    assert got.column("count")[0].as_py() == len(picked)
    same_stats(got, alone(a2.take(picked)))
    # Columns still select.
    assert store.snapshot("v3").stats("t", columns=["c"], since="v2").num_rows == 1
    # The same version: no rows; a bad ref names it.
    none = snap.stats("t", since="v2")
    assert set(none.column("count").to_pylist()) == {0}
    with pytest.raises(dstore.NotFound, match='since="v9".*`v9`'):
        snap.stats("t", since="v9")
