//! Stores in object storage, against a real S3 implementation — Ceph's RADOS gateway, which
//! `scripts/test.sh` starts on 127.0.0.1 through `scripts/ceph.sh` — and against
//! `scripts/s3stub.py`, a server that ignores put-if-absent.
//!
//! The gateway tests need the environment `scripts/ceph.sh env` prints (`AWS_ENDPOINT_URL`,
//! `AWS_BUCKET`, credentials). Without it they print why and return, unless
//! `DSTORE_REQUIRE_S3=1` (which the test command sets), where a missing gateway fails them.
//!
//! Build the binary first: `cargo build -p dstore-cli && cargo test -p dstore-e2e --test s3`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime};

use dstore::{
    Store, storage::LocalStorage, storage::ObjectStorage, storage::RemoteOptions, storage::Storage,
};
use dstore_e2e::{Run, Scratch, repo_root};
use serde_json::Value;

#[path = "s3/conformance.rs"]
mod conformance;
#[path = "s3/gateway.rs"]
mod gateway;
#[path = "s3/stub.rs"]
mod stub;

/// The gateway's settings, from the environment, and a hold on it: shared by the tests that
/// use it, exclusive for the one that stops it.
struct S3Env {
    bucket: String,
    _hold: Hold,
}

enum Hold {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

static GATEWAY: RwLock<()> = RwLock::new(());

/// The gateway, or `None` (after saying why) when the environment names none and the test
/// command did not require one.
fn s3() -> Option<S3Env> {
    let hold = Hold::Shared(GATEWAY.read().unwrap_or_else(PoisonError::into_inner));
    s3_with(hold)
}

/// The gateway for a test that stops it: no other test of this binary uses it meanwhile.
fn s3_exclusive() -> Option<S3Env> {
    let hold = Hold::Exclusive(GATEWAY.write().unwrap_or_else(PoisonError::into_inner));
    s3_with(hold)
}

fn s3_with(hold: Hold) -> Option<S3Env> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").ok();
    let bucket = std::env::var("AWS_BUCKET").ok();
    if let (Some(_), Some(bucket)) = (endpoint, bucket) {
        Some(S3Env {
            bucket,
            _hold: hold,
        })
    } else {
        assert!(
            std::env::var("DSTORE_REQUIRE_S3").is_err(),
            "DSTORE_REQUIRE_S3 is set but AWS_ENDPOINT_URL / AWS_BUCKET are not: run \
                 `scripts/ceph.sh start` and `eval \"$(scripts/ceph.sh env)\"`"
        );
        eprintln!(
            "skipped: no S3 gateway (AWS_ENDPOINT_URL, AWS_BUCKET unset; \
                 `scripts/ceph.sh start && eval \"$(scripts/ceph.sh env)\"` provides one)"
        );
        None
    }
}

/// A store URL no other test (or earlier run) uses.
fn unique_url(env: &S3Env, name: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "s3://{}/tests/{name}-{}-{nanos}-{}",
        env.bucket,
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Remote options with their own catalog cache under `cache`.
fn opts(cache: &Path) -> RemoteOptions {
    RemoteOptions {
        cache_root: Some(cache.to_owned()),
        ..RemoteOptions::default()
    }
}

/// `dstore --store URL ARGS…` in `s`, its catalog cache under `s/cache-NAME`.
fn remote_cmd(s: &Scratch, url: &str, cache: &str, args: &[&str]) -> Command {
    let mut full = vec!["--store", url];
    full.extend_from_slice(args);
    let mut c = s.cmd(&full);
    c.env(
        "DSTORE_REMOTE_CACHE",
        s.path().join(format!("cache-{cache}")),
    );
    c
}

fn remote_run(s: &Scratch, url: &str, cache: &str, args: &[&str]) -> Run {
    Run::of(
        &remote_cmd(s, url, cache, args)
            .output()
            .expect("spawn dstore"),
    )
}

/// The log as JSON records, newest first.
fn log_json(s: &Scratch, url: &str, cache: &str) -> Vec<Value> {
    remote_run(s, url, cache, &["--json", "log"])
        .json()
        .as_array()
        .expect("log is an array")
        .clone()
}

/// `fixtures/REL` as a command-line argument.
fn fixture(rel: &str) -> String {
    let p = repo_root().join("fixtures").join(rel);
    assert!(p.is_file(), "fixture {} is missing", p.display());
    p.to_str().expect("UTF-8 fixture path").to_owned()
}

/// Starts `scripts/s3stub.py` on a free port; returns the child and its endpoint.
fn start_stub() -> (Child, String) {
    use std::io::BufRead;
    let python = std::env::var("DSTORE_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut child = Command::new(python)
        .arg(repo_root().join("scripts/s3stub.py"))
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start scripts/s3stub.py");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the stub's first line");
    let endpoint = line
        .trim()
        .rsplit(' ')
        .next()
        .filter(|e| e.starts_with("http://"))
        .unwrap_or_else(|| panic!("unexpected first line from s3stub.py: {line:?}"))
        .to_owned();
    (child, endpoint)
}

fn ceph_script() -> PathBuf {
    repo_root().join("scripts/ceph.sh")
}

fn local_store(dir: &Path) -> (LocalStorage, PathBuf) {
    let root = dir.join("local.dstore");
    Store::init(&root).expect("init a local store");
    (LocalStorage::new(&root), root)
}

fn remote_storage(env: &S3Env, name: &str, cache: &Path) -> ObjectStorage {
    let url = unique_url(env, name);
    ObjectStorage::new(&url, &opts(cache), cache.join("c")).expect("S3 client")
}
