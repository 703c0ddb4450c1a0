//! Progress bars for long pulls and applies, drawn on standard error when it is a terminal and
//! not at all otherwise (logs and pipes stay clean).

use crate::sync::Progress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::sync::Mutex;

/// One bar per step in flight.
pub struct Bars {
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    /// Bars on standard error when it is a terminal (and neither `-q` nor `--no-progress`
    /// was given); nothing otherwise.
    pub fn new() -> Self {
        let multi = super::ui::Ui::get()
            .progress
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Bars {
            multi,
            bars: Mutex::new(HashMap::new()),
        }
    }

    /// No bars, whatever standard error is.
    pub fn hidden() -> Self {
        Bars {
            multi: None,
            bars: Mutex::new(HashMap::new()),
        }
    }
}

impl Drop for Bars {
    /// A cycle stopped mid-step leaves no frozen bar behind.
    fn drop(&mut self) {
        let bars = self.bars.get_mut().unwrap_or_else(|p| p.into_inner());
        for (_, bar) in bars.drain() {
            bar.finish_and_clear();
        }
        if let Some(multi) = &self.multi {
            let _ = multi.clear();
        }
    }
}

impl Default for Bars {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for Bars {
    fn start(&self, step: &str, total: Option<u64>) {
        let Some(multi) = &self.multi else { return };
        let bar = match total {
            Some(n) if n > 0 => ProgressBar::new(n).with_style(
                ProgressStyle::with_template("{msg:28} [{bar:30}] {pos}/{len} ({per_sec})")
                    .expect("a valid template")
                    .progress_chars("=> "),
            ),
            _ => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{msg:28} {spinner} {pos} ({per_sec})")
                    .expect("a valid template"),
            ),
        };
        let bar = multi.add(bar.with_message(step.to_owned()));
        self.bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(step.to_owned(), bar);
    }

    fn advance(&self, step: &str, n: u64) {
        if let Some(b) = self
            .bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(step)
        {
            b.inc(n);
        }
    }

    fn finish(&self, step: &str) {
        if let Some(b) = self
            .bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(step)
        {
            b.finish_and_clear();
        }
    }
}
