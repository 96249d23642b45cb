// The fitting code recovers known parameters from synthetic samples; special functions match
// closed forms; the audit's counts match hand-built networks.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "dalenet/analyze.hpp"
#include "dalenet/error.hpp"
#include "dalenet/rng.hpp"
#include "dalenet/stats.hpp"

using namespace dalenet;
using namespace dalenet::stats;

namespace {
std::vector<double> lognormal_sample(std::size_t n, double mu, double sigma, std::uint64_t seed) {
  Rng r(seed);
  std::vector<double> x(n);
  for (auto& v : x) v = std::exp(mu + sigma * r.normal());
  return x;
}
// Marsaglia & Tsang (2000), shape >= 1.
std::vector<double> gamma_sample(std::size_t n, double k, double theta, std::uint64_t seed) {
  Rng r(seed);
  std::vector<double> x(n);
  const double d = k - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (auto& v : x) {
    for (;;) {
      const double z = r.normal(), u = r.uniform();
      const double t = 1.0 + c * z;
      if (t <= 0) continue;
      const double t3 = t * t * t;
      if (std::log(u) < 0.5 * z * z + d - d * t3 + d * std::log(t3)) {
        v = d * t3 * theta;
        break;
      }
    }
  }
  return x;
}
}  // namespace

TEST(SpecialFunctions, MatchClosedForms) {
  EXPECT_NEAR(digamma(1.0), -0.57721566490153286, 1e-10);
  EXPECT_NEAR(digamma(0.5), -0.57721566490153286 - 2.0 * std::log(2.0), 1e-10);
  EXPECT_NEAR(trigamma(1.0), std::numbers::pi * std::numbers::pi / 6.0, 1e-9);
  for (double x : {0.1, 1.0, 3.0, 10.0}) {
    EXPECT_NEAR(gamma_p(1.0, x), 1.0 - std::exp(-x), 1e-12);
    EXPECT_NEAR(gamma_p(0.5, x), std::erf(std::sqrt(x)), 1e-12);
  }
  EXPECT_NEAR(normal_cdf(1.959963984540054), 0.975, 1e-12);
}

TEST(Fit, RecoversKnownParameters) {
  const auto ln = lognormal_sample(50000, -2.0, 0.7, 1);
  const Fit a = fit(Family::lognormal, ln);
  EXPECT_NEAR(a.p1, -2.0, 0.01);
  EXPECT_NEAR(a.p2, 0.7, 0.01);
  EXPECT_LT(a.ks, 0.01);

  const auto g = gamma_sample(50000, 2.5, 0.3, 2);
  const Fit b = fit(Family::gamma, g);
  EXPECT_NEAR(b.p1, 2.5, 0.05);
  EXPECT_NEAR(b.p2, 0.3, 0.01);
  EXPECT_LT(b.ks, 0.01);

  const auto e = gamma_sample(50000, 1.0, 0.25, 3);  // exponential with rate 4
  const Fit c = fit(Family::exponential, e);
  EXPECT_NEAR(c.p1, 4.0, 0.08);
  EXPECT_LT(c.ks, 0.01);

  Rng r(4);
  std::vector<double> nrm(50000);
  for (auto& v : nrm) v = 5.0 + 2.0 * r.normal();
  const Fit d = fit(Family::normal, nrm);
  EXPECT_NEAR(d.p1, 5.0, 0.03);
  EXPECT_NEAR(d.p2, 2.0, 0.03);
  // Log-likelihood of the ML normal fit has the closed form -n/2 (ln(2 pi s^2) + 1).
  EXPECT_NEAR(d.log_likelihood, -0.5 * 50000 * (std::log(2 * std::numbers::pi * d.p2 * d.p2) + 1.0), 1e-6 * 50000);
}

