//! Which samples an attack poisons: exactly `round(fraction · n)` of them, drawn without
//! replacement by a seeded generator from the samples the attack may use.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use gauntlet_core::{Error, Result};

/// How many of `n` training samples a `fraction` poisons: `round(fraction · n)`, at least 1.
pub fn poison_count(fraction: f64, n: usize) -> Result<usize> {
    if !(fraction.is_finite() && fraction > 0.0 && fraction <= 1.0) {
        return Err(Error::Parameter(format!(
            "--fraction {fraction} is outside (0, 1]; give the share of the training set to \
             poison, e.g. 0.1 for 10 %"
        )));
    }
    let k = (fraction * n as f64).round() as usize;
    if k == 0 {
        return Err(Error::Parameter(format!(
            "--fraction {fraction} of {n} training samples rounds to no sample at all; raise \
             --fraction to at least {:.2e}",
            0.5 / n as f64
        )));
    }
    Ok(k)
}

/// `k` of `candidates`, drawn without replacement, sorted ascending. `what` names the
/// candidates in the error when there are fewer than `k`.
pub fn choose(candidates: &[usize], k: usize, what: &str, rng: &mut StdRng) -> Result<Vec<usize>> {
    if candidates.len() < k {
        return Err(Error::Parameter(format!(
            "the attack needs {k} {what} to poison but the training set has only {}; lower \
             --fraction",
            candidates.len()
        )));
    }
    let mut chosen: Vec<usize> = candidates.choose_multiple(rng, k).copied().collect();
    chosen.sort_unstable();
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn counts_round_and_refuse_nonsense() {
        assert_eq!(poison_count(0.1, 1000).unwrap(), 100);
        assert_eq!(poison_count(0.0125, 200).unwrap(), 3);
        assert_eq!(poison_count(1.0, 7).unwrap(), 7);
        for bad in [0.0, -0.1, 1.5, f64::NAN] {
            assert!(poison_count(bad, 100)
                .unwrap_err()
                .to_string()
                .contains("(0, 1]"));
        }
        assert!(poison_count(0.001, 100)
            .unwrap_err()
            .to_string()
            .contains("no sample"));
    }

    #[test]
    fn choice_is_seeded_sorted_and_distinct() {
        let pool: Vec<usize> = (0..50).map(|i| 2 * i).collect();
        let a = choose(&pool, 10, "samples", &mut StdRng::seed_from_u64(3)).unwrap();
        let b = choose(&pool, 10, "samples", &mut StdRng::seed_from_u64(3)).unwrap();
        let c = choose(&pool, 10, "samples", &mut StdRng::seed_from_u64(4)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert!(a.iter().all(|i| i % 2 == 0));
        assert!(choose(&pool, 51, "samples", &mut StdRng::seed_from_u64(3)).is_err());
    }
}
