//! The statistics of randomized smoothing against SciPy 1.17.1 (values computed with
//! `scipy.stats.beta.ppf(alpha, k, n - k + 1)`, `scipy.stats.norm.ppf(p)` and
//! `scipy.stats.binomtest(k, n, 0.5).pvalue` in the repository's `.venv`, and hard-coded).

use gauntlet_eval::stats::{
    binomial_test_half, clopper_pearson_lower, normal_cdf, normal_quantile,
};

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, SciPy says {want} (|Δ| = {:e})",
        (got - want).abs()
    );
}

#[test]
fn clopper_pearson_lower_bound_matches_scipy_beta_ppf() {
    // (k, n, alpha, scipy.stats.beta.ppf(alpha, k, n - k + 1))
    let cases = [
        (990, 1000, 0.001, 0.9760361871553114),
        (100, 100, 0.001, 0.933254300796991),
        (9990, 10000, 0.001, 0.9975883080325683),
        (5000, 10000, 0.001, 0.484502946113578),
        (1, 10, 0.05, 0.005116196891823701),
        (7, 10, 0.05, 0.39337578389458766),
        (99990, 100000, 0.001, 0.9997586773435911),
    ];
    for (k, n, alpha, want) in cases {
        close(
            clopper_pearson_lower(k, n, alpha),
            want,
            1e-9,
            &format!("CP({k}/{n}, α={alpha})"),
        );
    }
    assert_eq!(
        clopper_pearson_lower(0, 50, 0.001),
        0.0,
        "no success: bound 0"
    );
}

#[test]
fn normal_quantile_matches_scipy_norm_ppf() {
    let cases = [
        (0.5, 0.0),
        (0.6, 0.2533471031357997),
        (0.9, 1.2815515655446004),
        (0.975, 1.959963984540054),
        (0.999, 3.090232306167813),
        (0.9999, 3.719016485455709),
        (1e-6, -4.753424308822899),
        (0.3, -0.5244005127080409),
    ];
    for (p, want) in cases {
        close(normal_quantile(p), want, 1e-9, &format!("Φ⁻¹({p})"));
        close(normal_cdf(want), p, 1e-12, &format!("Φ(Φ⁻¹({p}))"));
    }
}

#[test]
fn two_sided_binomial_test_matches_scipy_binomtest() {
    let cases = [
        (60, 100, 0.05688793364098089),
        (50, 100, 1.0),
        (8, 10, 0.109375),
        (10, 10, 0.001953125),
        (520, 1000, 0.2174482932041415),
        (0, 5, 0.0625),
    ];
    for (k, n, want) in cases {
        close(
            binomial_test_half(k, n),
            want,
            1e-10,
            &format!("binomtest({k}, {n})"),
        );
    }
}
