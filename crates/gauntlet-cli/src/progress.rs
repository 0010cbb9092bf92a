//! A terminal progress bar (rate and ETA) behind the library's `Progress` trait.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use indicatif::{ProgressBar, ProgressStyle};

use gauntlet_eval::Progress;

/// Set by the first Ctrl-C; a second one ends the process at once.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static HANDLER: Once = Once::new();

/// True once the user pressed Ctrl-C.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Installs the Ctrl-C handler once: the first Ctrl-C sets [`interrupted`] and prints
/// `message` (what happens now); a second one ends the process at once.
pub fn install_interrupt_handler(message: &'static str) {
    HANDLER.call_once(|| {
        let installed = ctrlc::set_handler(move || {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\ninterrupted: {message} (Ctrl-C again to quit now)");
        });
        if let Err(e) = installed {
            eprintln!(
                "warning: Ctrl-C will stop the audit without a report ({e}); a rerun still resumes"
            );
        }
    });
}

pub struct Bar {
    bar: RefCell<Option<ProgressBar>>,
    quiet: bool,
}

impl Bar {
    pub fn new(quiet: bool) -> Self {
        install_interrupt_handler(
            "stopping after the current batch (a black-box target stops at its next query; that \
             batch is redone on resume) and writing what is done",
        );
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

    fn cancelled(&self) -> bool {
        interrupted()
    }
}
