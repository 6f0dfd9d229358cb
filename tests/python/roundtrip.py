#!/usr/bin/env python3
"""Round-trip oracle for dstore, using pyarrow only.

Subcommands:

  make DIR
      Writes deterministic inputs into DIR:
        typed.parquet   the typed table, pyarrow's writer, row groups of 500 rows
        typed.arrow     the same table as an Arrow IPC file (several record batches)
        typed.arrows    the same table as an Arrow IPC stream
        flat.arrow      the flat-typed columns of the typed table (for csv/jsonl checkouts)
        flat_offset.arrow  the same with fixed-offset time zones instead of named ones
        flat_finite.arrow, flat_offset_finite.arrow
                        the same two without NaN and infinities (for jsonl checkouts): in the
                        float columns NaN becomes null, +inf/-inf the largest finite value of
                        that sign
        temporal.arrow  timestamps in seconds and milliseconds, date64, time32/64, durations
        typed_lz4.arrow, typed_zstd.arrow, typed_zstd.arrows
                        the typed table as LZ4- and ZSTD-compressed Arrow IPC (file, stream)
        pandas.feather  a pandas DataFrame written by `DataFrame.to_feather` (LZ4, pandas'
                        default), when pandas is installed: ints, floats with NaN, strings with
                        None, datetimes with NaT and a time zone, categoricals, booleans
        typed.csv       CSV text: ints, floats (NaN, inf), dates, timestamps, strings, bools
        typed.jsonl     JSON lines: ints, floats, strings, bools, lists, structs, nulls

  check CHECKOUT_DIR TABLE EXPECTED_FILE [--format parquet|csv|jsonl] [--rewrite]
                                         [--cast COLUMN=TYPE ...]
                                         [--reads-as COLUMN=TYPE ...] [--empty-string-is-null]
      Reads CHECKOUT_DIR/TABLE/part-*.{parquet,csv,jsonl} (the files listed in
      CHECKOUT_DIR/dstore-checkout.json, which must be the sorted part files) and compares them
      with what EXPECTED_FILE holds:
        .parquet/.arrow/.arrows/.feather: the table pyarrow reads from that file (a .feather
            file must also come back to pandas as the DataFrame it held). Parquet checkouts must
            have exactly its schema (names, order, types, nullability, metadata) and values;
            a Parquet input must come back byte for byte unless --rewrite says it was re-encoded.
        .csv/.jsonl: the table the text says, built here from the same generator that wrote the
            text, with the types a sensible reader infers (ints->int64, floats->float64,
            dates->date32, timestamps->a timestamp of any unit, with a time zone when the
            text has an offset, columns in the order of the header / of first appearance).
            In CSV a quoted "" is the empty string and an empty field is null (PostgreSQL's
            and DuckDB's convention); JSON has no date type, so date-like strings stay strings.
      --format csv/jsonl: the checkout was converted to text; it is parsed back with
      pyarrow.csv / pyarrow.json using the expected schema, and the values must be equal.

      --cast COLUMN=TYPE: the input was snapshotted with `dstore snapshot --cast COLUMN=TYPE`:
          COLUMN must read back as exactly TYPE (date32[day], time32[ms], timestamp[UNIT],
          timestamp[UNIT, tz=ZONE] or dictionary<values=TYPE, indices=TYPE>), holding the
          input's values converted by pyarrow's cast.

      Documented limitations, each asserted exactly where the caller names it (the expected
      table is changed in that one way only; everything else is still compared exactly):
      --reads-as COLUMN=TYPE: COLUMN must read back as exactly TYPE (timestamp[us]; no other
          unit, zone or width is accepted, even for text inputs) with the input's values cast
          to TYPE by pyarrow (pc.cast keeps a timestamp's UTC instant and the nulls).
          - arrow's CSV reader parses timestamps written with `Z` or an offset into a
            timestamp without a time zone that holds the UTC instant: timestamp[us].
      --empty-string-is-null: in string-like columns (string, large_string, dictionaries of
          strings) every row where the input is exactly '' must read back as null, every
          other row as the input.
          - `dstore checkout --format csv` writes null and the empty string both as an empty
            field (arrow-rs's CSV writer), which pyarrow reads back as null.
          - `dstore snapshot --csv-empty null` reads every empty field as null, a quoted ""
            included (the default reads a quoted "" as the empty string).

      Values are compared exactly: floats bit for bit (so NaN, -0.0 and inf count), nulls by
      position, nested types element by element under valid parents, dictionaries by type and
      decoded values. Every problem is printed; the exit code is 1 if there is any.

  selftest
      Checks that the comparison notices single-cell and schema changes of the typed table,
      and that the documented limitations accept nothing beyond themselves.
"""

import argparse
import datetime as dt
import decimal
import glob
import json
import os
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.json as pajson
import pyarrow.parquet as pq

N = 2000
ROW_GROUP = 500
IPC_BATCH = 700

D = decimal.Decimal
UTC = dt.timezone.utc

# --------------------------------------------------------------------------------------------
# The typed table


def _pick(i, specials, regular):
    """The i-th special value for the first rows, then a regular one."""
    return specials[i] if i < len(specials) else regular(i)


STRINGS = [
    "",
    None,
    "héllo wörld",
    "日本語テキスト",
    "emoji 😀🎉👩‍👩‍👧",
    "RTL עברית العربية",
    "combining e\u0301",
    'quote " and, comma',
    "line\nbreak\r\nand tab\t",
    "nul \x00 inside",
    "  leading and trailing spaces  ",
    "\\backslash\\",
    "null",
    "NaN",
]

F64_SPECIAL = [
    float("nan"),
    None,
    float("inf"),
    float("-inf"),
    -0.0,
    0.0,
    5e-324,
    1.7976931348623157e308,
    -2.2250738585072014e-308,
    0.1,
    1e300,
    -123456.789,
]

F32_SPECIAL = [
    float("nan"),
    None,
    float("inf"),
    float("-inf"),
    -0.0,
    0.0,
    1.401298464324817e-45,  # smallest subnormal float32
    3.4028234663852886e38,  # float32 max
    0.1,
]


