"""MLflow integration: log a pinned dstore version as an MLflow run's dataset input.

``import dstore`` never imports MLflow; ``import dstore.mlflow`` does (``mlflow`` or
``mlflow-skinny`` installed)::

    import mlflow, dstore.mlflow

    with mlflow.start_run():
        ds = dstore.mlflow.log_input("dstore://data.dstore@v3#train", context="training",
                                     columns=["x", "y"], seed=42)
        ...

:func:`log_input` resolves the pin once to a full snapshot id and logs an MLflow dataset input
of the active run (or of ``run_id=``):

- **source**: a :class:`DstoreDatasetSource` (``source_type`` ``"dstore"``) holding the
  canonical full pin (``dstore://<absolute store>@<64-hex id>#<table>``): what the run read,
  exactly, and what :meth:`DstoreDatasetSource.load` opens again years later;
- **digest**: the snapshot id's first 36 hex digits (144 bits; MLflow limits digests to 36
  characters, so the full id is in the source);
- **name**: ``name=``, else the table, else the store's folder name;
- **schema**: the table's columns as an MLflow schema, when every column's type has an MLflow
  equivalent (integers, floats, booleans, strings, binaries, timestamps); else none.

and records in the dstore store that the MLflow run uses the snapshot (``dstore uses``), with
the MLflow run id as the run, the context as the label ``mlflow.context`` and the tables,
columns, filter and seed given. A store that cannot be written warns (once per process) and
the run goes on; ``record_use=False`` or ``DSTORE_RECORD_USE=0`` turns recording off.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Sequence

import mlflow
import pyarrow as pa
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.dataset_source_registry import register_dataset_source
from mlflow.data.meta_dataset import MetaDataset

import dstore

__all__ = ["DstoreDatasetSource", "log_input", "DIGEST_LENGTH"]

#: MLflow's limit on a dataset digest (mlflow.utils.validation.MAX_DATASET_DIGEST_SIZE).
DIGEST_LENGTH = 36

_warned = False


class DstoreDatasetSource(DatasetSource):
    """An MLflow dataset source that is a full dstore pin (store, snapshot id, table)."""

    def __init__(self, pin: str) -> None:
        self._pin = str(pin)

    @property
    def pin(self) -> str:
        """The canonical full pin: ``dstore://<store>@<snapshot id>[#table]``."""
        return self._pin

    @staticmethod
    def _get_source_type() -> str:
        return "dstore"

    def load(self) -> "dstore.ResolvedPin":
        """Opens the pinned version again (verified like every dstore read): a
        ``dstore.ResolvedPin``; ``.snapshot()`` reads it. Does not record a use."""
        return dstore.Pin(self._pin).resolve(record_use=False)

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return isinstance(raw_source, str) and raw_source.startswith("dstore://")

    @classmethod
    def _resolve(cls, raw_source: Any) -> "DstoreDatasetSource":
        return cls(str(dstore.Pin(raw_source).resolve(record_use=False).pin))

    def to_dict(self) -> dict[str, Any]:
        return {"pin": self._pin}

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> "DstoreDatasetSource":
        return cls(source_dict["pin"])


register_dataset_source(DstoreDatasetSource)


def _mlflow_type(t: pa.DataType) -> str | None:
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        # MLflow's "integer" is 32-bit signed: unsigned 32-bit and all 64-bit types are "long".
        return "integer" if t.bit_width < 32 or (t.bit_width == 32 and pa.types.is_signed_integer(t)) else "long"
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "float"
    if pa.types.is_float64(t):
        return "double"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return "binary"
    if pa.types.is_timestamp(t):
        return "datetime"
    return None


def _schema(schema: pa.Schema, columns: Sequence[str] | None) -> Any:
    from mlflow.types.schema import ColSpec, Schema

    fields = [schema.field(c) for c in columns] if columns is not None else list(schema)
    specs = []
    for f in fields:
        kind = _mlflow_type(f.type)
        if kind is None:
            return None
        specs.append(ColSpec(kind, f.name, required=not f.nullable))
    return Schema(specs)


def log_input(
    pin: "dstore.Pin | dstore.ResolvedPin | str",
    context: str | None = "training",
    *,
    run_id: str | None = None,
    name: str | None = None,
    table: str | None = None,
    columns: Sequence[str] | None = None,
    filter: str | None = None,
    seed: int | None = None,
    tags: dict[str, str] | None = None,
    record_use: bool = True,
    **labels: str,
) -> MetaDataset:
    """Logs the pinned version as a dataset input of an MLflow run and records the run's use.

    ``run_id=`` names the MLflow run; without it the active run is used (MLflow starts one if
    none is active, as ``mlflow.log_input`` does). ``table=`` is the table read when the pin
    names none. ``columns``, ``filter`` and ``seed`` describe the read (they go into the use
    record, and ``columns`` chooses the schema's columns); further keyword arguments are use
    record labels. ``tags`` are the MLflow input's tags besides ``mlflow.data.context``.
    Returns the logged ``MetaDataset``. A bad pin raises as ``Pin.resolve`` does."""
    if isinstance(pin, str):
        pin = dstore.Pin(pin)
    resolved = pin if isinstance(pin, dstore.ResolvedPin) else pin.resolve(record_use=False)
    table = table or resolved.table
    if resolved.table is not None and table != resolved.table:
        raise ValueError(f"table={table!r} but the pin `{resolved.pin}` names `{resolved.table}`")
    full = resolved.pin if table is None else resolved.pin.with_table(table)
    snap = resolved.snapshot()
    schema = None
    if table is not None:
        schema = _schema(snap.schema(table), columns)
    if name is None:
        name = table or os.path.basename(os.path.normpath(resolved.store.path))
    dataset = MetaDataset(
        source=DstoreDatasetSource(str(full)), name=name, digest=resolved.id[:DIGEST_LENGTH], schema=schema
    )
    input_tags = dict(tags or {})
    if context is not None:
        input_tags["mlflow.data.context"] = context
    if run_id is None:
        mlflow.log_input(dataset, context=context, tags=tags)
        run_id = mlflow.active_run().info.run_id
    else:
        from mlflow.entities import DatasetInput, InputTag

        inputs = [
            DatasetInput(
                dataset=dataset._to_mlflow_entity(),
                tags=[InputTag(key=k, value=str(v)) for k, v in input_tags.items()],
            )
        ]
        mlflow.MlflowClient().log_inputs(run_id, datasets=inputs)
    if record_use and os.environ.get("DSTORE_RECORD_USE", "").lower() not in ("0", "false", "no", "off"):
        use_labels = {str(k): str(v) for k, v in labels.items()}
        if context is not None:
            use_labels["mlflow.context"] = context
        try:
            dstore.record_use(
                resolved,
                run_id,
                tables=[table] if table is not None else None,
                columns=list(columns) if columns is not None else None,
                filter=filter,
                seed=seed,
                **use_labels,
            )
        except dstore.DstoreError as e:
            global _warned
            if not _warned:
                _warned = True
                warnings.warn(
                    f"dstore: could not record MLflow run {run_id}'s use of {resolved.id[:12]} ({e}); "
                    "the run goes on. DSTORE_RECORD_USE=0 turns recording off",
                    stacklevel=2,
                )
    return dataset
