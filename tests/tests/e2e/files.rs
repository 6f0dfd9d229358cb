//! File datasets through the real binary: `snapshot --files`, a re-run after edits, `diff -t`
//! by path, `checkout --format files`, `cat --where "path LIKE ..."`, and refusals that leave
//! the store as it was.

use std::path::Path;

use crate::{assert_store_unchanged, assert_user_error, new_store, store_files};

fn put(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, bytes).unwrap();
    let t = std::time::SystemTime::now() - std::time::Duration::from_hours(1);
    std::fs::File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn a_folder_is_versioned_diffed_and_checked_out_by_path() {
    let (s, store) = new_store();
    let st = store.to_str().unwrap();
    let photos = s.path().join("photos");
    for i in 0..400 {
        let class = if i % 3 == 0 { "cat" } else { "dog" };
        put(
            &photos,
            &format!("{class}/{i:04}.jpg"),
            &vec![(i % 256) as u8; 100 + i * 13],
        );
    }
    put(&photos, "README", b"photos");
    std::fs::write(
        s.path().join("labels.csv"),
        "path,label\ncat/0000.jpg,cat\n",
    )
    .unwrap();
    // Files whose status changed within two seconds of a walk are not recorded in the state
    // cache: let them age so that the re-run below can keep segments unread.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let v1 = s
        .run(&[
            "--store",
            st,
            "--json",
            "snapshot",
            "-t",
            "photos",
            "photos/",
            "-t",
            "labels",
            "labels.csv",
            "--files=photos",
            "--segment-mib",
            "1",
            "-m",
            "raw",
            "--tag",
            "v1",
        ])
        .json();
    let inputs = v1["inputs"].as_array().unwrap();
    let photos_in = inputs.iter().find(|i| i["table"] == "photos").unwrap();
    assert_eq!(photos_in["files_table"], true);
    assert_eq!(photos_in["files"], 401);
    assert_eq!(photos_in["files_read"], 401);
    // Edits: one changed, one removed, one added.
    put(&photos, "cat/0003.jpg", b"changed");
    std::fs::remove_file(photos.join("dog/0004.jpg")).unwrap();
    put(&photos, "dog/new.jpg", b"new");
    let v2 = s
        .run(&[
            "--store",
            st,
            "--json",
            "snapshot",
            "-t",
            "photos",
            "photos/",
            "--files",
            "--segment-mib",
            "1",
            "-m",
            "day 2",
            "--tag",
            "v2",
        ])
        .json();
    let again = &v2["inputs"][0];
    assert!(again["segments_kept"].as_u64().unwrap() > 0, "{again}");
    assert!(again["files_read"].as_u64().unwrap() < 401, "{again}");
    let diff = s.run(&["--store", st, "diff", "v1", "v2", "-t", "photos"]);
    let text = diff.ok();
    assert!(
        text.starts_with("M\tphotos/cat/0003.jpg\nD\tphotos/dog/0004.jpg\nA\tphotos/dog/new.jpg\n"),
        "{text}"
    );
    assert!(
        text.contains("1 added, 1 removed, 1 changed, 399 unchanged"),
        "{text}"
    );
    let j = s
        .run(&["--store", st, "--json", "diff", "v1", "v2", "-t", "photos"])
        .json();
    assert_eq!(j["tables"][0]["changes"].as_array().unwrap().len(), 3);
    // The folder back, byte for byte, and verified.
    s.run(&[
        "--store", st, "checkout", "v2", "-o", "out", "--format", "files",
    ])
    .ok();
    assert_eq!(
        dstore_e2e::tree(&s.path().join("out/photos")),
        dstore_e2e::tree(&photos)
    );
    assert!(s.path().join("out/labels/part-00000.parquet").exists());
    s.run(&["verify", "--checkout", "out"]).ok();
    std::fs::write(s.path().join("out/photos/README"), b"PHOTOS").unwrap();
    let r = s.run(&["verify", "--checkout", "out"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stdout.contains("README") || r.stderr.contains("README"),
        "{r:?}"
    );
    // Paths by LIKE.
    let cats = s.run(&[
        "--store",
        st,
        "cat",
        "v2",
        "-t",
        "photos",
        "--columns",
        "path,size",
        "--where",
        "path LIKE 'cat/%'",
        "--format",
        "csv",
    ]);
    let lines: Vec<&str> = cats.ok().lines().collect();
    assert_eq!(
        lines.len(),
        1 + 134,
        "{}",
        &cats.stdout[..200.min(cats.stdout.len())]
    );
    assert!(lines[1..].iter().all(|l| l.starts_with("cat/")));
    s.run(&["--store", st, "verify", "--all"]).ok();
    // Refusals leave the store as it was.
    let before = store_files(&store);
    std::os::unix::fs::symlink("/etc/hostname", photos.join("link")).unwrap();
    let r = s.run(&[
        "--store", st, "snapshot", "-t", "photos", "photos/", "--files", "-m", "x",
    ]);
    assert_user_error(&r, &["photos/link", "symbolic link"], true, "a link");
    assert_store_unchanged(&store, &before, "a link");
    std::fs::remove_file(photos.join("link")).unwrap();
    let r = s.run(&[
        "--store", st, "snapshot", "-t", "labels", "photos/", "--files", "-m", "x",
    ]);
    assert_user_error(
        &r,
        &["labels", "not a files table"],
        true,
        "an ordinary table",
    );
    assert_store_unchanged(&store, &before, "an ordinary table");
    let r = s.run(&[
        "--store",
        st,
        "snapshot",
        "-t",
        "photos",
        "photos/",
        "labels.csv",
        "--files",
        "-m",
        "x",
    ]);
    assert_user_error(&r, &["photos", "one folder"], true, "two inputs");
    let r = s.run(&[
        "--store", st, "checkout", "v2", "-t", "labels", "-o", "o2", "--format", "files",
    ]);
    assert_user_error(
        &r,
        &["labels", "not a files table"],
        true,
        "checkout of an ordinary table",
    );
    let r = s.run(&[
        "--store",
        st,
        "cat",
        "v2",
        "-t",
        "photos",
        "--where",
        "size LIKE '1%'",
    ]);
    assert_user_error(
        &r,
        &["LIKE needs a string column", "size"],
        false,
        "LIKE on a number",
    );
    assert_store_unchanged(&store, &before, "refused commands");
}
