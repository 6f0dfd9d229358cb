"""Helpers the benchmark scripts share (bench/suite.py, bench/python_scan.py)."""

from __future__ import annotations

import platform


def count_batches(batches):
    """Rows and batches of an iterable of Arrow record batches."""
    rows = n = 0
    for b in batches:
        rows += b.num_rows
        n += 1
    return rows, n


def warm(*files):
    """Reads each file once, so every contestant starts from a warm page cache."""
    for f in files:
        with open(f, "rb") as fh:
            while fh.read(1 << 24):
                pass


def rotate(repeats, contestants):
    """contestants: {name: fn() -> result}. Runs every contestant once per repeat, the order
    rotating from repeat to repeat; returns {name: [results]}."""
    names = list(contestants)
    runs = {n: [] for n in names}
    for r in range(repeats):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            runs[n].append(contestants[n]())
    return runs


def ratio(a, b):
    """a / b as `1.23×`, or `—` when either is missing."""
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}×"


def versions(packages):
    """Python's version and each installed package's (None when missing)."""
    from importlib.metadata import version

    v = {"python": platform.python_version()}
    for pkg in packages:
        try:
            v[pkg] = version(pkg)
        except Exception:  # noqa: BLE001
            v[pkg] = None
    return v
