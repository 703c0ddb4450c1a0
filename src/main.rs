//! The fieldsync command line: argument parsing only; every command runs in the library
//! (`fieldsync::cmd`).

use clap::{CommandFactory, Parser, Subcommand};
use fieldsync::cmd;
use fieldsync::cmd::exit::Exit;
use fieldsync::cmd::ui::Ui;
use std::process::ExitCode;

/// The binary's allocator: jemalloc. A cycle allocates and frees many small values from several
/// threads at once (the merge's, the runtime's, sled's), where glibc's allocator spends its time
/// in its slow paths and waits on its arena locks (measured in docs/PERFORMANCE.md). The library
/// leaves the allocator to its binaries.
#[cfg(unix)]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings: two arenas (the threads that allocate much are few: more arenas only
/// hold more memory), and freed pages given back to the system after a second: sooner costs
/// CPU in page faults and `madvise` calls, later holds the peak memory higher (both measured in
/// docs/PERFORMANCE.md). The environment's `_RJEM_MALLOC_CONF` is read after this, so it may
/// override it.
#[cfg(unix)]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: MallocConf =
    MallocConf(c"narenas:2,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr());

/// A C string pointer that jemalloc reads at start-up.
#[cfg(unix)]
#[repr(transparent)]
struct MallocConf(*const std::ffi::c_char);

// SAFETY: it points to a string literal, immutable and alive as long as the program.
#[cfg(unix)]
unsafe impl Sync for MallocConf {}

/// Field-by-field two-way sync between Divalto weavy and Webmecanik Automation (Mautic).
#[derive(Debug, Parser)]
/// `--version` names the commit it was built from, when it was built from a git checkout
/// (`build.rs`).
#[command(name = "fieldsync", version = env!("FIELDSYNC_VERSION"), about, propagate_version = true)]
struct Cli {
    /// More logs (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Quiet: errors only, and nothing on standard output unless something failed (for cron).
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Never draw progress bars (they are drawn only on a terminal anyway).
    #[arg(long, global = true)]
    no_progress: bool,
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = cmd::logging::LogFormat::Text)]
    log_format: cmd::logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Demo(cmd::demo::DemoArgs),
    Init(cmd::init::InitArgs),
    Check(cmd::check::CheckArgs),
    Fields(cmd::fields::FieldsArgs),
    Sync(cmd::sync::SyncArgs),
    Run(cmd::run::RunArgs),
    Status(cmd::status::StatusArgs),
    Conflicts(cmd::conflicts::ConflictsArgs),
    History(cmd::history::HistoryArgs),
    Duplicates(cmd::duplicates::DuplicatesArgs),
    Sim(cmd::sim::SimArgs),
    Completions(cmd::completions::CompletionsArgs),
    Man(cmd::man::ManArgs),
}

fn run(cli: Cli) -> anyhow::Result<Exit> {
    let ui = Ui::decide(
        cli.quiet,
        cli.no_progress,
        std::env::var_os("NO_COLOR").as_deref(),
    )
    .install();
    let verbosity = if cli.quiet {
        -1
    } else {
        cli.verbose.min(3) as i8
    };
    cmd::logging::init(verbosity, cli.log_format, ui.color);
    // Made from the definition that parses the arguments, which only this file holds.
    match &cli.command {
        Command::Completions(args) => {
            cmd::completions::run(args, Cli::command())?;
            return Ok(Exit::Done);
        }
        Command::Man(args) => {
            cmd::man::run(args, Cli::command())?;
            return Ok(Exit::Done);
        }
        _ => {}
    }
    let runtime = cmd::runtime()?;
    Ok(match cli.command {
        Command::Demo(args) => {
            runtime.block_on(cmd::demo::run(&args))?;
            Exit::Done
        }
        Command::Init(args) => {
            cmd::init::run(&args)?;
            Exit::Done
        }
        Command::Check(args) => {
            runtime.block_on(cmd::check::run(&args))?;
            Exit::Done
        }
        Command::Fields(args) => {
            runtime.block_on(cmd::fields::run(&args))?;
            Exit::Done
        }
        Command::Sync(args) => cmd::sync::exit_of(&runtime.block_on(cmd::sync::run(&args))?),
        Command::Run(args) => {
            runtime.block_on(cmd::run::run(&args))?;
            Exit::Done
        }
        Command::Status(args) => runtime.block_on(cmd::status::run(&args))?.exit,
        Command::Conflicts(args) => {
            cmd::conflicts::run(&args)?;
            Exit::Done
        }
        Command::History(args) => {
            cmd::history::run(&args)?;
            Exit::Done
        }
        Command::Duplicates(args) => {
            runtime.block_on(cmd::duplicates::run(&args))?;
            Exit::Done
        }
        Command::Sim(args) => {
            runtime.block_on(cmd::sim::run(&args))?;
            Exit::Done
        }
        Command::Completions(_) | Command::Man(_) => unreachable!("handled above"),
    })
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(exit) => exit.into(),
        Err(e) => {
            // The error and its causes, one line, each said once; no backtrace for a user.
            eprintln!("error: {}", cmd::exit::one_line(e.chain()));
            e.downcast_ref::<cmd::CmdError>()
                .map_or(Exit::Failed, cmd::CmdError::exit)
                .into()
        }
    }
}
