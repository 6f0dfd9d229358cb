//! One module per subcommand: its `Args` and its `run`; and the one way they print.

/// `writeln!` to standard output through [`stdout`]: returns the `io::Result` (where
/// `println!` would panic on a closed pipe), so each command passes a failed write up with `?`.
macro_rules! outln {
    () => {
        ::std::io::Write::write_all(&mut $crate::commands::stdout(), b"\n")
    };
    ($($arg:tt)*) => {
        ::std::io::Write::write_fmt(
            &mut $crate::commands::stdout(),
            format_args!("{}\n", format_args!($($arg)*)),
        )
    };
}

mod cat;
mod checkout;
mod diff;
mod drift;
mod expire;
mod gc;
mod init;
mod lineage;
mod lock;
mod log;
mod pin;
mod prepare;
mod push;
mod reindex;
mod rowdiff;
mod show;
mod snapshot;
mod stats;
mod tag;
mod uses;
mod verify;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use clap::{ArgMatches, Parser, Subcommand};
use dstore::{Resolved, Store};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// dstore: versioned, content-addressed datasets for ML training.
#[derive(Debug, Parser)]
#[command(name = "dstore", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// The store: a directory, or a URL such as s3://bucket/prefix (default: discovered from
    /// the current directory upward, like git).
    #[arg(long, global = true, env = "DSTORE_STORE", value_name = "PATH|URL")]
    store: Option<PathBuf>,
    /// S3 endpoint for s3:// stores on S3-compatible servers (default: AWS_ENDPOINT_URL, else
    /// AWS). An http:// endpoint allows plain HTTP; implies path-style requests.
    #[arg(long, global = true, env = "DSTORE_S3_ENDPOINT", value_name = "URL")]
    endpoint: Option<String>,
    /// Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want.
    #[arg(long, global = true)]
    path_style: bool,
    /// Allow writing to an object store that does not honour put-if-absent. Safe only if one
    /// process at a time ever writes to the store: concurrent commits could be lost.
    #[arg(long, global = true)]
    single_writer: bool,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new, empty store.
    Init(init::Args),
    /// Add data to tables and commit it as a new snapshot.
    Snapshot(snapshot::Args),
    /// Place inputs' segments in the store without committing; print a description for
    /// `commit` (run on any number of workers at once).
    Prepare(prepare::PrepareArgs),
    /// Commit the descriptions `prepare` wrote as one new snapshot.
    Commit(prepare::CommitArgs),
    /// Write a snapshot's tables into a directory as plain files.
    Checkout(checkout::Args),
    /// List commits and tag events, newest first.
    Log(log::Args),
    /// Show a snapshot: tables, schemas, rows, segments, bytes.
    Show(show::Args),
    /// List, create, move or delete tags.
    Tag(tag::Args),
    /// Re-hash segments and manifests and check the log chain.
    Verify(verify::Args),
    /// Compare two snapshots table by table.
    Diff(diff::Args),
    /// A table's column profiles: counts, nulls, range, moments, quantiles, distinct, top values.
    Stats(stats::Args),
    /// Remove objects that no live snapshot references (expired snapshots' data, leftovers).
    Gc(gc::Args),
    /// Expire old snapshots (by count, age or name), except tagged, used and locked ones.
    Expire(expire::Args),
    /// Which runs read a snapshot, or what a run read; retire a run's use.
    Uses(uses::Args),
    /// The snapshots a snapshot was made from (--from), or with --down those made from it.
    Lineage(lineage::Args),
    /// Rebuild the catalog from the log.
    Reindex(reindex::Args),
    /// Print a table's rows: projection, filter, exact shuffled/sharded order.
    Cat(cat::Args),
    /// Print the canonical full pin of a snapshot: dstore:///ABS/PATH@ID[#TABLE].
    Pin(pin::Args),
    /// Resolve every dstore:// pin of an experiment config into dstore.lock, or --check it.
    Lock(lock::Args),
    /// Copy snapshots from this store to another (e.g. s3://bucket/prefix), sending only the
    /// objects it lacks.
    Push(push::Args),
    /// Copy snapshots from another store into this one, fetching only the objects it lacks.
    Pull(push::Args),
}

/// Settings every command sees.
pub(crate) struct Context {
    store: Option<PathBuf>,
    pub(crate) remote: dstore::storage::RemoteOptions,
    pub(crate) json: bool,
    pub(crate) interactive: bool,
}

