#pragma once
// Distribution fitting for weight statistics: maximum-likelihood fits of lognormal, normal,
// gamma and exponential distributions to positive samples, Kolmogorov-Smirnov distances,
// and Vuong's log-likelihood-ratio test between non-nested models. Checked in the tests on
// synthetic samples with known parameters.
#include <span>
#include <string>
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

// Regularised incomplete beta I_x(a, b) (continued fraction, Numerical Recipes 6.4).
double incomplete_beta(double a, double b, double x);
// Student t with `dof` degrees of freedom: CDF, and the quantile by bisection on it.
double student_t_cdf(double t, double dof);
double student_t_quantile(double p, double dof);

// Mean and 95 % confidence half-width (Student t, n - 1 dof) of a sample; half_width is NaN for
// n < 2. What every table of few-shot and robustness results reports.
struct MeanCI {
  double mean = 0.0, half_width = 0.0;
  std::size_t n = 0;
};
MeanCI mean_ci95(std::span<const double> x);

// All four fits plus Vuong tests of lognormal against each alternative, as JSON.
nlohmann::json lognormal_report(std::span<const double> x);

}  // namespace dalenet::stats
