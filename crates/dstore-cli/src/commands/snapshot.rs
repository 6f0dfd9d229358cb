//! `dstore snapshot -t TABLE INPUT... [-t TABLE INPUT...] -m MESSAGE [--tag NAME]`

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::ArgMatches;
use dstore::{
    AddedFiles, CommitOptions, IngestOptions, WriteMode,
    ingest::{CsvEmpty, Validation},
};

use super::{Context, print_json, tag_name, user_error};
use crate::output;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Mode {
    /// Add after the table's existing segments.
    Append,
    /// Replace the table's contents (history keeps the old).
    Overwrite,
}

/// How an empty field of a CSV string column is read (`--csv-empty`).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CsvEmptyArg {
    /// An unquoted empty field is null, a quoted "" the empty string (as pyarrow writes them).
    Quoted,
    /// Every empty field is null (as pandas reads).
    Null,
    /// Every empty field is the empty string (as pyarrow reads).
    String,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Table that the inputs after it go to; repeat for several tables
    /// (`-t train train/ -t eval eval/`).
    #[arg(short = 't', long = "table", value_name = "TABLE", required = true)]
    tables: Vec<String>,
    /// Input files or directories (.parquet, .csv, .tsv, .jsonl, .arrow/.feather, .csv.gz,
    /// .jsonl.zst, ...), or objects and prefixes in S3 (s3://bucket/raw/2026-12-03/).
    #[arg(value_name = "INPUT", required = true)]
    inputs: Vec<PathBuf>,
    /// Append to the tables, or overwrite them.
    #[arg(long, value_enum, default_value = "append")]
    mode: Mode,
    /// Make tables files tables (docs/files.md): the table's one input is a folder, every
    /// file under it a row (path, size, blake3, mime, bytes), and the table becomes the folder
    /// as it is now; unchanged files keep their segments. Bare `--files`: every table given;
    /// `--files=photos,docs`: those.
    #[arg(long, value_name = "TABLE", num_args = 0.., require_equals = true, value_delimiter = ',')]
    files: Option<Vec<String>>,
    /// With --files: read and hash every file, not trusting the local record of what was
    /// read last time (size, times, inode).
    #[arg(long)]
    rehash: bool,
    /// With --files: refuse files larger than this many MiB (at most 2040).
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    max_file_mib: u64,
    #[command(flatten)]
    pub(crate) ingest: IngestArgs,
    #[command(flatten)]
    pub(crate) commit: CommitFlags,
}

impl Args {
    /// Whether `table` is to be a files table.
    fn is_files(&self, table: &str) -> bool {
        self.files
            .as_ref()
            .is_some_and(|t| t.is_empty() || t.iter().any(|x| x == table))
    }
}

/// Message, tags, author and lineage of a commit: shared by `snapshot` and `commit`.
#[derive(Debug, clap::Args)]
pub(crate) struct CommitFlags {
    /// Commit message.
    #[arg(short, long, default_value = "")]
    message: String,
    /// Tag the new snapshot (repeatable); set atomically with the commit.
    #[arg(long = "tag", value_name = "NAME")]
    tags: Vec<std::ffi::OsString>,
    /// Move tags that already exist.
    #[arg(long)]
    force: bool,
    /// Author recorded in the log (default: $DSTORE_AUTHOR, else $USER).
    #[arg(long)]
    author: Option<String>,
    /// The snapshot this data was made from, as a pin (dstore://raw.dstore@v7#events):
    /// recorded in the commit as its lineage, and in that store as a use by the new snapshot.
    /// Repeatable.
    #[arg(long = "from", value_name = "PIN")]
    from: Vec<String>,
}

impl CommitFlags {
    /// The tags, each checked.
    pub(crate) fn tags(&self) -> Result<Vec<String>> {
        self.tags.iter().map(|t| tag_name(t)).collect()
    }

    /// The `--from` pins, resolved (before anything is read or written).
    pub(crate) fn sources(&self, ctx: &Context) -> Result<Vec<dstore::lineage::Source>> {
        Ok(dstore::lineage::resolve_sources(
            &self.from,
            &std::env::current_dir()?,
            &ctx.remote,
        )?)
    }

    /// The library's commit options.
    pub(crate) fn options(
        &self,
        tags: &[String],
        sources: &[dstore::lineage::Source],
    ) -> CommitOptions {
        CommitOptions {
            message: self.message.clone(),
            author: Context::author(self.author.as_ref()),
            tags: tags.to_vec(),
            force_tags: self.force,
            upstream: sources.iter().map(|s| s.upstream.clone()).collect(),
        }
    }
}

