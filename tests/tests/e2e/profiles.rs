//! Column profiles and the drift report through the binary: `stats`, `diff --stats` (`--json`,
//! `--rules`, `--fail-on-drift`, `--html` in a real headless Chromium), and profiles as derived
//! objects: written at commit, computed on first use after `--no-validate`, checked by `verify`,
//! recomputed when damaged, copied by `push`, swept by `gc`.

#![allow(clippy::many_single_char_names)]

use std::fmt::Write;
use std::path::Path;

use serde_json::Value;

use crate::{assert_store_unchanged, fixture, flights_csvs, new_store, store_files};

fn profiles(store: &Path) -> Vec<(String, Vec<u8>)> {
    store_files(store)
        .into_iter()
        .filter(|(p, _)| p.ends_with(".profile"))
        .collect()
}

/// `rows` lines of `x,c`: x normal-ish around `mean` (a sum of uniforms), c from `cats`.
fn csv(seed: u64, rows: usize, mean: f64, cats: &[&str]) -> String {
    let mut s = seed;
    let mut next = || {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut out = String::from("x,c\n");
    for _ in 0..rows {
        let x: f64 = (0..6).map(|_| next()).sum::<f64>() - 3.0 + mean;
        let c = cats[(next() * cats.len() as f64) as usize % cats.len()];
        let _ = writeln!(out, "{x:.6},{c}");
    }
    out
}

fn column<'a>(stats: &'a Value, name: &str) -> &'a Value {
    stats["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == name)
        .unwrap_or_else(|| panic!("no column {name} in {stats}"))
}

