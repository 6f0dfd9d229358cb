"""The portable wheel (scripts/wheel.sh): installed into a fresh venv and used with the system's
RocksDB and compression libraries hidden from the loader, and as the extension Ray's workers run.
Runs when DSTORE_WHEEL names a built wheel (scripts/python.sh builds one with DSTORE_WHEEL_TEST=1,
as CI does)."""

import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import pytest

from conftest import numbered

WHEEL = os.environ.get("DSTORE_WHEEL")
pytestmark = pytest.mark.skipif(
    not WHEEL, reason="no wheel: run with DSTORE_WHEEL_TEST=1 (scripts/python.sh builds it)"
)

# The libraries the wheel must carry itself: the system copies are hidden while it runs.
HIDDEN = ["librocksdb.so*", "libsnappy.so*", "libgflags.so*", "liblz4.so*", "libbz2.so*"]
LIBDIR = "/usr/lib/x86_64-linux-gnu"


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    """A fresh venv with only the wheel (and the pyarrow it depends on) installed."""
    venv = tmp_path_factory.mktemp("wheel") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", WHEEL], check=True
    )
    return venv


def _site_packages(venv):
    return next((venv / "lib").glob("python3*/site-packages"))


def _hide_and_run(args):
    """Runs `args` in a private mount namespace where each hidden library is /dev/null."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("hiding system libraries needs `unshare -m` as root")
    files = sorted(
        {os.path.realpath(p) for pat in HIDDEN for p in glob.glob(os.path.join(LIBDIR, pat))}
    )
    mounts = " && ".join(f"mount --bind /dev/null {f}" for f in files) or "true"
    cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", f'{mounts} && exec "$@"', "sh", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def test_the_wheel_runs_in_a_fresh_venv_without_the_system_libraries(wheel_venv, tmp_path):
    py = str(wheel_venv / "bin" / "python")
    # The hiding works: the system RocksDB cannot be loaded in the namespace.
    r = _hide_and_run([py, "-c", "import ctypes; ctypes.CDLL('librocksdb.so.7.8')"])
    assert r.returncode != 0, "librocksdb is still loadable: the test would prove nothing"
    script = textwrap.dedent(
        f"""
        import dstore, pyarrow as pa
        assert dstore.__file__.startswith({str(wheel_venv)!r}), dstore.__file__
        s = dstore.Store.init({str(tmp_path / "w.dstore")!r})
        with s.begin() as tx:
            tx.add("t", pa.table({{"x": list(range(1000))}}))
            c = tx.commit("from the wheel", tags=["v1"])
        t = s.snapshot("v1").scan("t", filter="x >= 990").to_table()
        assert t.column("x").to_pylist() == list(range(990, 1000)), t
        assert s.verify(all=True)["ok"]
        print("ok", c["id"])
        """
    )
    r = _hide_and_run([py, "-c", script])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("ok "), r.stdout


def test_ray_workers_run_the_wheel(wheel_venv, tmp_path):
    """Ray's workers run the wheel venv's interpreter (`runtime_env={"py_executable": ...}`):
    `dstore` comes from the wheel there; Ray itself from the test venv (a path file adds its
    site-packages after the wheel's, so the wheel's `dstore` wins)."""
    ray = pytest.importorskip("ray", reason="ray is not installed (scripts/python.sh installs it)")
    import dstore
    import dstore.ray

    (_site_packages(wheel_venv) / "zz-test-venv.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )
    py = str(wheel_venv / "bin" / "python")
    store = dstore.Store.init(tmp_path / "data.dstore")
    with store.begin() as tx:
        tx.add("t", numbered(20_000))
        tx.commit("src", tags=["v1"])
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"py_executable": py},
    )
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.execution_options.preserve_order = True

        @ray.remote
        def where():
            import dstore as d

            return d.__file__

        assert ray.get(where.remote()).startswith(str(wheel_venv))
        ds = dstore.ray.read(f"dstore://{store.path}@v1#t", override_num_blocks=2)
        out = dstore.Store.init(tmp_path / "out.dstore")
        ds.write_datasink(dstore.ray.Datasink(out.path, table="t", message="by the wheel"))
        assert out.snapshot("HEAD").scan("t").to_table().sort_by("id").equals(numbered(20_000))
    finally:
        ray.shutdown()
