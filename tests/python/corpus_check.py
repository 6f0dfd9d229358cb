#!/usr/bin/env python3
"""The corpus oracle (pyarrow only): how a dstore checkout differs from what pyarrow reads from
the input it was made from. Driven by tests/tests/corpus.rs; see fixtures/corpus/README.md.

  corpus_check.py check JOBS.json
      JOBS.json is a list of {"name", "input", "checkout", "table"}: a corpus input (a file or a
      directory) and the directory `dstore checkout -t TABLE -o CHECKOUT` wrote after
      `dstore snapshot -t TABLE INPUT`. Prints one JSON object per job, a line each:
      {"name", "differences": {...}, "details": [...]} where "differences" is empty when
      pyarrow reads back exactly what it reads from the input, and otherwise names each kind of
      difference found (the form fixtures/corpus/expect.toml states them in):

        missing_columns        [names]  in the input, not in the checkout
        extra_columns          [names]  in the checkout, not in the input
        column_order           true     same names, another order
        reads_as               {name: type}  the column reads back as this pyarrow type
        values_differ          [names]  values differ (after casting to the input's type
                                        when reads_as also names the column)
        uncomparable           [names]  another type that does not cast back: values unseen
        empty_string_is_null   [names]  string columns whose '' rows (and only those) read
                                        back as null
        nullability            [names]  nullable in one, not in the other
        field_metadata         [names]  field metadata differs
        schema_metadata        true     schema metadata differs
        rows                   true     another number of rows
        input_unreadable       true     pyarrow cannot read the input (which dstore took)
        checkout_unreadable    true     pyarrow cannot read the checkout
        not_adopted            true     a Parquet input is not byte for byte a checkout file

      "details" says, for people, what exactly differs (rows and values, the error).

How each input is read ("what pyarrow reads from the input"):
  .parquet .pq .parq     pq.read_table
  .arrow .feather .ipc   pa.ipc.open_file, else pa.ipc.open_stream (dstore takes both)
  .arrows                pa.ipc.open_stream
  .csv .tsv              pyarrow.csv.read_csv with null_values=[""]: an empty field is null in
                         every column but strings, where it is '' (pyarrow's default); no other
                         spelling is null ("NaN" is NaN, "NA" is "NA")
  .jsonl .ndjson .json   each line parsed with Python's json, columns in order of first
                         appearance, types as pa.array infers them: JSON has no date or
                         timestamp type, so such strings stay strings
  .gz .zst after any of the text extensions: decompressed by pyarrow first
  a directory            its files in sorted order (hidden and `_` names, .crc skipped; files
                         of other types skipped), each read as above, concatenated; a `k=v`
                         directory adds column k (a string, as the last column), as pyarrow's
                         hive partitioning does

Text inputs carry no types or metadata: for them a temporal column may come back in another
unit of the same kind (a timestamp keeps its zone), and metadata is not compared.

  corpus_check.py selftest
      Checks that the comparison finds and names single changes.
"""

import json
import os
import sys

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from roundtrip import _kind, _metadata, _show, arrays_equal  # noqa: E402 - the project's oracle

PARQUET = (".parquet", ".pq", ".parq")
IPC_FILE = (".arrow", ".feather", ".ipc")
IPC_STREAM = (".arrows",)
CSV = (".csv", ".tsv")
JSON = (".jsonl", ".ndjson", ".json")
COMPRESSED = (".gz", ".zst")


def kind_of(path):
    """('parquet'|'ipc'|'stream'|'csv'|'tsv'|'json', compressed) or None for other files."""
    name = path.lower()
    compressed = name.endswith(COMPRESSED)
    if compressed:
        name = os.path.splitext(name)[0]
    ext = os.path.splitext(name)[1]
    if not compressed and ext in PARQUET:
        return "parquet", False
    if not compressed and ext in IPC_FILE:
        return "ipc", False
    if not compressed and ext in IPC_STREAM:
        return "stream", False
    if ext in CSV:
        return ext[1:], compressed
    if ext in JSON:
        return "json", compressed
    return None


def read_ipc(path, stream_only=False):
    if not stream_only:
        try:
            with ipc.open_file(path) as r:
                return r.read_all()
        except pa.ArrowInvalid:
            pass
    with ipc.open_stream(path) as r:
        return r.read_all()


def _text(path):
    with pa.input_stream(path, compression="detect") as f:
        return f.read()