def typed_table(n=N):
    i8 = [_pick(i, [-128, 127, None, 0], lambda i: (i * 7) % 256 - 128 if i % 11 else None) for i in range(n)]
    i32 = [_pick(i, [-(2**31), 2**31 - 1, None], lambda i: (i * 2654435761) % 2**32 - 2**31) for i in range(n)]
    i64 = [
        _pick(i, [-(2**63), 2**63 - 1, None, 2**53 + 1], lambda i: (i * 0x9E3779B97F4A7C15) % 2**64 - 2**63)
        for i in range(n)
    ]
    u64 = [_pick(i, [0, 2**64 - 1, 2**63, None], lambda i: (i * 0x9E3779B97F4A7C15) % 2**64) for i in range(n)]
    f32 = [_pick(i, F32_SPECIAL, lambda i: None if i % 13 == 0 else (i - 1000) / 8.0) for i in range(n)]
    f64 = [
        _pick(i, F64_SPECIAL, lambda i: float("nan") if i % 17 == 0 else None if i % 13 == 0 else (i - 1000) / 3.0)
        for i in range(n)
    ]
    dec = [
        _pick(
            i,
            [D("9999999999999999.9999"), D("-9999999999999999.9999"), None, D("0.0000"), D("0.0001")],
            lambda i: None if i % 19 == 0 else D(i * 1234567 - 1000000000).scaleb(-4),
        )
        for i in range(n)
    ]
    d32 = [
        _pick(
            i,
            [dt.date(1970, 1, 1), dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(2024, 2, 29), None],
            lambda i: dt.date(1900, 1, 1) + dt.timedelta(days=i * 37),
        )
        for i in range(n)
    ]
    # Microseconds since the epoch, UTC.
    ts_utc = [
        _pick(
            i,
            [0, -1, None, 1_767_323_045_123_456, -62_135_596_800_000_000],
            lambda i: None if i % 23 == 0 else 1_700_000_000_000_000 + i * 3_600_000_123,
        )
        for i in range(n)
    ]
    # Nanoseconds since the epoch, shown in Paris; around DST changes and before 1970.
    ts_paris = [
        _pick(
            i,
            [1_711_846_799_999_999_999, 1_711_846_800_000_000_001, 1_729_990_800_000_000_000, -1, None],
            lambda i: None if i % 29 == 0 else -1_000_000_000_000_000_000 + i * 1_234_567_890_123_457,
        )
        for i in range(n)
    ]
    s = [_pick(i, STRINGS, lambda i: None if i % 31 == 0 else f"row {i} ✓") for i in range(n)]
    ls = [_pick(i, list(reversed(STRINGS)), lambda i: "x" * (i % 50)) for i in range(n)]
    cats = ["red", "green", "blue", "", "ünïcødé"]
    dic = [None if i % 9 == 4 else cats[i % len(cats)] for i in range(n)]
    li = [
        _pick(i, [[], None, [None], [2**63 - 1, -(2**63)], [1, None, 3]], lambda i: list(range(i % 6)) if i % 7 else None)
        for i in range(n)
    ]
    fsl = [
        _pick(
            i,
            [None, [float("nan"), None, float("inf"), -0.0], [1.5, 2.5, 3.5, 4.5]],
            lambda i: None if i % 10 == 3 else [i / 4.0, -i / 4.0, 0.0, float(i % 3)],
        )
        for i in range(n)
    ]
    st = [
        _pick(
            i,
            [None, {"a": None, "b": None}, {"a": 1, "b": ""}, {"a": -(2**63), "b": "ü"}],
            lambda i: None if i % 8 == 1 else {"a": i, "b": None if i % 3 == 0 else f"s{i}"},
        )
        for i in range(n)
    ]
    bl = [_pick(i, [True, False, None], lambda i: None if i % 5 == 0 else i % 2 == 0) for i in range(n)]
    bins = [_pick(i, [b"", None, b"\x00\xff\x00", "é".encode()], lambda i: bytes([i % 256]) * (i % 4)) for i in range(n)]

    fields_and_data = [
        (pa.field("id", pa.int64(), nullable=False), list(range(n))),
        (pa.field("i8", pa.int8()), i8),
        (pa.field("i32", pa.int32()), i32),
        (pa.field("i64", pa.int64()), i64),
        (pa.field("u64", pa.uint64()), u64),
        (pa.field("f32", pa.float32()), f32),
        (pa.field("f64", pa.float64()), f64),
        (pa.field("dec", pa.decimal128(20, 4)), dec),
        (pa.field("d32", pa.date32()), d32),
        (pa.field("ts_utc", pa.timestamp("us", tz="UTC")), ts_utc),
        (pa.field("ts_paris", pa.timestamp("ns", tz="Europe/Paris")), ts_paris),
        (pa.field("s", pa.string(), metadata={"comment": "unicode, empty and null"}), s),
        (pa.field("ls", pa.large_string()), ls),
        (pa.field("dict", pa.dictionary(pa.int32(), pa.string())), dic),
        (pa.field("li", pa.list_(pa.int64())), li),
        (pa.field("fsl", pa.list_(pa.float32(), 4)), fsl),
        (pa.field("st", pa.struct([("a", pa.int64()), ("b", pa.string())])), st),
        (pa.field("b", pa.bool_()), bl),
        (pa.field("bin", pa.binary()), bins),
    ]
    arrays = []
    for f, data in fields_and_data:
        if pa.types.is_dictionary(f.type):
            arrays.append(pa.array(data, type=pa.string()).dictionary_encode())
        elif pa.types.is_timestamp(f.type):
            arrays.append(pa.array(data, type=pa.int64()).cast(f.type))
        else:
            arrays.append(pa.array(data, type=f.type))
    schema = pa.schema([f for f, _ in fields_and_data], metadata={"dstore-test": "typed roundtrip"})
    return pa.Table.from_arrays(arrays, schema=schema)


def temporal_table(n=N):
    """Temporal types beyond the typed table's: units Parquet has no logical type for (seconds),
    date64, time32, durations. Parquet has no type a reader would give back as timestamp[s],
    date64 or time32[s]: dstore refuses those columns, and stores them as the type `--cast`
    names (`check --cast`, see the module doc). The others must read back exactly."""
    day = 86_400_000
    cols = [
        (pa.field("ts_s_ny", pa.timestamp("s", tz="America/New_York")), [None if i % 7 == 0 else -86_400 * 365 * 50 + i * 1_234_567 for i in range(n)]),
        (pa.field("ts_ms_utc", pa.timestamp("ms", tz="UTC")), [None if i % 7 == 1 else -(10**12) + i * 987_654_321 for i in range(n)]),
        (pa.field("ts_s", pa.timestamp("s")), [None if i % 7 == 2 else i * 3_600_007 for i in range(n)]),
        (pa.field("ts_ms", pa.timestamp("ms")), [None if i % 7 == 3 else -i * 3_600_007_123 for i in range(n)]),
        (pa.field("date64", pa.date64()), [None if i % 7 == 4 else (i - 1000) * 37 * day for i in range(n)]),
        (pa.field("time32_s", pa.time32("s")), [None if i % 7 == 5 else (i * 61) % 86_400 for i in range(n)]),
        (pa.field("time32_ms", pa.time32("ms")), [None if i % 7 == 6 else (i * 61_001) % 86_400_000 for i in range(n)]),
        (pa.field("time64_ns", pa.time64("ns")), [None if i % 5 == 0 else (i * 61_000_000_001) % 86_400_000_000_000 for i in range(n)]),
        (pa.field("dur_s", pa.duration("s")), [None if i % 5 == 1 else (i - 1000) * 86_401 for i in range(n)]),
        (pa.field("dur_ns", pa.duration("ns")), [None if i % 5 == 2 else (i - 1000) * 123_456_789_012 for i in range(n)]),
    ]
    arrays = [pa.array(v, type=pa.int64()).cast(f.type) if f.type.bit_width == 64 else pa.array(v, type=pa.int32()).cast(f.type) for f, v in cols]
    return pa.Table.from_arrays(arrays, schema=pa.schema([f for f, _ in cols]))


