#!/usr/bin/env python3
"""Every Arrow type through dstore and back, read by pyarrow: the rows of docs/inputs.md.

Subcommands:

  make DIR
      Writes DIR/<case>.arrow for every case (an Arrow IPC file with columns `id` and `<case>`,
      the case's type) and DIR/cases.json, the list of cases:
        {"name", "file", "type": dstore's name for the type (pyarrow's, without `ordered=0`),
         "expect": "exact" | "refused",
         "cast": "COLUMN=TYPE" to pass as --cast after the refusal, or null when none exists}
      "exact": `dstore snapshot` must take it and pyarrow must read the checkout back with the
      same schema and values. "refused": `dstore snapshot` must refuse it (exit 1) naming the
      column, its type and the cast; with the cast it must take it, and pyarrow must read back
      exactly the input converted to the cast's type.

  check CHECKOUT_DIR DIR
      Reads CHECKOUT_DIR/<case>/part-*.parquet for every case that went in and compares it with
      DIR/<case>.arrow (converted, for a cast). Prints every mismatch; exit code 1 if any.

Comparison: roundtrip.py's (schema with metadata; values exactly, dictionaries decoded).
"""

import decimal
import glob
import json
import os
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from roundtrip import Problems, compare_columns, compare_schema

D = decimal.Decimal
N = 40
MDN = pa.MonthDayNano
DAY_MS = 86_400_000


def _dict(values, index=pa.int32(), value_type=None, ordered=False):
    """A dictionary array of `values` (None for nulls) with the given index type."""
    arr = pa.array(values, type=value_type)
    d = arr.dictionary_encode()
    return pa.DictionaryArray.from_arrays(d.indices.cast(index), d.dictionary, ordered=ordered)


def _nulls(values, every=5):
    return [None if i % every == 3 else v for i, v in enumerate(values)]


def _ints(lo, hi):
    span = hi - lo
    return [lo + (i * 7919) % (span + 1) for i in range(N)]