/// How inputs are read and cut into segments: shared by `snapshot` and `prepare`.
#[derive(Debug, clap::Args)]
pub(crate) struct IngestArgs {
    /// Trust Parquet inputs: check footer and schema only, do not decode every page.
    #[arg(long)]
    no_validate: bool,
    /// Do not profile the columns of new segments now (`stats` and `diff --stats` profile
    /// them on first use instead; docs/drift.md).
    #[arg(long)]
    no_profile: bool,
    /// Re-encode Parquet inputs (zstd, --row-group-rows) instead of adopting them as they are;
    /// also casts them to the table's schema.
    #[arg(long)]
    rewrite: bool,
    /// Converted output is cut into segments of about this many MiB [default: 256; 16 for
    /// files tables].
    #[arg(long, value_name = "MIB")]
    segment_mib: Option<u64>,
    /// Rows per row group in converted segments.
    #[arg(long, value_name = "N", default_value_t = 131_072)]
    row_group_rows: usize,
    /// Rows read to infer a CSV/JSON schema for a new table (0: the whole file).
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    infer_rows: usize,
    /// zstd level of converted segments (1-22; 1 is pyarrow's default and the fastest, higher
    /// levels write smaller files more slowly). The same input at the same level always gives
    /// the same segment.
    #[arg(long, value_name = "LEVEL", default_value_t = 1)]
    zstd_level: i32,
    /// Skip files of unknown type (in directories or named) instead of refusing the input;
    /// they are listed on stderr and in --json.
    #[arg(long)]
    pub(crate) skip_unknown: bool,
    /// Append data a table already holds (the same segment: e.g. the same file again) instead
    /// of refusing it.
    #[arg(long)]
    allow_duplicates: bool,
    /// How an empty field of a CSV string column is read; in other columns it is null.
    #[arg(long, value_enum, value_name = "READING", default_value = "quoted")]
    csv_empty: CsvEmptyArg,
    /// Store column COLUMN of converted inputs (Arrow IPC; Parquet with --rewrite) as TYPE,
    /// spelled as pyarrow prints types (`d=date32`, `'ts=timestamp[ms, tz=UTC]'`); every value
    /// must convert exactly. Repeatable. See docs/inputs.md for the types that need it.
    #[arg(long = "cast", value_name = "COLUMN=TYPE")]
    casts: Vec<String>,
}

impl IngestArgs {
    /// The library's options for a files table (`--files`).
    fn files_options(
        &self,
        cancel: dstore::ingest::Cancel,
        rehash: bool,
        max_file_mib: u64,
    ) -> dstore::files::FilesOptions {
        dstore::files::FilesOptions {
            target_segment_bytes: self.segment_mib.unwrap_or(16).max(1) << 20,
            max_file_bytes: max_file_mib.saturating_mul(1 << 20),
            rehash,
            profile: !self.no_profile,
            zstd_level: self.zstd_level,
            cancel,
        }
    }

    /// The library's options for these flags.
    pub(crate) fn options(
        &self,
        cancel: dstore::ingest::Cancel,
        remote: &dstore::storage::RemoteOptions,
    ) -> Result<IngestOptions> {
        if self.segment_mib.is_some_and(|m| m > 1 << 20) {
            return Err(user_error(
                "--segment-mib is over 1048576 (1 TiB)",
                Some("segments are cut at a size in MiB, e.g. --segment-mib 256"),
            ));
        }
        Ok(IngestOptions {
            validation: if self.no_validate {
                Validation::FooterOnly
            } else {
                Validation::Full
            },
            rewrite: self.rewrite,
            target_segment_bytes: self.segment_mib.unwrap_or(256).max(1) << 20,
            row_group_rows: self.row_group_rows,
            infer_rows: self.infer_rows,
            zstd_level: self.zstd_level,
            cancel,
            skip_unknown: self.skip_unknown,
            allow_duplicates: self.allow_duplicates,
            profile: !self.no_profile,
            csv_empty: match self.csv_empty {
                CsvEmptyArg::Quoted => CsvEmpty::Quoted,
                CsvEmptyArg::Null => CsvEmpty::Null,
                CsvEmptyArg::String => CsvEmpty::EmptyString,
            },
            casts: self
                .casts
                .iter()
                .map(|c| c.parse())
                .collect::<dstore::Result<Vec<dstore::ingest::Cast>>>()?,
            remote: remote.clone(),
            ..IngestOptions::default()
        })
    }
}

/// The bytes of the local inputs (for the progress bar); `s3://` inputs are listed as they
/// are read.
pub(crate) fn local_bytes(inputs: &[PathBuf], skip_unknown: bool) -> Result<u64> {
    let local: Vec<PathBuf> = inputs
        .iter()
        .filter(|p| !p.to_str().is_some_and(dstore::storage::is_url))
        .cloned()
        .collect();
    Ok(dstore::ingest::expand_inputs(&local, skip_unknown)?
        .files
        .iter()
        .map(|f| std::fs::metadata(&f.path).map_or(0, |m| m.len()))
        .sum())
}

