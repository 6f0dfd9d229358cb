//! Human-readable formatting shared by commands.

use chrono::{DateTime, Utc};
use dstore::{format::LogRecord, format::RecordKind};

/// `1.2 MB` style sizes (decimal units, like `ls -h --si`).
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// RFC 3339 UTC, seconds precision.
pub(crate) fn time(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros).map_or_else(
        || micros.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// One `dstore log` line.
pub(crate) fn log_line(r: &LogRecord) -> String {
    match &r.kind {
        RecordKind::Commit {
            snapshot,
            changes,
            tags,
            ..
        } => {
            let what: Vec<String> = changes
                .iter()
                .map(|c| format!("{} {} +{} rows", c.op.as_str(), c.table, c.rows))
                .collect();
            let tags = if tags.is_empty() {
                String::new()
            } else {
                format!(" [{}]", tags.join(", "))
            };
            format!(
                "@{:<5} {}  {}  {:<12} {}{}  ({})",
                r.seq,
                snapshot.short(12),
                time(r.time_micros),
                r.author,
                r.message,
                tags,
                what.join("; ")
            )
        }
        RecordKind::Tag {
            name,
            target,
            previous,
        } => {
            let what = match (target, previous) {
                (Some(t), None) => format!("tag {name} -> {}", t.snapshot.short(12)),
                (Some(t), Some(p)) => format!(
                    "tag {name} moved {} -> {}",
                    p.snapshot.short(12),
                    t.snapshot.short(12)
                ),
                (None, Some(p)) => format!("tag {name} deleted (was {})", p.snapshot.short(12)),
                (None, None) => format!("tag {name}"),
            };
            format!(
                "@{:<5} {:<12}  {}  {:<12} {}",
                r.seq,
                "",
                time(r.time_micros),
                r.author,
                what
            )
        }
        RecordKind::Expire { snapshots, purge } => {
            let ids: Vec<String> = snapshots.iter().take(4).map(|s| s.short(12)).collect();
            let more = snapshots.len().saturating_sub(4);
            format!(
                "@{:<5} {:<12}  {}  {:<12} {} {} snapshot(s): {}{}{}",
                r.seq,
                "",
                time(r.time_micros),
                r.author,
                if *purge { "purged" } else { "expired" },
                snapshots.len(),
                ids.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                },
                if r.message.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", r.message)
                }
            )
        }
    }
}

/// JSON for a log record.
pub(crate) fn record_json(r: &LogRecord) -> serde_json::Value {
    use serde_json::json;
    let mut v = json!({
        "seq": r.seq,
        "time": time(r.time_micros),
        "time_micros": r.time_micros,
        "author": r.author,
        "message": r.message,
        "prev_record_hash": r.prev.to_hex(),
    });
    match &r.kind {
        RecordKind::Commit {
            snapshot,
            parent_commit,
            changes,
            tags,
            upstream,
        } => {
            v["kind"] = json!("commit");
            v["upstream"] = upstream
                .iter()
                .map(|u| json!({"store": u.store, "snapshot": u.snapshot.to_hex(), "table": u.table}))
                .collect();
            v["snapshot"] = json!(snapshot.to_hex());
            v["parent_commit"] = json!(parent_commit);
            v["tags"] = json!(tags);
            v["changes"] = changes
                .iter()
                .map(|c| json!({"table": c.table, "op": c.op.as_str(), "segments": c.segments, "rows": c.rows, "bytes": c.bytes}))
                .collect();
        }
        RecordKind::Tag {
            name,
            target,
            previous,
        } => {
            v["kind"] = json!("tag");
            v["tag"] = json!(name);
            v["target"] = json!(target.map(|t| t.snapshot.to_hex()));
            v["previous"] = json!(previous.map(|t| t.snapshot.to_hex()));
        }
        RecordKind::Expire { snapshots, purge } => {
            v["kind"] = json!("expire");
            v["snapshots"] = snapshots.iter().map(|s| json!(s.to_hex())).collect();
            v["purge"] = json!(purge);
        }
    }
    v
}
