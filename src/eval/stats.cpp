#include "dalenet/stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <boost/math/special_functions/beta.hpp>
#include <boost/math/special_functions/digamma.hpp>
#include <boost/math/special_functions/gamma.hpp>
#include <boost/math/special_functions/trigamma.hpp>

#include "dalenet/error.hpp"
#include "dalenet/rng.hpp"

namespace dalenet::stats {

std::string to_string(Family f) {
  switch (f) {
    case Family::lognormal:
      return "lognormal";
    case Family::normal:
      return "normal";
    case Family::gamma:
      return "gamma";
    case Family::exponential:
      return "exponential";
  }
  return "?";
}

double mean(std::span<const double> x) {
  double s = 0.0;
  for (double v : x) s += v;
  return x.empty() ? 0.0 : s / static_cast<double>(x.size());
}

double skewness(std::span<const double> x) {
  const double m = mean(x);
  double m2 = 0.0, m3 = 0.0;
  for (double v : x) {
    const double d = v - m;
    m2 += d * d;
    m3 += d * d * d;
  }
  const auto n = static_cast<double>(x.size());
  m2 /= n;
  m3 /= n;
  // Rounding leaves m2 ~ 1e-32 for a constant sample; below this relative floor there is no spread.
  const double floor = 1e-12 * std::max(1.0, std::abs(m));
  return m2 > floor * floor ? m3 / std::pow(m2, 1.5) : 0.0;
}

double normal_cdf(double z) {
  return 0.5 * std::erfc(-z / std::numbers::sqrt2);
}

// The special functions are Boost.Math's, accurate to a few ulps. Inside the fits a pole or a
// degenerate argument gives NaN or infinity, as IEEE arithmetic would, rather than an exception
// from deep inside an audit; the public wrappers below check their own arguments.
namespace {
namespace bm = boost::math;
using QuietPolicy = bm::policies::policy<bm::policies::domain_error<bm::policies::ignore_error>,
                                         bm::policies::pole_error<bm::policies::ignore_error>,
                                         bm::policies::overflow_error<bm::policies::ignore_error>,
                                         bm::policies::evaluation_error<bm::policies::ignore_error>>;
using StudentT = bm::students_t_distribution<double, QuietPolicy>;
}  // namespace

double digamma(double x) {
  return bm::digamma(x, QuietPolicy());
}

double trigamma(double x) {
  return bm::trigamma(x, QuietPolicy());
}

double gamma_p(double a, double x) {
  return x <= 0.0 ? 0.0 : bm::gamma_p(a, x, QuietPolicy());
}

double Fit::log_pdf(double x) const {
  constexpr double kHalfLog2Pi = 0.91893853320467274178;
  switch (family) {
    case Family::lognormal: {
      if (x <= 0.0) return -std::numeric_limits<double>::infinity();
      const double z = (std::log(x) - p1) / p2;
      return -std::log(x) - std::log(p2) - kHalfLog2Pi - 0.5 * z * z;
    }
    case Family::normal: {
      const double z = (x - p1) / p2;
      return -std::log(p2) - kHalfLog2Pi - 0.5 * z * z;
    }
    case Family::gamma:
      if (x <= 0.0) return -std::numeric_limits<double>::infinity();
      return (p1 - 1.0) * std::log(x) - x / p2 - std::lgamma(p1) - p1 * std::log(p2);
    case Family::exponential:
      if (x < 0.0) return -std::numeric_limits<double>::infinity();
      return std::log(p1) - p1 * x;
  }
  return 0.0;
}

double Fit::cdf(double x) const {
  switch (family) {
    case Family::lognormal:
      return x <= 0.0 ? 0.0 : normal_cdf((std::log(x) - p1) / p2);
    case Family::normal:
      return normal_cdf((x - p1) / p2);
    case Family::gamma:
      return gamma_p(p1, x / p2);
    case Family::exponential:
      return x <= 0.0 ? 0.0 : 1.0 - std::exp(-p1 * x);
  }
  return 0.0;
}

Fit fit(Family family, std::span<const double> x) {
  const std::size_t n = x.size();
  if (n < 2) throw InputError("distribution fit needs at least 2 samples, got " + std::to_string(n));
  for (double v : x) {
    if (!std::isfinite(v)) throw InputError("distribution fit: sample holds NaN/Inf");
    if (family != Family::normal && v <= 0.0)
      throw InputError("distribution fit (" + to_string(family) + "): samples must be > 0");
  }
  const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
  if (*lo == *hi && family != Family::exponential)  // a zero-variance sample: no spread to fit
    throw InputError("distribution fit (" + to_string(family) + "): sample has zero spread (all values equal " +
                     std::to_string(*lo) + ")");
  const auto nd = static_cast<double>(n);
  Fit f;
  f.family = family;
  switch (family) {
    case Family::lognormal: {
      double s = 0.0, s2 = 0.0;
      for (double v : x) s += std::log(v);
      f.p1 = s / nd;
      for (double v : x) s2 += (std::log(v) - f.p1) * (std::log(v) - f.p1);
      f.p2 = std::sqrt(s2 / nd);  // ML estimate (divides by n)
      break;
    }
    case Family::normal: {
      f.p1 = mean(x);
      double s2 = 0.0;
      for (double v : x) s2 += (v - f.p1) * (v - f.p1);
      f.p2 = std::sqrt(s2 / nd);
      break;
    }
    case Family::gamma: {
      // ML: ln k - digamma(k) = s := ln(mean) - mean(ln x); Minka's start, then Newton.
      const double m = mean(x);
      double ml = 0.0;
      for (double v : x) ml += std::log(v);
      ml /= nd;
      const double s = std::log(m) - ml;
      double k = s > 0.0 ? (3.0 - s + std::sqrt((s - 3.0) * (s - 3.0) + 24.0 * s)) / (12.0 * s) : 1e6;
      for (int it = 0; it < 100 && s > 0.0; ++it) {
        const double g = std::log(k) - digamma(k) - s;
        const double dg = 1.0 / k - trigamma(k);
        const double next = k - g / dg;
        k = next > 0.0 ? next : k / 2.0;
        if (std::abs(g) < 1e-13) break;
      }
      f.p1 = k;
      f.p2 = m / k;
      break;
    }
    case Family::exponential:
      f.p1 = 1.0 / mean(x);
      break;
  }
  if (family != Family::exponential && !(f.p2 > 0.0)) {
    // A degenerate sample (all values equal): report it rather than divide by zero.
    throw InputError("distribution fit (" + to_string(family) + "): sample has zero spread");
  }
  double ll = 0.0;
  for (double v : x) ll += f.log_pdf(v);
  f.log_likelihood = ll;
  std::vector<double> sorted(x.begin(), x.end());
  std::sort(sorted.begin(), sorted.end());
  double ks = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double F = f.cdf(sorted[i]);
    ks = std::max({ks, F - static_cast<double>(i) / nd, static_cast<double>(i + 1) / nd - F});
  }
  f.ks = ks;
  return f;
}

