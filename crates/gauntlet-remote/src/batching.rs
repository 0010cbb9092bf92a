//! Splitting one batch into requests, sending several at once, and putting the answers back
//! in order.

use gauntlet_core::Result;

/// Sends `n` rows of `features` values as requests of at most `per_request` rows, at most
/// `in_flight` at a time, and returns the `n × classes` answers in the order of the rows.
/// After a request fails no new one starts, and the error of the earliest failed request is
/// returned.
pub(crate) fn in_chunks(
    rows: &[f32],
    n: usize,
    features: usize,
    classes: usize,
    per_request: usize,
    in_flight: usize,
    send: impl Fn(&[f32], usize) -> Result<Vec<f32>> + Sync,
) -> Result<Vec<f32>> {
    let per_request = per_request.max(1);
    let chunks = n.div_ceil(per_request);
    let chunk = |i: usize| {
        let start = i * per_request;
        let m = per_request.min(n - start);
        (&rows[start * features..(start + m) * features], m)
    };
    let parts = gauntlet_transport::parallel::in_flight(chunks, in_flight, |i| {
        let (part, m) = chunk(i);
        send(part, m)
    })?;
    let mut out = Vec::with_capacity(n * classes);
    for part in parts {
        out.extend(part);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gauntlet_core::Error;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn answers_come_back_in_row_order_with_bounded_concurrency() {
        let rows: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let active = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let out = in_chunks(&rows, 10, 1, 1, 3, 2, |part, m| {
            let now = active.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(5 * (4 - m as u64)));
            active.fetch_sub(1, Ordering::SeqCst);
            Ok(part.iter().map(|v| v * 10.0).collect())
        })
        .unwrap();
        assert_eq!(out, (0..10).map(|i| i as f32 * 10.0).collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= 2);
    }

    #[test]
    fn the_earliest_failure_is_reported() {
        let rows = vec![0.0f32; 8];
        let e = in_chunks(&rows, 8, 1, 1, 2, 4, |part, _| {
            Err::<Vec<f32>, _>(Error::Model(format!("{}", part.len())))
        });
        assert!(e.is_err());
        let calls = AtomicUsize::new(0);
        let e = in_chunks(&rows, 8, 1, 1, 2, 1, |_, _| {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<Vec<f32>, _>(Error::Model("down".into()))
        });
        assert_eq!(e.unwrap_err().to_string(), "down");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