impl Context {
    pub(crate) fn new(cli: &Cli) -> Self {
        Self {
            store: cli.store.clone(),
            remote: {
                let mut r = dstore::storage::RemoteOptions::from_env();
                if cli.endpoint.is_some() {
                    r.endpoint.clone_from(&cli.endpoint);
                }
                r.path_style |= cli.path_style;
                r.single_writer |= cli.single_writer;
                r
            },
            json: cli.json,
            interactive: std::io::stderr().is_terminal(),
        }
    }

    /// The store named by --store / DSTORE_STORE, or discovered from the current directory.
    pub(crate) fn store(&self) -> Result<Store> {
        Ok(match &self.store {
            Some(p) => match p.to_str() {
                Some(loc) => Store::open_location(loc, &self.remote)?,
                None => Store::open(p)?,
            },
            None => Store::discover(std::env::current_dir()?)?,
        })
    }

    /// A progress bar on stderr when it is a terminal; hidden otherwise.
    pub(crate) fn progress(&self, total: u64, what: &str) -> ProgressBar {
        if !self.interactive || self.json {
            return ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        }
        let pb = ProgressBar::new(total);
        pb.set_style(
            ProgressStyle::with_template(
                "{msg:12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        pb.set_message(what.to_owned());
        pb
    }

    /// Who commits: DSTORE_AUTHOR, else the login name.
    pub(crate) fn author(explicit: Option<&String>) -> String {
        explicit
            .cloned()
            .or_else(|| std::env::var("DSTORE_AUTHOR").ok())
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "unknown".into())
    }
}

/// The run id of this command: `--run`, else the environment's (`DSTORE_RUN`, MLflow, W&B,
/// torchelastic, Slurm); `None` when there is none or `DSTORE_RECORD_USE=0`.
/// A `--run` that is not a valid run id is an error; one from the environment is a warning
/// (the command goes on without recording).
pub(crate) fn run_id(explicit: Option<&String>) -> Result<Option<String>> {
    if let Some(r) = explicit {
        dstore::format::usage::validate_run_id(r)
            .map_err(|e| user_error(format!("--run {r:?}: {e}"), None))?;
        return Ok(Some(r.clone()));
    }
    if !dstore::uses::recording_enabled() {
        return Ok(None);
    }
    Ok(dstore::uses::run_from_env().and_then(
        |(r, var)| match dstore::format::usage::validate_run_id(&r) {
            Ok(()) => Some(r),
            Err(e) => {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "warning: {var}={r:?} is not a run id ({e}); no use is recorded"
                );
                None
            }
        },
    ))
}

/// Records a use when the command has a run id. A run id that is not valid is an error (it
/// was given); any other failure (a read-only store) is one warning on stderr, never a failed
/// read.
pub(crate) fn record_use(
    store: &Store,
    id: &dstore::SnapshotId,
    spec: &dstore::uses::UseSpec,
) -> Result<()> {
    match store.record_use(id, spec) {
        Ok(r) => {
            if let Some(t) = r.retired {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "warning: run {} retired its use of {} on {}; this use is recorded but does not keep the snapshot",
                    spec.run,
                    id.short(12),
                    crate::output::time(t.time_micros)
                );
            }
            Ok(())
        }
        Err(e @ dstore::Error::InvalidInput { .. }) => Err(e.into()),
        Err(e) => {
            let _ = writeln!(
                std::io::stderr().lock(),
                "warning: could not record that run {} used {}: {e}",
                spec.run,
                id.short(12)
            );
            Ok(())
        }
    }
}

/// An error the CLI raises itself, with its exit code and hint.
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
    pub(crate) code: u8,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failed {}

pub(crate) fn user_error(message: impl Into<String>, hint: Option<&str>) -> anyhow::Error {
    Failed {
        message: message.into(),
        hint: hint.map(str::to_owned),
        code: 1,
    }
    .into()
}

