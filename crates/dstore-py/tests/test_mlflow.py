"""dstore.mlflow against a real MLflow (mlflow-skinny from PyPI, a file tracking store in the
test's directory): the logged input's source is the full pin and its digest the snapshot id,
MLflow reads both back, and the store records the MLflow run's use."""

import json
import os
import subprocess
import sys

import pyarrow as pa
import pytest

import dstore
from conftest import cli, numbered

mlflow = pytest.importorskip("mlflow", reason="mlflow is not installed: scripts/python.sh installs mlflow-skinny")

RUN_VARS = ("DSTORE_RUN", "MLFLOW_RUN_ID", "WANDB_RUN_ID", "TORCHELASTIC_RUN_ID", "SLURM_JOB_ID", "DSTORE_RECORD_USE")


@pytest.fixture(autouse=True)
def tracking(tmp_path, monkeypatch):
    for v in RUN_VARS:
        monkeypatch.delenv(v, raising=False)
    # MLflow 3 refuses a file store unless asked; it needs no database server.
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def versions(store):
    ids = []
    for i in range(2):
        tx = store.begin()
        tx.add("t", numbered(10, start=i * 10))
        ids.append(tx.commit(f"v{i}", tags=[f"v{i}"])["id"])
    return store, ids


def test_log_input_logs_the_pin_and_records_the_runs_use(versions):
    import dstore.mlflow as dm

    store, ids = versions
    with mlflow.start_run() as run:
        ds = dm.log_input(f"dstore://{store.path}@v1#t", context="training", columns=["id"], seed=3)
    got = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert len(got) == 1
    d = got[0].dataset
    assert d.source_type == "dstore"
    assert d.digest == ids[1][: dm.DIGEST_LENGTH] == ds.digest
    assert d.name == "t"
    assert {t.key: t.value for t in got[0].tags} == {"mlflow.data.context": "training"}
    # The source is the full pin (the tag v1 may move; the logged input does not).
    source = mlflow.data.get_source(got[0])
    assert isinstance(source, dm.DstoreDatasetSource)
    assert source.pin == f"dstore://{store.path}@{ids[1]}#t"
    store.set_tag("v1", "v0", force=True)
    assert source.load().id == ids[1]
    assert source.load().snapshot().scan("t").read_all().column("id").to_pylist() == list(range(20))
    # The schema MLflow stores is the column read.
    schema = json.loads(d.schema)
    assert [c["name"] for c in schema["mlflow_colspec"]] == ["id"]
    # The store knows which MLflow run read the version: the CLI sees it too.
    uses = store.uses(ids[1])
    assert [(u["run"], u["tables"], u["columns"], u["seed"], u["labels"]) for u in uses] == [
        (run.info.run_id, ["t"], ["id"], 3, {"mlflow.context": "training"})
    ]
    out = json.loads(cli("--store", store.path, "uses", "--run", run.info.run_id, "--json").stdout)
    assert [u["snapshot"] for u in out] == [ids[1]]


def test_log_input_to_a_named_run_and_without_recording(versions):
    import dstore.mlflow as dm

    store, ids = versions
    client = mlflow.MlflowClient()
    exp = client.create_experiment("e")
    run = client.create_run(exp)
    dm.log_input(dstore.Pin(f"dstore://{store.path}@v0"), context="eval", run_id=run.info.run_id, table="t", record_use=False)
    got = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert [(i.dataset.digest, {t.key: t.value for t in i.tags}) for i in got] == [
        (ids[0][:36], {"mlflow.data.context": "eval"})
    ]
    assert store.uses(ids[0]) == []
    # A table the snapshot lacks is refused before anything is logged.
    with pytest.raises(dstore.NotFound, match="table `nope`"):
        dm.log_input(f"dstore://{store.path}@v0#nope", run_id=run.info.run_id)
    with pytest.raises(dstore.NotFound, match="table `nope`"):
        dm.log_input(f"dstore://{store.path}@v0", table="nope", run_id=run.info.run_id)
    assert len(client.get_run(run.info.run_id).inputs.dataset_inputs) == 1


def test_a_read_only_store_warns_and_the_run_goes_on(versions, monkeypatch):
    import dstore.mlflow as dm

    store, ids = versions
    monkeypatch.setattr(dm, "_warned", False)
    # `runs` and `uses` as files: no use can be written (as root too).
    for name in ("runs", "uses"):
        with open(os.path.join(store.path, name), "w") as f:
            f.write("not a directory")
    with mlflow.start_run() as run:
        with pytest.warns(UserWarning, match="could not record") as w:
            for _ in range(2):
                dm.log_input(f"dstore://{store.path}@v1#t")
    assert len([x for x in w if "could not record" in str(x.message)]) == 1
    assert len(mlflow.get_run(run.info.run_id).inputs.dataset_inputs) == 1  # same dataset twice


def test_import_dstore_does_not_import_mlflow():
    code = "import sys, dstore; print('mlflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
