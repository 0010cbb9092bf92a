//! A client-side rate limit shared by every thread of one transport.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Spaces requests at least `1 / per_second` apart (a token bucket holding one token), so a
/// target's requests-per-second quota is never exceeded, not even in a burst.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// `per_second` must be finite and positive (checked by the settings).
    pub(crate) fn new(per_second: f64) -> Self {
        RateLimiter {
            interval: Duration::from_secs_f64(1.0 / per_second),
            next: Mutex::new(None),
        }
    }

    /// Waits for this request's slot.
    pub(crate) fn acquire(&self) {
        let now = Instant::now();
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let slot = next.map_or(now, |t| t.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        if slot > now {
            std::thread::sleep(slot - now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_spaced_even_from_several_threads() {
        let limiter = RateLimiter::new(100.0);
        let start = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..3 {
                        limiter.acquire();
                    }
                });
            }
        });
        // Nine requests at 100/s: the last one is at least 80 ms after the first.
        assert!(start.elapsed() >= Duration::from_millis(80));
    }
}
