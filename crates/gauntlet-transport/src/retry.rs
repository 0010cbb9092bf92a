//! Retrying a flaky target: how often, how long to wait in between, and what is worth another
//! try.

use std::time::Duration;

use crate::error::{Result, TransportError};

/// How a transport retries a failed exchange: up to `retries` more tries after the first, the
/// n-th retry after `backoff_base · 2ⁿ⁻¹`, never waiting longer than `backoff_max` (unless the
/// target asks for more with `Retry-After`, honoured up to a minute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries after the first one (0: never retry).
    pub retries: u32,
    /// Wait before the first retry; doubled for every further one.
    pub backoff_base: Duration,
    /// Longest wait between two tries.
    pub backoff_max: Duration,
}

impl Default for RetryPolicy {
    /// 3 retries, waiting 200 ms, 400 ms, 800 ms; never more than 10 s.
    fn default() -> Self {
        RetryPolicy {
            retries: 3,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(10),
        }
    }
}

/// The longest `Retry-After` a target may ask for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

impl RetryPolicy {
    /// Total tries, the first included.
    pub fn attempts(&self) -> u32 {
        self.retries.saturating_add(1)
    }

    /// The wait after the `failed`-th failed try (1-based).
    pub fn delay(&self, failed: u32) -> Duration {
        let factor = 1u32
            .checked_shl(failed.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.backoff_base
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(self.backoff_max)
    }
}

/// Why one try failed.
pub(crate) enum Failure {
    /// Worth another try (connection error, timeout, 429/5xx, an unreadable answer). `cause`
    /// says what happened; `wait` is a delay the target asked for; `unusable_answer` is set
    /// when the target did answer, but not in the declared format.
    Retry {
        cause: String,
        wait: Option<Duration>,
        unusable_answer: bool,
    },
    /// Trying again would fail the same way (a 4xx, a redirect elsewhere, a bad setting).
    Fatal(TransportError),
}

impl Failure {
    /// The target could not be reached or did not answer in time.
    pub(crate) fn retry(cause: impl Into<String>) -> Self {
        Failure::Retry {
            cause: cause.into(),
            wait: None,
            unusable_answer: false,
        }
    }

    /// The target answered something that cannot be decoded.
    pub(crate) fn unusable(cause: impl Into<String>) -> Self {
        Failure::Retry {
            cause: cause.into(),
            wait: None,
            unusable_answer: true,
        }
    }
}

/// Runs `try_once(attempt)` (1-based) until it succeeds, fails fatally, or `policy` gives up;
/// then `give_up(last cause, attempts made, whether the last answer was unusable)` is the
/// error.
pub(crate) fn with_retries<T>(
    policy: &RetryPolicy,
    mut try_once: impl FnMut(u32) -> std::result::Result<T, Failure>,
    give_up: impl FnOnce(&str, u32, bool) -> TransportError,
) -> Result<T> {
    let attempts = policy.attempts();
    let mut last = String::new();
    let mut last_unusable = false;
    for attempt in 1..=attempts {
        match try_once(attempt) {
            Ok(value) => return Ok(value),
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Retry {
                cause,
                wait,
                unusable_answer,
            }) => {
                last = cause;
                last_unusable = unusable_answer;
                if attempt < attempts {
                    let asked = wait.unwrap_or_default().min(MAX_RETRY_AFTER);
                    std::thread::sleep(policy.delay(attempt).max(asked));
                }
            }
        }
    }
    Err(give_up(&last, attempts, last_unusable))
}

/// "failed" or "failed 3 times in a row", for give-up messages.
pub(crate) fn failed_times(attempts: u32) -> String {
    if attempts == 1 {
        "failed".into()
    } else {
        format!("failed {attempts} times in a row")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            retries: 40,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(1),
        };
        let d: Vec<u128> = (1..=5).map(|i| p.delay(i).as_millis()).collect();
        assert_eq!(d, vec![200, 400, 800, 1000, 1000]);
        assert_eq!(p.delay(40), Duration::from_secs(1));
        assert_eq!(p.attempts(), 41);
    }

    #[test]
    fn retries_until_success_and_stops_at_fatal_errors() {
        let p = RetryPolicy {
            retries: 3,
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_millis(1),
        };
        let mut tries = 0;
        let v = with_retries(
            &p,
            |a| {
                tries += 1;
                if a < 3 {
                    Err(Failure::retry("flaky"))
                } else {
                    Ok(a)
                }
            },
            |_, _, _| unreachable!(),
        );
        assert_eq!((v.unwrap(), tries), (3, 3));
        let e = with_retries(
            &p,
            |_| Err::<(), _>(Failure::retry("down")),
            |c, n, u| TransportError::Failed(format!("{c} after {n} {u}")),
        );
        assert_eq!(e.unwrap_err().to_string(), "down after 4 false");
        let e = with_retries(
            &p,
            |_| Err::<(), _>(Failure::unusable("garbled")),
            |c, n, u| TransportError::Failed(format!("{c} after {n} {u}")),
        );
        assert_eq!(e.unwrap_err().to_string(), "garbled after 4 true");
        let mut tries = 0;
        let e = with_retries(
            &p,
            |_| {
                tries += 1;
                Err::<(), _>(Failure::Fatal(TransportError::Failed("no".into())))
            },
            |_, _, _| unreachable!(),
        );
        assert!(e.is_err() && tries == 1);
    }
}