def read_csv(path, delimiter):
    return pacsv.read_csv(
        pa.BufferReader(_text(path)),
        read_options=pacsv.ReadOptions(use_threads=False),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(null_values=[""], strings_can_be_null=False),
    )


def read_json_lines(path):
    rows = [json.loads(line) for line in _text(path).decode("utf-8").splitlines() if line.strip()]
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise ValueError(f"line {i + 1} is not a JSON object")
    names = list(dict.fromkeys(k for r in rows for k in r))
    return pa.table({n: pa.array([r.get(n) for r in rows]) for n in names})


def read_file(path):
    kind, _ = kind_of(path)
    if kind == "parquet":
        return pq.read_table(path)
    if kind in ("ipc", "stream"):
        return read_ipc(path, stream_only=kind == "stream")
    if kind in ("csv", "tsv"):
        return read_csv(path, "\t" if kind == "tsv" else ",")
    return read_json_lines(path)


def data_files(root):
    """(path, {partition key: value}) of a directory's data files, in sorted order."""
    found = []
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if not x.startswith((".", "_"))]
        for f in files:
            if f.startswith((".", "_")) or f.endswith(".crc"):
                continue
            p = os.path.join(d, f)
            if kind_of(p):
                found.append(p)
    found.sort(key=lambda p: os.path.relpath(p, root).split(os.sep))
    out = []
    for p in found:
        parts = {}
        for comp in os.path.relpath(os.path.dirname(p), root).split(os.sep):
            k, sep, v = comp.partition("=")
            if sep:
                parts[k] = v
        out.append((p, parts))
    return out


def read_input(path):
    """(table, text) : what pyarrow reads from the input, and whether it is text."""
    if not os.path.isdir(path):
        return read_file(path), kind_of(path)[0] in ("csv", "tsv", "json")
    tables = []
    text = False
    for p, parts in data_files(path):
        t = read_file(p)
        text = text or kind_of(p)[0] in ("csv", "tsv", "json")
        for k, v in parts.items():
            t = t.append_column(k, pa.array([v] * t.num_rows, pa.string()))
        tables.append(t)
    return pa.concat_tables(tables), text


