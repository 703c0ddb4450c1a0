//! Logs through tracing: human-readable by default, JSON for log collectors; `-v` for more,
//! `-q` for less. Logs go to standard error; command output goes to standard output.

use tracing_subscriber::EnvFilter;

/// The log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the subscriber. `verbosity`: -1 quiet (errors), 0 warnings and fieldsync's info,
/// 1 debug, 2 and more trace. `RUST_LOG` overrides it. `color`: ANSI colours in the text
/// format (only on a terminal: never in a file, a pipe or a journal).
pub fn init(verbosity: i8, format: LogFormat, color: bool) {
    let level = match verbosity {
        i8::MIN..=-1 => "error",
        0 => "warn,fieldsync=info",
        1 => "info,fieldsync=debug",
        _ => "debug,fieldsync=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