def pandas_frame(n=N):
    """A DataFrame as users have them, or None without pandas."""
    try:
        import pandas as pd
    except ImportError:
        return None
    base = pd.Timestamp("2026-01-02 03:04:05.123456")
    return pd.DataFrame(
        {
            "id": range(n),
            "f": [float("nan") if i % 7 == 0 else i / 3 for i in range(n)],
            "s": [None if i % 5 == 0 else f"row {i} ✓" for i in range(n)],
            "t": [pd.NaT if i % 11 == 0 else base + pd.Timedelta(seconds=i * 3607) for i in range(n)],
            "t_tz": pd.Series([base + pd.Timedelta(hours=i) for i in range(n)]).dt.tz_localize("Europe/Paris", ambiguous="NaT", nonexistent="NaT"),
            "c": pd.Categorical([["low", "mid", "high"][i % 3] for i in range(n)]),
            "b": [i % 2 == 0 for i in range(n)],
        }
    )


FLAT_COLUMNS = ["id", "i8", "i32", "i64", "u64", "f32", "f64", "dec", "d32", "ts_utc", "ts_paris", "s", "ls", "dict", "b"]


def flat_table(named_tz=True):
    """The flat columns of the typed table. With named_tz=False the two time-zone columns use
    fixed offsets (+00:00, +01:00) instead of the names UTC and Europe/Paris."""
    t = typed_table().select(FLAT_COLUMNS)
    if not named_tz:
        for name, tz in (("ts_utc", "+00:00"), ("ts_paris", "+01:00")):
            i = t.schema.get_field_index(name)
            f = t.schema.field(i)
            t = t.set_column(i, f.with_type(pa.timestamp(f.type.unit, tz=tz)), t.column(i).cast(pa.timestamp(f.type.unit, tz=tz)))
    return t


FLOAT_MAX = {32: 3.4028234663852886e38, 64: 1.7976931348623157e308}


def _finite(v, big):
    if v is None or v != v:  # null, NaN
        return None
    if v in (float("inf"), float("-inf")):
        return big if v > 0 else -big
    return v


def finite_table(t):
    """t with NaN and infinities gone from its float columns, for JSON, which cannot represent
    them: NaN becomes null, +inf/-inf the largest finite value of that sign. Everything else,
    -0.0 and subnormals included, stays."""
    for i, f in enumerate(t.schema):
        if pa.types.is_floating(f.type):
            big = FLOAT_MAX[f.type.bit_width]
            values = [_finite(v, big) for v in t.column(i).to_pylist()]
            t = t.set_column(i, f, pa.array(values, type=f.type))
    return t


# --------------------------------------------------------------------------------------------
# CSV: rows as text, and the table that text means


def _csv_quote(v):
    if v == "" or any(c in v for c in ',"\r\n') or v != v.strip():
        return '"' + v.replace('"', '""') + '"'
    return v


def csv_rows(n=N):
    """(header, rows of (text cells), expected columns as (field, python values))."""
    cols = {}
    # id: plain ints
    cols["id"] = (pa.field("id", pa.int64()), [(str(i), i) for i in range(n)])
    # i64: extremes, signs, nulls (empty field)
    ispec = [("-9223372036854775808", -(2**63)), ("9223372036854775807", 2**63 - 1), ("", None), ("+5", 5), ("-0", 0)]
    cols["i64"] = (
        pa.field("i64", pa.int64()),
        [_pick(i, ispec, lambda i: ("", None) if i % 13 == 0 else (str(i * 1_000_003 - 10**9), i * 1_000_003 - 10**9)) for i in range(n)],
    )
    # f64: NaN spellings, infinities, signed zero, extremes, integral text, exponents, nulls
    fspec = [
        ("NaN", float("nan")),
        ("nan", float("nan")),
        ("inf", float("inf")),
        ("-inf", float("-inf")),
        ("", None),
        ("-0.0", -0.0),
        ("5e-324", 5e-324),
        ("1.7976931348623157e308", 1.7976931348623157e308),
        ("0.1", 0.1),
        ("3", 3.0),
        ("1E10", 1e10),
        ("-2.5e-3", -2.5e-3),
    ]
    cols["f64"] = (
        pa.field("f64", pa.float64()),
        [_pick(i, fspec, lambda i: (repr((i - 1000) / 7.0), (i - 1000) / 7.0)) for i in range(n)],
    )
    # d: dates
    dspec = [("1970-01-01", dt.date(1970, 1, 1)), ("2024-02-29", dt.date(2024, 2, 29)), ("", None), ("9999-12-31", dt.date(9999, 12, 31)), ("0001-01-01", dt.date(1, 1, 1))]

    def reg_date(i):
        d = dt.date(1950, 1, 1) + dt.timedelta(days=i * 13)
        return (d.isoformat(), d)

    cols["d"] = (pa.field("d", pa.date32()), [_pick(i, dspec, reg_date) for i in range(n)])
    # ts_naive: wall-clock timestamps without an offset, mixed fraction lengths -> timestamp[us]
    base = dt.datetime(2026, 1, 2, 3, 4, 5)
    tspec = [
        ("2026-01-02T03:04:05.123456", dt.datetime(2026, 1, 2, 3, 4, 5, 123456)),
        ("2026-01-02T03:04:05", base),
        ("", None),
        ("1969-12-31T23:59:59.999999", dt.datetime(1969, 12, 31, 23, 59, 59, 999999)),
        ("2026-01-02 03:04:05.5", dt.datetime(2026, 1, 2, 3, 4, 5, 500000)),
    ]

    def reg_ts(i):
        t = base + dt.timedelta(seconds=i * 3607, microseconds=i * 11)
        return (t.isoformat(timespec="microseconds"), t)

    cols["ts_naive"] = (pa.field("ts_naive", pa.timestamp("us")), [_pick(i, tspec, reg_ts) for i in range(n)])
    # ts_sec: whole seconds -> a timestamp (arrow infers timestamp[s])
    def reg_sec(i):
        t = base + dt.timedelta(seconds=i * 86_413)
        return ("", None) if i % 11 == 0 else (t.isoformat(sep=" "), t)

    cols["ts_sec"] = (pa.field("ts_sec", pa.timestamp("s")), [reg_sec(i) for i in range(n)])
    # ts_tz: timestamps with an offset -> an instant: timestamp[us, tz=UTC] (arrow's CSV reader
    # gives timestamp[us] without a zone, holding the UTC instant: `check --reads-as`)
    tzspec = [
        ("2026-01-02T03:04:05.123456Z", dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
        ("2026-01-02T03:04:05.123456+01:00", dt.datetime(2026, 1, 2, 2, 4, 5, 123456, tzinfo=UTC)),
        ("", None),
        ("2026-06-30T23:30:00.000001-05:30", dt.datetime(2026, 7, 1, 5, 0, 0, 1, tzinfo=UTC)),
        ("1970-01-01T00:00:00.000000Z", dt.datetime(1970, 1, 1, tzinfo=UTC)),
    ]

    def reg_tz(i):
        t = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC) + dt.timedelta(seconds=i * 7919, microseconds=i * 13)
        return (t.isoformat(timespec="microseconds").replace("+00:00", "Z"), t)

    cols["ts_tz"] = (pa.field("ts_tz", pa.timestamp("us", tz="UTC")), [_pick(i, tzspec, reg_tz) for i in range(n)])
    # s: strings; a quoted "" is the empty string, an empty field is null (PostgreSQL's CSV
    # convention and dstore's default; `--csv-empty null` reads both as null: `check
    # --empty-string-is-null`)
    sspec = [(_csv_quote(v) if v is not None else "", v) for v in STRINGS if v is None or "\x00" not in v]
    cols["s"] = (pa.field("s", pa.string()), [_pick(i, sspec, lambda i: (f"row {i} ✓", f"row {i} ✓")) for i in range(n)])
    # b: booleans in the spellings arrow's CSV reader documents
    bspec = [("true", True), ("false", False), ("", None), ("True", True), ("FALSE", False)]
    cols["b"] = (pa.field("b", pa.bool_()), [_pick(i, bspec, lambda i: ("true", True) if i % 2 else ("false", False)) for i in range(n)])

    names = list(cols)
    lines = [",".join(names)]
    for r in range(n):
        lines.append(",".join(cols[c][1][r][0] for c in names))
    text = "\n".join(lines) + "\n"
    expected = [(cols[c][0], [cell[1] for cell in cols[c][1]]) for c in names]
    return text, expected


