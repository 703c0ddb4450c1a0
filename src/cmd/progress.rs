//! Progress bars for long pulls and applies, drawn on standard error when it is a terminal and
//! not at all otherwise (logs and pipes stay clean). One line per step: a bar with its total
//! and time left when the total is known (Mautic says it with a list's first page), a
//! spinner otherwise; every line shows its rate as a whole number and its elapsed time, and a
//! finished step stays as a line saying how many and how long.

use crate::sync::Progress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::collections::HashMap;
use std::sync::Mutex;

/// One line per step.
pub struct Bars {
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

/// The `{rate}` of the templates.
fn rate(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    format_rate(state.per_sec(), w);
}

/// A rate a person reads: `1234/s`, `0.5/s` below one a second.
fn format_rate(r: f64, w: &mut dyn std::fmt::Write) {
    let _ = if r >= 1.0 || r == 0.0 {
        write!(w, "{r:.0}/s")
    } else {
        write!(w, "{r:.1}/s")
    };
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("a valid template")
        .with_key("rate", rate)
        .progress_chars("=> ")
}

/// A step whose total is known.
fn counted() -> ProgressStyle {
    style("{msg:28} [{bar:30}] {human_pos}/{human_len} {rate} {elapsed} (eta {eta})")
}

/// A step whose total is not known.
fn open_ended() -> ProgressStyle {
    style("{msg:28} {spinner} {human_pos} {rate} {elapsed}")
}

/// A step that ended.
fn ended() -> ProgressStyle {
    style("{msg:28} done: {human_pos} in {elapsed}")
}

impl Bars {
    /// Bars on standard error when it is a terminal (and neither `-q` nor `--no-progress`
    /// was given); nothing otherwise.
    pub fn new() -> Self {
        Bars::to(
            super::ui::Ui::get()
                .progress
                .then(ProgressDrawTarget::stderr),
        )
    }

    /// No bars, whatever standard error is.
    pub fn hidden() -> Self {
        Bars::to(None)
    }

    /// Bars drawn to `target`, or none.
    pub fn to(target: Option<ProgressDrawTarget>) -> Self {
        Bars {
            multi: target.map(MultiProgress::with_draw_target),
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn bar(&self, step: &str) -> Option<ProgressBar> {
        self.bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(step)
            .cloned()
    }
}

impl Drop for Bars {
    /// A cycle stopped mid-step leaves no frozen bar behind.
    fn drop(&mut self) {
        let bars = self.bars.get_mut().unwrap_or_else(|p| p.into_inner());
        for (_, bar) in bars.drain() {
            bar.finish_and_clear();
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
            Some(n) if n > 0 => ProgressBar::new(n).with_style(counted()),
            _ => ProgressBar::new_spinner().with_style(open_ended()),
        };
        let bar = multi.add(bar.with_message(step.to_owned()));
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        self.bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(step.to_owned(), bar);
    }

    fn set_total(&self, step: &str, total: u64) {
        if let Some(b) = self.bar(step)
            && total > 0
        {
            b.set_length(total.max(b.position()));
            b.set_style(counted());
        }
    }

    fn advance(&self, step: &str, n: u64) {
        if let Some(b) = self.bar(step) {
            b.inc(n);
            // A total that was too small (records added while paging) grows with the count.
            if b.length().is_some_and(|l| b.position() > l) {
                b.set_length(b.position());
            }
        }
    }

    fn finish(&self, step: &str) {
        if let Some(b) = self
            .bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(step)
        {
            b.set_style(ended());
            b.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_learns_its_total_and_rates_are_whole_numbers() {
        let bars = Bars::to(Some(ProgressDrawTarget::hidden()));
        bars.start("pull contact", None);
        bars.advance("pull contact", 200);
        let bar = bars.bar("pull contact").unwrap();
        assert_eq!(bar.length(), None, "a spinner until the total is known");
        bars.set_total("pull contact", 1000);
        assert_eq!(bar.length(), Some(1000));
        bars.advance("pull contact", 900);
        assert_eq!(
            bar.length(),
            Some(1100),
            "a short total grows with the count"
        );
        bars.start("pull customer", Some(10));
        assert_eq!(bars.bars.lock().unwrap().len(), 2, "a line per step");
        bars.finish("pull contact");
        assert!(bar.is_finished());

        let mut text = String::new();
        // Whole numbers, a decimal only below 1/s.
        for (r, want) in [(1234.5678, "1235/s"), (0.26, "0.3/s"), (0.0, "0/s")] {
            text.clear();
            format_rate(r, &mut text);
            assert_eq!(text, want);
        }
    }
}
