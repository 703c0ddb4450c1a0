//! `fieldsync completions SHELL`: the shell completion script, made by clap's own
//! `clap_complete` from the same definition that parses the arguments, so it cannot drift
//! from the commands.

use super::CmdError;
use std::io::Write;

/// Print the shell completion script (e.g. `fieldsync completions bash > /etc/bash_completion.d/fieldsync`).
#[derive(Debug, Clone, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Writes the script for `command` (the whole command line's definition) to standard output.
pub fn run(args: &CompletionsArgs, mut command: clap::Command) -> Result<(), CmdError> {
    let name = command.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, name, &mut script);
    write_stdout(&script)
}

/// Standard output, with a write error (a closed pipe, a full disk) told as an error.
pub(super) fn write_stdout(bytes: &[u8]) -> Result<(), CmdError> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|source| CmdError::Output {
            path: "standard output".into(),
            source,
        })
}
