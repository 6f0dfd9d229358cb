//! A closed standard output (`dstore ... | head`) ends every command quietly with exit code 0,
//! as git and ripgrep do: no `error:` line, no exit code 2 (which means corruption), no panic.
//!
//! Each printing command runs twice against the real binary: once with the reading end of its
//! stdout already closed (its first write fails), and, for the commands whose output exceeds
//! the 64 KiB pipe buffer on this store, once more reading only the first bytes and then
//! closing the pipe while the command is still writing.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use dstore::{CommitOptions, IngestOptions, Store};

use crate::{id_name_batch, new_store};

/// Tables, columns of table `wide` and tags of the second commit: enough that `show`,
/// `diff --json`, `log` and `tag` print well over 64 KiB (few tables: each costs a segment and
/// a page, synced).
const TABLES: usize = 300;
const COLUMNS: usize = 1000;
const TAGS: usize = 2000;
/// Rows of table `t`, which `cat` prints.
const ROWS: i64 = 30_000;

/// `@1`: table `t` with [`ROWS`] rows; `@2`: [`TABLES`] more tables of one row and three
/// columns, table `wide` of one row and [`COLUMNS`] columns, and [`TAGS`] tags, in one commit.
fn wide_store(store: &Path) {
    let st = Store::open(store).unwrap();
    let mut tx = st.begin();
    let ids: Vec<i64> = (0..ROWS).collect();
    tx.add_reader(
        "t",
        arrow::record_batch::RecordBatchIterator::new(
            [Ok(id_name_batch(&ids))],
            id_name_batch(&[]).schema(),
        ),
        &IngestOptions::default(),
    )
    .unwrap();
    tx.commit(&CommitOptions::message("rows")).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("an_identifier_column", DataType::Int64, true),
        Field::new("a_label_column_with_text", DataType::Utf8, true),
        Field::new("another_number_column", DataType::Int64, true),
    ]));
    let mut tx = st.begin();
    for i in 0..TABLES {
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![i as i64])),
                Arc::new(StringArray::from(vec![format!("label {i}")])),
                Arc::new(Int64Array::from(vec![-(i as i64)])),
            ],
        )
        .unwrap();
        tx.add_reader(
            &format!("a_table_with_a_rather_long_name_{i:04}"),
            arrow::record_batch::RecordBatchIterator::new([Ok(batch)], schema.clone()),
            &IngestOptions::default(),
        )
        .unwrap();
    }
    let wide = Arc::new(Schema::new(
        (0..COLUMNS)
            .map(|c| Field::new(format!("measurement_{c:04}"), DataType::Int64, true))
            .collect::<Vec<_>>(),
    ));
    let columns = (0..COLUMNS)
        .map(|c| Arc::new(Int64Array::from(vec![c as i64])) as arrow::array::ArrayRef)
        .collect();
    tx.add_reader(
        "wide",
        arrow::record_batch::RecordBatchIterator::new(
            [Ok(RecordBatch::try_new(wide.clone(), columns).unwrap())],
            wide,
        ),
        &IngestOptions::default(),
    )
    .unwrap();
    tx.commit(&CommitOptions {
        message: "wide".into(),
        author: "tester".into(),
        tags: (0..TAGS)
            .map(|i| format!("release/2026-11-24/candidate-{i:04}"))
            .collect(),
        force_tags: false,
        upstream: Vec::new(),
    })
    .unwrap();
}

/// Runs `cmd` with the reading end of its stdout closed before it starts.
fn closed_before_start(mut cmd: Command) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    cmd.stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

/// Runs `cmd`, reads the first 100 bytes of its stdout, then closes the pipe while it writes.
fn closed_after_a_few_bytes(mut cmd: Command) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    child.wait_with_output().unwrap()
}