# --------------------------------------------------------------------------------------------
# JSON lines


def jsonl_rows(n=N):
    """(text, expected columns as (field, python values), notes about the expectations)."""
    rows = []
    exp = {
        "id": [],
        "i64": [],
        "f64": [],
        "mixed": [],
        "s": [],
        "b": [],
        "d": [],
        "ts": [],
        "li": [],
        "st": [],
        "tags": [],
    }
    ispec = [-(2**63), 2**63 - 1, None, 2**53 + 1, "missing"]
    fspec = [-0.0, 5e-324, 1.7976931348623157e308, 0.1, None, 1e300, 3.0, -2.5e-3, "missing"]
    for i in range(n):
        row = {"id": i}
        exp["id"].append(i)
        v = _pick(i, ispec, lambda i: i * 1_000_003 - 10**9)
        if v != "missing":
            row["i64"] = v
        exp["i64"].append(None if v == "missing" else v)
        v = _pick(i, fspec, lambda i: (i - 1000) / 7.0)
        if v != "missing":
            row["f64"] = v
        exp["f64"].append(None if v == "missing" else v)
        # ints and floats in one field: float64
        m = i if i % 2 else i + 0.5
        row["mixed"] = m
        exp["mixed"].append(float(m))
        v = _pick(i, STRINGS, lambda i: f"row {i} ✓")
        row["s"] = v
        exp["s"].append(v)
        v = _pick(i, [True, False, None], lambda i: i % 2 == 0)
        row["b"] = v
        exp["b"].append(v)
        d = dt.date(1950, 1, 1) + dt.timedelta(days=i * 13)
        row["d"] = d.isoformat()
        exp["d"].append(d.isoformat())
        t = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC) + dt.timedelta(seconds=i * 7919, microseconds=i * 13)
        row["ts"] = t.isoformat(timespec="microseconds").replace("+00:00", "Z")
        exp["ts"].append(row["ts"])
        v = _pick(i, [[1, None, 3], [], None, [2**63 - 1]], lambda i: list(range(i % 5)))
        row["li"] = v
        exp["li"].append(v)
        v = _pick(
            i,
            [{"a": 1, "b": "x"}, None, {"a": None, "b": None}, {}, {"b": "only b"}],
            lambda i: {"a": i, "b": f"s{i}"},
        )
        row["st"] = v
        exp["st"].append(None if v is None else {"a": v.get("a"), "b": v.get("b")})
        v = _pick(i, [[{"k": "a", "v": 1.5}], [], None, [{"k": None, "v": None}]], lambda i: [{"k": f"k{j}", "v": j / 2} for j in range(i % 3)])
        row["tags"] = v
        exp["tags"].append(v)
        rows.append(row)
    # ensure_ascii alternates, so both raw UTF-8 and \u escapes (with surrogate pairs) occur
    text = "".join(json.dumps(r, ensure_ascii=(i % 2 == 1)) + "\n" for i, r in enumerate(rows))
    fields = [
        pa.field("id", pa.int64()),
        pa.field("i64", pa.int64()),
        pa.field("f64", pa.float64()),
        pa.field("mixed", pa.float64()),
        pa.field("s", pa.string()),
        pa.field("b", pa.bool_()),
        # JSON has no date or timestamp type: the text is kept as text, which loses nothing.
        pa.field("d", pa.string()),
        pa.field("ts", pa.string()),
        pa.field("li", pa.list_(pa.int64())),
        pa.field("st", pa.struct([("a", pa.int64()), ("b", pa.string())])),
        pa.field("tags", pa.list_(pa.struct([("k", pa.string()), ("v", pa.float64())]))),
    ]
    expected = [(f, exp[f.name]) for f in fields]
    return text, expected


def _table_from_columns(columns):
    arrays = [pa.array(values, type=f.type) for f, values in columns]
    return pa.Table.from_arrays(arrays, schema=pa.schema([f for f, _ in columns]))


# --------------------------------------------------------------------------------------------
# make


