"""Writes the table of issue 14's decode benchmark with pyarrow's defaults.

    python bench/decode_gen.py OUT.parquet [--rows 2000000] [--seed 14] [--compression zstd]

Columns: `id` int64 (row number), `label` int8 (0..9), `text` utf8 (10-200 random lowercase
letters), `embedding` fixed_size_list<float32, 32> (standard normal). Deterministic for a seed.
The file is written by `pq.write_table(table, path)` with no options (row groups of up to
1,048,576 rows, snappy, dictionary encoding tried on every column, no page index), unless
`--compression` is given: that is the only option this script ever passes.
"""

import argparse

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def table(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    ids = pa.array(np.arange(rows, dtype=np.int64))
    label = pa.array(rng.integers(0, 10, rows, dtype=np.int8))
    lengths = rng.integers(10, 201, rows, dtype=np.int32)
    offsets = np.zeros(rows + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    letters = rng.integers(ord("a"), ord("z") + 1, int(offsets[-1]), dtype=np.uint8)
    text = pa.StringArray.from_buffers(
        rows, pa.py_buffer(offsets.tobytes()), pa.py_buffer(letters.tobytes())
    )
    values = pa.array(rng.standard_normal(rows * 32, dtype=np.float32))
    embedding = pa.FixedSizeListArray.from_arrays(values, 32)
    return pa.table({"id": ids, "label": label, "text": text, "embedding": embedding})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--compression", default=None, help="default: pyarrow's own (no option)")
    a = ap.parse_args()
    t = table(a.rows, a.seed)
    if a.compression is None:
        pq.write_table(t, a.out)
    else:
        pq.write_table(t, a.out, compression=a.compression)
    md = pq.ParquetFile(a.out).metadata
    codecs = {md.row_group(0).column(c).compression for c in range(md.num_columns)}
    print(
        f"{a.out}: {md.num_rows} rows, {md.num_row_groups} row groups, "
        f"{sorted(codecs)}, written by {md.created_by}"
    )


if __name__ == "__main__":
    main()
