//! The statistical tests of the drift report, computed from sketches: Kolmogorov–Smirnov,
//! Wasserstein (normed) and PSI from KLL quantile sketches; chi-square, Z (two proportions) and
//! Jensen–Shannon from frequent-item counts. Each returns a score and whether it drifted at a
//! threshold. Distribution functions (Kolmogorov, chi-square, normal) are the standard series
//! and continued fractions (Numerical Recipes, 3rd ed., §6.2, §6.14).

// Statistics read best with their textbook names (a, b, p, q, x, ...).
#![allow(clippy::many_single_char_names)]

use super::kll::Kll;

/// Quantile grid the integral tests use: 1000 midpoints of `(0, 1)`.
const GRID: usize = 1000;

/// The two-sample Kolmogorov–Smirnov statistic `D = sup |F_old - F_new|`, evaluated at every
/// item either sketch retains (where the step functions jump). With sketches of rank error
/// `ε₁, ε₂`, `|D - D_exact| ≤ ε₁ + ε₂`.
pub(crate) fn ks_statistic(a: &Kll, b: &Kll) -> f64 {
    let mut points = a.quantiles(&grid_ranks(4 * GRID));
    points.extend(b.quantiles(&grid_ranks(4 * GRID)));
    let points: Vec<f64> = points.into_iter().flatten().collect();
    let fa = a.cdf(&points);
    let fb = b.cdf(&points);
    fa.iter()
        .zip(&fb)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn grid_ranks(n: usize) -> Vec<f64> {
    (0..n).map(|i| (i as f64 + 0.5) / n as f64).collect()
}

/// The asymptotic p-value of a KS statistic `d` for samples of `n` and `m` values (Stephens'
/// correction of the Kolmogorov distribution, as scipy's `ks_2samp` with `method="asymp"`).
pub(crate) fn ks_pvalue(d: f64, n: u64, m: u64) -> f64 {
    if n == 0 || m == 0 {
        return 1.0;
    }
    let en = ((n as f64 * m as f64) / (n + m) as f64).sqrt();
    kolmogorov_q((en + 0.12 + 0.11 / en) * d)
}

/// `Q_KS(λ) = 2 Σ (-1)^(j-1) exp(-2 j² λ²)`.
fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    let mut sign = 1.0;
    for j in 1..=100 {
        let j = f64::from(j);
        let term = sign * (-2.0 * j * j * lambda * lambda).exp();
        sum += term;
        if term.abs() < 1e-12 {
            break;
        }
        sign = -sign;
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// Wasserstein-1 distance between the two distributions, `∫₀¹ |Q_old(u) - Q_new(u)| du` on a
/// grid of 1000 ranks, divided by `max(std_old, 0.001)` (Evidently's "normed" Wasserstein).
pub(crate) fn wasserstein_normed(a: &Kll, b: &Kll, std_old: f64) -> f64 {
    let r = grid_ranks(GRID);
    let qa = a.quantiles(&r);
    let qb = b.quantiles(&r);
    let w: f64 = qa
        .iter()
        .zip(&qb)
        .filter_map(|(x, y)| Some((x.as_ref()? - y.as_ref()?).abs()))
        .sum::<f64>()
        / GRID as f64;
    w / std_old.max(0.001)
}

/// Population stability index over 10 bins at the old distribution's deciles (proportions
/// floored at 0.0001, as Evidently does).
pub(crate) fn psi(a: &Kll, b: &Kll) -> f64 {
    let edges: Vec<f64> = a
        .quantiles(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
        .into_iter()
        .flatten()
        .collect();
    let ca = a.cdf(&edges);
    let cb = b.cdf(&edges);
    let bins = |c: &[f64]| -> Vec<f64> {
        let mut out = Vec::with_capacity(c.len() + 1);
        let mut prev = 0.0;
        for &x in c {
            out.push(x - prev);
            prev = x;
        }
        out.push(1.0 - prev);
        out
    };
    bins(&ca)
        .iter()
        .zip(bins(&cb))
        .map(|(&p, q)| {
            let (p, q) = (p.max(0.0001), q.max(0.0001));
            (q - p) * (q / p).ln()
        })
        .sum()
}

/// Jensen–Shannon distance (natural log, as scipy's `jensenshannon`) of two count vectors
/// over the same categories.
pub(crate) fn jensen_shannon(a: &[f64], b: &[f64]) -> f64 {
    let (sa, sb): (f64, f64) = (a.iter().sum(), b.iter().sum());
    if sa <= 0.0 || sb <= 0.0 {
        return 0.0;
    }
    let mut js = 0.0;
    for (&x, &y) in a.iter().zip(b) {
        let (p, q) = (x / sa, y / sb);
        let m = f64::midpoint(p, q);
        if p > 0.0 {
            js += p * (p / m).ln() / 2.0;
        }
        if q > 0.0 {
            js += q * (q / m).ln() / 2.0;
        }
    }
    js.max(0.0).sqrt()
}

/// Chi-square goodness of fit of the new counts against the old proportions (Evidently:
/// `chisquare(f_obs = new, f_exp = old · n_new / n_old)`); returns the p-value.
pub(crate) fn chi_square_pvalue(old: &[f64], new: &[f64]) -> f64 {
    let (so, sn): (f64, f64) = (old.iter().sum(), new.iter().sum());
    if so <= 0.0 || sn <= 0.0 {
        return 1.0;
    }
    let mut stat = 0.0;
    let mut dof = -1.0;
    for (&o, &n) in old.iter().zip(new) {
        let exp = o * sn / so;
        if exp > 0.0 {
            stat += (n - exp) * (n - exp) / exp;
            dof += 1.0;
        } else if n > 0.0 {
            // A category the old version never had: infinitely unlikely under it.
            return 0.0;
        }
    }
    if dof < 1.0 {
        return 1.0;
    }
    gamma_q(dof / 2.0, stat / 2.0)
}

/// Two-proportion Z-test of the share of the first category; returns the two-sided p-value.
pub(crate) fn z_test_pvalue(x1: f64, n1: f64, x2: f64, n2: f64) -> f64 {
    if n1 <= 0.0 || n2 <= 0.0 {
        return 1.0;
    }
    let p = (x1 + x2) / (n1 + n2);
    let se = (p * (1.0 - p) * (1.0 / n1 + 1.0 / n2)).sqrt();
    if se == 0.0 {
        return if (x1 / n1 - x2 / n2).abs() > 0.0 {
            0.0
        } else {
            1.0
        };
    }
    let z = (x1 / n1 - x2 / n2) / se;
    erfc(z.abs() / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 6] = [
        76.180_091_729_471_46,
        -86.505_320_329_416_77,
        24.014_098_240_830_91,
        -1.231_739_572_450_155,
        0.120_865_097_386_617_9e-2,
        -0.539_523_938_495_3e-5,
    ];
    let mut y = x;
    let tmp = x + 5.5;
    let tmp = tmp - (x + 0.5) * tmp.ln();
    let mut ser = 1.000_000_000_190_015;
    for c in C {
        y += 1.0;
        ser += c / y;
    }
    -tmp + (2.506_628_274_631_000_5 * ser / x).ln()
}

/// Regularized upper incomplete gamma `Q(a, x)`: the chi-square survival function is
/// `Q(k/2, χ²/2)`.
fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let gln = ln_gamma(a);
    if x < a + 1.0 {
        let mut ap = a;
        let mut sum = 1.0 / a;
        let mut del = sum;
        for _ in 0..1000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        (1.0 - sum * (-x + a * x.ln() - gln).exp()).clamp(0.0, 1.0)
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -f64::from(i) * (f64::from(i) - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-15 {
                break;
            }
        }
        ((-x + a * x.ln() - gln).exp() * h).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    #[test]
    fn distribution_functions_match_known_values() {
        // scipy.stats.chi2.sf(3.84, 1) = 0.05004, chi2.sf(10, 4) = 0.04043
        assert!((gamma_q(0.5, 3.84 / 2.0) - 0.05004).abs() < 1e-4);
        assert!((gamma_q(2.0, 5.0) - 0.04043).abs() < 1e-4);
        // 2·(1 - Φ(1.96)) = 0.05
        assert!((erfc(1.96 / std::f64::consts::SQRT_2) - 0.05).abs() < 1e-3);
        // Kolmogorov: Q(1.36) ≈ 0.0495
        assert!((kolmogorov_q(1.36) - 0.0495).abs() < 1e-3);
    }

    #[test]
    fn js_and_chi_square_on_counts() {
        assert!(jensen_shannon(&[10.0, 10.0], &[10.0, 10.0]) < 1e-12);
        // Disjoint supports: sqrt(ln 2).
        assert!((jensen_shannon(&[1.0, 0.0], &[0.0, 1.0]) - 2f64.ln().sqrt()).abs() < 1e-12);
        assert!(chi_square_pvalue(&[500.0, 500.0], &[500.0, 500.0]) > 0.99);
        assert!(chi_square_pvalue(&[500.0, 500.0], &[600.0, 400.0]) < 0.001);
        assert_eq!(chi_square_pvalue(&[10.0, 0.0], &[10.0, 1.0]), 0.0);
    }

    #[test]
    fn ks_and_wasserstein_on_sketches() {
        let mut a = Kll::new();
        let mut b = Kll::new();
        let mut c = Kll::new();
        for i in 0..10_000 {
            a.update(f64::from(i));
            b.update(f64::from(i) + 0.5);
            c.update(f64::from(i) + 5_000.0);
        }
        assert!(ks_statistic(&a, &b) < 0.03);
        assert!((ks_statistic(&a, &c) - 0.5).abs() < 0.03);
        let std = 10_000.0 / 12f64.sqrt();
        assert!(wasserstein_normed(&a, &b, std) < 0.01);
        assert!((wasserstein_normed(&a, &c, std) - 5_000.0 / std).abs() < 0.05);
        assert!(psi(&a, &b) < 0.01);
        assert!(psi(&a, &c) > 1.0);
    }
}