def cmd_make(out):
    os.makedirs(out, exist_ok=True)
    t = typed_table()
    pq.write_table(t, os.path.join(out, "typed.parquet"), row_group_size=ROW_GROUP)
    flats = (("flat.arrow", flat_table()), ("flat_offset.arrow", flat_table(named_tz=False)))
    flats += tuple((name.replace(".arrow", "_finite.arrow"), finite_table(flat)) for name, flat in flats)
    for name, flat in flats:
        with ipc.new_file(os.path.join(out, name), flat.schema) as w:
            for b in flat.to_batches(max_chunksize=IPC_BATCH):
                w.write_batch(b)
    batches = t.to_batches(max_chunksize=IPC_BATCH)
    with ipc.new_file(os.path.join(out, "typed.arrow"), t.schema) as w:
        for b in batches:
            w.write_batch(b)
    with ipc.new_stream(os.path.join(out, "typed.arrows"), t.schema) as w:
        for b in batches:
            w.write_batch(b)
    temporal = temporal_table()
    with ipc.new_file(os.path.join(out, "temporal.arrow"), temporal.schema) as w:
        w.write_table(temporal, max_chunksize=IPC_BATCH)
    for codec in ("lz4", "zstd"):
        options = ipc.IpcWriteOptions(compression=codec)
        with ipc.new_file(os.path.join(out, f"typed_{codec}.arrow"), t.schema, options=options) as w:
            for b in batches:
                w.write_batch(b)
    with ipc.new_stream(os.path.join(out, "typed_zstd.arrows"), t.schema, options=ipc.IpcWriteOptions(compression="zstd")) as w:
        for b in batches:
            w.write_batch(b)
    df = pandas_frame()
    if df is not None:
        df.to_feather(os.path.join(out, "pandas.feather"))
    text, _ = csv_rows()
    with open(os.path.join(out, "typed.csv"), "w", encoding="utf-8", newline="") as f:
        f.write(text)
    text, _ = jsonl_rows()
    with open(os.path.join(out, "typed.jsonl"), "w", encoding="utf-8", newline="") as f:
        f.write(text)
    print(f"wrote inputs to {out}: {t.num_rows} rows, {t.num_columns} columns")


# --------------------------------------------------------------------------------------------
# comparing


class Problems:
    def __init__(self):
        self.items = []
        self.notes = []

    def add(self, msg):
        self.items.append(msg)

    def note(self, msg):
        self.notes.append(msg)


def _valid_rows(arr):
    return arr.filter(arr.is_valid())


def arrays_equal(a, b):
    """Exact equality of two arrays of one type (see the module doc)."""
    if len(a) != len(b):
        return False
    if not a.is_null().equals(b.is_null()):
        return False
    t = a.type
    if pa.types.is_dictionary(t):
        return arrays_equal(a.dictionary_decode(), b.dictionary_decode())
    if pa.types.is_floating(t):
        width = {16: pa.int16(), 32: pa.int32(), 64: pa.int64()}[t.bit_width]
        return a.view(width).equals(b.view(width))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        a, b = _valid_rows(a), _valid_rows(b)
        return a.value_lengths().equals(b.value_lengths()) and arrays_equal(a.flatten(), b.flatten())
    if pa.types.is_fixed_size_list(t):
        a, b = _valid_rows(a), _valid_rows(b)
        return arrays_equal(a.flatten(), b.flatten())
    if pa.types.is_struct(t):
        a, b = _valid_rows(a), _valid_rows(b)
        return all(arrays_equal(a.field(i), b.field(i)) for i in range(t.num_fields))
    return a.equals(b)


def _show(arr, i):
    v = arr.slice(i, 1)
    try:
        if pa.types.is_timestamp(v.type) and v.type.unit == "ns":
            return f"{v.cast(pa.int64()).to_pylist()[0]!r} ns ({v.type})"
        return repr(v.to_pylist()[0])
    except Exception:  # noqa: BLE001 - only for a message
        return str(v)


def compare_columns(actual, expected, problems, what):
    """Values of two tables with the same column names, compared column by column."""
    if actual.num_rows != expected.num_rows:
        problems.add(f"{what}: {actual.num_rows} rows, expected {expected.num_rows}")
        return
    for name in expected.column_names:
        if name not in actual.column_names:
            continue
        a = actual.column(name)
        e = expected.column(name)
        if a.type != e.type:
            # The type is reported with the schema; say whether the values survived anyway.
            try:
                a = a.cast(e.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
                problems.note(f"{what}: column `{name}`: values not compared, {a.type} does not cast to {e.type}: {err}")
                continue
            what_cast = f"{what} (values cast from {actual.column(name).type} to {e.type})"
        else:
            what_cast = what
        if pa.types.is_dictionary(e.type):
            a, e = a.cast(a.type.value_type), e.cast(e.type.value_type)
        a, e = a.combine_chunks(), e.combine_chunks()
        if arrays_equal(a, e):
            if what_cast != what:
                problems.note(f"{what_cast}: column `{name}`: values are equal once cast")
            continue
        bad = [
            i
            for start in range(0, len(e), 64)
            if not arrays_equal(a.slice(start, 64), e.slice(start, 64))
            for i in range(start, min(start + 64, len(e)))
            if not arrays_equal(a.slice(i, 1), e.slice(i, 1))
        ]
        detail = "; ".join(f"row {i}: got {_show(a, i)}, expected {_show(e, i)}" for i in bad[:5])
        problems.add(f"{what_cast}: column `{name}` ({e.type}): {len(bad)} of {len(e)} rows differ: {detail}")


def _metadata(md):
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in (md or {}).items()}


def _kind(t):
    """The kind of a temporal type, the zone included for timestamps; the type itself otherwise."""
    if pa.types.is_timestamp(t):
        return ("timestamp", t.tz)
    for name, test in (("date", pa.types.is_date), ("time", pa.types.is_time), ("duration", pa.types.is_duration)):
        if test(t):
            return (name,)
    return t


def compare_schema(actual, expected, problems, what, check_metadata=True, same_kind=False, exact=()):
    """Names, order, types, nullability; metadata of the schema and fields if asked. With
    same_kind, a temporal type may come back in another unit or width of the same kind, except
    in the columns named in exact."""
    an, en = actual.names, expected.names
    if an != en:
        problems.add(f"{what}: columns are {an}, expected {en}")
    for ef in expected:
        if ef.name not in an:
            continue
        af = actual.field(ef.name)
        if af.type != ef.type:
            if same_kind and ef.name not in exact and _kind(af.type) == _kind(ef.type):
                problems.note(f"{what}: column `{ef.name}` is {af.type}, input was {ef.type} (same kind)")
            else:
                problems.add(f"{what}: column `{ef.name}` is {af.type}, expected {ef.type}")
        if af.nullable != ef.nullable:
            problems.add(
                f"{what}: column `{ef.name}` is {'nullable' if af.nullable else 'non-nullable'}, "
                f"expected {'nullable' if ef.nullable else 'non-nullable'}"
            )
        if check_metadata and _metadata(af.metadata) != _metadata(ef.metadata):
            problems.add(f"{what}: column `{ef.name}` metadata is {_metadata(af.metadata)}, expected {_metadata(ef.metadata)}")
    if check_metadata:
        am, em = _metadata(actual.metadata), _metadata(expected.metadata)
        if am != em:
            lost = {k: v for k, v in em.items() if am.get(k) != v}
            extra = {k: v for k, v in am.items() if k not in em}
            problems.add(f"{what}: schema metadata differs: missing or changed {lost}, unexpected {extra}")


