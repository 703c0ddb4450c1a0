//! `fieldsync man`: the manual pages in roff, made by clap's own `clap_mangen` from the same
//! definition that parses the arguments, so they cannot drift from the commands. The main page
//! (`fieldsync.1`) has the global options and lists the commands; each command has a page of its
//! own (`fieldsync-sync.1`...) with its options.

use super::{CmdError, private_file};
use std::io::Write;
use std::path::PathBuf;

/// Print the manual page (roff): `fieldsync man > fieldsync.1`; `--dir` writes every page.
#[derive(Debug, Clone, clap::Args)]
pub struct ManArgs {
    /// Write the main page and one page per command (`fieldsync-sync.1`...) into this directory
    /// (it must exist), instead of the main page to standard output.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Writes the pages of `command` (the whole command line's definition).
pub fn run(args: &ManArgs, command: clap::Command) -> Result<(), CmdError> {
    let Some(dir) = &args.dir else {
        return super::completions::write_stdout(&page(command)?);
    };
    let mut command = command;
    command.build();
    let mut pages = vec![(command.get_name().to_owned(), command.clone())];
    for sub in command.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        // The name `fieldsync-sync` is what the main page's list refers to.
        let name = format!("{}-{}", command.get_name(), sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, cmd) in pages {
        let path = dir.join(format!("{name}.1"));
        let text = page(cmd)?;
        private_file(&path)
            .and_then(|mut f| f.write_all(&text))
            .map_err(|source| CmdError::Output {
                path: path.clone(),
                source,
            })?;
        println!("{}", path.display());
    }
    Ok(())
}

/// One page, in roff.
fn page(command: clap::Command) -> Result<Vec<u8>, CmdError> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut page)
        .map_err(|source| CmdError::Output {
            path: "the manual page".into(),
            source,
        })?;
    Ok(page)
}