/// The snapshot `--since REF` names; a ref that names none is an error saying it is `--since`'s.
pub(crate) fn since_ref(store: &dstore::Store, r: &str) -> Result<dstore::SnapshotId> {
    match store.resolve(r) {
        Ok(c) => Ok(c.id),
        Err(e @ (dstore::Error::NotFound { .. } | dstore::Error::AmbiguousRef { .. })) => {
            Err(user_error(
                format!("--since {r}: {e}"),
                Some(
                    "give the older snapshot as a tag, an id (prefix), or REF~N; `dstore log` lists them",
                ),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// A tag name from the command line (any bytes, so that invalid UTF-8 gets a real message),
/// checked against the naming rules before anything is opened or written.
pub(crate) fn tag_name(raw: &std::ffi::OsStr) -> Result<String> {
    use std::os::unix::ffi::OsStrExt;
    match dstore::format::validate_tag_name(raw.as_bytes()) {
        Ok(name) => Ok(name.to_owned()),
        Err(e) => Err(user_error(
            e.to_string(),
            Some(
                "tag names are like git's: e.g. v3, release-2026-11, team/baseline; at most 255 bytes of UTF-8, no whitespace, no `..`, no `~^:?*[\\`, no leading `-`, `.` or `@`, no leading, trailing or doubled `/`",
            ),
        )),
    }
}

/// A ref given as text, or a time with `--as-of`.
#[derive(Debug, clap::Args)]
pub(crate) struct RefArg {
    /// HEAD, HEAD~N, @SEQ, a snapshot id or 8+ hex digits of one, or a tag.
    #[arg(value_name = "REF")]
    r#ref: Option<String>,
    /// The snapshot that was HEAD at this time (RFC 3339, or a date: the end of that day, UTC).
    #[arg(long, value_name = "TIME", conflicts_with = "ref")]
    as_of: Option<String>,
}

impl RefArg {
    pub(crate) fn resolve(&self, store: &Store) -> Result<Resolved> {
        if let Some(t) = &self.as_of {
            return Ok(store.resolve_as_of(parse_time(t)?)?);
        }
        Ok(store.resolve(self.r#ref.as_deref().unwrap_or("HEAD"))?)
    }
}

/// RFC 3339 time, or `YYYY-MM-DD` meaning the last microsecond of that day in UTC.
pub(crate) fn parse_time(s: &str) -> Result<i64> {
    dstore::pin::parse_time(s).ok_or_else(|| {
        user_error(
            format!("`{s}` is not a time"),
            Some("use RFC 3339 (2026-11-24T10:00:00Z) or a date (2026-11-24)"),
        )
    })
}

/// Set when a write to standard output failed because nobody reads it any more (`| head`).
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Standard output, for everything a command prints (`outln!`, [`print_json`], `cat`'s
/// writers). A write that fails returns its error instead of panicking; one that fails because
/// the reading end of the pipe was closed is also remembered ([`stdout_closed`]), so that
/// `main` ends the command quietly with exit code 0, as git and ripgrep do, however the error
/// was wrapped on its way up (arrow's CSV writer keeps only its message).
pub(crate) struct Stdout(std::io::StdoutLock<'static>);

/// Standard output, locked for as long as the returned writer lives.
pub(crate) fn stdout() -> Stdout {
    Stdout(std::io::stdout().lock())
}

/// Whether a write to standard output found its pipe closed.
pub(crate) fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

fn note_closed<T>(r: std::io::Result<T>) -> std::io::Result<T> {
    if let Err(e) = &r
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
    r
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        note_closed(self.0.write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        note_closed(self.0.flush())
    }
}

/// Prints a JSON value, pretty, on standard output.
pub(crate) fn print_json(v: &serde_json::Value) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(v).expect("JSON values serialize");
    text.push('\n');
    let mut out = stdout();
    out.write_all(text.as_bytes())?;
    out.flush()
}

pub(crate) fn run(cli: Cli, ctx: &Context, matches: &ArgMatches) -> Result<()> {
    match cli.command {
        Command::Init(a) => init::run(&a, ctx),
        Command::Snapshot(a) => {
            let sub = matches
                .subcommand_matches("snapshot")
                .expect("snapshot was parsed");
            snapshot::run(&a, ctx, sub)
        }
        Command::Prepare(a) => {
            let sub = matches
                .subcommand_matches("prepare")
                .expect("prepare was parsed");
            prepare::prepare(&a, ctx, sub)
        }
        Command::Commit(a) => prepare::commit(&a, ctx),
        Command::Checkout(a) => checkout::run(&a, ctx),
        Command::Log(a) => log::run(&a, ctx),
        Command::Show(a) => show::run(&a, ctx),
        Command::Tag(a) => tag::run(&a, ctx),
        Command::Verify(a) => verify::run(&a, ctx),
        Command::Diff(a) => diff::run(&a, ctx),
        Command::Stats(a) => stats::run(&a, ctx),
        Command::Gc(a) => gc::run(&a, ctx),
        Command::Expire(a) => expire::run(&a, ctx),
        Command::Uses(a) => uses::run(&a, ctx),
        Command::Lineage(a) => lineage::run(&a, ctx),
        Command::Reindex(a) => reindex::run(&a, ctx),
        Command::Cat(a) => cat::run(&a, ctx),
        Command::Pin(a) => pin::run(&a, ctx),
        Command::Lock(a) => lock::run(&a, ctx),
        Command::Push(a) => push::run(&a, ctx, push::Direction::Push),
        Command::Pull(a) => push::run(&a, ctx, push::Direction::Pull),
    }
}