Vuong vuong(const Fit& a, const Fit& b, std::span<const double> x) {
  const auto n = static_cast<double>(x.size());
  double s = 0.0, s2 = 0.0;
  for (double v : x) {
    const double l = a.log_pdf(v) - b.log_pdf(v);
    s += l;
    s2 += l * l;
  }
  const double m = s / n;
  const double var = std::max(0.0, s2 / n - m * m);
  Vuong r;
  if (var <= 0.0) {
    r.statistic = 0.0;
    r.p_value = 1.0;
  } else {
    r.statistic = std::sqrt(n) * m / std::sqrt(var);
    r.p_value = 2.0 * normal_cdf(-std::abs(r.statistic));
  }
  r.preferred = r.p_value < 0.05 ? (r.statistic > 0 ? to_string(a.family) : to_string(b.family)) : "neither";
  return r;
}

double incomplete_beta(double a, double b, double x) {
  if (!(x >= 0.0 && x <= 1.0) || !(a > 0.0) || !(b > 0.0)) throw InputError("incomplete_beta: arguments out of range");
  return bm::ibeta(a, b, x, QuietPolicy());
}

double student_t_cdf(double t, double dof) {
  if (!(dof > 0.0)) throw InputError("student_t_cdf: dof must be > 0");
  if (std::isnan(t)) return t;
  return bm::cdf(StudentT(dof), t);
}

double student_t_quantile(double p, double dof) {
  if (!(p > 0.0 && p < 1.0)) throw InputError("student_t_quantile: p must be in (0, 1)");
  if (!(dof > 0.0)) throw InputError("student_t_quantile: dof must be > 0");
  return bm::quantile(StudentT(dof), p);
}

