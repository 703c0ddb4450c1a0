//! How the process talks to the person or the program that started it: whether `-q` asked for
//! silence, whether progress is drawn, whether standard error takes colours. Decided once, at
//! start, from the global options, the environment (`NO_COLOR`) and whether standard error is
//! a terminal.

use std::io::IsTerminal;
use std::sync::OnceLock;

/// The process's output settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ui {
    /// `-q`: nothing on standard output unless something failed (cron mails what is printed).
    pub quiet: bool,
    /// Progress bars: only on a terminal, and not with `--no-progress` or `-q`.
    pub progress: bool,
    /// ANSI colours in the logs: only on a terminal, and never when `NO_COLOR` is set.
    pub color: bool,
}

static UI: OnceLock<Ui> = OnceLock::new();

impl Ui {
    /// The settings for these options in this environment.
    pub fn decide(quiet: bool, no_progress: bool, no_color: Option<&std::ffi::OsStr>) -> Ui {
        let terminal = std::io::stderr().is_terminal();
        Ui {
            quiet,
            progress: terminal && !no_progress && !quiet,
            color: terminal && !no_color_set(no_color),
        }
    }

    /// Sets the process's settings (once; later calls change nothing) and returns them.
    pub fn install(self) -> Ui {
        *UI.get_or_init(|| self)
    }

    /// The process's settings: those installed, else what a terminal session would get.
    pub fn get() -> Ui {
        *UI.get_or_init(|| Ui::decide(false, false, std::env::var_os("NO_COLOR").as_deref()))
    }
}

/// `NO_COLOR` (no-color.org): colours are off when it is set to anything but the empty string.
fn no_color_set(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn no_color_counts_only_when_it_holds_something() {
        assert!(!no_color_set(None));
        assert!(!no_color_set(Some(OsStr::new(""))));
        assert!(no_color_set(Some(OsStr::new("1"))));
        let ui = Ui::decide(false, false, Some(OsStr::new("1")));
        assert!(!ui.color);
        let quiet = Ui::decide(true, false, None);
        assert!(quiet.quiet && !quiet.progress);
        assert!(!Ui::decide(false, true, None).progress);
    }
}