/// Pairs each input with the `-t` given before it on the command line.
pub(crate) fn group(
    tables: &[String],
    inputs: &[PathBuf],
    m: &ArgMatches,
) -> Result<Vec<(String, Vec<PathBuf>)>> {
    let t_idx: Vec<usize> = m
        .indices_of("tables")
        .map(Iterator::collect)
        .unwrap_or_default();
    let i_idx: Vec<usize> = m
        .indices_of("inputs")
        .map(Iterator::collect)
        .unwrap_or_default();
    for t in tables {
        dstore::format::validate_table_name(t).map_err(|e| {
            user_error(
                e.to_string(),
                Some("table names are 1 to 128 ASCII letters, digits, '_', '.' or '-', starting with a letter, digit or '_' (e.g. train, eval_2026-11)"),
            )
        })?;
    }
    let mut groups: Vec<(String, Vec<PathBuf>)> =
        tables.iter().map(|t| (t.clone(), Vec::new())).collect();
    for (input, idx) in inputs.iter().zip(i_idx) {
        let Some(g) = t_idx.iter().rposition(|&t| t < idx) else {
            return Err(user_error(
                format!("input {} comes before any -t TABLE", input.display()),
                Some("name the table first: -t TABLE FILE..."),
            ));
        };
        groups[g].1.push(input.clone());
    }
    if let Some((t, _)) = groups.iter().find(|(_, v)| v.is_empty()) {
        return Err(user_error(
            format!("table `{t}` is given no inputs"),
            Some("list files after -t TABLE"),
        ));
    }
    Ok(groups)
}

pub(crate) fn run(args: &Args, ctx: &Context, m: &ArgMatches) -> Result<()> {
    let groups = group(&args.tables, &args.inputs, m)?;
    if let Some(named) = &args.files {
        if let Some(t) = named.iter().find(|t| !args.tables.contains(t)) {
            return Err(user_error(
                format!("--files names table `{t}`, which is given no inputs"),
                Some("name tables given with -t"),
            ));
        }
        if args.max_file_mib > 2040 {
            return Err(user_error(
                format!("--max-file-mib {} is over 2040", args.max_file_mib),
                Some("a file is one Parquet value, and a Parquet page holds at most 2 GiB"),
            ));
        }
    }
    for (t, paths) in &groups {
        if args.is_files(t) && paths.len() != 1 {
            return Err(user_error(
                format!(
                    "files table `{t}` is given {} inputs; it is made from one folder",
                    paths.len()
                ),
                Some("put the files under one folder"),
            ));
        }
    }
    let tags = args.commit.tags()?;
    let store = ctx.store()?;
    // Every --from pin resolves before anything is read or written.
    let sources = args.commit.sources(ctx)?;
    let interrupts = crate::interrupt::Interrupts::install()?;
    let opts = args.ingest.options(interrupts.cancel(), &ctx.remote)?;
    let inputs: Vec<PathBuf> = groups
        .iter()
        .filter(|(t, _)| !args.is_files(t))
        .flat_map(|(_, v)| v.iter().cloned())
        .collect();
    // Every local input is found (and unknown files refused) before anything is read.
    let total = local_bytes(&inputs, args.ingest.skip_unknown)?;
    let pb = ctx.progress(total, "ingest");
    let mut tx = store.begin();
    let mut added: Vec<(&str, AddedFiles)> = Vec::new();
    let mut folders: Vec<(&str, dstore::files::AddedFolder)> = Vec::new();
    for (table, paths) in &groups {
        if args.is_files(table) {
            let fo = args
                .ingest
                .files_options(interrupts.cancel(), args.rehash, args.max_file_mib);
            folders.push((table, tx.add_folder(table, &paths[0], &fo)?));
            continue;
        }
        if matches!(args.mode, Mode::Overwrite) {
            tx.set_mode(table, WriteMode::Overwrite)?;
        }
        let a = tx.add_files_with_progress(table, paths, &opts, &|_, n| pb.inc(n))?;
        added.push((table, a));
    }
    pb.finish_and_clear();
    note_skipped(&added);
    let inputs_json = || {
        added
            .iter()
            .map(|(t, a)| {
                let names = |v: &[PathBuf]| {
                    v.iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                };
                serde_json::json!({
                    "table": t, "files": a.files, "segments": a.segments, "rows": a.rows,
                    "empty": names(&a.empty), "skipped": names(&a.skipped),
                })
            })
            .chain(folders.iter().map(|(t, f)| {
                serde_json::json!({
                    "table": t, "files_table": true, "files": f.files, "bytes": f.bytes,
                    "segments": f.segments, "segments_kept": f.segments_kept,
                    "files_read": f.files_read, "bytes_read": f.bytes_read,
                })
            }))
            .collect::<Vec<_>>()
    };
    let commit_opts = args.commit.options(&tags, &sources);
    // From here on a signal no longer stops the command: the commit lands whole.
    interrupts.begin_commit()?;
    let out = match tx.commit(&commit_opts) {
        // Every input was read and had no rows (and no new table was left to create): not an
        // error, the job had nothing to add.
        Err(dstore::Error::NothingToCommit) => {
            let empty: usize = added.iter().map(|(_, a)| a.empty.len()).sum();
            if ctx.json {
                print_json(&serde_json::json!({
                    "snapshot": null, "seq": null, "committed": false,
                    "reason": "every input was empty", "tags": [], "changes": [],
                    "inputs": inputs_json(),
                }))?;
            } else {
                outln!("Nothing to commit: every input was empty ({empty} file(s), no rows)")?;
                print_empty(&added)?;
            }
            return Ok(());
        }
        other => other?,
    };
    record_derived(&store, &out.id, &sources, &commit_opts.author);
    if ctx.json {
        print_json(&serde_json::json!({
            "snapshot": out.id.to_hex(),
            "from": sources.iter().map(|s| s.resolved.pin.to_string()).collect::<Vec<_>>(),
            "seq": out.seq,
            "committed": true,
            "unchanged": out.unchanged,
            "conflicts": out.conflicts,
            "tags": tags,
            "changes": changes_json(&out.changes),
            "inputs": inputs_json(),
        }))?;
    } else {
        outln!("Committed @{} snapshot {}", out.seq, out.id)?;
        print_changes(&out.changes)?;
        print_empty(&added)?;
        for (t, f) in &folders {
            outln!(
                "  {t}: {} file(s), {}; {} of {} segment(s) kept unread, {} file(s) read ({})",
                f.files,
                output::bytes(f.bytes),
                f.segments_kept,
                f.segments,
                f.files_read,
                output::bytes(f.bytes_read)
            )?;
        }
        if !tags.is_empty() {
            outln!("  tagged {}", tags.join(", "))?;
        }
    }
    Ok(())
}

