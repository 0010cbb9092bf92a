//! The few statistics randomized smoothing needs, in `f64`: the one-sided Clopper–Pearson
//! lower confidence bound of a binomial proportion, the standard normal quantile Φ⁻¹ and the
//! two-sided binomial test against p = ½.
//!
//! Written here rather than taken from a statistics crate: three functions over two special
//! functions (the regularized incomplete beta and gamma functions, by their continued
//! fractions), checked against SciPy in `tests/stats.rs`.

/// Relative precision the continued fractions and series stop at.
const EPS: f64 = 1e-15;
/// Smallest magnitude the modified Lentz method lets a denominator reach.
const TINY: f64 = 1e-300;
/// Iteration cap of the continued fractions; they need O(√max(a, b)) terms.
const MAX_TERMS: usize = 100_000;

/// `ln Γ(x)` for `x > 0` (Lanczos approximation, g = 7, nine terms; relative error ~1e-15).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = C[0];
    for (i, c) in C.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// The continued fraction of the incomplete beta function (modified Lentz), converging fast
/// for `x < (a + 1) / (a + b + 2)`.
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0));
    let mut h = d;
    for m in 1..=MAX_TERMS {
        let m = m as f64;
        let m2 = 2.0 * m;
        // Even step.
        let aa = m * (b - m) * x / ((a - 1.0 + m2) * (a + m2));
        d = 1.0 / guard(1.0 + aa * d);
        c = guard(1.0 + aa / c);
        h *= d * c;
        // Odd step.
        let aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1.0 + m2));
        d = 1.0 / guard(1.0 + aa * d);
        c = guard(1.0 + aa / c);
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// The regularized incomplete beta function `I_x(a, b)`, the CDF of Beta(a, b) at `x`.
pub fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (-x).ln_1p();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

/// The `q`-quantile of Beta(a, b): the `x` with `I_x(a, b) = q` (bisection; I is increasing).
pub fn beta_quantile(q: f64, a: f64, b: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if incomplete_beta(a, b, mid) < q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// One-sided Clopper–Pearson lower bound, at confidence `1 − alpha`, of the success
/// probability of a binomial with `successes` out of `trials`: the `alpha`-quantile of
/// Beta(k, n − k + 1), and 0 when `k = 0`. (Equals the lower end of statsmodels'
/// `proportion_confint(k, n, alpha=2·alpha, method="beta")`, as Cohen et al. compute it.)
pub fn clopper_pearson_lower(successes: u64, trials: u64, alpha: f64) -> f64 {
    assert!(successes <= trials, "more successes than trials");
    if successes == 0 {
        return 0.0;
    }
    let (k, n) = (successes as f64, trials as f64);
    beta_quantile(alpha, k, n - k + 1.0)
}

/// The regularized upper incomplete gamma function `Q(a, x)`, for `a > 0`, `x ≥ 0`
/// (series for `x < a + 1`, continued fraction beyond).
pub fn upper_incomplete_gamma(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let ln_front = -x + a * x.ln() - ln_gamma(a);
    if x < a + 1.0 {
        let (mut term, mut sum, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..MAX_TERMS {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * EPS {
                break;
            }
        }
        1.0 - sum * ln_front.exp()
    } else {
        let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..=MAX_TERMS {
            let i = i as f64;
            let an = -i * (i - a);
            b += 2.0;
            d = 1.0 / guard(an * d + b);
            c = guard(b + an / c);
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < EPS {
                break;
            }
        }
        ln_front.exp() * h
    }
}

/// The upper tail of the standard normal, `1 − Φ(x)` for `x ≥ 0`, without cancellation:
/// `½ erfc(x/√2) = ½ Q(½, x²/2)`.
fn normal_upper_tail(x: f64) -> f64 {
    0.5 * upper_incomplete_gamma(0.5, 0.5 * x * x)
}

/// The standard normal CDF Φ.
pub fn normal_cdf(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 - normal_upper_tail(x)
    } else {
        normal_upper_tail(-x)
    }
}

/// The standard normal quantile Φ⁻¹(p) for `p` in (0, 1); ±∞ at 1 and 0. Solved on the
/// smaller tail by bisection, so tiny tail probabilities keep their precision.
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    // The x ≥ 0 whose upper tail is `tail` (≤ ½); the tail decreases in x.
    let solve = |tail: f64| {
        let (mut lo, mut hi) = (0.0f64, 40.0f64);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            if normal_upper_tail(mid) > tail {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    };
    if p < 0.5 {
        -solve(p)
    } else {
        solve(1.0 - p)
    }
}

/// Two-sided exact binomial test of `successes` out of `trials` against p = ½: the
/// probability of an outcome at least as far from `trials/2`. By symmetry this is
/// `2 · P(X ≤ min(k, n − k))`, capped at 1; `P(X ≤ m) = I_½(n − m, m + 1)`.
pub fn binomial_test_half(successes: u64, trials: u64) -> f64 {
    assert!(successes <= trials, "more successes than trials");
    let m = successes.min(trials - successes);
    if 2 * m >= trials {
        return 1.0;
    }
    let cdf = incomplete_beta((trials - m) as f64, (m + 1) as f64, 0.5);
    (2.0 * cdf).min(1.0)
}
