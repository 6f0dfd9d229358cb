//! `dstore`: the command-line interface to dstore stores.
//!
//! Exit codes: 0 success, 1 user error (bad input, unknown ref, bad usage, ...), 2 corruption
//! or internal failure, 130 interrupted by SIGINT, 143 by SIGTERM. A closed standard output
//! (`dstore cat ... | head`) ends any command quietly with 0.

// Everything printed goes through `commands::stdout` (errors, never panics, on a closed pipe)
// or through `main`'s reporting on stderr.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod commands;
mod hints;
mod interrupt;
mod output;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};

use crate::commands::{Cli, Context};

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DSTORE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR"),
        ))
        .without_time()
        .init();

    // Usage errors are user errors: exit code 1, like every other (clap's own exit would
    // give 2, which here means corruption).
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|c| (c, m)));
    let (cli, matches) = match parsed {
        Ok(p) => p,
        Err(e) => return usage(&e),
    };
    let ctx = Context::new(&cli);
    match commands::run(cli, &ctx, &matches) {
        Ok(()) => ExitCode::SUCCESS,
        // Whoever read our output stopped reading (`| head`): not a failure, as for git and
        // ripgrep. Only a closed standard output counts: a broken pipe elsewhere (a socket to
        // object storage) is a real error. A verdict the command reached (`verify` found
        // problems) is still its exit code.
        Err(e) if commands::stdout_closed() && e.downcast_ref::<commands::Failed>().is_none() => {
            ExitCode::SUCCESS
        }
        Err(e) => report(&e),
    }
}

/// Whether logs and warnings carry ANSI colour: only on a terminal, and never when `NO_COLOR`
/// is set to anything but the empty string (https://no-color.org).
fn colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Prints clap's message (help and version go to stdout and exit 0; errors exit 1).
fn usage(e: &clap::Error) -> ExitCode {
    // A closed stdout or stderr is no reason to fail differently.
    let _ = e.print();
    if e.use_stderr() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints `error: ...` and `hint: ...`, and picks the exit code.
fn report(e: &anyhow::Error) -> ExitCode {
    // A closed stderr is no reason to fail differently (`eprintln!` would panic).
    let mut err = std::io::stderr().lock();
    if let Some(de) = e.downcast_ref::<dstore::Error>() {
        let _ = writeln!(err, "error: {de}");
        if let Some(h) = hints::hint(de) {
            let _ = writeln!(err, "hint: {h}");
        }
        if matches!(de, dstore::Error::Interrupted) {
            return ExitCode::from(interrupt::exit_code());
        }
        return ExitCode::from(hints::exit_code(de));
    }
    if let Some(f) = e.downcast_ref::<commands::Failed>() {
        let _ = writeln!(err, "error: {f}");
        if let Some(h) = &f.hint {
            let _ = writeln!(err, "hint: {h}");
        }
        return ExitCode::from(f.code);
    }
    let _ = writeln!(err, "error: {e:#}");
    ExitCode::from(2)
}

// Keep `Parser` in scope for derive docs.
#[allow(unused_imports)]
use Parser as _;

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_valid() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use super::colour;
        assert!(colour(true, None));
        assert!(!colour(false, None));
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, Some("1".into())));
        // no-color.org: set *and not empty*.
        assert!(colour(true, Some("".into())));
    }
}
