//! A terminal progress bar (rate and ETA) behind the library's `Progress` trait.

use std::cell::RefCell;

use indicatif::{ProgressBar, ProgressStyle};

use gauntlet_eval::Progress;

pub struct Bar {
    bar: RefCell<Option<ProgressBar>>,
    quiet: bool,
}

impl Bar {
    pub fn new(quiet: bool) -> Self {
        Bar {
            bar: RefCell::new(None),
            quiet,
        }
    }
}

impl Progress for Bar {
    fn begin(&self, attack: &str, samples: u64) {
        if self.quiet {
            return;
        }
        let bar = ProgressBar::new(samples);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>10} [{bar:30}] {pos}/{len} samples  {per_sec}  ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(attack.to_string());
        *self.bar.borrow_mut() = Some(bar);
    }

    fn advance(&self, samples: u64) {
        if let Some(bar) = self.bar.borrow().as_ref() {
            bar.inc(samples);
        }
    }

    fn end(&self) {
        if let Some(bar) = self.bar.borrow_mut().take() {
            bar.finish();
        }
    }
}
