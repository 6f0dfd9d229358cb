//! A backend that ignores put-if-absent (`scripts/s3stub.py` overwrites on every PUT, like
//! the backends behind lance#6595): dstore must refuse to write to it.

use super::*;

/// The S3 environment pointing at the stub.
fn stub_env(c: &mut Command, endpoint: &str) {
    c.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "k")
        .env("AWS_SECRET_ACCESS_KEY", "s")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "false");
}

/// The library refuses before its first create, and `init` leaves nothing behind.
#[test]
fn the_library_refuses_a_backend_that_overwrites() {
    // The library reads credentials from the environment (the gateway's do for the stub,
    // which checks none); without any, the client would wait on instance metadata.
    if s3().is_none() {
        return;
    }
    let (mut stub, endpoint) = start_stub();
    let dir = tempfile::tempdir().unwrap();
    let o = RemoteOptions {
        endpoint: Some(endpoint.clone()),
        cache_root: Some(dir.path().to_owned()),
        ..RemoteOptions::default()
    };
    let err = Store::init_url("s3://bucket/lib", &o).unwrap_err();
    assert!(
        matches!(err, dstore::Error::UnsafeBackend { .. }),
        "expected UnsafeBackend, got {err:?}"
    );
    assert!(err.to_string().contains("s3://bucket/lib"), "{err}");
    // What to do (`--single-writer`) is the CLI's to say (asserted below, through the binary).
    assert!(err.hint().is_none(), "{:?}", err.hint());
    let raw = ObjectStorage::new("s3://bucket/lib", &o, dir.path().join("raw")).unwrap();
    assert!(raw.list("").unwrap().is_empty(), "init left objects behind");
    // With the opt-in, the same backend takes a single writer's store.
    let single = RemoteOptions {
        single_writer: true,
        ..o.clone()
    };
    Store::init_url("s3://bucket/lib", &single).unwrap();
    assert_eq!(
        raw.list("")
            .unwrap()
            .iter()
            .map(|m| m.key.as_str())
            .collect::<Vec<_>>(),
        ["DSTORE"]
    );
    let _ = stub.kill();
    let _ = stub.wait();
}

/// A backend without put-if-absent is refused at `init`, and `--single-writer` opts in.
#[test]
fn init_refuses_a_backend_that_ignores_put_if_absent() {
    // Runs against the stub whether or not a gateway is present.
    let (mut stub, endpoint) = start_stub();
    let s = Scratch::new();
    let url = "s3://bucket/unsafe";
    let run = |args: &[&str]| {
        let mut c = remote_cmd(&s, url, "a", args);
        stub_env(&mut c, &endpoint);
        Run::of(&c.output().unwrap())
    };
    let r = run(&["init", url]);
    assert_eq!(r.code, 1, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("put-if-absent"), "{}", r.stderr);
    assert!(
        r.stderr.contains("--single-writer"),
        "the hint names the opt-in: {}",
        r.stderr
    );
    // Nothing was created: a later init with the opt-in starts from an empty prefix.
    let r = run(&["--single-writer", "init", url]);
    r.ok();
    let f = s.write("in.csv", "id\n1\n");
    // Without the flag, a new client refuses to commit; with it, the commit lands.
    let refused = run(&["snapshot", "-t", "t", f.to_str().unwrap()]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("put-if-absent"),
        "{}",
        refused.stderr
    );
    run(&[
        "--single-writer",
        "snapshot",
        "-t",
        "t",
        f.to_str().unwrap(),
    ])
    .ok();
    let log = run(&["--json", "log"]).json();
    assert_eq!(log.as_array().unwrap().len(), 1);
    let _ = stub.kill();
    let _ = stub.wait();
}