def read_checkout(checkout, table):
    with open(os.path.join(checkout, "dstore-checkout.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    files = [os.path.join(checkout, f["path"]) for f in manifest["tables"][table]["files"]]
    return files, [pq.read_table(p) for p in files]


class Found:
    def __init__(self):
        self.diff = {}
        self.details = []

    def add(self, kind, column=None, detail=None, value=None):
        if column is None:
            self.diff[kind] = True
        elif value is not None:
            self.diff.setdefault(kind, {})[column] = value
        else:
            cols = self.diff.setdefault(kind, [])
            if column not in cols:
                cols.append(column)
        if detail:
            self.details.append(detail)


def _string_like(t):
    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _plain(col):
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(col.type):
        try:
            col = col.dictionary_decode()
        except pa.ArrowNotImplementedError:  # no take kernel for some value types
            col = pa.array(col.to_pylist(), col.type.value_type)
    return col


def _unview(t):
    """t with string_view/binary_view (at any depth) as string/binary: pyarrow has no filter or
    take kernels for some nestings of the view types, which arrays_equal uses."""
    if pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(_unview(t.value_type)))
    if pa.types.is_large_list(t):
        return pa.large_list(t.value_field.with_type(_unview(t.value_type)))
    if pa.types.is_fixed_size_list(t):
        return pa.list_(t.value_field.with_type(_unview(t.value_type)), t.list_size)
    if pa.types.is_struct(t):
        return pa.struct([t.field(i).with_type(_unview(t.field(i).type)) for i in range(t.num_fields)])
    if pa.types.is_dictionary(t):
        return pa.dictionary(t.index_type, _unview(t.value_type), t.ordered)
    return t


def equal(a, e):
    """arrays_equal (the project's exact comparison), for every type pyarrow can read."""
    try:
        return arrays_equal(a, e)
    except pa.ArrowNotImplementedError:
        return arrays_equal(a.cast(_unview(a.type)), e.cast(_unview(e.type)))


def _differing_rows(a, e):
    return [i for i in range(len(e)) if not equal(a.slice(i, 1), e.slice(i, 1))]


def compare_values(name, a, e, found):
    """Values of one column, a (read back) against e (the input), both of e's type."""
    a, e = _plain(a), _plain(e)
    if equal(a, e):
        return
    bad = _differing_rows(a, e)
    if _string_like(e.type) and bad and all(e[i].as_py() == "" and not a[i].is_valid for i in bad):
        found.add("empty_string_is_null", name, f"`{name}`: {len(bad)} row(s) holding '' read back as null (rows {bad[:5]})")
        return
    shown = "; ".join(f"row {i}: got {_show(a, i)}, expected {_show(e, i)}" for i in bad[:3])
    found.add("values_differ", name, f"`{name}` ({e.type}): {len(bad)} of {len(e)} rows differ: {shown}")


def compare(actual, expected, text, found):
    an, en = actual.schema.names, expected.schema.names
    for n in en:
        if n not in an:
            found.add("missing_columns", n, f"column `{n}` ({expected.schema.field(n).type}) is not in the checkout")
    for n in an:
        if n not in en:
            found.add("extra_columns", n, f"column `{n}` ({actual.schema.field(n).type}) is not in the input")
    common = [n for n in en if n in an]
    if [n for n in an if n in en] != common:
        found.add("column_order", detail=f"columns are {an}, input has {en}")
    if not text:
        am, em = _metadata(actual.schema.metadata), _metadata(expected.schema.metadata)
        if am != em:
            lost = sorted(k for k in em if am.get(k) != em[k])
            extra = sorted(k for k in am if k not in em)
            found.add("schema_metadata", detail=f"schema metadata: missing or changed {lost}, unexpected {extra}")
    if actual.num_rows != expected.num_rows:
        found.add("rows", detail=f"{actual.num_rows} rows read back, the input has {expected.num_rows}")
    # Columns by name; by position among those both have where names repeat.
    if len(set(an)) == len(an) and len(set(en)) == len(en):
        pairs = [(an.index(n), j) for j, n in enumerate(en) if n in an]
    else:
        pairs = list(zip([i for i, n in enumerate(an) if n in en], [j for j, n in enumerate(en) if n in an]))
    for i, j in pairs:
        af, ef = actual.schema.field(i), expected.schema.field(j)
        name = ef.name
        if af.nullable != ef.nullable:
            found.add("nullability", name, f"`{name}` is {'nullable' if af.nullable else 'not null'} in the checkout, the other in the input")
        if not text and _metadata(af.metadata) != _metadata(ef.metadata):
            found.add("field_metadata", name, f"`{name}` metadata is {_metadata(af.metadata)}, input {_metadata(ef.metadata)}")
        a, e = actual.column(i), expected.column(j)
        if af.type != ef.type:
            same_kind = text and _kind(af.type) == _kind(ef.type) and not isinstance(_kind(af.type), pa.DataType)
            if not same_kind:
                found.add("reads_as", name, f"`{name}` reads back as {af.type}, the input is {ef.type}", value=str(af.type))
            try:
                a = a.cast(ef.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as err:
                found.add("uncomparable", name, f"`{name}`: {af.type} does not cast to {ef.type} ({err})")
                continue
        if actual.num_rows == expected.num_rows:
            compare_values(name, a, e, found)


def check(job):
    found = Found()
    try:
        expected, text = read_input(job["input"])
    except Exception as e:  # noqa: BLE001 - a finding: dstore took what pyarrow refuses
        found.add("input_unreadable", detail=f"pyarrow cannot read the input: {type(e).__name__}: {e}")
        expected = None
    try:
        files, parts = read_checkout(job["checkout"], job["table"])
    except Exception as e:  # noqa: BLE001 - a finding: pyarrow cannot read what dstore wrote
        found.add("checkout_unreadable", detail=f"pyarrow cannot read the checkout: {type(e).__name__}: {e}")
        return {"name": job["name"], "differences": found.diff, "details": found.details}
    if expected is None:
        return {"name": job["name"], "differences": found.diff, "details": found.details}
    if parts:
        for p, t in zip(files[1:], parts[1:]):
            if not t.schema.equals(parts[0].schema, check_metadata=True):
                found.details.append(f"{p}: schema differs from {files[0]}")
        try:
            actual = pa.concat_tables(parts)
        except pa.ArrowInvalid as e:
            found.add("checkout_unreadable", detail=f"the checkout's part files do not concatenate: {e}")
            return {"name": job["name"], "differences": found.diff, "details": found.details}
        compare(actual, expected, text, found)
    elif expected.num_rows:
        found.add("rows", detail=f"the checkout has no part files, the input has {expected.num_rows} rows")
    adopted(job["input"], files, found)
    return {"name": job["name"], "differences": found.diff, "details": found.details}


def adopted(path, files, found):
    """A Parquet input (or a directory's non-empty Parquet files) must be the checkout's files
    byte for byte: dstore adopts Parquet as it is."""
    if os.path.isdir(path):
        inputs = [p for p, _ in data_files(path)]
        if not all(kind_of(p)[0] == "parquet" for p in inputs):
            return
        inputs = [p for p in inputs if pq.read_metadata(p).num_rows > 0]
    elif kind_of(path)[0] == "parquet":
        inputs = [path]
    else:
        return
    same = len(inputs) == len(files)
    for i, c in zip(inputs, files):
        with open(i, "rb") as a, open(c, "rb") as b:
            same = same and a.read() == b.read()
    if not same:
        found.add("not_adopted", detail=f"the checkout's {len(files)} file(s) are not the {len(inputs)} Parquet input(s) byte for byte")


# --------------------------------------------------------------------------------------------
# selftest


def selftest():
    base = pa.table(
        {
            "i": pa.array([1, None, 3], pa.int64()),
            "s": pa.array(["", "a", None], pa.string()),
            "f": pa.array([float("nan"), -0.0, 1.0], pa.float64()),
            "d": pa.array([0, 1, None], pa.int64()).cast(pa.date64()),
        },
        schema=pa.schema(
            [pa.field("i", pa.int64()), pa.field("s", pa.string()), pa.field("f", pa.float64()), pa.field("d", pa.date64())],
            metadata={"k": "v"},
        ),
    )

    def with_column(t, name, arr, field=None):
        i = t.schema.get_field_index(name)
        return t.set_column(i, field or t.schema.field(i).with_type(arr.type), arr)

    cases = [
        ("identical", base, {}),
        ("NaN made null", with_column(base, "f", pa.array([None, -0.0, 1.0], pa.float64())), {"values_differ": ["f"]}),
        ("-0.0 made 0.0", with_column(base, "f", pa.array([float("nan"), 0.0, 1.0], pa.float64())), {"values_differ": ["f"]}),
        ("'' made null", with_column(base, "s", pa.array([None, "a", None], pa.string())), {"empty_string_is_null": ["s"]}),
        ("'a' made null", with_column(base, "s", pa.array(["", None, None], pa.string())), {"values_differ": ["s"]}),
        ("date64 read as int64", with_column(base, "d", base.column("d").cast(pa.int64())), {"reads_as": {"d": "int64"}}),
        ("a column lost", base.drop_columns(["i"]), {"missing_columns": ["i"]}),
        ("a column added", base.append_column("x", pa.array([1, 2, 3])), {"extra_columns": ["x"]}),
        ("metadata lost", base.replace_schema_metadata(None), {"schema_metadata": True}),
        ("a row lost", base.slice(0, 2), {"rows": True}),
        ("not null", pa.Table.from_arrays(base.columns, schema=base.schema.set(2, base.schema.field(2).with_nullable(False))), {"nullability": ["f"]}),
        ("columns swapped", base.select(["s", "i", "f", "d"]), {"column_order": True}),
    ]
    failures = []
    for what, actual, want in cases:
        found = Found()
        compare(actual, base, False, found)
        if found.diff != want:
            failures.append(f"{what}: found {found.diff}, expected {want}")
    # Text inputs: a timestamp in another unit is the same; in another zone it is not.
    ts = pa.table({"t": pa.array([0, 1_000_000], pa.int64()).cast(pa.timestamp("s"))})
    for actual, want in (
        (ts.cast(pa.schema([pa.field("t", pa.timestamp("us"))])), {}),
        (ts.cast(pa.schema([pa.field("t", pa.timestamp("us", tz="UTC"))])), {"reads_as": {"t": "timestamp[us, tz=UTC]"}}),
    ):
        found = Found()
        compare(actual, ts, True, found)
        if found.diff != want:
            failures.append(f"text timestamp {actual.schema.field(0).type}: found {found.diff}, expected {want}")
    for f in failures:
        print(f"SELFTEST FAILURE: {f}")
    if not failures:
        print(f"selftest OK: {len(cases) + 2} comparisons named what differs")
    return 1 if failures else 0


def main():
    if sys.argv[1:2] == ["selftest"]:
        return selftest()
    if len(sys.argv) != 3 or sys.argv[1] != "check":
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[2], encoding="utf-8") as f:
        jobs = json.load(f)
    for job in jobs:
        try:
            result = check(job)
        except Exception as e:  # noqa: BLE001 - a gap in this checker, reported as a failure
            result = {"name": job["name"], "error": f"corpus_check.py failed: {type(e).__name__}: {e}"}
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
