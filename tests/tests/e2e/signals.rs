//! SIGINT and SIGTERM during `dstore snapshot`: the ingest stops, removes what it staged, and
//! the command exits 130 (SIGTERM: 143) with `error: interrupted; nothing was committed`,
//! leaving the store byte for byte as it was.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dstore_e2e::{Scratch, dstore_bin, tree};

use crate::{id_name_batch, new_store, write_parquet};

/// A CSV of `rows` rows of four columns (about 60 bytes each): tens of MB take seconds to
/// convert, so the signal lands while the ingest is running.
fn big_csv(s: &Scratch, rows: u64) -> String {
    let mut csv = String::with_capacity(rows as usize * 64);
    csv.push_str("id,name,x,y\n");
    let mut z: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..rows {
        z = z.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        writeln!(
            csv,
            "{i},name-{:016x},{},{}",
            z,
            z >> 40,
            (z >> 20) as f64 / 7.0
        )
        .unwrap();
    }
    s.write("big.csv", csv).to_str().unwrap().to_owned()
}

/// Files in the store's `tmp/` (staged files are hidden: `.tmp...`).
fn staged(store: &Path) -> Vec<String> {
    std::fs::read_dir(store.join("tmp"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until `child` has staged a file, then sends it `signal` with kill(1).
fn signal_once_staging(child: &mut Child, store: &Path, signal: &str) {
    let start = Instant::now();
    while staged(store).is_empty() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "dstore snapshot ended before it staged anything"
        );
        assert!(
            start.elapsed() < Duration::from_mins(2),
            "dstore snapshot staged nothing in 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let sent = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{signal} failed");
}

/// `dstore ARGS` in the scratch directory, started by env(1) with SIGINT and SIGTERM at their
/// default disposition (a shell that started the tests in the background may have left them
/// ignored, and dstore keeps an inherited ignore), or with `ignore` ignored.
fn dstore(s: &Scratch, args: &[&str], ignore: Option<&str>) -> Command {
    let mut c = Command::new("env");
    c.arg(ignore.map_or_else(
        || "--default-signal=INT,TERM".to_owned(),
        |sig| format!("--ignore-signal={sig}"),
    ))
    .arg(dstore_bin())
    .args(args)
    .current_dir(s.path())
    .env_remove("DSTORE_STORE")
    .env("DSTORE_AUTHOR", "tester")
    .env("DSTORE_LOG", "error");
    c
}

/// Runs `dstore snapshot ARGS`, interrupts it with `signal` once it stages a file, and checks
/// the exit code, the message, `tmp/` and the store.
fn interrupted_snapshot(s: &Scratch, store: &Path, args: &[&str], signal: &str, code: i32) {
    let before = tree(store);
    let mut child = dstore(s, args, None)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    signal_once_staging(&mut child, store, signal);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "SIG{signal}: {}\nstdout:\n{}\nstderr:\n{stderr}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.starts_with("error: interrupted; nothing was committed\n"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(staged(store), Vec::<String>::new(), "tmp/ is not empty");
    // Byte for byte, the catalog included (the interrupted command only read it).
    let after = tree(store);
    if after != before {
        let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
        panic!(
            "SIG{signal} left the store changed:\nbefore {:?}\nafter  {:?}",
            names(&before),
            names(&after)
        );
    }
    s.run(&["verify", "--all"]).ok();
}

#[test]
fn sigint_during_a_csv_ingest_removes_what_it_staged() {
    let (s, store) = new_store();
    s.write("small.csv", "id,name,x,y\n1,a,2,3.5\n");
    s.run(&["snapshot", "-t", "t", "small.csv"]).ok();
    let big = big_csv(&s, 500_000);
    let log = s.run(&["log"]).ok().to_owned();
    interrupted_snapshot(&s, &store, &["snapshot", "-t", "t", &big], "INT", 130);
    assert_eq!(s.run(&["log"]).ok(), log);
    // Nothing was left half-done: the same command, uninterrupted, commits.
    s.run(&["snapshot", "--allow-duplicates", "-t", "t", "small.csv"])
        .ok();
    assert_eq!(crate::rows_at(&s, "HEAD", "t"), 2);
}

#[test]
fn sigterm_during_a_parquet_adoption_exits_143() {
    let (s, store) = new_store();
    // Many row groups per file and many files: the ingest checks between files and between
    // the row groups it validates.
    std::fs::create_dir(s.path().join("parts")).unwrap();
    for f in 0..12i64 {
        let ids: Vec<i64> = (f * 200_000..(f + 1) * 200_000).collect();
        let batch = id_name_batch(&ids);
        let file = std::fs::File::create(s.path().join(format!("parts/{f:02}.parquet"))).unwrap();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(10_000))
            .build();
        let mut w =
            parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }
    write_parquet(&s.path().join("first.parquet"), &id_name_batch(&[-1]));
    s.run(&["snapshot", "-t", "t", "first.parquet"]).ok();
    interrupted_snapshot(&s, &store, &["snapshot", "-t", "t", "parts"], "TERM", 143);
    assert_eq!(crate::rows_at(&s, "HEAD", "t"), 1);
}

/// A SIGINT ignored when dstore started (how a non-interactive shell starts a background job)
/// stays ignored: the snapshot goes on and commits.
#[test]
fn an_inherited_ignored_sigint_stays_ignored() {
    let (s, store) = new_store();
    let big = big_csv(&s, 200_000);
    let mut child = dstore(&s, &["snapshot", "-t", "t", &big], Some("INT"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    signal_once_staging(&mut child, &store, "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(crate::rows_at(&s, "HEAD", "t"), 200_000);
}
