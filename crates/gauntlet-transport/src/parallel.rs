//! Several requests in flight at once, answers back in order: what an HTTP target does with a
//! batch, whatever it sends (image rows, texts).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Runs `job(0)`, …, `job(jobs − 1)` on at most `in_flight` threads and returns their answers
/// in index order. After a job fails no new one starts, and the error of the earliest failed
/// job (by index) is returned; the jobs before it have all finished by then, because each
/// thread takes indices in increasing order and finishes the one it holds.
pub fn in_flight<T: Send, E: Send>(
    jobs: usize,
    in_flight: usize,
    job: impl Fn(usize) -> Result<T, E> + Sync,
) -> Result<Vec<T>, E> {
    let workers = in_flight.max(1).min(jobs);
    if workers <= 1 {
        return (0..jobs).map(&job).collect();
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let mut answers: Vec<(usize, Result<T, E>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    while !failed.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= jobs {
                            break;
                        }
                        let answer = job(i);
                        if answer.is_err() {
                            failed.store(true, Ordering::Relaxed);
                        }
                        mine.push((i, answer));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    answers.sort_by_key(|(i, _)| *i);
    answers.into_iter().map(|(_, answer)| answer).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn answers_come_back_in_order_whatever_finishes_first() {
        for in_flight in [1, 2, 4, 16] {
            let out: Result<Vec<usize>, ()> = in_flight_run(20, in_flight, |i| {
                std::thread::sleep(std::time::Duration::from_micros(((20 - i) * 50) as u64));
                Ok(i * i)
            });
            assert_eq!(out.unwrap(), (0..20).map(|i| i * i).collect::<Vec<_>>());
        }
    }

    #[test]
    fn the_earliest_failure_wins_and_no_job_starts_after_it() {
        for in_flight in [1, 3] {
            let started = Mutex::new(Vec::new());
            let out: Result<Vec<usize>, usize> = in_flight_run(50, in_flight, |i| {
                started.lock().unwrap().push(i);
                if i == 5 || i == 7 {
                    Err(i)
                } else {
                    Ok(i)
                }
            });
            assert_eq!(out, Err(5));
            let started = started.into_inner().unwrap();
            // Only the jobs already taken when the first failure was seen may still run.
            assert!(started.len() < 5 + 2 * in_flight + 1, "{started:?}");
        }
    }

    fn in_flight_run<T: Send, E: Send>(
        jobs: usize,
        n: usize,
        job: impl Fn(usize) -> Result<T, E> + Sync,
    ) -> Result<Vec<T>, E> {
        in_flight(jobs, n, job)
    }
}
