//! Progress bars for long commands (`indicatif`), drawn on stderr and only when stdout is
//! a terminal: piped or redirected output (scripts, tests, `--json -`) stays clean.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bar's layout: spinner, label, elapsed time, bar, steps and ETA.
const TEMPLATE: &str = "{spinner} {msg:<12} [{elapsed_precise}] {wide_bar} {pos}/{len} ({eta})";

/// A progress bar that is hidden unless stdout is a terminal.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar of `len` steps labelled `message`; hidden when stdout is not a terminal.
    #[must_use]
    pub fn new(len: u64, message: &str) -> Self {
        Self::with_visibility(len, message, std::io::stdout().is_terminal())
    }

    /// A bar of `len` steps, drawn on stderr if `visible`, else hidden.
    #[must_use]
    pub fn with_visibility(len: u64, message: &str, visible: bool) -> Self {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(len), target);
        // The template is a constant: a parse failure would be a bug caught by the tests;
        // fall back to the default style rather than panic.
        if let Ok(style) = ProgressStyle::with_template(TEMPLATE) {
            bar.set_style(style);
        }
        bar.set_message(message.to_owned());
        if visible {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Self { bar }
    }

    /// Whether nothing is drawn.
    #[must_use]
    pub fn is_hidden(&self) -> bool {
        self.bar.is_hidden()
    }

    /// Advances by `n` steps.
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Replaces the label (e.g. the workload being run).
    pub fn set_message(&self, message: &str) {
        self.bar.set_message(message.to_owned());
    }

    /// Steps done so far.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.bar.position()
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_bar_counts_but_draws_nothing() {
        let p = Progress::with_visibility(10, "bench", false);
        assert!(p.is_hidden());
        p.inc(3);
        p.inc(4);
        assert_eq!(p.position(), 7);
        p.finish();
    }

    #[test]
    fn bar_is_hidden_when_stdout_is_not_a_terminal() {
        // The test harness captures stdout, so it is never a terminal here.
        if !std::io::stdout().is_terminal() {
            assert!(Progress::new(5, "run").is_hidden());
        }
    }

    #[test]
    fn the_style_template_parses() {
        assert!(ProgressStyle::with_template(TEMPLATE).is_ok());
    }
}