def exact_cases():
    """(name, array) of types that must come back exactly."""
    strs = _nulls([f"s{i % 7}" if i % 3 else "" for i in range(N)])
    cases = [
        ("null", pa.nulls(N)),
        ("bool", pa.array(_nulls([i % 2 == 0 for i in range(N)]))),
        ("int8", pa.array(_nulls(_ints(-128, 127)), pa.int8())),
        ("int16", pa.array(_nulls(_ints(-(2**15), 2**15 - 1)), pa.int16())),
        ("int32", pa.array(_nulls(_ints(-(2**31), 2**31 - 1)), pa.int32())),
        ("int64", pa.array(_nulls(_ints(-(2**63), 2**63 - 1)), pa.int64())),
        ("uint8", pa.array(_nulls(_ints(0, 255)), pa.uint8())),
        ("uint16", pa.array(_nulls(_ints(0, 2**16 - 1)), pa.uint16())),
        ("uint32", pa.array(_nulls(_ints(0, 2**32 - 1)), pa.uint32())),
        ("uint64", pa.array(_nulls(_ints(0, 2**64 - 1)), pa.uint64())),
        ("float16", pa.array(_nulls([float(i) / 4 - 3 for i in range(N)]), pa.float16())),
        ("float32", pa.array(_nulls([float("nan"), -0.0, float("inf")] + [i / 3 for i in range(N - 3)]), pa.float32())),
        ("float64", pa.array(_nulls([float("nan"), -0.0, float("-inf")] + [i / 3 for i in range(N - 3)]), pa.float64())),
        ("decimal32", pa.array(_nulls([D(i * 37 - 700).scaleb(-2) for i in range(N)]), pa.decimal32(5, 2))),
        ("decimal64", pa.array(_nulls([D(i * 10**12 - 7).scaleb(-3) for i in range(N)]), pa.decimal64(18, 3))),
        ("decimal128_9", pa.array(_nulls([D(i * 12345 - 9).scaleb(-2) for i in range(N)]), pa.decimal128(9, 2))),
        ("decimal128_38", pa.array(_nulls([D(10**37 - i).scaleb(-10) for i in range(N)]), pa.decimal128(38, 10))),
        ("decimal256_76", pa.array(_nulls([D(10**75 - i).scaleb(-20) for i in range(N)]), pa.decimal256(76, 20))),
        ("decimal256_5", pa.array(_nulls([D(i * 37 - 700).scaleb(-2) for i in range(N)]), pa.decimal256(5, 2))),
        ("date32", pa.array(_nulls([(i - 20) * 3650 for i in range(N)]), pa.int32()).cast(pa.date32())),
        ("time32_ms", pa.array(_nulls([(i * 61_001) % DAY_MS for i in range(N)]), pa.int32()).cast(pa.time32("ms"))),
        ("time64_us", pa.array(_nulls([(i * 61_000_001) % (DAY_MS * 1000) for i in range(N)]), pa.int64()).cast(pa.time64("us"))),
        ("time64_ns", pa.array(_nulls([(i * 61_000_000_001) % (DAY_MS * 10**6) for i in range(N)]), pa.int64()).cast(pa.time64("ns"))),
        ("timestamp_ms", pa.array(_nulls([(i - 20) * 10**12 for i in range(N)]), pa.int64()).cast(pa.timestamp("ms"))),
        ("timestamp_us_utc", pa.array(_nulls([(i - 20) * 10**15 for i in range(N)]), pa.int64()).cast(pa.timestamp("us", tz="UTC"))),
        ("timestamp_ns_paris", pa.array(_nulls([(i - 20) * 10**17 + 1 for i in range(N)]), pa.int64()).cast(pa.timestamp("ns", tz="Europe/Paris"))),
        ("timestamp_ms_offset", pa.array(_nulls([(i - 20) * 10**12 for i in range(N)]), pa.int64()).cast(pa.timestamp("ms", tz="+05:30"))),
    ]
    for u in ("s", "ms", "us", "ns"):
        cases.append((f"duration_{u}", pa.array(_nulls([(i - 20) * 86_401 for i in range(N)]), pa.int64()).cast(pa.duration(u))))
    cases += [
        ("string", pa.array(strs)),
        ("large_string", pa.array(strs, pa.large_string())),
        ("string_view", pa.array(strs, pa.string_view())),
        ("binary", pa.array(_nulls([bytes([i % 256]) * (i % 4) for i in range(N)]), pa.binary())),
        ("large_binary", pa.array(_nulls([bytes([i % 256]) * (i % 4) for i in range(N)]), pa.large_binary())),
        ("binary_view", pa.array(_nulls([bytes([i % 256]) * (i % 20) for i in range(N)]), pa.binary_view())),
        ("fixed_size_binary", pa.array(_nulls([bytes([i % 256, 0, 255]) for i in range(N)]), pa.binary(3))),
        ("list", pa.array(_nulls([list(range(i % 4)) for i in range(N)]), pa.list_(pa.int32()))),
        ("list_not_null_items", pa.array(_nulls([list(range(i % 4)) for i in range(N)]), pa.list_(pa.field("item", pa.int32(), nullable=False)))),
        ("large_list", pa.array(_nulls([list(range(i % 4)) for i in range(N)]), pa.large_list(pa.int32()))),
        ("fixed_size_list", pa.array(_nulls([[i, None] for i in range(N)]), pa.list_(pa.int64(), 2))),
        ("struct", pa.array(_nulls([{"a": i, "b": f"x{i}" if i % 4 else None} for i in range(N)]), pa.struct([("a", pa.int64()), ("b", pa.string())]))),
        ("map", pa.array(_nulls([[(f"k{j}", j) for j in range(i % 3)] for i in range(N)]), pa.map_(pa.string(), pa.int32()))),
        ("map_keys_sorted", pa.array(_nulls([[(f"k{j}", j) for j in range(i % 3)] for i in range(N)]), pa.map_(pa.string(), pa.int32(), keys_sorted=True))),
        ("uuid", pa.array(_nulls([bytes(range(i % 16, i % 16 + 16)) for i in range(N)]), pa.uuid())),
    ]
    cats = _nulls([["red", "green", "", "blue"][i % 4] for i in range(N)])
    for ix in (pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64()):
        cases.append((f"dictionary_string_{ix}", _dict(cats, ix)))
    cases += [
        ("dictionary_string_ordered", _dict(cats, ordered=True)),
        ("dictionary_binary", _dict([None if c is None else c.encode() for c in cats])),
        ("list_of_dictionary", pa.ListArray.from_arrays(pa.array(list(range(0, N + 1, 2)), pa.int32()), _dict(cats))),
        ("struct_of_dictionary", pa.StructArray.from_arrays([_dict(cats[: N])], names=["d"])),
    ]
    return cases