# --------------------------------------------------------------------------------------------
# Documented limitations (see the module doc): the expected table changed in one named way


# The type --reads-as accepts: arrow's CSV reader's type for timestamps with an offset.
READS_AS_TYPES = {"timestamp[us]": pa.timestamp("us")}


def parse_cast_type(name):
    """A type named as `dstore snapshot --cast` names it, for the types --cast is used with here."""
    fixed = {"date32[day]": pa.date32(), "date32": pa.date32(), "time32[ms]": pa.time32("ms")}
    if name in fixed:
        return fixed[name]
    if name.startswith("dictionary<values=") and name.endswith(">"):
        values, sep, indices = name[len("dictionary<values=") : -1].partition(", indices=")
        if sep:
            return pa.dictionary(pa.type_for_alias(indices), pa.type_for_alias(values))
    if name.startswith("timestamp[") and name.endswith("]"):
        unit, _, tz = name[len("timestamp[") : -1].partition(",")
        tz = tz.strip()
        if tz and not tz.startswith("tz="):
            raise SystemExit(f"--cast type {name!r}: expected timestamp[UNIT, tz=ZONE]")
        return pa.timestamp(unit.strip(), tz=tz[3:] or None)
    raise SystemExit(
        f"--cast type {name!r}: expected date32[day], time32[ms], timestamp[UNIT(, tz=ZONE)] or dictionary<values=TYPE, indices=TYPE>"
    )


def parse_casts(specs):
    """{column: type} from COLUMN=TYPE arguments."""
    out = {}
    for spec in specs:
        name, sep, type_name = spec.partition("=")
        if not sep or name in out:
            raise SystemExit(f"--cast {spec!r}: expected COLUMN=TYPE, once per column")
        out[name] = parse_cast_type(type_name)
    return out


def with_casts(expected, problems, casts):
    """The table as `dstore snapshot --cast` stores it: each named column converted to its type
    by pyarrow's cast (which refuses what does not convert exactly: a date64 that is no whole
    day, a timestamp that overflows)."""
    for name, to in (casts or {}).items():
        if name not in expected.column_names:
            raise SystemExit(f"--cast names `{name}`, which the input does not have")
        i = expected.schema.get_field_index(name)
        f = expected.schema.field(i)
        expected = expected.set_column(i, f.with_type(to), pc.cast(expected.column(i), to, safe=True))
        problems.note(f"cast: column `{name}` ({f.type}) is expected back as {to}")
    return expected


def parse_reads_as(specs):
    """{column: type} from COLUMN=TYPE arguments."""
    out = {}
    for spec in specs:
        name, sep, type_name = spec.partition("=")
        if not sep or type_name not in READS_AS_TYPES or name in out:
            raise SystemExit(f"--reads-as {spec!r}: expected COLUMN=TYPE, once per column, TYPE one of {sorted(READS_AS_TYPES)}")
        out[name] = READS_AS_TYPES[type_name]
    return out


def _is_string_like(t):
    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def with_limitations(expected, problems, reads_as=None, empty_string_is_null=False):
    """The table a reader must return given the documented limitations asked for:
    reads_as {column: type}: the column has exactly that type, its values are the input's cast
    to it (pc.cast: stored integers and nulls kept); empty_string_is_null: in string-like
    columns, rows that are exactly '' are null. Nothing else changes."""
    for name, to in (reads_as or {}).items():
        if name not in expected.column_names:
            raise SystemExit(f"--reads-as names `{name}`, which the input does not have")
        i = expected.schema.get_field_index(name)
        f = expected.schema.field(i)
        expected = expected.set_column(i, f.with_type(to), pc.cast(expected.column(i), to))
        problems.note(f"documented limitation: column `{name}` ({f.type}) is expected back as {to}")
    if empty_string_is_null:
        for i, f in enumerate(expected.schema):
            if not _is_string_like(f.type):
                continue
            col = expected.column(i)
            if pa.types.is_dictionary(f.type):
                col = col.cast(f.type.value_type)
            empty = pc.fill_null(pc.equal(col, ""), False)
            n = pc.sum(empty).as_py() or 0
            if n:
                col = pc.if_else(empty, pa.scalar(None, col.type), col)
                if pa.types.is_dictionary(f.type):
                    col = col.cast(f.type)  # re-encoded; dictionaries are compared decoded
                expected = expected.set_column(i, f, col)
                problems.note(f"documented limitation: column `{f.name}`: {n} row(s) holding '' are expected back as null")
    return expected


# --------------------------------------------------------------------------------------------
# check


def read_expected(path):
    """(expected table, kind): kind is 'exact' for binary inputs, 'text' for CSV/JSON."""
    ext = os.path.splitext(path)[1]
    if ext == ".parquet":
        return pq.read_table(path), "exact"
    if ext == ".arrow":
        with ipc.open_file(path) as r:
            return r.read_all(), "exact"
    if ext == ".arrows":
        with ipc.open_stream(path) as r:
            return r.read_all(), "exact"
    if ext == ".feather":
        import pyarrow.feather as feather

        return feather.read_table(path), "exact"
    if ext in (".csv", ".jsonl"):
        text, columns = csv_rows() if ext == ".csv" else jsonl_rows()
        with open(path, encoding="utf-8", newline="") as f:
            if f.read() != text:
                raise SystemExit(f"{path} is not what `make` writes; run `make` again")
        return _table_from_columns(columns), "text"
    raise SystemExit(f"unknown expected file type: {path}")