MeanCI mean_ci95(std::span<const double> x) {
  MeanCI r;
  r.n = x.size();
  if (x.empty()) {
    r.mean = r.half_width = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  r.mean = mean(x);
  if (x.size() < 2) {
    r.half_width = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  double ss = 0.0;
  for (double v : x) ss += (v - r.mean) * (v - r.mean);
  const double n = static_cast<double>(x.size());
  r.half_width = student_t_quantile(0.975, n - 1.0) * std::sqrt(ss / (n - 1.0) / n);
  return r;
}

namespace {

// Sample mean and sd (n - 1) of y.
std::pair<double, double> mean_sd(std::span<const double> y) {
  const double m = mean(y);
  double ss = 0.0;
  for (double v : y) ss += (v - m) * (v - m);
  return {m, std::sqrt(ss / static_cast<double>(y.size() - 1))};
}

// A^2 of the values in `sorted` (ascending) against N(m, sd^2).
double anderson_darling_sorted(std::span<const double> sorted, double m, double sd) {
  const auto n = static_cast<double>(sorted.size());
  // ln Phi(z) and ln(1 - Phi(z)) from erfc on each side: no cancellation in the tails; the
  // clamp only guards against log(0) for |z| > 38, where A^2 is astronomically large anyway.
  auto log_cdf = [](double z) { return std::log(std::max(0.5 * std::erfc(-z / std::numbers::sqrt2), 1e-300)); };
  auto log_sf = [](double z) { return std::log(std::max(0.5 * std::erfc(z / std::numbers::sqrt2), 1e-300)); };
  double s = 0.0;
  const std::size_t N = sorted.size();
  for (std::size_t i = 0; i < N; ++i) {
    const double zi = (sorted[i] - m) / sd, zr = (sorted[N - 1 - i] - m) / sd;
    s += (2.0 * static_cast<double>(i) + 1.0) * (log_cdf(zi) + log_sf(zr));
  }
  return -n - s / n;
}

}  // namespace

double anderson_darling_normal(std::span<const double> y) {
  if (y.size() < 3) throw InputError("Anderson-Darling test: fewer than 3 values");
  std::vector<double> sorted(y.begin(), y.end());
  std::sort(sorted.begin(), sorted.end());
  const auto [m, sd] = mean_sd(sorted);
  if (!(sd > 0.0) || !std::isfinite(sd)) throw InputError("Anderson-Darling test: no spread in the values");
  return anderson_darling_sorted(sorted, m, sd);
}

double anderson_darling_normal_p_closed_form(double a2, std::size_t n) {
  const auto nn = static_cast<double>(n);
  const double a = a2 * (1.0 + 0.75 / nn + 2.25 / (nn * nn));
  if (a >= 0.6) return std::exp(1.2937 - 5.709 * a + 0.0186 * a * a);
  if (a >= 0.34) return std::exp(0.9177 - 4.279 * a - 1.38 * a * a);
  if (a >= 0.2) return 1.0 - std::exp(-8.318 + 42.796 * a - 59.938 * a * a);
  return 1.0 - std::exp(-13.436 + 101.14 * a - 223.73 * a * a);
}

AbsoluteFit lognormal_absolute_test(std::span<const double> x, const AbsoluteFitOptions& opts) {
  if (opts.replicates < 1) throw InputError("lognormal absolute test: replicates must be >= 1");
  for (double v : x)
    if (!(v > 0.0) || !std::isfinite(v)) throw InputError("lognormal absolute test: values must be finite and > 0");
  // The subsample: a seeded partial Fisher-Yates shuffle of the indices (all values if fewer).
  Rng rng(opts.seed, x.size());
  std::vector<std::size_t> idx(x.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  const std::size_t n = std::min(opts.sample_size, x.size());
  for (std::size_t i = 0; i < n; ++i) std::swap(idx[i], idx[i + rng.below(idx.size() - i)]);
  std::vector<double> y(n);
  for (std::size_t i = 0; i < n; ++i) y[i] = std::log(x[idx[i]]);
  AbsoluteFit r;
  r.n = n;
  r.statistic = anderson_darling_normal(y);
  const auto [m, sd] = mean_sd(y);
  std::int64_t at_least = 0;
  std::vector<double> b(n);
  for (int rep = 0; rep < opts.replicates; ++rep) {
    for (double& v : b) v = m + sd * rng.normal();
    at_least += anderson_darling_normal(b) >= r.statistic ? 1 : 0;
  }
  r.p_value = static_cast<double>(1 + at_least) / static_cast<double>(1 + opts.replicates);
  r.rejected = r.p_value < opts.level;
  return r;
}

std::vector<std::pair<double, double>> lognormal_qq(std::span<const double> x, int points) {
  std::vector<std::pair<double, double>> qq;
  if (x.size() < 3 || points < 1) return qq;
  std::vector<double> y;
  y.reserve(x.size());
  for (double v : x) y.push_back(std::log(v));
  std::sort(y.begin(), y.end());
  const auto [m, sd] = mean_sd(y);
  if (!(sd > 0.0)) return qq;
  const boost::math::normal_distribution<double> standard;
  for (int i = 0; i < points; ++i) {
    const double p = (static_cast<double>(i) + 0.5) / static_cast<double>(points);
    // Sample quantile by linear interpolation between order statistics (type 7).
    const double h = p * static_cast<double>(y.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(h));
    const std::size_t hi = std::min(lo + 1, y.size() - 1);
    const double q = y[lo] + (h - static_cast<double>(lo)) * (y[hi] - y[lo]);
    qq.emplace_back(boost::math::quantile(standard, p), (q - m) / sd);
  }
  return qq;
}

nlohmann::json lognormal_report(std::span<const double> x, const AbsoluteFitOptions& absolute) {
  nlohmann::json j;
  j["n"] = x.size();
  if (x.size() < 10) {
    j["note"] = "fewer than 10 non-silent weights: no fit";
    return j;
  }
  if (const auto [lo, hi] = std::minmax_element(x.begin(), x.end()); *lo == *hi) {
    j["note"] = "all values equal (zero spread): no fit";
    return j;
  }
  std::vector<double> logs;
  logs.reserve(x.size());
  for (double v : x) logs.push_back(std::log(v));
  j["log_mean"] = mean(logs);
  j["log_sd"] = std::sqrt(std::max(0.0, [&] {
    double m = mean(logs), s = 0.0;
    for (double v : logs) s += (v - m) * (v - m);
    return s / static_cast<double>(logs.size());
  }()));
  j["log_skewness"] = skewness(logs);
  std::vector<Fit> fits;
  for (Family f : {Family::lognormal, Family::normal, Family::gamma, Family::exponential}) {
    try {
      fits.push_back(fit(f, x));
    } catch (const InputError& e) {
      j["fits"][to_string(f)] = {{"error", e.what()}};
    }
  }
  for (const Fit& f : fits) {
    nlohmann::json fj = {{"log_likelihood", f.log_likelihood}, {"ks", f.ks}};
    switch (f.family) {
      case Family::lognormal:
        fj["mu"] = f.p1, fj["sigma"] = f.p2;
        break;
      case Family::normal:
        fj["mean"] = f.p1, fj["sd"] = f.p2;
        break;
      case Family::gamma:
        fj["shape"] = f.p1, fj["scale"] = f.p2;
        break;
      case Family::exponential:
        fj["rate"] = f.p1;
        break;
    }
    j["fits"][to_string(f.family)] = fj;
  }
  if (!fits.empty() && fits[0].family == Family::lognormal) {
    bool preferred_over_all = true;
    for (std::size_t i = 1; i < fits.size(); ++i) {
      const Vuong v = vuong(fits[0], fits[i], x);
      j["vuong_lognormal_vs"][to_string(fits[i].family)] = {
          {"statistic", v.statistic}, {"p_value", v.p_value}, {"preferred", v.preferred}};
      preferred_over_all = preferred_over_all && v.statistic > 0 && v.p_value < 0.01;
    }
    j["lognormal_preferred_p01"] = preferred_over_all && fits.size() == 4;
  }
  const AbsoluteFit a = lognormal_absolute_test(x, absolute);
  j["absolute_fit"] = {{"test", "Anderson-Darling on ln x, normal with estimated mean and sd, parametric bootstrap"},
                       {"n", a.n},
                       {"subsample_of", x.size()},
                       {"statistic", a.statistic},
                       {"p_value", a.p_value},
                       {"replicates", absolute.replicates},
                       {"level", absolute.level},
                       {"seed", absolute.seed},
                       {"rejected", a.rejected}};
  nlohmann::json qq = nlohmann::json::array();
  for (const auto& [theoretical, sample] : lognormal_qq(x)) qq.push_back({theoretical, sample});
  j["qq"] = qq;
  return j;
}

}  // namespace dalenet::stats