#[test]
fn stats_of_flights_match_the_csv() {
    let (s, store) = new_store();
    let [a, b] = flights_csvs();
    s.run(&["snapshot", "-t", "flights", &a, &b, "-m", "two days"])
        .ok();
    assert_eq!(
        profiles(&store).len(),
        2,
        "written at commit, one per segment"
    );
    let st = s.run(&["stats", "-t", "flights", "--json"]).json();
    assert_eq!(st["rows"], 3000);
    assert_eq!(st["profiles_computed"], 0);
    // Exact values from the files, computed here.
    let mut delays = Vec::new();
    let mut empty = 0u64;
    let mut carriers = std::collections::BTreeMap::<String, u64>::new();
    for f in [&a, &b] {
        for line in std::fs::read_to_string(f).unwrap().lines().skip(1) {
            let cols: Vec<&str> = line.split(',').collect();
            *carriers.entry(cols[2].to_owned()).or_default() += 1;
            match cols[5].parse::<f64>() {
                Ok(v) => delays.push(v),
                Err(_) => empty += 1,
            }
        }
    }
    let d = column(&st, "dep_delay_min");
    assert_eq!(d["count"], 3000);
    assert_eq!(d["nulls"], empty);
    let min = delays.iter().copied().fold(f64::INFINITY, f64::min);
    let max = delays.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(d["min"].as_f64(), Some(min));
    assert_eq!(d["max"].as_f64(), Some(max));
    let mean = delays.iter().sum::<f64>() / delays.len() as f64;
    assert!((d["mean"].as_f64().unwrap() - mean).abs() < 1e-9);
    let c = column(&st, "carrier");
    let top: std::collections::BTreeMap<String, u64> = c["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["value"].as_str().unwrap().to_owned(),
                v["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut want: Vec<(u64, String)> = carriers.iter().map(|(k, v)| (*v, k.clone())).collect();
    want.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
    for (n, k) in want.iter().take(10) {
        assert_eq!(top.get(k), Some(n), "carrier {k}");
    }
    // --columns, and a column that is not there.
    let one = s
        .run(&[
            "stats",
            "-t",
            "flights",
            "--columns",
            "distance_km",
            "--json",
        ])
        .json();
    assert_eq!(one["columns"].as_array().unwrap().len(), 1);
    let r = s.run(&["stats", "-t", "flights", "--columns", "nope"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("column `nope`"), "{}", r.stderr);
    let text = s.run(&["stats", "-t", "flights"]).ok().to_owned();
    assert!(
        text.contains("dep_delay_min (numeric): 3000 values"),
        "{text}"
    );
}

#[test]
fn no_validate_profiles_on_first_use_with_the_same_bytes() {
    let (s, store) = new_store();
    let [a, _] = flights_csvs();
    let parquet = fixture("corpus/pyarrow/write_table.parquet");
    s.run(&[
        "snapshot",
        "-t",
        "p",
        &parquet,
        "-t",
        "f",
        &a,
        "-m",
        "validated",
    ])
    .ok();
    let validated = profiles(&store);
    assert_eq!(validated.len(), 2);
    let (s2, store2) = new_store();
    s2.run(&[
        "snapshot",
        "-t",
        "p",
        &parquet,
        "--no-validate",
        "-m",
        "footer only",
    ])
    .ok();
    assert!(profiles(&store2).is_empty(), "nothing decoded, no profile");
    let st = s2.run(&["stats", "-t", "p", "--json"]).json();
    assert_eq!(st["profiles_computed"], 1);
    let computed = profiles(&store2);
    assert_eq!(computed.len(), 1);
    assert!(
        validated.contains(&computed[0]),
        "the same name and bytes as at ingest"
    );
    let again = s2.run(&["stats", "-t", "p", "--json"]).json();
    assert_eq!(again["profiles_computed"], 0, "cached");
    assert_eq!(again["columns"], st["columns"]);
}

#[test]
fn verify_finds_a_damaged_profile_and_stats_recomputes_it() {
    let (s, store) = new_store();
    let [a, _] = flights_csvs();
    s.run(&["snapshot", "-t", "f", &a]).ok();
    let before = s.run(&["stats", "-t", "f", "--json"]).json();
    let (rel, bytes) = profiles(&store).pop().unwrap();
    let path = store.join(&rel);
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    std::fs::write(&path, &bad).unwrap();
    let r = s.run(&["verify"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(".profile") && r.stdout.contains("checksum"),
        "{}",
        r.stdout
    );
    let after = s.run(&["stats", "-t", "f", "--json"]).json();
    assert_eq!(after["profiles_computed"], 1);
    assert_eq!(after["columns"], before["columns"]);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "replaced by the sound one"
    );
    s.run(&["verify"]).ok();
    let v = s.run(&["verify", "--json"]).json();
    assert_eq!(v["profiles"], 1);
}

#[test]
fn push_copies_profiles_and_gc_sweeps_orphans() {
    let (s, store) = new_store();
    let [a, b] = flights_csvs();
    s.run(&["snapshot", "-t", "f", &a]).ok();
    s.run(&["snapshot", "-t", "f", &b]).ok();
    s.run(&["init", "other.dstore"]).ok();
    s.run(&["--store", "data.dstore", "push", "other.dstore"])
        .ok();
    let other = s.path().join("other.dstore");
    assert_eq!(profiles(&other), profiles(&store));
    // A profile whose segment no commit names is garbage; live ones stay.
    let live = profiles(&store);
    let orphan = store.join(format!("derived/ab/{}.profile", "ab".repeat(32)));
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"x").unwrap();
    s.run(&["--store", "data.dstore", "gc", "--grace", "0s"])
        .ok();
    assert!(!orphan.exists());
    let names = |v: Vec<(String, Vec<u8>)>| v.into_iter().map(|p| p.0).collect::<Vec<_>>();
    assert_eq!(names(profiles(&store)), names(live));
}

#[test]
fn diff_stats_verdicts_rules_and_exit_codes() {
    let (s, store) = new_store();
    s.write("a.csv", csv(1, 20_000, 0.0, &["u", "v", "w"]));
    s.write("b.csv", csv(2, 20_000, 0.0, &["u", "v", "w"]));
    s.write("c.csv", csv(3, 20_000, 0.4, &["u", "v", "w", "new"]));
    s.run(&["snapshot", "-t", "t", "a.csv", "--tag", "v1"]).ok();
    s.run(&[
        "snapshot",
        "-t",
        "t",
        "b.csv",
        "--mode",
        "overwrite",
        "--tag",
        "v2",
    ])
    .ok();
    s.run(&[
        "snapshot",
        "-t",
        "t",
        "c.csv",
        "--mode",
        "overwrite",
        "--tag",
        "v3",
    ])
    .ok();
    let same = s.run(&["diff", "v1", "v2", "--stats", "--json"]).json();
    assert_eq!(same["drifted"], false, "{same}");
    let t = &same["tables"][0];
    assert_eq!(t["tested"], 2);
    assert_eq!(t["drifted_columns"], 0);
    s.run(&["diff", "v1", "v2", "--stats", "--fail-on-drift"])
        .ok();
    let moved = s.run(&["diff", "v1", "v3", "--stats", "--json"]).json();
    assert_eq!(moved["drifted"], true);
    let cols = moved["tables"][0]["columns"].as_array().unwrap();
    let x = cols.iter().find(|c| c["column"] == "x").unwrap();
    assert_eq!(x["test"], "wasserstein");
    assert_eq!(x["drifted"], true);
    let c = cols.iter().find(|c| c["column"] == "c").unwrap();
    assert_eq!(c["test"], "jensenshannon");
    assert_eq!(c["new_categories"], serde_json::json!(["new"]));
    let r = s.run(&["diff", "v1", "v3", "--stats", "--fail-on-drift"]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("DRIFT"), "{}", r.stdout);
    // Rules: a looser threshold for x and c skipped: no drift.
    s.write(
        "drift.toml",
        "[columns.x]\nthreshold = 0.9\n[columns.c]\nskip = true\n",
    );
    let ruled = s
        .run(&[
            "diff",
            "v1",
            "v3",
            "--stats",
            "--rules",
            "drift.toml",
            "--json",
        ])
        .json();
    assert_eq!(ruled["tables"][0]["drifted_columns"], 0, "{ruled}");
    // A bad rules file: a user error naming the file and line, the store untouched.
    s.write(
        "bad.toml",
        "drift_share = 0.5\n[columns.x]\ntest = \"t-test\"\n",
    );
    let before = store_files(&store);
    let r = s.run(&["diff", "v1", "v3", "--stats", "--rules", "bad.toml"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("bad.toml") && r.stderr.contains("line 3"),
        "{}",
        r.stderr
    );
    assert_store_unchanged(&store, &before, "bad rules");
    // Only the new segment is profiled: old ones reuse their stored profiles.
    s.run(&[
        "snapshot",
        "-t",
        "t",
        "a.csv",
        "--allow-duplicates",
        "--tag",
        "v4",
    ])
    .ok();
    let d = s.run(&["diff", "v3", "v4", "--stats", "--json"]).json();
    assert_eq!(d["tables"][0]["segments_shared"], 1);
    assert_eq!(d["tables"][0]["profiles_computed"], 0);
}

fn chromium() -> Option<String> {
    if let Ok(c) = std::env::var("DSTORE_CHROMIUM") {
        return Some(c);
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(str::to_owned)
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let (s, _store) = new_store();
    s.write("a.csv", csv(1, 5_000, 0.0, &["u", "v", "w"]));
    s.write("c.csv", csv(3, 5_000, 0.5, &["u", "v", "new"]));
    s.run(&["snapshot", "-t", "t", "a.csv", "--tag", "v1"]).ok();
    s.run(&[
        "snapshot",
        "-t",
        "t",
        "c.csv",
        "--mode",
        "overwrite",
        "--tag",
        "v2",
    ])
    .ok();
    let out = s
        .run(&["diff", "v1", "v2", "--stats", "--html", "report.html"])
        .ok()
        .to_owned();
    assert!(out.contains("report.html"), "{out}");
    let html = std::fs::read_to_string(s.path().join("report.html")).unwrap();
    assert!(!html.contains("<script"), "no script");
    assert!(!html.contains("src="), "nothing fetched");
    let Some(chrome) = chromium() else {
        assert!(
            std::env::var_os("DSTORE_REQUIRE_CHROMIUM").is_none(),
            "DSTORE_REQUIRE_CHROMIUM is set but no chromium was found"
        );
        eprintln!("skipped: no chromium (scripts/test.sh installs it)");
        return;
    };
    let url = format!("file://{}", s.path().join("report.html").display());
    let dom = std::process::Command::new(&chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--dump-dom",
            &url,
        ])
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&dom.stdout);
    // The plots are in the rendered DOM: one per tested column, with their bars.
    assert!(
        dom.contains(r#"<svg class="plot histogram" data-column="x""#),
        "{dom}"
    );
    assert!(
        dom.contains(r#"<svg class="plot bars" data-column="c""#),
        "{dom}"
    );
    assert!(dom.matches("<rect class=\"bar old\"").count() >= 20);
    assert!(dom.matches("<rect class=\"bar new\"").count() >= 20);
    // Drifted columns first.
    if let (Some(d), Some(ok)) = (
        dom.find("class=\"column drift\""),
        dom.find("class=\"column ok\""),
    ) {
        assert!(d < ok);
    }
}

/// The exact parts of two `stats --json` outputs are equal (the mean and std up to rounding,
/// the distinct estimate within 3 standard errors), column by column.
fn assert_same_stats(got: &Value, want: &Value, what: &str) {
    assert_eq!(got["rows"], want["rows"], "{what}: rows");
    let (g, w) = (
        got["columns"].as_array().unwrap(),
        want["columns"].as_array().unwrap(),
    );
    assert_eq!(g.len(), w.len(), "{what}: columns");
    for (a, b) in g.iter().zip(w) {
        let c = &a["column"];
        assert_eq!(c, &b["column"], "{what}");
        for k in [
            "kind",
            "count",
            "nulls",
            "nans",
            "min",
            "max",
            "len_min",
            "len_max",
            "len_mean",
            "top",
            "top_error",
        ] {
            assert_eq!(a[k], b[k], "{what}: {c} {k}");
        }
        for k in ["mean", "std"] {
            match (a[k].as_f64(), b[k].as_f64()) {
                (Some(x), Some(y)) => assert!(
                    (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
                    "{what}: {c} {k} {x} vs {y}"
                ),
                (x, y) => assert_eq!(x, y, "{what}: {c} {k}"),
            }
        }
        if let (Some(x), Some(y)) = (a["distinct"].as_f64(), b["distinct"].as_f64()) {
            assert!(
                (x - y).abs() <= 3.0 * 0.0163 * y + 1.0,
                "{what}: {c} distinct {x} vs {y}"
            );
        }
    }
}

#[test]
fn stats_since_is_the_profile_of_just_the_new_rows() {
    let (s, store) = new_store();
    let a = csv(1, 10_000, 0.0, &["a", "b", "c"]);
    let b = csv(2, 2_000, 1.0, &["a", "b", "z"]);
    std::fs::write(s.path().join("a.csv"), &a).unwrap();
    std::fs::write(s.path().join("b.csv"), &b).unwrap();
    s.run(&["snapshot", "-t", "t", "a.csv", "-m", "a", "--tag", "v1"])
        .ok();
    s.run(&["snapshot", "-t", "t", "b.csv", "-m", "b", "--tag", "v2"])
        .ok();
    // The same rows alone, in another store.
    let alone = |name: &str, text: &str| {
        let (s2, _) = new_store();
        std::fs::write(s2.path().join(name), text).unwrap();
        s2.run(&["snapshot", "-t", "t", name, "-m", "alone"]).ok();
        s2.run(&["stats", "-t", "t", "--json"]).json()
    };
    // An append: the new segment's stored profile.
    let got = s
        .run(&["stats", "v2", "-t", "t", "--since", "v1", "--json"])
        .json();
    assert_eq!(got["rows"], 2000, "{got}");
    assert_eq!(got["segments_partial"], 0, "{got}");
    assert_same_stats(&got, &alone("b.csv", &b), "append");
    // A rewrite of a with 1% of its rows changed (every 100th line: x + 50, a new category).
    let mut changed = String::from("x,c\n");
    let mut a2 = String::from("x,c\n");
    for (i, line) in a.lines().skip(1).enumerate() {
        if i % 100 == 3 {
            let x: f64 = line.split(',').next().unwrap().parse().unwrap();
            let l = format!(
                "{:.6},{}\n",
                x + 50.0,
                if i % 200 == 3 { "new" } else { "a" }
            );
            changed.push_str(&l);
            a2.push_str(&l);
        } else {
            a2.push_str(line);
            a2.push('\n');
        }
    }
    std::fs::write(s.path().join("a2.csv"), &a2).unwrap();
    s.run(&[
        "snapshot",
        "-t",
        "t",
        "a2.csv",
        "b.csv",
        "--mode",
        "overwrite",
        "-m",
        "fix a",
        "--tag",
        "v3",
    ])
    .ok();
    let got = s
        .run(&["stats", "v3", "-t", "t", "--since", "v2", "--json"])
        .json();
    assert_eq!(got["rows"], 100, "{got}");
    assert_eq!(got["segments_partial"], 1, "{got}");
    assert_same_stats(&got, &alone("changed.csv", &changed), "rewrite");
    let text = s
        .run(&["stats", "v3", "-t", "t", "--since", "v2"])
        .ok()
        .to_owned();
    assert!(text.contains("100 new rows"), "{text}");
    assert!(text.contains("profiled from their new rows"), "{text}");
    // The same version: no rows.
    let none = s
        .run(&["stats", "v2", "-t", "t", "--since", "v2", "--json"])
        .json();
    assert_eq!(none["rows"], 0, "{none}");
    assert!(
        none["columns"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["count"] == 0),
        "{none}"
    );
    // A bad ref is refused, naming it, the store untouched.
    let before = store_files(&store);
    let r = s.run(&["stats", "v3", "-t", "t", "--since", "v9"]);
    crate::assert_user_error(
        &r,
        &["--since v9", "`v9` not found"],
        true,
        "stats --since v9",
    );
    assert_store_unchanged(&store, &before, "stats --since a bad ref");
}