fn assert_quiet(o: &std::process::Output, what: &str) {
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(0),
        "`dstore {what}` with stdout closed: {}\n{stderr}",
        o.status
    );
    assert!(
        stderr.is_empty(),
        "`dstore {what}` with stdout closed printed on stderr:\n{stderr}"
    );
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let (s, store) = new_store();
    let t = std::time::Instant::now();
    wide_store(&store);
    println!("store built in {:.1} s", t.elapsed().as_secs_f64());
    let checkout = s.path().join("co");
    let co = checkout.to_str().unwrap();
    let pin = s.run(&["pin"]).ok().trim().to_owned();
    s.write(
        "exp.toml",
        format!("[data]\ntrain = \"{pin}#t\"\n").replace('\\', "/"),
    );
    // Commands whose output on this store is larger than a pipe holds.
    let big: Vec<Vec<&str>> = vec![
        vec!["log"],
        vec!["log", "--json"],
        vec!["show"],
        vec!["show", "--json"],
        vec!["show", "--segments"],
        vec!["cat", "@1", "-t", "t"],
        vec!["cat", "@1", "-t", "t", "--format", "csv"],
        vec!["cat", "@1", "-t", "t", "--format", "jsonl"],
        vec!["diff", "--json", "@1"],
        vec!["tag"],
        vec!["tag", "--json"],
    ];
    for args in &big {
        let full = s.run(args);
        assert!(
            full.code == 0 && full.stdout.len() > 64 << 10,
            "`dstore {}` prints only {} bytes here (code {}): the test needs more than a pipe holds\n{}",
            args.join(" "),
            full.stdout.len(),
            full.code,
            full.stderr
        );
        assert_quiet(&closed_before_start(s.cmd(args)), &args.join(" "));
        assert_quiet(&closed_after_a_few_bytes(s.cmd(args)), &args.join(" "));
    }
    // Commands with a line or two of output: their first write fails.
    let small: Vec<Vec<&str>> = vec![
        vec!["diff", "@1"],
        vec!["verify"],
        vec!["verify", "--json"],
        vec!["verify", "--all"],
        vec!["pin"],
        vec!["pin", "--json", "-t", "t"],
        vec!["checkout", "@1", "-t", "t", "-o", co],
        vec!["checkout", "@1", "-t", "t", "-o", co, "--force", "--json"],
        vec!["verify", "--checkout", co],
        vec!["lock", "exp.toml"],
        vec!["lock", "exp.toml", "--check"],
        vec!["tag", "moved", "@1"],
        vec!["tag", "-d", "moved"],
        vec!["gc", "--dry-run"],
        vec!["reindex"],
    ];
    for args in &small {
        assert_quiet(&closed_before_start(s.cmd(args)), &args.join(" "));
    }
    // What those commands did, they did: the checkout is there, the tag was made and deleted.
    assert!(checkout.join("dstore-checkout.json").is_file());
    assert!(s.path().join("dstore.lock").is_file());
    let events = s.run(&["log", "-n", "2"]).ok().to_owned();
    assert!(
        events.contains("tag moved deleted") && events.contains("tag moved ->"),
        "{events}"
    );
    // A snapshot whose summary cannot be printed is committed all the same.
    s.write("more.csv", "id,name\n1,x\n");
    assert_quiet(
        &closed_before_start(s.cmd(&["snapshot", "-t", "t", "more.csv"])),
        "snapshot",
    );
    assert_eq!(crate::rows_at(&s, "HEAD", "t"), ROWS as u64 + 1);
    assert_quiet(
        &closed_before_start(s.cmd(&["init", "other.dstore"])),
        "init",
    );
    assert!(s.path().join("other.dstore").join("DSTORE").is_file());
}

/// A failure that is not a closed pipe is still reported: with stdout closed, a bad ref gives
/// its error and exit code 1, not a quiet 0; and `verify` on a damaged store still exits 2
/// though nobody reads its list of problems.
#[test]
fn a_real_error_or_verdict_is_reported_even_with_stdout_closed() {
    let (s, store) = new_store();
    let o = closed_before_start(s.cmd(&["show", "no-such-tag"]));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    s.write("a.csv", "id,name\n1,a\n2,b\n");
    s.run(&["snapshot", "-t", "t", "a.csv"]).ok();
    let show = s.run(&["show", "--segments", "--json"]).json();
    let id = show["tables"][0]["segment_list"][0]["id"].as_str().unwrap();
    crate::flip_byte(&crate::segment_path(&store, id), None);
    for args in [&["verify"][..], &["verify", "--all", "--json"]] {
        let o = closed_before_start(s.cmd(args));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: verification found 1 problem(s)"),
            "{args:?}: {stderr}"
        );
    }
}