TEST(Vuong, PrefersTheTrueFamily) {
  const auto ln = lognormal_sample(5000, -3.0, 0.8, 5);
  const nlohmann::json rep = lognormal_report(ln);
  EXPECT_TRUE(rep["lognormal_preferred_p01"].get<bool>()) << rep.dump(2);
  // On gamma data (shape 2) lognormal must not be preferred: gamma wins.
  const auto g = gamma_sample(5000, 2.0, 1.0, 6);
  const nlohmann::json rg = lognormal_report(g);
  EXPECT_FALSE(rg["lognormal_preferred_p01"].get<bool>());
  EXPECT_EQ(rg["vuong_lognormal_vs"]["gamma"]["preferred"], "gamma");
  // Uniform magnitudes (the predecessor's initial weights) are not lognormal either.
  Rng r(7);
  std::vector<double> u(5000);
  for (auto& v : u) v = r.uniform(0.01, 0.1);
  EXPECT_FALSE(lognormal_report(u)["lognormal_preferred_p01"].get<bool>());
}

TEST(Fit, RejectsBadSamples) {
  EXPECT_THROW(fit(Family::lognormal, std::vector<double>{1.0}), InputError);
  EXPECT_THROW(fit(Family::lognormal, std::vector<double>{1.0, -1.0, 2.0}), InputError);
  EXPECT_THROW(fit(Family::gamma, std::vector<double>{1.0, std::nan(""), 2.0}), InputError);
  EXPECT_THROW(fit(Family::normal, std::vector<double>{2.0, 2.0, 2.0}), InputError);
  EXPECT_EQ(lognormal_report(std::vector<double>{1.0, 2.0})["n"], 2);  // too few: reported, no fit
  // A zero-variance sample (e.g. every surviving weight at one value): named, never fitted with
  // a rounding-error sigma of 1e-16.
  const std::vector<double> constant(100, 0.5);
  for (Family f : {Family::lognormal, Family::normal, Family::gamma}) {
    try {
      (void)fit(f, constant);
      ADD_FAILURE() << to_string(f) << " fitted a constant sample";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("zero spread"), std::string::npos) << e.what();
    }
  }
  const auto rep = lognormal_report(constant);
  EXPECT_FALSE(rep.contains("fits"));
  EXPECT_NE(rep["note"].get<std::string>().find("zero spread"), std::string::npos);
  EXPECT_EQ(skewness(constant), 0.0);
}

TEST(ActivityStatistics, SparsenessAndGiniExtremes) {
  EXPECT_NEAR(treves_rolls_sparseness({0, 0, 0, 5}), 1.0, 1e-12);
  EXPECT_NEAR(treves_rolls_sparseness({2, 2, 2, 2}), 0.0, 1e-12);
  EXPECT_TRUE(std::isnan(treves_rolls_sparseness({0, 0, 0})));
  EXPECT_NEAR(gini({1, 1, 1, 1}), 0.0, 1e-12);
  EXPECT_NEAR(gini({0, 0, 0, 4}), 0.75, 1e-12);
}