/// Records in each `--from` source's store that the new snapshot uses it; a store that cannot
/// is warned about, not an error (the commit has landed).
pub(crate) fn record_derived(
    store: &dstore::Store,
    id: &dstore::SnapshotId,
    sources: &[dstore::lineage::Source],
    author: &str,
) {
    for (pin, e) in store.record_derived(id, sources, author) {
        let _ = writeln!(
            std::io::stderr().lock(),
            "warning: the commit names {pin} as its source, but that store could not record the use: {e}"
        );
    }
}

/// A commit's changes as `--json` prints them.
pub(crate) fn changes_json(changes: &[dstore::format::TableChange]) -> Vec<serde_json::Value> {
    changes
        .iter()
        .map(|c| {
            serde_json::json!({
                "table": c.table, "op": c.op.as_str(), "segments": c.segments, "rows": c.rows,
                "bytes": c.bytes,
            })
        })
        .collect()
}

/// A commit's changes, one line per table.
pub(crate) fn print_changes(changes: &[dstore::format::TableChange]) -> std::io::Result<()> {
    for c in changes {
        outln!(
            "  {:<9} {}: {} segment(s), {} rows, {}",
            c.op.as_str(),
            c.table,
            c.segments,
            c.rows,
            output::bytes(c.bytes)
        )?;
    }
    Ok(())
}

/// Up to `n` paths, then how many more.
fn first_paths(paths: &[PathBuf], n: usize) -> String {
    let mut s = paths
        .iter()
        .take(n)
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > n {
        let _ = std::fmt::Write::write_fmt(&mut s, format_args!(" and {} more", paths.len() - n));
    }
    s
}

/// The inputs that had no rows, per table, in the text report.
fn print_empty(added: &[(&str, AddedFiles)]) -> std::io::Result<()> {
    for (table, a) in added.iter().filter(|(_, a)| !a.empty.is_empty()) {
        outln!(
            "  {table}: {} empty input(s), no rows, no segment: {}",
            a.empty.len(),
            first_paths(&a.empty, 5)
        )?;
    }
    Ok(())
}

/// Files of unknown type that `--skip-unknown` left out, on stderr (all of them in --json).
fn note_skipped(added: &[(&str, AddedFiles)]) {
    let skipped: Vec<PathBuf> = added
        .iter()
        .flat_map(|(_, a)| a.skipped.iter().cloned())
        .collect();
    if !skipped.is_empty() {
        // A closed stderr is no reason to fail.
        let _ = writeln!(
            std::io::stderr().lock(),
            "note: skipped {} file(s) of unknown type: {}",
            skipped.len(),
            first_paths(&skipped, 5)
        );
    }
}
