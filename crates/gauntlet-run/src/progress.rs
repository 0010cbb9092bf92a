//! Progress reporting: the audit calls a [`Progress`] as items finish; the caller decides what
//! to show (a terminal bar, log lines, nothing) and whether the user asked to stop.

/// Receives progress as items (samples, messages) are attacked.
pub trait Progress {
    /// A task (an attack, a stage) starts, with `total` items to go.
    fn begin(&self, task: &str, total: u64);
    /// `done` more items finished since the last call (an increment, not a running total).
    fn advance(&self, done: u64);
    /// The task is done.
    fn end(&self);
    /// True once the user asked to stop (Ctrl-C): the audit finishes the item in hand and
    /// returns what is done.
    fn cancelled(&self) -> bool {
        false
    }
}

/// Progress that reports nothing and never cancels.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};

    use super::*;

    /// Counts what it is told, and cancels after `stop_after` items.
    struct Counting {
        tasks: RefCell<Vec<(String, u64)>>,
        done: Cell<u64>,
        stop_after: u64,
    }

    impl Progress for Counting {
        fn begin(&self, task: &str, total: u64) {
            self.tasks.borrow_mut().push((task.to_string(), total));
        }
        fn advance(&self, done: u64) {
            self.done.set(self.done.get() + done);
        }
        fn end(&self) {}
        fn cancelled(&self) -> bool {
            self.done.get() >= self.stop_after
        }
    }

    /// A loop written against the trait, as an audit is.
    fn work(progress: &dyn Progress, items: u64) -> u64 {
        progress.begin("work", items);
        let mut finished = 0;
        for _ in 0..items {
            if progress.cancelled() {
                break;
            }
            finished += 1;
            progress.advance(1);
        }
        progress.end();
        finished
    }

    #[test]
    fn silent_never_cancels_and_a_custom_progress_can() {
        assert_eq!(work(&Silent, 5), 5);
        let counting = Counting {
            tasks: RefCell::new(Vec::new()),
            done: Cell::new(0),
            stop_after: 3,
        };
        assert_eq!(work(&counting, 10), 3);
        assert_eq!(
            counting.tasks.borrow().as_slice(),
            &[("work".to_string(), 10)]
        );
    }
}