def checkout_files(checkout, table, fmt, problems):
    with open(os.path.join(checkout, "dstore-checkout.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest.get("format") != fmt:
        problems.add(f"manifest says format {manifest.get('format')!r}, expected {fmt!r}")
    listed = [os.path.join(checkout, f["path"]) for f in manifest["tables"][table]["files"]]
    on_disk = sorted(glob.glob(os.path.join(checkout, table, f"part-*.{fmt}")))
    if listed != on_disk:
        problems.add(f"manifest lists {listed}, directory holds {on_disk}")
    if not on_disk:
        raise SystemExit(f"no part files in {os.path.join(checkout, table)}")
    return on_disk, manifest["tables"][table]["rows"]


def text_read_schema(expected_schema):
    """The schema pyarrow parses a text checkout with: the expected types (dictionaries as
    their value type, which text cannot tell apart), nullable."""
    return pa.schema(
        [pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type) for f in expected_schema]
    )


def read_text_part(path, fmt, schema):
    if fmt == "csv":
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False),
            convert_options=pacsv.ConvertOptions(
                column_types={f.name: f.type for f in schema},
                # arrow's CSV writer writes a null as an empty field, and nothing else as one
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                include_columns=schema.names,
            ),
        )
    # pyarrow's JSON reader parses dates only from numbers: read them as text, then cast.
    as_read = pa.schema([f.with_type(pa.string()) if pa.types.is_date(f.type) else f for f in schema])
    t = pajson.read_json(
        path,
        read_options=pajson.ReadOptions(use_threads=False),
        parse_options=pajson.ParseOptions(explicit_schema=as_read, unexpected_field_behavior="error"),
    )
    return t.cast(schema)


def cmd_check(checkout, table, expected_path, fmt, rewritten=False, reads_as=None, empty_string_is_null=False, casts=None):
    problems = Problems()
    expected, kind = read_expected(expected_path)
    files, manifest_rows = checkout_files(checkout, table, fmt, problems)
    what = f"{os.path.basename(expected_path)} -> {fmt} checkout"
    if fmt == "parquet":
        parts = [pq.read_table(p) for p in files]
        actual = pa.concat_tables(parts)
        arrow_schema = pq.read_schema(files[0])
        for p in files[1:]:
            if not pq.read_schema(p).equals(arrow_schema, check_metadata=True):
                problems.add(f"{p}: schema differs from {files[0]}")
        if expected_path.endswith(".parquet") and not rewritten:
            if len(files) != 1:
                problems.add(f"an adopted Parquet file should be one segment, checkout has {len(files)} files")
            with open(files[0], "rb") as a, open(expected_path, "rb") as e:
                if a.read() != e.read():
                    problems.add(f"{files[0]} is not byte for byte the input {expected_path}")
    else:
        schema = text_read_schema(expected.schema)
        actual = pa.concat_tables([read_text_part(p, fmt, schema) for p in files])
    if actual.num_rows != manifest_rows:
        problems.add(f"{what}: {actual.num_rows} rows read, manifest says {manifest_rows}")

    if fmt != "parquet":
        # Text checkouts carry no schema; they are parsed with the expected one.
        expected = expected.cast(text_read_schema(expected.schema))
    expected = with_casts(expected, problems, casts)
    expected = with_limitations(expected, problems, reads_as, empty_string_is_null)
    if kind == "exact" and fmt == "parquet":
        compare_schema(actual.schema, expected.schema, problems, what, check_metadata=True)
    elif kind == "text" and fmt == "parquet":
        # The inferred schema must be the sensible one; metadata is not asked for.
        compare_schema(
            actual.schema,
            expected.schema,
            problems,
            what + " (inferred schema)",
            check_metadata=False,
            same_kind=True,
            exact=set(reads_as or {}),
        )
    else:
        compare_schema(actual.schema, expected.schema, problems, what, check_metadata=False)
    compare_columns(actual, expected, problems, what)
    if expected_path.endswith(".feather") and fmt == "parquet":
        import pandas as pd

        want = pd.read_feather(expected_path)
        got = pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
        if not got.equals(want) or list(got.dtypes) != list(want.dtypes):
            problems.add(f"{what}: pandas reads back\n{got.dtypes}\n{got.head()}\nexpected\n{want.dtypes}\n{want.head()}")

    print(f"checked {what}: {len(files)} file(s), {actual.num_rows} rows, {actual.num_columns} columns")
    print("schema read back:")
    print("  " + str(actual.schema).replace("\n", "\n  "))
    for n in problems.notes:
        print(f"NOTE: {n}")
    for p in problems.items:
        print(f"MISMATCH: {p}")
    if problems.items:
        print(f"{len(problems.items)} mismatch(es)")
        return 1
    print("OK: equal")
    return 0


# --------------------------------------------------------------------------------------------
# selftest: the comparison is not vacuous


def _mutate(table, name, row, value):
    """The table with one cell replaced (a timestamp cell given as an integer)."""
    i = table.schema.get_field_index(name)
    f = table.schema.field(i)
    col = table.column(i)
    if pa.types.is_timestamp(f.type):
        values = col.cast(pa.int64()).to_pylist()
        values[row] = value
        arr = pa.array(values, type=pa.int64()).cast(f.type)
    elif pa.types.is_dictionary(f.type):
        values = col.cast(f.type.value_type).to_pylist()
        values[row] = value
        arr = pa.array(values, type=f.type.value_type).dictionary_encode()
    else:
        values = col.to_pylist()
        values[row] = value
        arr = pa.array(values, type=f.type)
    return table.set_column(i, f, arr)


def _noticed(actual, expected, **schema_args):
    problems = Problems()
    compare_schema(actual.schema, expected.schema, problems, "limited", **schema_args)
    compare_columns(actual, expected, problems, "limited")
    return bool(problems.items)


