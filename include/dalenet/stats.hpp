#pragma once
// Distribution fitting for weight statistics: maximum-likelihood fits of lognormal, normal,
// gamma and exponential distributions to positive samples, Kolmogorov-Smirnov distances,
// and Vuong's log-likelihood-ratio test between non-nested models. Checked in the tests on
// synthetic samples with known parameters.
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace dalenet::stats {

enum class Family { lognormal, normal, gamma, exponential };
std::string to_string(Family f);

struct Fit {
  Family family;
  double p1 = 0.0, p2 = 0.0;    // lognormal: mu, sigma of ln x; normal: mean, sd; gamma: shape k, scale theta;
                                // exponential: rate lambda (p2 unused)
  double log_likelihood = 0.0;  // total over the sample
  double ks = 0.0;              // Kolmogorov-Smirnov distance sup |F_n - F|
  double log_pdf(double x) const;
  double cdf(double x) const;
};

// ML fit of `family` to `x` (every value > 0 for lognormal/gamma/exponential). Throws InputError
// for samples that are too small (< 2) or invalid.
Fit fit(Family family, std::span<const double> x);

struct Vuong {
  double statistic = 0.0;  // z = sqrt(n) * mean(l) / sd(l), l_i = log f_a(x_i) - log f_b(x_i)
  double p_value = 1.0;    // two-sided, standard normal
  std::string preferred;   // family with the larger likelihood if p < 0.05, else "neither"
};
// Vuong (1989) test for non-nested models a and b fitted to the same sample.
Vuong vuong(const Fit& a, const Fit& b, std::span<const double> x);

double mean(std::span<const double> x);
double skewness(std::span<const double> x);  // sample skewness g1
double normal_cdf(double z);
double digamma(double x);
double trigamma(double x);
double gamma_p(double a, double x);  // regularised lower incomplete gamma P(a, x)

// Regularised incomplete beta I_x(a, b).
double incomplete_beta(double a, double b, double x);
// Student t with `dof` degrees of freedom: CDF and quantile. These special functions are
// Boost.Math's; InputError for arguments outside their domains.
double student_t_cdf(double t, double dof);
double student_t_quantile(double p, double dof);

// Mean and 95 % confidence half-width (Student t, n - 1 dof) of a sample; half_width is NaN for
// n < 2. What every table of few-shot and robustness results reports.
struct MeanCI {
  double mean = 0.0, half_width = 0.0;
  std::size_t n = 0;
};
MeanCI mean_ci95(std::span<const double> x);

// ---- absolute goodness of fit ----------------------------------------------------------------
// Vuong's test is relative: at n ~ 1e5 it calls one family "preferred" over another even when
// neither fits. The absolute test below can reject lognormal outright.
//
// Anderson-Darling statistic A^2 of y against the normal with y's own mean and sd (n - 1),
// i.e. Stephens' case 3 (both parameters estimated). Needs n >= 3 and a non-zero spread.
double anderson_darling_normal(std::span<const double> y);
// D'Agostino & Stephens (1986, table 4.9) closed-form p-value of case 3, from the modified
// statistic A*^2 = A^2 (1 + 0.75/n + 2.25/n^2). Used to check the bootstrap, not by the audit.
double anderson_darling_normal_p_closed_form(double a2, std::size_t n);

struct AbsoluteFitOptions {
  std::size_t sample_size = 2000;  // a seeded random subsample of this many values (all if fewer)
  int replicates = 500;            // parametric-bootstrap samples
  double level = 0.05;             // the pre-stated level: rejected if p < level
  std::uint64_t seed = 20260303;   // fixed: the test is a deterministic function of the data
};
struct AbsoluteFit {
  std::size_t n = 0;       // values tested (the subsample)
  double statistic = 0.0;  // A^2 of ln x
  double p_value = 1.0;    // (1 + #{A_b^2 >= A^2}) / (1 + replicates)
  bool rejected = false;   // p_value < level
};
// Is x lognormal, in absolute terms? The Anderson-Darling test that ln x is normal, with its
// p-value from a parametric bootstrap: `replicates` normal samples of the subsample's size, drawn
// with the fitted mean and sd, refitted and scored the same way (Stute, Manteiga & Quindimil
// 1993). Every value must be > 0.
AbsoluteFit lognormal_absolute_test(std::span<const double> x, const AbsoluteFitOptions& opts = {});

// Normal QQ points of ln x: for p_i = (i - 0.5) / points, the standard-normal quantile and the
// sample quantile of (ln x - mean) / sd. A lognormal sample lies on the diagonal.
std::vector<std::pair<double, double>> lognormal_qq(std::span<const double> x, int points = 99);

// All four fits plus Vuong tests of lognormal against each alternative, the absolute test
// ("absolute_fit") and the QQ points ("qq": [[normal quantile, sample quantile], ...]), as JSON.
nlohmann::json lognormal_report(std::span<const double> x, const AbsoluteFitOptions& absolute = {});

}  // namespace dalenet::stats
