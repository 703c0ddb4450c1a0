//! The fieldsync command line: argument parsing only; every command runs in the library
//! (`fieldsync::cmd`).

use clap::{Parser, Subcommand};
use fieldsync::cmd;
use std::process::ExitCode;

/// Field-by-field two-way sync between Divalto weavy and Webmecanik Automation (Mautic).
#[derive(Debug, Parser)]
#[command(name = "fieldsync", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Conflicts(cmd::conflicts::ConflictsArgs),
    History(cmd::history::HistoryArgs),
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Conflicts(args) => {
            cmd::conflicts::run(&args)?;
        }
        Command::History(args) => cmd::history::run(&args)?,
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The error and its causes, one line; no backtrace for a user.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
