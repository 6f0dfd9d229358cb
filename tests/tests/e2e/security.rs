//! Permissions and links, through the real binary.
//!
//! Policy: files and directories dstore creates respect the umask (nothing gets a permission
//! bit the umask removes), and nothing in a store is ever world-writable, even under umask
//! 000 (files are created 0664, directories 0775, less the umask). Segments have no write bit
//! at all. Checkout outputs are the user's files and follow the umask like `cp` does.

#![cfg(unix)]

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;

use dstore_e2e::{Run, Scratch, dstore_bin};

/// `dstore ARGS` in `s` under `umask`.
fn run_with_umask(s: &Scratch, umask: u32, args: &[&str]) -> Run {
    let script = format!("umask {umask:03o} && exec \"$0\" \"$@\"");
    let o = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(dstore_bin())
        .args(args)
        .current_dir(s.path())
        .env_remove("DSTORE_STORE")
        .env("DSTORE_AUTHOR", "tester")
        .env("DSTORE_LOG", "error")
        .output()
        .expect("spawn sh");
    let r = Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    r.ok();
    r
}

/// Every path under `dir` (files and directories) with its permission bits.
fn modes(dir: &Path) -> Vec<(String, u32, bool)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            if m.is_dir() {
                stack.push(e.path());
            }
            out.push((rel, m.permissions().mode() & 0o777, m.is_dir()));
        }
    }
    out
}

#[test]
fn permissions_respect_the_umask_and_nothing_is_world_writable() {
    for umask in [0o000, 0o002, 0o022, 0o077] {
        let s = Scratch::new();
        s.write("a.csv", "id,name\n1,a\n2,b\n");
        run_with_umask(&s, umask, &["init", "s.dstore"]);
        run_with_umask(
            &s,
            umask,
            &[
                "snapshot", "--store", "s.dstore", "-t", "t", "a.csv", "--tag", "v1",
            ],
        );
        run_with_umask(&s, umask, &["tag", "--store", "s.dstore", "v2", "HEAD"]);
        run_with_umask(&s, umask, &["reindex", "--store", "s.dstore"]);
        for copy in [false, true] {
            let out = format!("out{}", u8::from(copy));
            let mut args = vec!["checkout", "--store", "s.dstore", "HEAD", "-o", &out];
            if copy {
                args.push("--copy");
            }
            run_with_umask(&s, umask, &args);
        }
        let store = modes(&s.path().join("s.dstore"));
        assert!(store.iter().any(|(p, _, _)| p.starts_with("catalog/")));
        let mut segments = 0;
        for (path, mode, is_dir) in &store {
            let what = format!("umask {umask:03o}: s.dstore/{path} is {mode:03o}");
            assert_eq!(mode & umask, 0, "{what}, beyond the umask");
            assert_eq!(mode & 0o002, 0, "{what}, world-writable");
            if path.starts_with("segments/") && !is_dir {
                assert_eq!(mode & 0o222, 0, "{what}: segments are read-only");
                segments += 1;
            } else if *is_dir || !path.starts_with("catalog/") {
                // Everything else dstore itself creates is readable and writable by its owner
                // (RocksDB picks its own modes for the catalog's files).
                assert_eq!(mode & 0o600, 0o600, "{what}");
            }
        }
        assert_eq!(segments, 1, "umask {umask:03o}");
        for out in ["out0", "out1"] {
            for (path, mode, _) in modes(&s.path().join(out)) {
                assert_eq!(
                    mode & umask,
                    0,
                    "umask {umask:03o}: {out}/{path} is {mode:03o}"
                );
            }
        }
    }
}

/// The binary refuses a store whose `segments/` is a link, naming it, with exit code 2
/// (damage), for reads and verify alike.
#[test]
fn a_linked_segments_directory_is_refused_by_every_command() {
    let s = Scratch::new();
    s.write("a.csv", "id\n1\n");
    s.run(&["init", "s.dstore"]).ok();
    s.run(&["snapshot", "--store", "s.dstore", "-t", "t", "a.csv"])
        .ok();
    let store = s.path().join("s.dstore");
    std::fs::rename(store.join("segments"), s.path().join("elsewhere")).unwrap();
    symlink(s.path().join("elsewhere"), store.join("segments")).unwrap();
    for args in [
        vec!["verify", "--all"],
        vec!["cat", "HEAD", "-t", "t"],
        vec!["checkout", "HEAD", "-o", "out"],
        vec!["gc", "--grace", "0s"],
    ] {
        let mut a = args.clone();
        a.extend(["--store", "s.dstore"]);
        let r = s.run(&a);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("segments") && r.stderr.contains("symbolic link"),
            "{args:?}: {}",
            r.stderr
        );
    }
    assert!(!s.path().join("out").exists());
}