TEST(Analyze, CountsSilenceAndDaleViolationsOnAHandBuiltNetwork) {
  NetworkSpec spec;
  spec.input = 4;
  spec.hidden = {2};
  spec.output = 2;
  spec.inhibitory_fraction = 0.5;  // hidden: 1 E, 1 I
  Network net = make_network(spec);
  // input -> hidden: row 0 max 1.0, one weight below 1 % of it (silent), one exact zero.
  net.projections[0].weight << 1.0F, 0.5F, 0.001F, 0.0F,  //
      0.2F, 0.2F, 0.2F, -0.2F;                            // input 3 sends a negative weight: violation
  // hidden -> output: E neuron (column 0) positive; I neuron (column 1) negative and positive.
  net.projections[1].weight << 0.3F, -0.4F,  //
      0.3F, 0.4F;
  AnalyzeOptions o;
  o.silence_threshold = 0.01;  // relative: 0.001 < 1 % of its neuron's 1.0
  const nlohmann::json rep = analyze_weights(net, o);
  EXPECT_DOUBLE_EQ(rep[0]["sparsity"]["silent_fraction"].get<double>(), 2.0 / 8.0);
  EXPECT_EQ(rep[0]["sparsity"]["non_silent"], 6);
  // Inputs 0..2 send only positive weights; input 3 sends one negative (row 1) and a silent 0.
  EXPECT_DOUBLE_EQ(rep[0]["dale"]["compliance"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(rep[0]["dale"]["matches_declared_type"].get<double>(), 0.75);
  EXPECT_EQ(rep[1]["dale"]["violating_synapses"], 1);
  // Graded: 3 of the 4 non-silent output synapses carry their neuron's majority sign.
  EXPECT_DOUBLE_EQ(rep[1]["dale"]["majority_sign_fraction"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(rep[0]["dale"]["majority_sign_fraction"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(rep[1]["dale"]["compliance"].get<double>(), 0.5);
  EXPECT_EQ(rep[1]["dale"]["realised"]["mixed"], 1);
  EXPECT_EQ(rep[1]["dale"]["realised"]["excitatory"], 1);
  // The cheap per-epoch summary that train() logs agrees with the full audit.
  const nlohmann::json st = structure_summary(net, o.silence_threshold);
  ASSERT_EQ(st.size(), 2U);
  for (std::size_t l = 0; l < 2; ++l) {
    EXPECT_DOUBLE_EQ(st[l]["silent_fraction"].get<double>(), rep[l]["sparsity"]["silent_fraction"].get<double>());
    EXPECT_DOUBLE_EQ(st[l]["dale_compliance"].get<double>(), rep[l]["dale"]["compliance"].get<double>());
  }
  // ln|w| histograms count every non-silent weight of its sign, in the fixed bins.
  auto total = [](const nlohmann::json& h) {
    std::int64_t n = 0;
    for (const auto& c : h["counts"]) n += c.get<std::int64_t>();
    return n;
  };
  const auto& pos = rep[0]["distribution"]["positive"]["log_histogram"];
  EXPECT_EQ(total(pos), 5);  // 1.0, 0.5, 0.2, 0.2, 0.2
  EXPECT_EQ(total(rep[0]["distribution"]["negative"]["log_histogram"]), 1);
  EXPECT_EQ(pos["counts"].size(), static_cast<std::size_t>(kLogHistogramBins));
  EXPECT_DOUBLE_EQ(pos["lo"].get<double>(), kLogHistogramLo);
}

TEST(Analyze, InterneuronsOfACompetitionLayerAreLeftOutOfTheDenominators) {
  // Hidden layer of 2 E + 1 I with competition; the interneuron gets no input and sends no
  // output, as the bio rule builds it. Its absent synapses must not count as silent, while a
  // synapse removed by learning (mask 0 on an E row) must.
  NetworkSpec spec;
  spec.input = 4;
  spec.hidden = {3};
  spec.output = 2;
  spec.inhibitory_fraction = 1.0 / 3.0;
  Network net = make_network(spec);
  auto& in = net.projections[0];
  in.weight << 1.0F, 1.0F, 0.0F, 0.5F,  //
      1.0F, 1.0F, 1.0F, 1.0F,           //
      0.0F, 0.0F, 0.0F, 0.0F;
  in.mask = MaskMatrix::Ones(3, 4);
  in.mask.row(2).setZero();
  in.mask(0, 2) = 0;  // one pruned synapse
  auto& out = net.projections[1];
  out.weight << 0.5F, 0.5F, 0.0F,  //
      0.5F, 0.5F, 0.0F;
  out.mask = MaskMatrix::Ones(2, 3);
  out.mask.col(2).setZero();
  net.layers[1].competition = Competition::feedback_inhibition;  // the interneuron carries the competition
  const nlohmann::json rep = analyze_weights(net, AnalyzeOptions{});
  EXPECT_EQ(rep[0]["synapses"], 8);  // 2 E rows x 4 inputs, not 12
  EXPECT_DOUBLE_EQ(rep[0]["sparsity"]["silent_fraction"].get<double>(), 1.0 / 8.0);
  EXPECT_EQ(rep[1]["dale"]["presynaptic_neurons"], 2);  // the interneuron projects nowhere here
  EXPECT_EQ(rep[1]["synapses"], 4);                     // 2 outputs x 2 E neurons
  EXPECT_DOUBLE_EQ(rep[1]["sparsity"]["silent_fraction"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(rep[1]["dale"]["compliance"].get<double>(), 1.0);
  const nlohmann::json st = structure_summary(net, AnalyzeOptions{}.silence_threshold);
  EXPECT_DOUBLE_EQ(st[0]["silent_fraction"].get<double>(), 1.0 / 8.0);
  EXPECT_DOUBLE_EQ(st[1]["dale_compliance"].get<double>(), 1.0);
}

TEST(StudentT, QuantilesMatchClosedFormsAndTables) {
  // dof 1 is the Cauchy distribution, dof 2 has t_p = (2p - 1) / sqrt(2 p (1 - p)).
  EXPECT_NEAR(student_t_quantile(0.975, 1), std::tan(std::numbers::pi * 0.475), 1e-9);
  EXPECT_NEAR(student_t_quantile(0.975, 2), 0.95 / std::sqrt(2 * 0.975 * 0.025), 1e-9);
  EXPECT_NEAR(student_t_quantile(0.975, 4), 2.776445105, 1e-8);  // tables
  EXPECT_NEAR(student_t_quantile(0.975, 9), 2.262157163, 1e-8);
  EXPECT_NEAR(student_t_quantile(0.975, 599), 1.963939, 1e-5);
  EXPECT_NEAR(student_t_quantile(0.975, 1e7), 1.959964, 1e-5);  // the normal limit
  EXPECT_NEAR(student_t_cdf(0.0, 3), 0.5, 1e-15);
  // To the last bits (Boost.Math), not to a bisection's tolerance.
  for (const double p : {0.6, 0.9, 0.975}) {  // where tan's closed form is itself well conditioned
    EXPECT_NEAR(student_t_quantile(p, 1), std::tan(std::numbers::pi * (p - 0.5)),
                1e-14 * std::tan(std::numbers::pi * (p - 0.5)));
    const double t2 = (2 * p - 1) / std::sqrt(2 * p * (1 - p));
    EXPECT_NEAR(student_t_quantile(p, 2), t2, 1e-14 * t2);
    EXPECT_NEAR(student_t_cdf(student_t_quantile(p, 7), 7), p, 1e-15);
  }
  EXPECT_THROW((void)student_t_quantile(0.975, 0.0), InputError);
  EXPECT_THROW((void)student_t_quantile(1.0, 3.0), InputError);
  EXPECT_TRUE(std::isnan(gamma_p(-1.0, 2.0)));  // a degenerate fit's shape: NaN, not an exception
  // mean_ci95 of {1, 2, 3}: mean 2, sd 1, half-width t(0.975, 2) / sqrt(3).
  const std::vector<double> x = {1.0, 2.0, 3.0};
  const MeanCI ci = mean_ci95(x);
  EXPECT_DOUBLE_EQ(ci.mean, 2.0);
  EXPECT_NEAR(ci.half_width, 4.302652730 / std::sqrt(3.0), 1e-8);
  EXPECT_TRUE(std::isnan(mean_ci95(std::vector<double>{1.0}).half_width));
}

// ---- the functional audit: strength, active inputs, the absolute fit test ---------------------

TEST(Analyze, MeasuresTheStrengthTheForwardPassUsesNotTheStoredWeight) {
  NetworkSpec spec;
  spec.input = 4;
  spec.hidden = {4};
  spec.output = 2;
  Network net = make_network(spec);
  auto& in = net.projections[0];
  in.efficacy = Efficacy::log_normalized;
  in.efficacy_floor = 0.1F;
  // Row 0 sums to 1: strengths ln(6), ln(3), 0 (0.05 is below the floor), 0. Rows 1-3: ln(2.5) x 4.
  in.weight << 0.6F, 0.3F, 0.05F, 0.05F,  //
      0.25F, 0.25F, 0.25F, 0.25F,         //
      0.25F, 0.25F, 0.25F, 0.25F,         //
      0.25F, 0.25F, 0.25F, 0.25F;
  net.projections[1].weight.setConstant(0.3F);
  const std::vector<std::uint8_t> active = {1, 1, 0, 1};  // input 2 is (almost) never on
  const AnalyzeOptions o;                                 // silent: strength exactly 0
  const nlohmann::json rep = analyze_weights(net, o, WeightQuantity::strength, active);
  EXPECT_EQ(rep.at(0).at("quantity"), "strength");
  EXPECT_EQ(rep.at(0).at("efficacy"), "log_normalized");
  const auto& sp = rep.at(0).at("sparsity");
  EXPECT_DOUBLE_EQ(sp.at("silent_fraction").get<double>(), 2.0 / 16.0);
  EXPECT_EQ(sp.at("active_inputs"), 3);
  EXPECT_EQ(sp.at("active_input_synapses"), 12);
  EXPECT_DOUBLE_EQ(sp.at("silent_fraction_active_inputs").get<double>(), 1.0 / 12.0);
  // The fits see the 14 non-zero strengths, not the weights.
  const auto& pos = rep.at(0).at("distribution").at("positive");
  EXPECT_EQ(pos.at("n"), 14);
  const double expect_log_mean =
      (std::log(std::log(6.0)) + std::log(std::log(3.0)) + 12.0 * std::log(std::log(2.5))) / 14.0;
  EXPECT_NEAR(pos.at("log_mean").get<double>(), expect_log_mean, 1e-5);
  ASSERT_TRUE(pos.contains("absolute_fit"));
  EXPECT_EQ(pos.at("absolute_fit").at("n"), 14);
  EXPECT_EQ(pos.at("qq").size(), 99U);
  // The same synapses as the forward pass's matrix: non-silent = non-zero effective weights.
  WeightMatrix eff;
  in.effective_weight(eff);
  EXPECT_EQ(sp.at("non_silent").get<std::int64_t>(), (eff.array() != 0.0F).count());
  // The latent section counts the stored weights (0.05 is 8 % of 0.6: not silent at 1 %).
  const nlohmann::json latent = analyze_weights(net, o, WeightQuantity::latent, active);
  EXPECT_EQ(latent.at(0).at("quantity"), "latent");
  EXPECT_DOUBLE_EQ(latent.at(0).at("sparsity").at("silent_fraction").get<double>(), 0.0);
  // The curve is relative to the neuron's largest strength: at 0.5 ln(3)/ln(6) = 0.61 stays, at
  // 0.65 it goes (rows of equal strengths never fall below their own maximum).
  AnalyzeOptions curve;
  curve.threshold_curve = {0.5, 0.65};
  const auto c = analyze_weights(net, curve).at(0).at("sparsity").at("curve");
  EXPECT_DOUBLE_EQ(c.at(0).at("silent_fraction").get<double>(), 2.0 / 16.0);
  EXPECT_DOUBLE_EQ(c.at(1).at("silent_fraction").get<double>(), 3.0 / 16.0);
  // Flags of the wrong size are refused.
  EXPECT_THROW(analyze_weights(net, o, WeightQuantity::strength, {1, 1}), InputError);
  // Per-epoch structure is on the strength too.
  EXPECT_DOUBLE_EQ(structure_summary(net, 0.0).at(0).at("silent_fraction").get<double>(), 2.0 / 16.0);
}

TEST(Analyze, ActiveInputsAreThoseOnInAtLeastTheStatedFractionOfImages) {
  Dataset d;
  d.name = "tiny";
  d.rows = 1;
  d.cols = 3;
  // Pixel 0 always 255, pixel 1 is 127 (just below half scale) or 128 (at it), pixel 2 never on.
  d.pixels = {255, 127, 0, 255, 128, 0, 255, 127, 10, 255, 127, 0};
  d.labels = {0, 1, 0, 1};
  const auto f = input_on_fraction(d, 0.5);
  ASSERT_EQ(f.size(), 3U);
  EXPECT_DOUBLE_EQ(f[0], 1.0);
  EXPECT_DOUBLE_EQ(f[1], 0.25);
  EXPECT_DOUBLE_EQ(f[2], 0.0);
  EXPECT_DOUBLE_EQ(input_on_fraction(d, 0.03)[2], 0.25);  // 10 >= 255 * 0.03 = 7.65
  Dataset empty;
  empty.name = "empty";
  EXPECT_THROW(input_on_fraction(empty, 0.5), InputError);
}

TEST(AbsoluteFit, AndersonDarlingStatisticMatchesTheFormula) {
  // Computed independently (Python, math.erfc) from A^2 = -n - (1/n) sum (2i-1)[ln z_i + ln(1 - z_{n+1-i})].
  const std::vector<double> y = {0.3, -1.2, 0.8, 2.1, -0.4, 0.05};
  EXPECT_NEAR(anderson_darling_normal(y), 0.1807463496462951, 1e-12);
  EXPECT_THROW(anderson_darling_normal(std::vector<double>{1.0, 2.0}), InputError);
  EXPECT_THROW(anderson_darling_normal(std::vector<double>{1.0, 1.0, 1.0}), InputError);
}

TEST(AbsoluteFit, BootstrapPValueAgreesWithStephensClosedForm) {
  // Case 3 (mean and sd estimated): the bootstrap and D'Agostino & Stephens' formula estimate the
  // same p-value; with 2000 replicates the bootstrap's standard error is <= 0.011.
  AbsoluteFitOptions o;
  o.replicates = 2000;
  int compared = 0;
  for (std::uint64_t seed : {1, 2, 3, 4}) {
    for (std::size_t n : {200, 2000}) {
      const auto x = lognormal_sample(n, 0.5, 0.8, seed);
      const AbsoluteFit r = lognormal_absolute_test(x, o);
      const double closed = anderson_darling_normal_p_closed_form(r.statistic, r.n);
      EXPECT_NEAR(r.p_value, closed, 0.05) << "seed " << seed << " n " << n << " A2 " << r.statistic;
      ++compared;
    }
  }
  EXPECT_EQ(compared, 8);
  // A clearly non-normal ln x: both call it significant.
  Rng rng(9, 0);
  std::vector<double> uniform_logs(500);
  for (double& v : uniform_logs) v = std::exp(rng.uniform(-1.0, 1.0));
  const AbsoluteFit u = lognormal_absolute_test(uniform_logs, o);
  EXPECT_LT(u.p_value, 0.01);
  EXPECT_LT(anderson_darling_normal_p_closed_form(u.statistic, u.n), 0.01);
}

TEST(AbsoluteFit, AcceptsLognormalRejectsNormalGammaAndTruncatedLognormal) {
  const AbsoluteFitOptions o;   // the audit's settings: n = 2000, 500 replicates, level 0.05
  const std::size_t n = 20000;  // larger than the subsample, as the audit's samples are
  EXPECT_FALSE(lognormal_absolute_test(lognormal_sample(n, -2.0, 1.0, 11), o).rejected);
  EXPECT_FALSE(lognormal_absolute_test(lognormal_sample(n, 1.0, 0.3, 12), o).rejected);
  Rng rng(13, 0);
  std::vector<double> normal(n), gamma2(n), truncated;
  for (double& v : normal) {
    do v = 5.0 + rng.normal();
    while (v <= 0.0);
  }
  gamma2 = gamma_sample(n, 2.0, 1.0, 15);
  for (double v : lognormal_sample(2 * n, 0.0, 1.0, 14))
    if (v > std::exp(-0.5)) truncated.push_back(v);  // cut below its 31st percentile, as a silence floor would
  const AbsoluteFit rn = lognormal_absolute_test(normal, o), rg = lognormal_absolute_test(gamma2, o),
                    rt = lognormal_absolute_test(truncated, o);
  EXPECT_TRUE(rn.rejected) << rn.p_value;
  EXPECT_TRUE(rg.rejected) << rg.p_value;
  EXPECT_TRUE(rt.rejected) << rt.p_value;
  EXPECT_EQ(rn.n, 2000U);
  // Deterministic: the same data give the same subsample and p-value.
  EXPECT_EQ(lognormal_absolute_test(gamma2, o).p_value, rg.p_value);
  EXPECT_THROW(lognormal_absolute_test(std::vector<double>{1.0, -1.0, 2.0, 3.0}, o), InputError);
}

TEST(AbsoluteFit, QqPointsLieOnTheDiagonalForALognormalSample) {
  const auto x = lognormal_sample(20000, 0.3, 0.7, 21);
  const auto qq = lognormal_qq(x, 99);
  ASSERT_EQ(qq.size(), 99U);
  EXPECT_NEAR(qq[49].first, 0.0, 1e-12);  // the median's normal quantile
  for (std::size_t i = 5; i < 94; ++i) EXPECT_NEAR(qq[i].second, qq[i].first, 0.06) << i;
  // A truncated sample bends away in the lower tail.
  std::vector<double> truncated;
  for (double v : x)
    if (v > std::exp(0.3)) truncated.push_back(v);
  EXPECT_GT(lognormal_qq(truncated, 99)[1].second - lognormal_qq(truncated, 99)[1].first, 0.5);
}