def _selftest_limitations(t, row):
    """The documented limitations change the expected table in their one way only."""
    failures = []
    # --empty-string-is-null: '' must become null, in string-like columns only.
    e = with_limitations(t, Problems(), empty_string_is_null=True)
    if _noticed(e, e):
        failures.append("--empty-string-is-null: a table differs from itself")
    if not _noticed(t, e):
        failures.append("--empty-string-is-null: '' read back as '' went unnoticed")
    for name, r, v in [
        ("s", row["héllo wörld"], None),  # a non-empty string turned null
        ("s", row[""], ""),  # '' kept as ''
        ("ls", 0, None),  # 'NaN' turned null
        ("dict", 3, ""),  # '' kept as '' in a dictionary
        ("bin", 0, None),  # b'' is not a string: it must stay b''
    ]:
        if not _noticed(_mutate(e, name, r, v), e):
            failures.append(f"--empty-string-is-null: changing {name}[{r}] to {v!r} went unnoticed")
    other = [n for n, f in zip(t.column_names, t.schema) if not _is_string_like(f.type)]
    if _noticed(e.select(other), t.select(other)):
        failures.append("--empty-string-is-null changed a column that is not string-like")
    # --cast: exactly that type, the input's values converted.
    tt = temporal_table()
    casts = {"ts_s": pa.timestamp("ms"), "time32_s": pa.time32("ms"), "date64": pa.date32()}
    e = with_casts(tt, Problems(), casts)
    if _noticed(e, e):
        failures.append("--cast: a table differs from itself")
    if not _noticed(tt, e):
        failures.append("--cast: the input's own types read back went unnoticed")
    if e.column("ts_s").cast(pa.int64()).to_pylist() != [None if v is None else v * 1000 for v in tt.column("ts_s").cast(pa.int64()).to_pylist()]:
        failures.append("--cast ts_s=timestamp[ms]: the values are not the input's seconds in milliseconds")
    if e.column("date64").cast(pa.int32()).to_pylist() != [None if v is None else v // 86_400_000 for v in tt.column("date64").cast(pa.int64()).to_pylist()]:
        failures.append("--cast date64=date32: the values are not the input's days")
    for name, r, v in [("ts_s", 3, (3 * 3_600_007 + 1) * 1000), ("ts_s", 2, 0), ("time32_s", 5, 305)]:
        if not _noticed(_mutate(e, name, r, v), e):
            failures.append(f"--cast: changing {name}[{r}] to {v!r} went unnoticed")
    i = e.schema.get_field_index("ts_s")
    for wrong in (pa.timestamp("us"), pa.int64()):
        actual = e.set_column(i, e.schema.field(i).with_type(wrong), e.column(i).cast(wrong))
        if not _noticed(actual, e):
            failures.append(f"--cast ts_s=timestamp[ms]: {wrong} read back went unnoticed")
    try:
        with_casts(pa.table({"d": pa.array([1], pa.int64()).cast(pa.date64())}), Problems(), {"d": pa.date32()})
        failures.append("--cast date64=date32: a date64 that is no whole day converted without complaint")
    except pa.ArrowInvalid:
        pass
    ts = pa.table({"ts_tz": pa.array([0, None], pa.int64()).cast(pa.timestamp("us", tz="UTC"))})
    e = with_limitations(ts, Problems(), reads_as={"ts_tz": pa.timestamp("us")})
    for wrong in (pa.timestamp("ms"), pa.timestamp("us", tz="UTC")):
        if not _noticed(ts.cast(pa.schema([pa.field("ts_tz", wrong)])), e, same_kind=True, exact={"ts_tz"}):
            failures.append(f"--reads-as ts_tz=timestamp[us]: {wrong} read back went unnoticed")
    return failures


def cmd_selftest():
    t = typed_table()
    problems = Problems()
    compare_schema(t.schema, t.schema, problems, "identity")
    compare_columns(t, t, problems, "identity")
    failures = [f"a table differs from itself: {p}" for p in problems.items]
    row = {v if isinstance(v, str) else repr(v): k for k, v in enumerate(STRINGS)}
    mutations = [
        ("f64", 0, None),  # NaN -> null
        ("f64", 4, 0.0),  # -0.0 -> 0.0
        ("f64", 0, float("inf")),
        ("f32", 2, float("-inf")),
        ("f32", 6, 0.0),  # smallest subnormal -> 0
        ("i64", 3, 2**53),  # 2**53 + 1 -> 2**53, equal as doubles
        ("u64", 1, 2**64 - 2),
        ("dec", 4, D("0.0002")),
        ("d32", 1, dt.date(1, 1, 2)),
        ("ts_utc", 1, 0),
        ("ts_paris", 0, 1_711_846_800_000_000_000),  # one nanosecond later
        ("s", row[""], None),
        ("s", row["combining e\u0301"], "combining \u00e9"),
        ("ls", 0, "NaN "),
        ("dict", 0, "green"),
        ("dict", 5, None),
        ("li", 0, None),  # [] -> null
        ("li", 2, []),  # [null] -> []
        ("li", 3, [2**63 - 1]),
        ("fsl", 1, [0.0, None, float("inf"), -0.0]),  # NaN -> 0.0 inside a list
        ("fsl", 1, [float("nan"), None, float("inf"), 0.0]),  # -0.0 -> 0.0 inside a list
        ("st", 0, {"a": None, "b": None}),  # null struct -> struct of nulls
        ("st", 2, {"a": 1, "b": None}),  # "" -> null inside a struct
        ("b", 2, False),
        ("bin", 0, None),
    ]
    for name, r, v in mutations:
        problems = Problems()
        compare_columns(_mutate(t, name, r, v), t, problems, "mutated")
        if not problems.items:
            failures.append(f"changing {name}[{r}] to {v!r} went unnoticed")
    schema_mutations = [
        ("metadata dropped", t.schema.remove_metadata()),
        ("field metadata dropped", t.schema.set(11, t.schema.field(11).remove_metadata())),
        ("nullability", t.schema.set(0, t.schema.field(0).with_nullable(True))),
        ("time zone", t.schema.set(9, t.schema.field(9).with_type(pa.timestamp("us")))),
        ("dictionary index type", t.schema.set(13, t.schema.field(13).with_type(pa.dictionary(pa.int8(), pa.string())))),
        ("column order", pa.schema([t.schema.field(1), t.schema.field(0)] + list(t.schema)[2:], metadata=t.schema.metadata)),
    ]
    for what, schema in schema_mutations:
        problems = Problems()
        compare_schema(schema, t.schema, problems, "mutated")
        if not problems.items:
            failures.append(f"a schema change went unnoticed: {what}")
    failures += _selftest_limitations(t, row)
    for f in failures:
        print(f"SELFTEST FAILURE: {f}")
    if failures:
        return 1
    print(
        f"selftest OK: {len(mutations)} value and {len(schema_mutations)} schema changes all noticed; "
        "the documented limitations accept nothing beyond themselves"
    )
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    c = sub.add_parser("check")
    c.add_argument("checkout")
    c.add_argument("table")
    c.add_argument("expected")
    c.add_argument("--format", choices=["parquet", "csv", "jsonl"], default="parquet")
    c.add_argument(
        "--rewrite",
        action="store_true",
        help="the Parquet input was ingested with --rewrite: do not expect it byte for byte",
    )
    c.add_argument(
        "--cast",
        action="append",
        default=[],
        metavar="COLUMN=TYPE",
        help="the input was snapshotted with `--cast COLUMN=TYPE`: COLUMN reads back as exactly TYPE, holding the input converted",
    )
    c.add_argument(
        "--reads-as",
        action="append",
        default=[],
        metavar="COLUMN=TYPE",
        help="documented limitation: COLUMN reads back as exactly TYPE, holding the input cast to TYPE",
    )
    c.add_argument(
        "--empty-string-is-null",
        action="store_true",
        help="documented limitation: in string-like columns, exactly the rows holding '' read back as null",
    )
    sub.add_parser("selftest", help="check that the comparison notices single-cell changes")
    a = ap.parse_args()
    if a.cmd == "selftest":
        return cmd_selftest()
    if a.cmd == "make":
        cmd_make(a.dir)
        return 0
    return cmd_check(
        a.checkout, a.table, a.expected, a.format, a.rewrite, parse_reads_as(a.reads_as), a.empty_string_is_null, parse_casts(a.cast)
    )


if __name__ == "__main__":
    sys.exit(main())
