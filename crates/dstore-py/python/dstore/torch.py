"""PyTorch integration: an ``IterableDataset`` of pinned, verified, exactly ordered batches.

``import dstore`` never imports torch; ``import dstore.torch`` does (and needs it installed)::

    import dstore.torch

    ds = dstore.torch.IterableDataset("dstore://data.dstore@v3#train", columns=["x", "y"],
                                      batch_size=1024, seed=42)
    loader = dstore.torch.DataLoader(ds, num_workers=4)    # a torch DataLoader, batch_size=None
    for epoch in range(start_epoch, epochs):
        ds.set_epoch(epoch)
        for batch in loader:                               # {"x": tensor, "y": tensor}
            ...
            checkpoint["data"] = loader.state_dict()       # resume: loader.load_state_dict(...)

**The order.** The pin is resolved once, when the dataset is made, to a full snapshot id: every
rank and worker reads that snapshot even if the tag moves later. A rank's sequence of batches is
fixed first (``docs/order.md``: a pure function of snapshot, table, seed, epoch, rank, world size
and window, cut into batches of ``batch_size`` rows); DataLoader worker ``w`` of ``W`` produces
batches ``w, w+W, w+2W, ...`` of it, and the DataLoader's in-order round robin rebuilds exactly
the rank's sequence: changing ``num_workers`` never changes a run. The rank and world size come
from ``torch.distributed`` when it is initialized (else rank 0 of 1), or from ``rank=`` and
``world_size=``.

**Resuming.** The state is ``(epoch, k)``: the consumer has received batches ``0 .. k-1`` of the
rank's sequence of that epoch. Batch ``k`` starts at row ``k × batch_size`` of the rank's
sequence (batches are cut before filtering, so this holds with a filter too), so each worker
``w`` of a resumed run starts its scan there and produces batches ``k+w, k+w+W, ...``: the
DataLoader's round robin then yields batch ``k``, ``k+1``, ... -- exactly the rest of the
uninterrupted sequence, for any number of workers, also another one than before. Counting
``k`` needs to see the batches arrive in the consumer's process: iterating the dataset itself or
through a DataLoader with ``num_workers=0`` counts them, and so does ``dstore.torch.DataLoader``
(a ``torch.utils.data.DataLoader`` that counts what it hands out) with any number of workers. A
plain ``torch.utils.data.DataLoader`` with workers cannot tell the dataset what it consumed.

**Batches** are dicts, one entry per column: a tensor for integer, floating point and boolean
columns (``[rows]``) and fixed-size lists of those (``[rows, n]``, nested lists add
dimensions); timestamps, dates, times and durations become their stored integer (int64, or
int32 for date32/time32). Tensors share the Arrow buffers of the batch (DLPack, no copy),
except booleans (Arrow packs them in bits). Strings, binaries and dictionary-encoded columns
become Python lists (``None`` for nulls). Tensors cannot hold nulls: by default a null in a
tensor column raises ``ValueError`` naming the column; ``nulls="mask"`` instead yields the
values with nulls as 0 and, beside every nullable tensor column ``c``, a bool tensor
``c + "_valid"``. Other types (variable-length lists, structs, maps, decimals) are refused when
the dataset is made; leave them out with ``columns=``.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator, Literal, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import torch
import torch.utils.data

import dstore
from dstore._dstore import record_use as _record_use

__all__ = ["DataLoader", "IterableDataset", "STATE_VERSION"]

#: Version of the dicts `IterableDataset.state_dict()` returns.
STATE_VERSION = 1
# The default memory budget of scan order 2 (dstore::scan::DEFAULT_MEMORY_BUDGET, docs/order.md).
DEFAULT_MEMORY_BUDGET = 512 << 20

Batch = dict[str, "torch.Tensor | list[Any]"]

# What each column becomes: a tensor of its values ("tensor"), a bool tensor ("bool"), a tensor
# of the integers under a temporal type ("int"), a [rows, n, ...] tensor of a fixed-size list
# ("fixed"), or a Python list ("list").
_Kind = Literal["tensor", "bool", "int", "fixed", "list"]


def _leaf(t: pa.DataType) -> _Kind | None:
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return "tensor"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_temporal(t) and not pa.types.is_interval(t):
        return "int"
    return None


def _kind(t: pa.DataType) -> _Kind | None:
    leaf = _leaf(t)
    if leaf is not None:
        return leaf
    if pa.types.is_fixed_size_list(t):
        inner = t.value_type
        while pa.types.is_fixed_size_list(inner):
            inner = inner.value_type
        if _leaf(inner) is not None:
            return "fixed"
        return None
    if (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
        or getattr(pa.types, "is_string_view", lambda _: False)(t)
        or getattr(pa.types, "is_binary_view", lambda _: False)(t)
    ):
        return "list"
    if pa.types.is_dictionary(t) and _kind(t.value_type) == "list":
        return "list"
    return None


def _int_view(t: pa.DataType) -> pa.DataType:
    """The integer type a temporal type is stored as."""
    return pa.int32() if t.bit_width == 32 else pa.int64()


def _null_error(name: str, nulls: int) -> ValueError:
    return ValueError(
        f"column `{name}` has {nulls} null(s) in this batch, and a tensor cannot hold nulls: "
        f'leave them out with filter="{name} IS NOT NULL", leave the column out with columns=, '
        f'or pass nulls="mask" for the values (nulls as 0) plus a `{name}_valid` mask'
    )


def _leaf_tensor(name: str, arr: pa.Array, kind: _Kind, mask: bool) -> torch.Tensor:
    """A 1-D tensor of a primitive array, sharing its buffer when the layout allows."""
    if kind == "int":
        arr = arr.view(_int_view(arr.type))  # same buffers, nulls included
    if arr.null_count:
        if not mask:
            raise _null_error(name, arr.null_count)
        arr = pc.fill_null(arr, False if kind == "bool" else 0)
    if kind == "bool":
        # Arrow packs booleans in bits: one byte per value is a copy, unavoidably.
        return torch.from_dlpack(pc.cast(arr, pa.uint8())).bool()
    if len(arr) == 0:
        # An empty batch (a filter kept nothing) may come without a data buffer.
        return torch.from_dlpack(pa.array([], arr.type))
    return torch.from_dlpack(arr)


def _fixed_tensor(name: str, arr: pa.Array, mask: bool) -> torch.Tensor:
    """A [rows, n, ...] tensor of a fixed-size list array (of fixed-size lists ...)."""
    shape = [len(arr)]
    # The children of rows offset..offset+len, nulls at the list level included (their slots
    # still hold values): `.values` ignores the list's offset, so slice it here.
    while pa.types.is_fixed_size_list(arr.type):
        if arr.null_count and not mask:
            raise _null_error(name, arr.null_count)
        n = arr.type.list_size
        shape.append(n)
        arr = arr.values.slice(arr.offset * n, len(arr) * n)
    if arr.null_count:
        raise ValueError(
            f"column `{name}` has nulls inside its fixed-size lists, which a tensor cannot hold"
        )
    kind = _leaf(arr.type)
    assert kind is not None
    return _leaf_tensor(name, arr, kind, False).reshape(shape)


def _valid(arr: pa.Array) -> torch.Tensor:
    return torch.from_dlpack(pc.cast(arr.is_valid(), pa.uint8())).bool()


def _rank_batches(rows: int, rank: int, world: int, batch_size: int) -> int:
    """Batches of rank `rank`'s sequence: it holds positions floor(r·N/W) .. floor((r+1)·N/W)."""
    n = (rank + 1) * rows // world - rank * rows // world
    return -(-n // batch_size)


class IterableDataset(torch.utils.data.IterableDataset):
    """Batches of one table of a pinned snapshot, sharded by rank and DataLoader worker, in the
    exact order of ``docs/order.md``; see the module's documentation.

    Arguments:
        pin: a ``dstore.Pin``, its text (``dstore://STORE@REF#TABLE``) or a ``dstore.ResolvedPin``;
            resolved now, once, to a full snapshot id.
        table: the table, if the pin does not name one.
        columns: the columns to read (all by default), in the order of the batch dicts.
        batch_size: rows per batch (before filtering: a filtered batch can be shorter, or empty).
        filter: a filter expression (``"y > 0 AND label IN ('a', 'b')"``); it does not change
            which rows form each batch, only which survive.
        seed: the shuffle seed, the same on every rank; without it rows come in storage order.
        shuffle: ``False`` reads in storage order even with a seed; ``True`` requires a seed.
        order: the scan order (``docs/order.md``): 2, the default, or 1, the order of earlier
            releases (to reproduce a run made with it).
        memory_budget: order 2: decoded bytes a scan holds at once (default 512 MiB; part of
            the order).
        window: order 1: row groups per shuffle window (default 4; part of that order).
        epoch: the first epoch (``set_epoch`` changes it).
        rank, world_size: override what ``torch.distributed`` says (both, or neither).
        drop_last: yield only as many full batches as the smallest rank has, so that every rank
            yields the same number of batches (which DDP needs) and every batch is full.
        nulls: ``"raise"`` (a null in a tensor column raises ``ValueError``) or ``"mask"``.
        threads: decode threads per scan (by default, in a DataLoader worker, the CPUs divided
            by the number of workers).
        read_ahead, verify: passed to ``Snapshot.scan``.
        since: a ref or id in the pin's store: only the rows the pinned snapshot has and that
            one has not (``Snapshot.scan(since=)``; resolved now, once, to a full id). Batches
            count positions before the rows that are not new are dropped, as with ``filter``.
        transform: called on each batch dict in the process that reads it (a DataLoader
            worker), its result yielded instead: e.g. decoding a files table's ``bytes`` into
            image tensors (docs/files.md). It must be picklable for workers started by spawn.
    """

    def __init__(
        self,
        pin: dstore.Pin | dstore.ResolvedPin | str,
        table: str | None = None,
        columns: Sequence[str] | None = None,
        batch_size: int = 1024,
        filter: str | None = None,
        seed: int | None = None,
        *,
        shuffle: bool | None = None,
        window: int | None = None,
        order: int = 2,
        memory_budget: int | None = None,
        epoch: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        drop_last: bool = False,
        nulls: Literal["raise", "mask"] = "raise",
        threads: int | None = None,
        read_ahead: int | None = None,
        verify: bool = True,
        since: str | None = None,
        transform: Callable[[Batch], Any] | None = None,
    ) -> None:
        super().__init__()
        if isinstance(pin, str):
            pin = dstore.Pin(pin)
        # Recorded below, once the columns and filter are known to be good.
        resolved = pin if isinstance(pin, dstore.ResolvedPin) else pin.resolve(record_use=False)
        table = table or resolved.table
        if table is None:
            raise ValueError(f"the pin `{resolved.pin}` names no table: pass table=")
        if resolved.table is not None and table != resolved.table:
            raise ValueError(f"table={table!r} but the pin `{resolved.pin}` names `{resolved.table}`")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if shuffle and seed is None:
            raise ValueError(
                "shuffle=True needs seed=: every rank and worker must draw the same order"
            )
        if (rank is None) != (world_size is None):
            raise ValueError("pass both rank= and world_size=, or neither")
        if world_size is not None and not 0 <= rank < world_size:  # type: ignore[operator]
            raise ValueError(f"rank {rank} is outside a world of {world_size}")
        if nulls not in ("raise", "mask"):
            raise ValueError(f'nulls must be "raise" or "mask", not {nulls!r}')
        #: The full snapshot id every rank and worker reads.
        self.snapshot_id: str = resolved.id
        #: The table read.
        self.table: str = table
        # The canonical full pin (absolute store path, full id): what workers open.
        self._pin = str(resolved.pin.with_table(table))
        self.columns = list(columns) if columns is not None else None
        self.batch_size = int(batch_size)
        self.filter = filter
        self.seed = seed if shuffle is not False else None
        if order not in (1, 2):
            raise ValueError(f"order={order!r}: the scan orders are 1 and 2 (docs/order.md)")
        if order != 1 and window is not None:
            raise ValueError(
                "window= is an option of scan order 1: pass order=1 with it, or memory_budget= "
                "to size order 2's windows"
            )
        if order == 1 and memory_budget is not None:
            raise ValueError("memory_budget= is an option of scan order 2: leave out order=1")
        self.order = int(order)
        self.window = (4 if window is None else int(window)) if order == 1 else None
        self.memory_budget = (
            None if order == 1 else (DEFAULT_MEMORY_BUDGET if memory_budget is None else int(memory_budget))
        )
        self.drop_last = bool(drop_last)
        self.nulls = nulls
        self.threads = threads
        self.read_ahead = read_ahead
        self.verify = verify
        self.transform = transform
        self._explicit = (rank, world_size) if rank is not None else None
        self._detected: tuple[int, int] | None = None
        self.epoch = int(epoch)
        # The consumer's position: batches 0 .. k-1 of epoch e received (see the module doc).
        self._progress = (self.epoch, 0)
        # A resume point loaded by load_state_dict and not yet started from.
        self._pending: tuple[int, int] | None = None

        snap = resolved.snapshot()
        self._snap: Any = snap
        self._snap_pid = os.getpid()
        # Check the columns and the filter now (dstore.InvalidInput) rather than in the workers.
        scan = snap.scan(
            table, columns=self.columns, filter=filter, batch_size=self.batch_size, since=since
        )
        #: The full id of the `since` snapshot, if any.
        self.since: str | None = scan.cursor().get("since")
        #: Positions of an epoch (the table's rows; with `since`, those of its new segments).
        self.rows: int = scan.positions
        schema = scan.schema
        scan.close()
        # The run's use of the snapshot (when a run id is known: dstore.run_id()): every rank
        # records the same fields, so a run of many ranks makes one record; workers do not.
        labels = {"dstore.reader": "torch"}
        if self.since is not None:
            labels["dstore.since"] = self.since
        _record_use(
            resolved,
            None,
            tables=[table],
            columns=self.columns,
            filter=filter,
            seed=self.seed,
            labels=labels,
            automatic=True,
        )
        names = schema.names
        self._kinds: list[tuple[str, _Kind, bool]] = []
        for field in schema:
            name = field.name
            kind = _kind(field.type)
            if kind is None:
                raise TypeError(
                    f"column `{name}` is {field.type}, which dstore.torch does not turn into "
                    "tensors or lists (it does integers, floats, booleans, temporal types, "
                    "fixed-size lists of those, strings and binaries): leave it out with columns="
                )
            self._kinds.append((name, kind, field.nullable and kind != "list"))
        if nulls == "mask":
            for name, _, nullable in self._kinds:
                if nullable and f"{name}_valid" in names:
                    raise ValueError(
                        f'nulls="mask" would name the mask of `{name}` `{name}_valid`, '
                        "which is already a column"
                    )

    # -- sharding -------------------------------------------------------------------------------

    def shard(self) -> tuple[int, int]:
        """``(rank, world_size)``: the overrides, else ``torch.distributed``'s, else ``(0, 1)``."""
        if self._explicit is not None:
            return self._explicit
        if self._detected is not None:
            return self._detected
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            # Kept: a worker started with `spawn` has no process group of its own.
            self._detected = (dist.get_rank(), dist.get_world_size())
            return self._detected
        return (0, 1)

    def __getstate__(self) -> dict[str, Any]:
        # Pickled for DataLoader workers (spawn, forkserver) in the main process: settle the
        # rank there. The open snapshot is not pickled; workers open the pin again.
        self.shard()
        state = self.__dict__.copy()
        state["_snap"] = None
        return state

    def _snapshot(self) -> Any:
        if self._snap is None or self._snap_pid != os.getpid():
            # A forked worker opens its own: the parent's may hold threads and locks.
            resolved = dstore.Pin(self._pin).resolve(record_use=False)  # recorded at creation
            if resolved.id != self.snapshot_id:  # a full pin cannot move
                raise dstore.DstoreError(f"{self._pin} resolved to {resolved.id}")
            self._snap = resolved.snapshot()
            self._snap_pid = os.getpid()
        return self._snap

    def batches_per_epoch(self) -> int:
        """Batches of this rank's sequence in an epoch (with ``drop_last``, the same on every
        rank)."""
        rank, world = self.shard()
        if self.drop_last:
            return (self.rows // world) // self.batch_size
        return _rank_batches(self.rows, rank, world, self.batch_size)

    def __len__(self) -> int:
        """The rank's batches per epoch (what a DataLoader over this dataset yields in all)."""
        return self.batches_per_epoch()

    # -- epochs and resuming --------------------------------------------------------------------

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch of the next iteration (the order depends on it). Call it in the main
        process before iterating, as with ``DistributedSampler``; a resume point loaded for
        another epoch is dropped."""
        self.epoch = int(epoch)
        if self._pending is not None and self._pending[0] != self.epoch:
            self._pending = None
        if self._progress[0] != self.epoch:
            self._progress = (self.epoch, 0)

    def state_dict(self) -> dict[str, Any]:
        """Where the consumer stands: ``{"epoch": e, "batch": k, ...}`` after it received batches
        ``0 .. k-1`` of epoch ``e`` (``k`` = ``len(self)`` once the epoch is done). JSON- and
        ``torch.save``-compatible. The other entries record what the order depends on, so that
        ``load_state_dict`` refuses a state saved for another sequence."""
        epoch, batch = self._pending if self._pending is not None else self._progress
        rank, world = self.shard()
        return {
            "version": STATE_VERSION,
            "snapshot": self.snapshot_id,
            "table": self.table,
            "seed": self.seed,
            "order": self.order,
            "window": self.window,
            "memory_budget": self.memory_budget,
            "batch_size": self.batch_size,
            "filter": self.filter,
            "since": self.since,
            "drop_last": self.drop_last,
            "rank": rank,
            "world_size": world,
            "epoch": epoch,
            "batch": batch,
            "position": batch * self.batch_size,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Makes the next iteration continue from ``state``: the epoch is set to the state's and
        the first batch yielded is its batch ``k``. Whatever the number of DataLoader workers
        before and now, the batches are exactly those the interrupted run would have yielded
        next. A state of another rank is accepted (ranks in lockstep have the same ``k``); one
        of another snapshot, table, seed, window, batch size, filter or world size is refused."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"not a dstore.torch state (version {state.get('version')!r})")
        _, world = self.shard()
        # States saved before order 2 existed have no "order": they were order 1 runs.
        state = dict(state)
        state.setdefault("order", 1)
        state.setdefault("memory_budget", None)
        mine = {
            "snapshot": self.snapshot_id,
            "table": self.table,
            "seed": self.seed,
            "order": self.order,
            "window": self.window,
            "memory_budget": self.memory_budget,
            "batch_size": self.batch_size,
            "filter": self.filter,
            "since": self.since,
            "drop_last": self.drop_last,
            "world_size": world,
        }
        for key, value in mine.items():
            if state.get(key) != value:
                raise ValueError(
                    f"the state is for {key}={state.get(key)!r} but this dataset has "
                    f"{key}={value!r}: the batch sequence would not be the same"
                )
        epoch, batch = int(state["epoch"]), int(state["batch"])
        if batch < 0:
            raise ValueError(f"batch {batch} is negative")
        self.epoch = epoch
        self._pending = (epoch, batch)
        self._progress = (epoch, batch)

    def _begin(self) -> tuple[int, int]:
        """In the consumer's process, at the start of an iteration: the epoch and first batch,
        consuming a pending resume point."""
        start = 0
        if self._pending is not None and self._pending[0] == self.epoch:
            start = self._pending[1]
        self._pending = None
        self._progress = (self.epoch, start)
        return self._progress

    def _delivered(self, epoch: int, batch: int) -> None:
        """The consumer has received batch `batch` of `epoch`."""
        self._progress = (epoch, batch + 1)

    # -- iteration ------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Batch]:
        info = torch.utils.data.get_worker_info()
        if info is None:
            # In the consumer's process: this iteration's progress is what it receives.
            epoch, start = self._begin()
            return self._generate(epoch, start, 0, 1, count=True)
        # A DataLoader worker: its copy of the dataset carries the epoch and resume point the
        # main process had when the workers started.
        epoch = self.epoch
        start = self._pending[1] if self._pending is not None and self._pending[0] == epoch else 0
        return self._generate(epoch, start, info.id, info.num_workers, count=False)

    def _generate(self, epoch: int, start: int, w: int, n: int, count: bool) -> Iterator[Batch]:
        rank, world = self.shard()
        total = self.batches_per_epoch()
        first = start + w  # this worker's first batch: then first + n, first + 2n, ...
        if first >= total:
            return
        snap = self._snapshot()
        threads = self.threads
        if threads is None and n > 1:
            threads = max(1, (os.cpu_count() or 1) // n)
        # The binding's scan counts batch numbers from the rank's first row, whatever the
        # position it starts at: worker j of n yields the batches b ≡ j (mod n). Starting at
        # batch `start`, this worker's batches are start + w + i·n: j = (start + w) mod n.
        kwargs: dict[str, Any] = dict(
            columns=self.columns,
            filter=self.filter,
            batch_size=self.batch_size,
            workers=((start + w) % n, n),
            verify=self.verify,
            threads=threads,
            read_ahead=self.read_ahead,
            since=self.since,
        )
        if start == 0:
            kwargs.update(seed=self.seed, epoch=epoch, shard=(rank, world), order=self.order)
            if self.order == 1:
                kwargs["window"] = self.window
            else:
                kwargs["memory_budget"] = self.memory_budget
        else:
            kwargs["cursor"] = {
                "snapshot": self.snapshot_id,
                "table": self.table,
                "seed": self.seed,
                "epoch": epoch,
                "shard": [rank, world],
                "window": self.window or 4,
                "order": self.order,
                "memory_budget": self.memory_budget or DEFAULT_MEMORY_BUDGET,
                "position": start * self.batch_size,
                "skip": 0,
                "left": None,
                "since": self.since,
            }
        scan = snap.scan(self.table, **kwargs)
        b = first
        try:
            for rb in scan:
                if b >= total:  # drop_last
                    break
                out = self._convert(rb)
                if self.transform is not None:
                    out = self.transform(out)
                if count:
                    self._delivered(epoch, b)
                yield out
                b += n
        finally:
            scan.close()

    def _convert(self, rb: pa.RecordBatch) -> Batch:
        out: Batch = {}
        mask = self.nulls == "mask"
        for (name, kind, nullable), col in zip(self._kinds, rb.columns):
            if kind == "list":
                out[name] = col.to_pylist()
                continue
            if kind == "fixed":
                out[name] = _fixed_tensor(name, col, mask)
            else:
                out[name] = _leaf_tensor(name, col, kind, mask)
            if mask and nullable:
                out[f"{name}_valid"] = _valid(col)
        return out

    def __repr__(self) -> str:
        rank, world = self.shard()
        return (
            f"<dstore.torch.IterableDataset {self.snapshot_id[:12]}:{self.table} rows {self.rows} "
            f"batch_size {self.batch_size} seed {self.seed} epoch {self.epoch} "
            f"rank {rank}/{world}>"
        )


class _Counting:
    """The DataLoader's iterator, telling the dataset each batch the consumer receives."""

    def __init__(self, it: Any, dataset: IterableDataset, epoch: int, start: int) -> None:
        self._it = it
        self._dataset = dataset
        self._epoch = epoch
        self._next = start

    def __iter__(self) -> _Counting:
        return self

    def __next__(self) -> Any:
        batch = next(self._it)
        self._dataset._delivered(self._epoch, self._next)
        self._next += 1
        return batch

    def __len__(self) -> int:
        return len(self._it)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._it, name)


class DataLoader(torch.utils.data.DataLoader):
    """A ``torch.utils.data.DataLoader`` over a ``dstore.torch.IterableDataset`` that counts the
    batches it hands out, so that ``state_dict()`` is exact with any number of workers.

    ``batch_size`` is ``None`` (the dataset yields whole batches); every other argument is the
    DataLoader's, except ``persistent_workers=True`` (persistent workers would keep the epoch and
    resume point they started with) and ``in_order=False``, refused.
    """

    dataset: IterableDataset

    def __init__(self, dataset: IterableDataset, num_workers: int = 0, **kwargs: Any) -> None:
        if not isinstance(dataset, IterableDataset):
            raise TypeError("dstore.torch.DataLoader takes a dstore.torch.IterableDataset")
        if kwargs.pop("batch_size", None) is not None:
            raise ValueError("the dataset yields whole batches: set batch_size on the dataset")
        if kwargs.get("in_order") is False:
            raise ValueError("in_order=False would interleave the workers' batches out of order")
        if kwargs.get("persistent_workers"):
            raise ValueError(
                "persistent_workers=True: the workers would keep the epoch and resume point "
                "they started with"
            )
        super().__init__(dataset, batch_size=None, num_workers=num_workers, **kwargs)

    def __iter__(self) -> Any:
        # Workers start (and copy the dataset, resume point included) in the base __iter__;
        # only then does the main process consume the resume point.
        it = super().__iter__()
        if self.num_workers == 0:
            return it  # the dataset iterates in this process and counts itself
        epoch, start = self.dataset._begin()
        return _Counting(it, self.dataset, epoch, start)

    def set_epoch(self, epoch: int) -> None:
        """Same as the dataset's ``set_epoch``."""
        self.dataset.set_epoch(epoch)

    def state_dict(self) -> dict[str, Any]:
        """The dataset's ``state_dict()``: what the consumer received so far."""
        return self.dataset.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """The dataset's ``load_state_dict()``: the next iteration continues from ``state``."""
        self.dataset.load_state_dict(state)
