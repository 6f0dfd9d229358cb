//! Helpers for end-to-end tests: find and run the real `dstore` binary in a scratch directory.
//!
//! The binary is taken from `$DSTORE_BIN`, else from the target directory these tests were
//! built into (`cargo build -p dstore-cli` first; `scripts/test.sh` does).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Path of the `dstore` binary under test.
pub fn dstore_bin() -> PathBuf {
    if let Ok(p) = std::env::var("DSTORE_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/e2e-xxxx -> target/<profile>/dstore
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let bin = dir.join(format!("dstore{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not found: run `cargo build -p dstore-cli` first, or set DSTORE_BIN",
        bin.display()
    );
    bin
}

/// The repository root (for `fixtures/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the repo root")
        .to_owned()
}

/// A scratch directory with helpers to run `dstore` in it.
pub struct Scratch {
    /// The directory (deleted on drop).
    pub dir: tempfile::TempDir,
}

/// What a run printed and returned.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    fn from(o: &Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Panics unless the exit code is 0; returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "dstore failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    /// Parses stdout as JSON (for `--json` runs).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Scratch {
    /// A new empty scratch directory.
    pub fn new() -> Self {
        Scratch {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The directory path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `dstore ARGS...` with the scratch directory as the working directory, a fixed author
    /// and no inherited store.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(dstore_bin());
        c.args(args)
            .current_dir(self.path())
            .env_remove("DSTORE_STORE")
            // No run id from the machine running the tests (a CI job under Slurm, say): a
            // test that records uses says so.
            .env_remove("DSTORE_RUN")
            .env_remove("MLFLOW_RUN_ID")
            .env_remove("WANDB_RUN_ID")
            .env_remove("TORCHELASTIC_RUN_ID")
            .env_remove("SLURM_JOB_ID")
            .env("DSTORE_AUTHOR", "tester")
            .env("DSTORE_LOG", "error");
        c
    }

    /// Runs `dstore ARGS...` and collects its output.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(&self.cmd(args).output().expect("spawn dstore"))
    }

    /// Writes a file relative to the scratch directory and returns its path.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path().join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(&p, contents).expect("write file");
        p
    }
}

/// Every file under `dir`, relative, sorted, with its bytes: to prove a failed command left a
/// store exactly as it was.
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let e = e.expect("entry");
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .expect("under dir")
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, std::fs::read(&p).expect("read")));
            }
        }
    }
    out.sort();
    out
}

impl Run {
    /// What a finished process printed and returned (for commands built by hand, e.g. with
    /// arguments that are not UTF-8).
    pub fn of(o: &Output) -> Self {
        Run::from(o)
    }
}

/// A Python that imports pyarrow, for the tests that read checkouts back with it: `$DSTORE_PYTHON`
/// (which must import pyarrow), else `python3` if it does. `None` means the caller skips its
/// pyarrow checks with a note; with `DSTORE_REQUIRE_PYARROW=1` a missing pyarrow panics instead.
/// Used by `tests/tests/pyarrow.rs` and `tests/tests/corpus.rs`.
pub fn pyarrow_python() -> Option<PathBuf> {
    fn imports_pyarrow(python: &Path) -> Result<(), String> {
        match Command::new(python).args(["-c", "import pyarrow"]).output() {
            Ok(o) if o.status.success() => Ok(()),
            Ok(o) => Err(format!(
                "{} cannot import pyarrow: {}",
                python.display(),
                String::from_utf8_lossy(&o.stderr)
                    .trim()
                    .lines()
                    .last()
                    .unwrap_or("")
            )),
            Err(e) => Err(format!("cannot run {}: {e}", python.display())),
        }
    }
    if let Some(p) = std::env::var_os("DSTORE_PYTHON") {
        let p = PathBuf::from(p);
        if let Err(e) = imports_pyarrow(&p) {
            panic!("DSTORE_PYTHON is set but unusable: {e}");
        }
        return Some(p);
    }
    let p = PathBuf::from("python3");
    match imports_pyarrow(&p) {
        Ok(()) => Some(p),
        Err(e) => {
            let required = std::env::var("DSTORE_REQUIRE_PYARROW").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "DSTORE_REQUIRE_PYARROW=1, but DSTORE_PYTHON is unset and {e}"
            );
            eprintln!(
                "NOTE: no Python with pyarrow (DSTORE_PYTHON is unset and {e}); pyarrow checks \
                 skipped. Set DSTORE_PYTHON to a python that has pyarrow."
            );
            None
        }
    }
}