def refused_cases():
    """(name, array, cast type or None, expected type after the cast, expected converted array)."""
    day_ms = [(i - 20) * 37 * DAY_MS for i in range(N)]
    date64 = pa.array(_nulls(day_ms), pa.int64()).cast(pa.date64())
    t32s = pa.array(_nulls([(i * 61) % 86_400 for i in range(N)]), pa.int32()).cast(pa.time32("s"))
    ts_s = pa.array(_nulls([(i - 20) * 1_234_567_891 for i in range(N)]), pa.int64())
    mdn = pa.array(_nulls([MDN([0, 0, (i - 20) * 10**9 + 7]) for i in range(N)]), pa.month_day_nano_interval())
    mdn_as_duration = pa.array(_nulls([(i - 20) * 10**9 + 7 for i in range(N)]), pa.int64()).cast(pa.duration("ns"))
    cats = _nulls([["red", "green", "", "blue"][i % 4] for i in range(N)])
    ints = _nulls([(i % 5) * 10**12 for i in range(N)])
    ree_values = [v for v in cats for _ in range(1)]
    ree = pa.RunEndEncodedArray.from_arrays(pa.array(list(range(1, N + 1)), pa.int32()), pa.array(ree_values))
    lists = _nulls([list(range(i % 4)) for i in range(N)])
    types = [0 if i % 2 else 1 for i in range(N)]
    sparse = pa.UnionArray.from_sparse(pa.array(types, pa.int8()), [pa.array(list(range(N))), pa.array([f"u{i}" for i in range(N)])])
    offsets = [i // 2 for i in range(N)]
    dense = pa.UnionArray.from_dense(
        pa.array(types, pa.int8()), pa.array(offsets, pa.int32()), [pa.array(list(range(N))), pa.array([f"u{i}" for i in range(N)])]
    )
    return [
        ("date64", date64, "date32[day]", pa.date32(), date64.cast(pa.date32())),
        ("time32_s", t32s, "time32[ms]", pa.time32("ms"), t32s.cast(pa.time32("ms"))),
        ("timestamp_s", ts_s.cast(pa.timestamp("s")), "timestamp[ms]", pa.timestamp("ms"), ts_s.cast(pa.timestamp("s")).cast(pa.timestamp("ms"))),
        (
            "timestamp_s_tz",
            ts_s.cast(pa.timestamp("s", tz="America/New_York")),
            "timestamp[ms, tz=America/New_York]",
            pa.timestamp("ms", tz="America/New_York"),
            ts_s.cast(pa.timestamp("s", tz="America/New_York")).cast(pa.timestamp("ms", tz="America/New_York")),
        ),
        ("month_day_nano_interval", mdn, "duration[ns]", pa.duration("ns"), mdn_as_duration),
        ("dictionary_int64", _dict(ints, value_type=pa.int64()), "int64", pa.int64(), pa.array(ints, pa.int64())),
        ("dictionary_double", _dict([None if v is None else v / 8 for v in ints], value_type=pa.float64()), "double", pa.float64(),
         pa.array([None if v is None else v / 8 for v in ints], pa.float64())),
        ("dictionary_large_string", _dict(cats, pa.int8(), value_type=pa.large_string()), "dictionary<values=string, indices=int8>",
         pa.dictionary(pa.int8(), pa.string()), _dict(cats, pa.int8())),
        ("dictionary_string_view", _dict(cats, value_type=pa.string_view()), "dictionary<values=string, indices=int32>",
         pa.dictionary(pa.int32(), pa.string()), _dict(cats)),
        ("dictionary_large_binary", _dict([None if c is None else c.encode() for c in cats], value_type=pa.large_binary()),
         "dictionary<values=binary, indices=int32>", pa.dictionary(pa.int32(), pa.binary()), _dict([None if c is None else c.encode() for c in cats])),
        ("dictionary_fixed_size_binary",
         _dict([None if c is None else (c + "---")[:3].encode() for c in cats], value_type=pa.binary(3)),
         "fixed_size_binary[3]", pa.binary(3), pa.array([None if c is None else (c + "---")[:3].encode() for c in cats], pa.binary(3))),
        ("dictionary_of_list", pa.DictionaryArray.from_arrays(pa.array([i % 3 for i in range(N)], pa.int32()), pa.array([[1], [2, 3], []])),
         "list<item: int64>", pa.list_(pa.int64()), pa.array([[[1], [2, 3], []][i % 3] for i in range(N)], pa.list_(pa.int64()))),
        ("list_of_dictionary_int64", pa.ListArray.from_arrays(pa.array(list(range(0, N + 1, 2)), pa.int32()), _dict(ints, value_type=pa.int64())),
         "list<item: int64>", pa.list_(pa.int64()), pa.ListArray.from_arrays(pa.array(list(range(0, N + 1, 2)), pa.int32()), pa.array(ints, pa.int64()))),
        ("list_view", pa.array(lists, pa.list_view(pa.int32())), "list<item: int32>", pa.list_(pa.int32()), pa.array(lists, pa.list_(pa.int32()))),
        ("large_list_view", pa.array(lists, pa.large_list_view(pa.int32())), "large_list<item: int32>", pa.large_list(pa.int32()),
         pa.array(lists, pa.large_list(pa.int32()))),
        ("run_end_encoded", ree, "string", pa.string(), pa.array(ree_values)),
        ("sparse_union", sparse, None, None, None),
        ("dense_union", dense, None, None, None),
    ]


def _type_name(t):
    """dstore's name for a type: pyarrow's, without the `ordered=0` of dictionaries."""
    return str(t).replace(", ordered=0", "")


def _table(name, arr):
    return pa.table({"id": pa.array(range(len(arr)), pa.int64()), name: arr})


def cmd_make(out):
    os.makedirs(out, exist_ok=True)
    cases = []

    def write(name, arr):
        path = os.path.join(out, f"{name}.arrow")
        t = _table(name, arr)
        with ipc.new_file(path, t.schema) as w:
            w.write_table(t, max_chunksize=16)
        return f"{name}.arrow"

    for name, arr in exact_cases():
        cases.append({"name": name, "file": write(name, arr), "type": _type_name(arr.type), "expect": "exact", "cast": None})
    for name, arr, cast, _, _ in refused_cases():
        cases.append(
            {
                "name": name,
                "file": write(name, arr),
                "type": _type_name(arr.type),
                "expect": "refused",
                "cast": None if cast is None else f"{name}={cast}",
            }
        )
    with open(os.path.join(out, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, indent=1)
    print(f"wrote {len(cases)} cases to {out}")


def cmd_check(checkout, dirname):
    problems = Problems()
    expected = {name: _table(name, arr) for name, arr in exact_cases()}
    for name, arr, cast, to, converted in refused_cases():
        if cast is not None:
            expected[name] = _table(name, converted)
            assert converted.type == to, (name, converted.type, to)
    checked = 0
    for name, exp in expected.items():
        files = sorted(glob.glob(os.path.join(checkout, name, "part-*.parquet")))
        if not files:
            problems.add(f"{name}: no checkout files")
            continue
        got = pa.concat_tables([pq.read_table(p) for p in files])
        # The input as pyarrow reads it from the IPC file, for the exact cases: what went in.
        with ipc.open_file(os.path.join(dirname, f"{name}.arrow")) as r:
            written = r.read_all()
        if not any(name == n for n, _ in exact_cases()):
            written = exp
        compare_schema(got.schema, written.schema, problems, name, check_metadata=True)
        compare_columns(got, written, problems, name)
        checked += 1
    for p in problems.items:
        print(f"MISMATCH: {p}")
    if problems.items:
        print(f"{len(problems.items)} mismatch(es) in {checked} tables")
        return 1
    print(f"OK: {checked} tables read back by pyarrow exactly as expected")
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "make":
        cmd_make(sys.argv[2])
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "check":
        return cmd_check(sys.argv[2], sys.argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
