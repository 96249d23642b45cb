// The bio rule: competition layers (gradients, fixed point), locality, sign accounting,
// homeostasis, structural bookkeeping, end-to-end learning on a synthetic task.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "dalenet/backprop.hpp"
#include "dalenet/error.hpp"
#include "dalenet/io.hpp"
#include "dalenet/local.hpp"
#include "dalenet/train.hpp"
#include "helpers.hpp"
#include "rules/kmeans_prototypes.hpp"
#include "rules/row_kernels.hpp"
#include "rules/transmitter_commitment.hpp"

using namespace dalenet;
using namespace dalenet::test;

namespace {
Network competition_net(Competition c, bool divisive, Efficacy e, Rng& rng, SignInit sign = SignInit::per_neuron) {
  NetworkSpec spec;
  spec.input = 6;
  spec.hidden = {7};
  spec.output = 3;
  spec.hidden_activation = Activation::identity;
  spec.inhibitory_fraction = 2.0 / 7.0;
  Network net = make_network(spec);
  InitSpec init;
  init.kind = InitKind::uniform;
  init.sign = sign;
  init_weights(net, init, rng);
  for (auto& p : net.projections)
    for (Eigen::Index i = 0; i < p.bias.size(); ++i) p.bias(i) = static_cast<float>(rng.uniform(-0.3, 0.3));
  net.projections[0].efficacy = e;
  net.projections[0].efficacy_floor = 1e-3F;
  net.layers[1].competition = c;
  net.layers[1].kwta_k = 2;
  net.layers[1].inhibition_gain = 0.5;
  net.layers[1].divisive = divisive;
  // Interneurons: no input, no output (as the bio rule sets them up).
  net.projections[0].weight.bottomRows(2).setZero();
  net.projections[1].weight.rightCols(2).setZero();
  return net;
}

double loss_of(const Network& net, const Eigen::MatrixXf& X, const std::vector<std::uint8_t>& y) {
  ForwardCache c;
  forward(net, X, c);
  return softmax_cross_entropy(c.logits(), y, Reduction::sum, nullptr);
}

struct CompCase {
  Competition c;
  bool divisive;
  Efficacy e;
  SignInit sign = SignInit::per_neuron;
};
void PrintTo(const CompCase& c, std::ostream* os) {
  *os << to_string(c.c) << (c.divisive ? "+divisive" : "") << "/" << to_string(c.e) << "/" << to_string(c.sign);
}
}  // namespace

class CompetitionGradient : public ::testing::TestWithParam<CompCase> {};

TEST_P(CompetitionGradient, InputGradientMatchesFiniteDifferences) {
  const CompCase cc = GetParam();
  Rng rng(21);
  const Network net = competition_net(cc.c, cc.divisive, cc.e, rng, cc.sign);
  Eigen::MatrixXf X(6, 5);
  for (Eigen::Index i = 0; i < X.size(); ++i) X.data()[i] = static_cast<float>(rng.uniform(0.0, 1.0));
  const std::vector<std::uint8_t> y = {0, 1, 2, 1, 0};
  const Eigen::MatrixXf g = input_gradient(net, X, y);
  const float h = 1e-3F;
  double diff2 = 0.0, sum2 = 0.0;
  int checked = 0;
  ForwardCache base;
  forward(net, X, base);
  for (Eigen::Index k = 0; k < X.size(); ++k) {
    Eigen::MatrixXf Xp = X, Xm = X;
    Xp.data()[k] += h;
    Xm.data()[k] -= h;
    ForwardCache cp, cm;
    forward(net, Xp, cp);
    forward(net, Xm, cm);
    // Skip coordinates where the active set or the k-WTA threshold unit changes (kinks).
    if (((cp.pre[1].array() > 0) != (cm.pre[1].array() > 0)).any()) continue;
    if (cc.c == Competition::kwta && (cp.threshold_unit[1].array() != cm.threshold_unit[1].array()).any()) continue;
    const double numeric = (loss_of(net, Xp, y) - loss_of(net, Xm, y)) / (2.0 * h);
    diff2 += (g.data()[k] - numeric) * (g.data()[k] - numeric);
    sum2 += (g.data()[k] + numeric) * (g.data()[k] + numeric);
    ++checked;
  }
  EXPECT_GT(checked, 15);
  EXPECT_LT(std::sqrt(diff2 / sum2), 5e-3);
}

// Backprop through the bio forward pass (rule bp_arch): weight and bias gradients through H1's
// log-normalised efficacy (its row sums included) and H2's competition, against central
// differences. One synapse sits below the efficacy floor: no direct term, only the row sum's.
TEST_P(CompetitionGradient, ParameterGradientMatchesFiniteDifferences) {
  const CompCase cc = GetParam();
  Rng rng(22);
  Network net = competition_net(cc.c, cc.divisive, cc.e, rng, cc.sign);
  Projection& in = net.projections[0];
  in.mask = MaskMatrix::Ones(in.weight.rows(), in.weight.cols());
  in.mask.bottomRows(2).setZero();
  if (cc.e == Efficacy::log_normalized) {
    in.efficacy_floor = 0.02F;
    in.weight(0, 3) = 0.003F;  // |w| / S ~ 0.01: silent, and stays so under the +-h below
  }
  Eigen::MatrixXf X(6, 5);
  for (Eigen::Index i = 0; i < X.size(); ++i) X.data()[i] = static_cast<float>(rng.uniform(0.0, 1.0));
  const std::vector<std::uint8_t> y = {0, 1, 2, 1, 0};
  ForwardCache cache;
  forward(net, X, cache);
  Eigen::MatrixXf dlogits;
  softmax_cross_entropy(cache.logits(), y, Reduction::sum, &dlogits);
  Gradients g;
  BackwardScratch scratch;
  backward(net, cache, dlogits, &g, nullptr, scratch);
  const float h = 1e-3F;
  double diff2 = 0.0, sum2 = 0.0;
  int checked = 0;
  const auto same_kinks = [&](const Network& a, const Network& b) {
    ForwardCache ca, cb;
    forward(a, X, ca);
    forward(b, X, cb);
    if (((ca.pre[1].array() > 0) != (cb.pre[1].array() > 0)).any()) return false;
    return cc.c != Competition::kwta || (ca.threshold_unit[1].array() == cb.threshold_unit[1].array()).all();
  };
  const auto check = [&](float analytic, Network& plus, Network& minus) {
    if (!same_kinks(plus, minus)) return;
    const double numeric = (loss_of(plus, X, y) - loss_of(minus, X, y)) / (2.0 * h);
    diff2 += (analytic - numeric) * (analytic - numeric);
    sum2 += (analytic + numeric) * (analytic + numeric);
    ++checked;
  };
  for (std::size_t l = 0; l < net.projections.size(); ++l) {
    const Projection& p = net.projections[l];
    for (Eigen::Index k = 0; k < p.weight.size(); ++k) {
      if (p.has_mask() && p.mask.data()[k] == 0) {
        EXPECT_EQ(g.weight[l].data()[k], 0.0F) << "masked synapse " << k << " of projection " << l;
        continue;
      }
      if (p.weight.data()[k] == 0.0F) continue;  // an interneuron's zeroed output synapse
      Network plus = net, minus = net;
      plus.projections[l].weight.data()[k] += h;
      minus.projections[l].weight.data()[k] -= h;
      check(g.weight[l].data()[k], plus, minus);
    }
    for (Eigen::Index k = 0; k < p.bias.size(); ++k) {
      Network plus = net, minus = net;
      plus.projections[l].bias(k) += h;
      minus.projections[l].bias(k) -= h;
      check(g.bias[l](k), plus, minus);
    }
  }
  // The silent synapse (checked above like the others): where its neuron's drive matters at all
  // (a bias gradient), the row sum's term reaches it.
  if (cc.e == Efficacy::log_normalized && g.bias[0](0) != 0.0F) {
    EXPECT_NE(g.weight[0](0, 3), 0.0F) << "a silent synapse still feels the row sum";
  }
  EXPECT_GT(checked, 30);
  EXPECT_LT(std::sqrt(diff2 / sum2), 5e-3);
}

INSTANTIATE_TEST_SUITE_P(Layers, CompetitionGradient,
                         ::testing::Values(CompCase{Competition::feedback_inhibition, false, Efficacy::linear},
                                           CompCase{Competition::feedback_inhibition, true, Efficacy::log_normalized},
                                           CompCase{Competition::kwta, false, Efficacy::log_normalized},
                                           CompCase{Competition::kwta, true, Efficacy::linear},
                                           CompCase{Competition::feedback_inhibition, false, Efficacy::log_normalized,
                                                    SignInit::mixed}));

// H1 with signs, against its closed form written out synapse by synapse:
// e_ij = sign(w_ij) ln(max(|w_ij| / sum_i' |w_i'j|, floor) / floor); rows without weight give 0.
TEST(LogNormalizedEfficacy, MatchesTheClosedFormWithSigns) {
  Rng rng(8);
  for (const SignInit sign : {SignInit::per_neuron, SignInit::mixed}) {
    Network net = competition_net(Competition::none, false, Efficacy::log_normalized, rng, sign);
    Projection& p = net.projections[0];
    p.weight(0, 3) = 1e-6F;  // below the floor: exactly zero efficacy
    p.efficacy_floor = 0.01F;
    WeightMatrix e;
    p.effective_weight(e);
    for (Eigen::Index i = 0; i < p.weight.rows(); ++i) {
      double total = 0.0;
      for (Eigen::Index j = 0; j < p.weight.cols(); ++j) total += std::abs(p.weight(i, j));
      for (Eigen::Index j = 0; j < p.weight.cols(); ++j) {
        const double w = p.weight(i, j);
        const double expect =
            total == 0.0 ? 0.0 : (w < 0 ? -1.0 : 1.0) * std::log(std::max(std::abs(w) / total, 0.01) / 0.01);
        EXPECT_NEAR(e(i, j), expect, 1e-5) << to_string(sign) << " " << i << "," << j;
      }
    }
    EXPECT_EQ(e(0, 3), 0.0F);
    if (sign == SignInit::mixed) {
      EXPECT_TRUE((e.array() < 0.0F).any());
    }
  }
}

// A synapse at or below the floor has efficacy exactly 0 (it is silent), for every floor: the
// vectorised log of some floors (e.g. 3.25e-6) differs from std::log's by one step, and subtracting
// the wrong one left such synapses at -9.5e-7. Rows of 50: three whole packets of 16 and a tail.
TEST(LogNormalizedEfficacy, SilentSynapsesAreExactlyZeroForEveryFloor) {
  for (const float floor : {3.25e-6F, 6.5e-5F, 1.10256e-4F, 1.2755102e-6F, 1e-3F}) {
    Projection p;
    p.efficacy = Efficacy::log_normalized;
    p.efficacy_floor = floor;
    p.weight = WeightMatrix::Constant(3, 50, 1.0F);
    p.weight.row(0).segment(16, 16).setZero();  // a whole silent packet
    p.weight(1, 3) = 0.0F;                      // silent synapses among live ones, one in the tail
    p.weight(1, 49) = 0.0F;
    p.weight(2, 7) = 1e-12F;  // below the floor without being 0
    p.weight(2, 48) = -1e-12F;
    WeightMatrix e;
    p.effective_weight(e);
    for (Eigen::Index i = 0; i < 3; ++i) {
      const float total = p.weight.row(i).cwiseAbs().sum();
      for (Eigen::Index j = 0; j < 50; ++j) {
        if (std::abs(p.weight(i, j)) / total <= floor)
          EXPECT_EQ(e(i, j), 0.0F) << "floor " << floor << " at " << i << "," << j;
        else
          EXPECT_NEAR(e(i, j), std::log(std::abs(p.weight(i, j)) / total / floor), 1e-5) << floor;
      }
    }
  }
}

TEST(FeedbackInhibition, LevelSolvesTheFixedPointEquation) {
  Rng rng(5);
  Network net = competition_net(Competition::feedback_inhibition, false, Efficacy::linear, rng);
  for (double gain : {0.1, 1.0, 10.0}) {
    net.layers[1].inhibition_gain = gain;
    Eigen::MatrixXf X = Eigen::MatrixXf::Random(6, 20).cwiseAbs();
    ForwardCache c;
    forward(net, X, c);
    for (Eigen::Index b = 0; b < X.cols(); ++b) {
      const float I = c.inhibition[1](b);
      // pre = z - I for excitatory rows, so sum_j max(0, z_j - I) = sum of positive pre.
      const float pooled = c.pre[1].col(b).head(5).cwiseMax(0.0F).sum();
      EXPECT_NEAR(I, gain * pooled, 1e-4 * (1.0 + I)) << "gain " << gain;
      EXPECT_GE(I, 0.0F);
    }
  }
}

namespace {
TrainConfig bio_config(const std::string& ds, std::vector<std::string> extra = {}) {
  std::vector<std::string> sets = {"data.dataset='" + ds + "'",
                                   "data.validation=200",
                                   "network.hidden=[50]",
                                   "network.inhibitory_fraction=0.2",
                                   "network.init=uniform",
                                   "train.rule=bio",
                                   "train.epochs=3",
                                   "train.batch=50",
                                   "train.threads=1",
                                   "bio.structural_interval=10",
                                   "bio.eta_hidden=0.05"};
  sets.insert(sets.end(), extra.begin(), extra.end());
  return parse_config("", "test", sets);
}

// A test's base settings plus one more (the variant it compares against).
std::vector<std::string> with(std::vector<std::string> sets, const std::string& extra) {
  sets.push_back(extra);
  return sets;
}

// The hidden layer of two models is bit-identical: input weights, thresholds and synapse mask.
void expect_same_hidden_layer(const Network& a, const Network& b) {
  EXPECT_EQ(a.projections[0].weight, b.projections[0].weight);
  EXPECT_EQ(a.projections[0].bias, b.projections[0].bias);
  EXPECT_EQ(a.projections[0].mask, b.projections[0].mask);
}
}  // namespace

TEST(BioRule, LearnsASyntheticTaskWithoutSignChangesOrClipping) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 3000, 500);
  const TrainOutcome r = train(bio_config(ds), {});
  EXPECT_GT(r.results["metrics"]["test"]["accuracy"].get<double>(), 0.8);  // chance: 0.1
  EXPECT_EQ(r.results["metrics"]["counters"]["sign_flips"], 0);
  EXPECT_EQ(r.results["metrics"]["counters"]["clip_events"], 0);
  const Network& net = r.model.net;
  EXPECT_TRUE((net.projections[0].weight.array() >= 0.0F).all());
  EXPECT_TRUE((net.projections[1].weight.leftCols(40).array() >= 0.0F).all());
  EXPECT_EQ(r.results["metrics"]["epochs"][0]["rule"]["input_synapses"], 40 * 64);
}

// Mixed-sign start (each synapse's sign drawn at random): the rule runs unchanged, keeps every
// sign by the form of its updates (0 flips, 0 clips: each surviving weight has its initial
// sign) and still learns the task. Whether Dale's law emerges is an outcome; here it is only
// checked that the input synapses that survive are no longer an even mix (a negative synapse
// lowers its own postsynaptic neuron's chance to win when its input is on, so Hebbian
// co-activity shrinks it: docs/RULE.md "Mixed-sign start").
TEST(BioRule, MixedSignStartKeepsEverySign) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 3000, 500);
  TrainConfig cfg = bio_config(ds, {"network.sign_init=mixed"});
  const TrainOutcome r = train(cfg, {});
  EXPECT_EQ(r.results["metrics"]["counters"]["sign_flips"], 0);
  EXPECT_EQ(r.results["metrics"]["counters"]["clip_events"], 0);
  EXPECT_GT(r.results["metrics"]["test"]["accuracy"].get<double>(), 0.5);  // chance: 0.1
  // The same start, drawn again, to compare sign by sign.
  Network start = make_network(cfg.network_spec(64, 10));
  Rng rng(static_cast<std::uint64_t>(cfg.loop.seed), /*stream=*/1);  // as train() draws it
  init_weights(start, cfg.init_spec(), rng);
  const Network& net = r.model.net;
  std::int64_t negative_start = 0, negative_end = 0, surviving = 0;
  for (int l = 0; l < 2; ++l) {
    const WeightMatrix& w0 = start.projections[l].weight;
    const WeightMatrix& w1 = net.projections[l].weight;
    for (Eigen::Index k = 0; k < w1.size(); ++k) {
      if (w1.data()[k] == 0.0F) continue;
      EXPECT_EQ(w1.data()[k] > 0.0F, w0.data()[k] > 0.0F) << "projection " << l << " entry " << k;
      if (l == 0) {
        ++surviving;
        negative_end += w1.data()[k] < 0.0F ? 1 : 0;
      }
    }
    if (l == 0) negative_start = (w0.topRows(40).array() < 0.0F).count();
  }
  EXPECT_GT(negative_start, 40 * 64 / 3);  // the start really is mixed
  EXPECT_GT(surviving, 0);
}

TEST(BioRule, HiddenPlasticityIsBlindToLabels) {
  // Locality, checked behaviourally: permuting the labels changes the output layer but leaves
  // every hidden synapse bit-identical (no label or error information reaches it).
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 1000, 100);
  const TrainOutcome a = train(bio_config(ds), {});
  // Same images, labels shifted by one class.
  auto labels = read_bytes(dir / "train-labels");
  for (std::size_t i = 8; i < labels.size(); ++i) labels[i] = static_cast<std::uint8_t>((labels[i] + 1) % 10);
  write_bytes(dir / "train-labels", labels);
  const TrainOutcome b = train(bio_config(ds), {});
  EXPECT_EQ(a.model.net.projections[0].weight, b.model.net.projections[0].weight);
  EXPECT_EQ(a.model.net.projections[0].bias, b.model.net.projections[0].bias);
  EXPECT_NE(a.model.net.projections[1].weight, b.model.net.projections[1].weight);
}

// H3r (bio.hidden_modulation = "reward"): the hidden layer receives one global scalar per example
// (was the answer right?). It still learns, keeps every sign, and now does depend on the labels
// (through that scalar); the additive step is refused (a negative scalar could flip signs).
TEST(BioRule, RewardModulatedHiddenPlasticityLearnsAndKeepsSigns) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 3000, 500);
  const std::vector<std::string> reward = {"bio.hidden_modulation=reward"};
  const TrainOutcome a = train(bio_config(ds, reward), {});
  EXPECT_GT(a.results["metrics"]["test"]["accuracy"].get<double>(), 0.6);  // chance: 0.1
  EXPECT_EQ(a.results["metrics"]["counters"]["sign_flips"], 0);
  EXPECT_TRUE((a.model.net.projections[0].weight.array() >= 0.0F).all());
  // Different labels: the hidden synapses change (unlike H3 without the scalar, tested below).
  auto labels = read_bytes(dir / "train-labels");
  const auto original = labels;
  for (std::size_t i = 8; i < labels.size(); ++i) labels[i] = static_cast<std::uint8_t>((labels[i] + 1) % 10);
  write_bytes(dir / "train-labels", labels);
  const TrainOutcome b = train(bio_config(ds, reward), {});
  EXPECT_NE(a.model.net.projections[0].weight, b.model.net.projections[0].weight);
  write_bytes(dir / "train-labels", original);
  EXPECT_THROW(train(bio_config(ds, {"bio.hidden_modulation=reward", "bio.hidden_update=additive"}), {}), ConfigError);
  EXPECT_THROW(train(bio_config(ds, {"bio.hidden_modulation=reward", "bio.hidden_update=mean"}), {}), ConfigError);
  EXPECT_THROW(train(bio_config(ds, {"bio.hidden_update=median"}), {}), ConfigError);
}

// H3p: a supralinear postsynaptic factor changes what the hidden synapses learn, still learns,
// and keeps every sign (the factor is >= 0, so the update stays multiplicative by a positive number).
TEST(BioRule, SupralinearPostsynapticFactorLearnsAndKeepsSigns) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 3000, 500);
  const TrainOutcome linear = train(bio_config(ds, {}), {});
  const TrainOutcome cubic = train(bio_config(ds, {"bio.hebbian_exponent=3"}), {});
  EXPECT_GT(cubic.results["metrics"]["test"]["accuracy"].get<double>(), 0.6);  // chance: 0.1
  EXPECT_EQ(cubic.results["metrics"]["counters"]["sign_flips"], 0);
  EXPECT_TRUE((cubic.model.net.projections[0].weight.array() >= 0.0F).all());
  EXPECT_TRUE(cubic.model.net.projections[0].weight.allFinite());
  EXPECT_NE(linear.model.net.projections[0].weight, cubic.model.net.projections[0].weight);
  EXPECT_THROW(train(bio_config(ds, {"bio.hebbian_exponent=0.5"}), {}), ConfigError);
}

// H3p annealed: the exponent of each plastic epoch steps linearly from 1 to bio.hebbian_exponent,
// is logged per epoch, and the run still learns with every sign kept.
TEST(BioRule, AnnealedExponentStepsFromOneToTheConfiguredValue) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 3000, 500);
  const std::vector<std::string> sets = {"train.epochs=4", "bio.readout_epochs=1", "bio.hebbian_exponent=3"};
  const TrainOutcome fixed = train(bio_config(ds, sets), {});
  const TrainOutcome anneal = train(bio_config(ds, with(sets, "bio.hebbian_anneal=true")), {});
  std::vector<double> exponents, fixed_exponents;
  for (const auto& e : anneal.results["metrics"]["epochs"]) exponents.push_back(e["rule"]["hebbian_exponent"]);
  for (const auto& e : fixed.results["metrics"]["epochs"]) fixed_exponents.push_back(e["rule"]["hebbian_exponent"]);
  EXPECT_EQ(exponents, (std::vector<double>{1.0, 2.0, 3.0, 3.0}));  // the 4th is the readout epoch
  EXPECT_EQ(fixed_exponents, (std::vector<double>{3.0, 3.0, 3.0, 3.0}));
  EXPECT_NE(fixed.model.net.projections[0].weight, anneal.model.net.projections[0].weight);
  EXPECT_GT(anneal.results["metrics"]["test"]["accuracy"].get<double>(), 0.6);  // chance: 0.1
  EXPECT_EQ(anneal.results["metrics"]["counters"]["sign_flips"], 0);
  EXPECT_TRUE((anneal.model.net.projections[0].weight.array() >= 0.0F).all());
}

TEST(BioRule, HomeostasisKeepsEveryUnitInUse) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 3000, 200);
  const TrainOutcome on = train(bio_config(ds, {"bio.homeostasis_rate=0.05"}), {});
  const TrainOutcome off = train(bio_config(ds, {"bio.homeostasis=false"}), {});
  const auto spread = [](const TrainOutcome& r) {
    const Eigen::VectorXf rate = r.model.net.layers[1].rate.head(40);
    return std::make_pair(rate.minCoeff() * 40.0F, rate.maxCoeff() * 40.0F);  // relative to the target 1/40
  };
  const auto [lo_on, hi_on] = spread(on);
  EXPECT_GT(lo_on, 0.2F);
  EXPECT_LT(hi_on, 5.0F);
  // Without homeostasis the running rates are not tracked (no adaptation): thresholds stay 0.
  EXPECT_TRUE((off.model.net.projections[0].bias.array() == 0.0F).all());
  EXPECT_FALSE((on.model.net.projections[0].bias.array() == 0.0F).all());
}

TEST(BioRule, StructuralPlasticityBookkeepingAddsUp) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 2000, 100);
  for (const char* regrow : {"bio.regrowth=0.0", "bio.regrowth=0.01"}) {
    const TrainOutcome r = train(bio_config(ds, {regrow, "bio.silence_factor=0.3"}), {});
    const Projection& in = r.model.net.projections[0];
    std::int64_t non_silent = 0;
    for (Eigen::Index i = 0; i < 40; ++i)
      for (Eigen::Index j = 0; j < in.weight.cols(); ++j) {
        non_silent += in.mask(i, j);
        if (in.mask(i, j) == 0) {
          EXPECT_EQ(in.weight(i, j), 0.0F);
        }
      }
    const auto& c = r.results["metrics"]["counters"];
    EXPECT_EQ(40 * 64 - c["eliminations"].get<std::int64_t>() + c["creations"].get<std::int64_t>(), non_silent)
        << regrow;
    EXPECT_EQ(r.results["metrics"]["epochs"][2]["rule"]["non_silent_input_synapses"], non_silent);
    EXPECT_GT(c["eliminations"].get<std::int64_t>(), 0);
    if (std::string(regrow) == "bio.regrowth=0.01") {
      EXPECT_GT(c["creations"].get<std::int64_t>(), 0);
    }
  }
}

TEST(BioRule, ModelFileKeepsTheInferenceFunction) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 500, 100);
  TrainOptions opts;
  opts.out_dir = dir / "run";
  const TrainOutcome r = train(bio_config(ds, {"train.epochs=1", "bio.divisive=true"}), opts);
  const Model m = load_model(dir / "run/model.safetensors");
  EXPECT_EQ(m.net.layers[1].competition, Competition::feedback_inhibition);
  EXPECT_TRUE(m.net.layers[1].divisive);
  EXPECT_EQ(m.net.projections[0].efficacy, Efficacy::log_normalized);
  const Eigen::MatrixXf X = Eigen::MatrixXf::Random(64, 10).cwiseAbs();
  EXPECT_EQ(predict_logits(m.net, X), predict_logits(r.model.net, X));
}

TEST(BioRule, RejectsUnsupportedSetups) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 300, 50);
  EXPECT_THROW(train(bio_config(ds, {"network.hidden=[20,20]"}), {}), ConfigError);
  EXPECT_THROW(parse_config("", "t", {"train.rule=bio", "bio.output_rule=backprop"}), ConfigError);
}

// The rule's own readout (O1 alone, used by few-shot regime B): on features whose classes are
// separated by which units fire, it reaches every label; its weights stay positive by the form
// of the update; bad input is refused.
TEST(BioReadout, LearnsSeparableFeaturesAndKeepsWeightsPositive) {
  Rng rng(5);
  const int C = 4, per = 3, units = 12;
  Eigen::MatrixXf F = Eigen::MatrixXf::Zero(units, C * per);
  std::vector<std::uint8_t> y;
  for (int c = 0; c < C; ++c)
    for (int i = 0; i < per; ++i) {
      const int col = c * per + i;
      for (int u = 0; u < units; ++u)
        F(u, col) = static_cast<float>((u % C == c ? 1.0 : 0.0) * rng.uniform(0.5, 1.0) + 0.1 * rng.uniform());
      y.push_back(static_cast<std::uint8_t>(c));
    }
  const LocalReadout untrained = train_bio_readout(F, y, C, 0.5, 0, 1);
  const LocalReadout r = train_bio_readout(F, y, C, 0.5, 200, 1);
  std::size_t right = 0, right0 = 0;
  const auto p = r.predict(F), p0 = untrained.predict(F);
  for (std::size_t i = 0; i < y.size(); ++i) {
    right += p[i] == y[i] ? 1 : 0;
    right0 += p0[i] == y[i] ? 1 : 0;
  }
  EXPECT_EQ(right, y.size());
  EXPECT_LT(right0, y.size());  // the task is not solved by the initial weights
  EXPECT_GT(r.weight.minCoeff(), 0.0F);
  EXPECT_TRUE(r.weight.allFinite());
  // Same seed, same readout.
  EXPECT_EQ(train_bio_readout(F, y, C, 0.5, 200, 1).weight, r.weight);
  std::vector<std::uint8_t> bad = y;
  bad[0] = 9;
  EXPECT_THROW(train_bio_readout(F, bad, C, 0.5, 10, 1), InputError);
  EXPECT_THROW(train_bio_readout(-F, y, C, 0.5, 10, 1), InputError);
  EXPECT_THROW(train_bio_readout(F.leftCols(3), y, C, 0.5, 10, 1), InputError);
}

// Sign-flip accounting: zero is no sign, tiny magnitudes still count, any length (lanes + tail).
TEST(SignFlips, CountsSignChangesOnly) {
  const std::vector<float> before = {1.0F, -1.0F, 1e-30F, -1e-30F, 0.0F, 2.0F, 0.5F, -3.0F, 1.0F, 1.0F,
                                     1.0F, 1.0F,  1.0F,   1.0F,    1.0F, 1.0F, 1.0F, -1.0F, 4.0F};
  const std::vector<float> after = {-1.0F, 1.0F, -1e-30F, 1e-30F, -5.0F, 0.0F, 0.7F,  -0.1F, 1.0F, 1.0F,
                                    1.0F,  1.0F, 1.0F,    1.0F,   1.0F,  1.0F, -1.0F, 1.0F,  4.0F};
  // flips: 0, 1, 2, 3 (tiny), 16, 17 (in the tail); 4 (from zero) and 5 (to zero) are not flips.
  EXPECT_EQ(count_sign_changes(before.data(), after.data(), static_cast<Eigen::Index>(before.size())), 6u);
  EXPECT_EQ(count_sign_changes(before.data(), before.data(), static_cast<Eigen::Index>(before.size())), 0u);
}

// O1c: in the readout epochs the hidden layer is fixed (weights, thresholds, synapse mask exactly
// as after the plastic epochs) while the output rule goes on learning; the cosine schedule restarts
// for the readout phase, so the plastic phase is exactly a run of that many epochs.
TEST(BioRule, ReadoutEpochsFreezeTheHiddenLayerAndTrainTheOutput) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 3000, 500);
  const TrainOutcome plastic = train(bio_config(ds, {"train.epochs=2", "train.lr_schedule=cosine"}), {});
  const TrainOutcome readout =
      train(bio_config(ds, {"train.epochs=3", "bio.readout_epochs=1", "train.lr_schedule=cosine"}), {});
  const Network &a = plastic.model.net, &b = readout.model.net;
  expect_same_hidden_layer(a, b);
  EXPECT_NE(a.projections[1].weight, b.projections[1].weight);
  const auto& epochs = readout.results["metrics"]["epochs"];
  EXPECT_FALSE(epochs[1]["rule"]["readout_phase"].get<bool>());
  EXPECT_TRUE(epochs[2]["rule"]["readout_phase"].get<bool>());
  EXPECT_EQ(epochs[2]["rule"]["eliminations"], 0);
  EXPECT_EQ(readout.results["metrics"]["counters"]["sign_flips"], 0);
  EXPECT_TRUE((b.projections[1].weight.array() >= 0.0F).all());
  EXPECT_GT(readout.results["metrics"]["test"]["accuracy"].get<double>(), 0.8);
  // A run shorter than the readout phase keeps one plastic epoch (a --set train.epochs=N override).
  const TrainOutcome shortened = train(bio_config(ds, {"train.epochs=2", "bio.readout_epochs=5"}), {});
  EXPECT_FALSE(shortened.results["metrics"]["epochs"][0]["rule"]["readout_phase"].get<bool>());
  EXPECT_TRUE(shortened.results["metrics"]["epochs"][1]["rule"]["readout_phase"].get<bool>());
  const TrainOutcome one = train(bio_config(ds, {"train.epochs=1", "bio.readout_epochs=5"}), {});
  EXPECT_FALSE(one.results["metrics"]["epochs"][0]["rule"]["readout_phase"].get<bool>());
}

// O1c with bio.output_in_plastic_phase = false: the output rule is silent in the plastic epochs
// (the readout keeps its initial weights, so validation accuracy stays near chance) and learns in
// the readout phase. The hidden layer is bit-identical to a run whose output learns throughout:
// hidden plasticity never sees the output. A run shortened to no readout phase learns the output
// throughout, and a config without a readout phase is refused.
TEST(BioRule, OutputRuleCanWaitForTheReadoutPhase) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 3000, 500);
  const std::vector<std::string> base = {"train.epochs=3", "bio.readout_epochs=1"};
  const TrainOutcome learning = train(bio_config(ds, base), {});
  const TrainOutcome waiting = train(bio_config(ds, with(base, "bio.output_in_plastic_phase=false")), {});
  const Network &a = learning.model.net, &b = waiting.model.net;
  expect_same_hidden_layer(a, b);
  EXPECT_NE(a.projections[1].weight, b.projections[1].weight);
  const auto& learning_epochs = learning.results["metrics"]["epochs"];
  const auto& waiting_epochs = waiting.results["metrics"]["epochs"];
  EXPECT_GT(learning_epochs[1]["val_accuracy"].get<double>(), 0.8);
  EXPECT_LT(waiting_epochs[1]["val_accuracy"].get<double>(), 0.5);
  EXPECT_GT(waiting.results["metrics"]["test"]["accuracy"].get<double>(), 0.8);
  EXPECT_EQ(waiting.results["metrics"]["counters"]["sign_flips"], 0);
  const TrainOutcome one =
      train(bio_config(ds, {"train.epochs=1", "bio.readout_epochs=1", "bio.output_in_plastic_phase=false"}), {});
  EXPECT_GT(one.results["metrics"]["test"]["accuracy"].get<double>(), 0.5);
  EXPECT_THROW(train(bio_config(ds, {"bio.output_in_plastic_phase=false"}), {}), ConfigError);
  EXPECT_THROW(train(bio_config(ds, {"bio.output_in_plastic_phase=false", "bio.readout_epochs=1",
                                     "bio.hidden_modulation=reward"}),
                     {}),
               ConfigError);
}

// The rule's parallel loops (H3 per neuron, the competition per example, the efficacy per row)
// compute each result by one thread in a fixed order: 1 and 2 threads train the same model.
TEST(BioRule, OneAndTwoThreadsTrainTheSameModel) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 2000, 200);
  const std::vector<std::string> sets = {"network.hidden=[100]", "bio.readout_epochs=1"};
  const TrainOutcome a = train(bio_config(ds, sets), {});
  const TrainOutcome b = train(bio_config(ds, with(sets, "train.threads=2")), {});
  EXPECT_EQ(a.model.net.projections[0].weight, b.model.net.projections[0].weight);
  EXPECT_EQ(a.model.net.projections[1].weight, b.model.net.projections[1].weight);
  EXPECT_EQ(a.results["metrics"], b.results["metrics"]);
}

// H3's fixed point (docs/RULE.md, "What H3 converges to"): on a fixed batch that one neuron wins
// (r = 1 for every example), repeated H3 steps converge to the log-optimal portfolio, the
// maximiser of sum_b ln(w_hat . x_b) over the simplex: the KKT conditions hold (g_i = 1 on the
// support, g_i <= 1 off it), the objective beats the mean image's, and the support is sparser
// than the mean image's (which H3 would reach if it were multinomial-mixture EM). H3a, the additive
// step, has the same fixed point.
TEST(BioRule, HiddenPlasticityConvergesToTheLogOptimalPortfolio) {
  constexpr Eigen::Index P = 12, B = 6;
  Rng rng(7, 0);
  Eigen::MatrixXf x(P, B);  // [pre x B], about half the pixels on, pixel 0 never on
  for (Eigen::Index b = 0; b < B; ++b)
    for (Eigen::Index i = 0; i < P; ++i)
      x(i, b) = (i > 0 && rng.uniform() < 0.5) ? static_cast<float>(0.3 + 0.7 * rng.uniform()) : 0.0F;
  for (Eigen::Index b = 0; b < B; ++b) x(1 + b, b) = 1.0F;  // no empty image
  const Eigen::MatrixXf post = Eigen::MatrixXf::Ones(1, B);
  const Eigen::MatrixXd xd = x.cast<double>();
  const Eigen::VectorXd mean = xd.rowwise().sum() / xd.sum();  // the multinomial-mixture M-step
  int mean_support = 0;
  for (Eigen::Index i = 0; i < P; ++i) mean_support += mean(i) > 0.0 ? 1 : 0;
  const auto objective = [&](const Eigen::VectorXd& v) {  // scalar logs: GCC 12 warns inside Eigen's AVX-512 log
    const Eigen::VectorXd dv = xd.transpose() * v;
    double sum = 0.0;
    for (Eigen::Index b = 0; b < B; ++b) sum += std::log(dv(b));
    return sum;
  };
  for (const HiddenUpdate update : {HiddenUpdate::multiplicative, HiddenUpdate::additive}) {  // the same fixed point
    BioConfig cfg;
    cfg.hidden_update = update;
    cfg.eta_hidden = 0.05;
    const std::unique_ptr<LocalPlasticity> h3 = make_hidden_plasticity(cfg);
    WeightMatrix w = WeightMatrix::Constant(1, P, 0.05F);
    MaskMatrix mask = MaskMatrix::Ones(1, P);
    PlasticityCounters counters;
    for (int step = 0; step < 20000; ++step) h3->update({w, mask}, {x, post, nullptr, 0.0}, counters);
    const Eigen::VectorXd w_hat = (w.row(0).transpose().cast<double>() / w.sum());
    const Eigen::VectorXd d = xd.transpose() * w_hat;  // [B]
    Eigen::VectorXd g = Eigen::VectorXd::Zero(P);
    for (Eigen::Index b = 0; b < B; ++b) g += xd.col(b) / d(b) / static_cast<double>(B);
    int support = 0;
    for (Eigen::Index i = 0; i < P; ++i) {
      if (w_hat(i) > 1e-3) {
        ++support;
        EXPECT_NEAR(g(i), 1.0, 1e-2) << enum_name(kHiddenUpdateNames, update) << ": pixel " << i << " on the support";
      } else {
        EXPECT_LT(g(i), 1.0 + 1e-2) << enum_name(kHiddenUpdateNames, update) << ": pixel " << i << " off the support";
      }
    }
    EXPECT_GT(objective(w_hat), objective(mean) + 0.1) << enum_name(kHiddenUpdateNames, update);
    EXPECT_LT(support, mean_support) << enum_name(kHiddenUpdateNames, update);
    EXPECT_GT(support, 1) << enum_name(kHiddenUpdateNames, update);
    EXPECT_EQ(counters.sign_flips, 0U) << enum_name(kHiddenUpdateNames, update);
  }
}

// H3m (bio.hidden_update = "mean") is competitive learning towards the neuron's normalised,
// share-weighted mean input over its existing synapses (the multinomial-mixture M-step): on a fixed
// batch it must reach that prototype, keep a silent synapse at 0 and never flip a sign.
TEST(BioRule, MeanSeekingHiddenPlasticityConvergesToTheSharedWeightedMean) {
  constexpr Eigen::Index P = 12, B = 6;
  Rng rng(11, 0);
  Eigen::MatrixXf x(P, B);
  for (Eigen::Index b = 0; b < B; ++b)
    for (Eigen::Index i = 0; i < P; ++i) x(i, b) = rng.uniform() < 0.5 ? static_cast<float>(rng.uniform()) : 0.0F;
  for (Eigen::Index b = 0; b < B; ++b) x(b, b) = 1.0F;  // pixel 0 (silent below) is on in image 0
  Eigen::MatrixXf post(2, B);                           // two neurons, unequal shares of the images
  for (Eigen::Index b = 0; b < B; ++b) {
    post(0, b) = static_cast<float>(b + 1) / static_cast<float>(B + 1);
    post(1, b) = 1.0F - post(0, b);
  }
  BioConfig cfg;
  cfg.hidden_update = HiddenUpdate::mean;
  cfg.eta_hidden = 0.05;
  const std::unique_ptr<LocalPlasticity> h3m = make_hidden_plasticity(cfg);
  WeightMatrix w(2, P);
  for (Eigen::Index k = 0; k < w.size(); ++k) w.data()[k] = static_cast<float>(0.01 + 0.09 * rng.uniform());
  MaskMatrix mask = MaskMatrix::Ones(2, P);
  mask(1, 0) = 0;  // neuron 1's synapse from pixel 0 is silent
  w(1, 0) = 0.0F;
  PlasticityCounters counters;
  for (int step = 0; step < 2000; ++step) h3m->update({w, mask}, {x, post, nullptr, 0.0}, counters);
  for (Eigen::Index j = 0; j < 2; ++j) {
    Eigen::VectorXd expected = Eigen::VectorXd::Zero(P);
    for (Eigen::Index b = 0; b < B; ++b) expected += static_cast<double>(post(j, b)) * x.col(b).cast<double>();
    for (Eigen::Index i = 0; i < P; ++i) expected(i) *= mask(j, i);
    expected /= expected.sum();
    const Eigen::VectorXd w_hat = w.row(j).transpose().cast<double>() / static_cast<double>(w.row(j).sum());
    for (Eigen::Index i = 0; i < P; ++i) EXPECT_NEAR(w_hat(i), expected(i), 1e-5) << "neuron " << j << " pixel " << i;
  }
  EXPECT_EQ(w(1, 0), 0.0F);
  EXPECT_GT(w(0, 0), 0.0F);
  EXPECT_EQ(counters.sign_flips, 0U);
}

TEST(Row, MagnitudeMatchesEigensSum) {
  // row_magnitude reproduces Eigen's vectorised sum step by step (src/net/network.cpp): the bio
  // rule's results depend on it to the bit. Every length up to 200 at every offset from an
  // aligned start, with and without a negative weight (anywhere: head, packets, tail).
  Eigen::VectorXf buffer = (Eigen::VectorXf::Random(256).array() + 1.0F) * 0.37F;
  for (Eigen::Index offset = 0; offset < 16; ++offset)
    for (Eigen::Index n = 0; n <= 200; ++n) {
      const Eigen::Map<const Eigen::RowVectorXf> row(buffer.data() + offset, n);
      const dalenet::RowMagnitude m = dalenet::row_magnitude(row);
      ASSERT_FALSE(m.negative) << "n " << n << " offset " << offset;
      ASSERT_EQ(m.sum, row.sum()) << "n " << n << " offset " << offset;
      if (n == 0) continue;
      for (const Eigen::Index at : {Eigen::Index{0}, n / 2, n - 1}) {
        Eigen::VectorXf signed_buffer = buffer;
        signed_buffer(offset + at) = -0.5F;
        const Eigen::Map<const Eigen::RowVectorXf> signed_row(signed_buffer.data() + offset, n);
        const dalenet::RowMagnitude s = dalenet::row_magnitude(signed_row);
        ASSERT_TRUE(s.negative) << "n " << n << " offset " << offset << " at " << at;
        ASSERT_EQ(s.sum, signed_row.cwiseAbs().sum());
      }
    }
}

TEST(Row, GroupedSweepsMatchTheExampleByExampleSweeps) {
  // H3's per-example sweeps a group of examples at a time (src/rules/row_kernels.hpp) give, bit
  // for bit, the sweeps one example at a time: the dot product as Eigen's reduction runs it (even
  // and odd packets in two accumulators, merged, the odd last packet, the horizontal sum) and
  // g += s * x packet by packet, each with Eigen's pmadd (GCC contracts Eigen's own loops into the
  // same multiply-adds in the Release build, where the models were checked cmp-equal with Eigen's
  // loops; a sanitizer build does not, so the reference is written with pmadd here); lengths with a
  // scalar tail, and an unaligned g, go through Eigen's expressions. Every length to 100 and 784
  // (odd and even packet counts), groups of 1 to 4, operands at several alignments, inputs with
  // zeros and -0, weights of both signs.
  namespace ei = Eigen::internal;
  using Simd = ei::packet_traits<float>::type;
  constexpr Eigen::Index kP = rules::kernels::kRowPacket;
  constexpr bool kVectorized = ei::packet_traits<float>::Vectorizable && kP > 1;
  const auto reference_dot = [&](const float* w, const float* x, Eigen::Index n) {
    if (!kVectorized || n % kP != 0 || n == 0)
      return Eigen::Map<const Eigen::VectorXf>(w, n).dot(Eigen::Map<const Eigen::VectorXf>(x, n));
    const Eigen::Index packets = n / kP, paired = packets / 2 * 2;
    Simd acc[2] = {ei::pset1<Simd>(0.0F), ei::pset1<Simd>(0.0F)};
    for (Eigen::Index q = 0; q < paired; ++q)
      acc[q % 2] = ei::pmadd(ei::ploadu<Simd>(w + q * kP), ei::ploadu<Simd>(x + q * kP), acc[q % 2]);
    Simd total = ei::padd(acc[0], acc[1]);
    if (packets > paired)
      total = ei::pmadd(ei::ploadu<Simd>(w + paired * kP), ei::ploadu<Simd>(x + paired * kP), total);
    return ei::predux(total);
  };
  const auto reference_axpy = [&](float* g, float s, const float* x, Eigen::Index n) {
    if (!kVectorized || n % kP != 0 || reinterpret_cast<std::uintptr_t>(g) % (kP * sizeof(float)) != 0) {
      Eigen::Map<Eigen::ArrayXf>(g, n) += s * Eigen::Map<const Eigen::ArrayXf>(x, n);
      return;
    }
    for (Eigen::Index i = 0; i < n; i += kP)
      ei::pstoreu(g + i, ei::pmadd(ei::pset1<Simd>(s), ei::ploadu<Simd>(x + i), ei::ploadu<Simd>(g + i)));
  };
  Rng rng(12);
  std::vector<Eigen::Index> lengths(101);
  for (Eigen::Index n = 0; n <= 100; ++n) lengths[static_cast<std::size_t>(n)] = n;
  lengths.push_back(784);
  constexpr int kGroup = rules::kernels::kExampleGroup;
  for (const Eigen::Index n : lengths)
    for (int count = 1; count <= kGroup; ++count)
      for (const Eigen::Index offset : {0, 1, 5, 16}) {
        Eigen::VectorXf wbuf(n + 32);
        for (Eigen::Index i = 0; i < n + 32; ++i) wbuf(i) = static_cast<float>(rng.uniform() - 0.3);
        std::vector<Eigen::VectorXf> xbuf(static_cast<std::size_t>(count), Eigen::VectorXf(n + 32));
        const float* x[kGroup];
        float s[kGroup];
        for (int f = 0; f < count; ++f) {
          auto& xb = xbuf[static_cast<std::size_t>(f)];
          for (Eigen::Index i = 0; i < n + 32; ++i)
            xb(i) = rng.uniform() < 0.5 ? (i % 3 == 0 ? -0.0F : 0.0F) : static_cast<float>(rng.uniform());
          x[f] = xb.data() + (offset + f) % 17;  // each example at its own alignment
          s[f] = static_cast<float>(3.0 * rng.uniform());
        }
        const float* w = wbuf.data() + offset;
        float got[kGroup];
        rules::kernels::dot_group(w, x, count, n, got);
        for (int f = 0; f < count; ++f) {
          const float expected = reference_dot(w, x[f], n);
          ASSERT_EQ(got[f], expected) << "n " << n << " count " << count << " offset " << offset << " f " << f;
          if (expected != 0.0F) {
            ASSERT_EQ(std::bit_cast<std::uint32_t>(got[f]), std::bit_cast<std::uint32_t>(expected)) << n;
          }
        }
        Eigen::VectorXf gbuf(n + 32);
        for (Eigen::Index i = 0; i < n + 32; ++i) gbuf(i) = static_cast<float>(rng.uniform());
        for (const Eigen::Index g_offset : {Eigen::Index{0}, offset}) {  // aligned (H3's buffer) and not
          Eigen::VectorXf g_expected = gbuf, g_got = gbuf;
          for (int f = 0; f < count; ++f) reference_axpy(g_expected.data() + g_offset, s[f], x[f], n);
          rules::kernels::axpy_group(g_got.data() + g_offset, s, x, count, n);
          for (Eigen::Index i = 0; i < n + 32; ++i)
            ASSERT_EQ(std::bit_cast<std::uint32_t>(g_got(i)), std::bit_cast<std::uint32_t>(g_expected(i)))
                << "n " << n << " count " << count << " offset " << g_offset << " at " << i;
        }
      }
}

TEST(Row, ScaleExpInPlaceMatchesTheRowExpression) {
  // H3's in-place multiplicative step (src/rules/row_kernels.hpp) gives, bit for bit, what the row
  // expression evaluated into an aligned buffer gave, and counts the sign flips as
  // count_sign_changes does: every length to 100, g with all-zero packets (the shared factor),
  // mixed packets and an all-nonzero row, weights of both signs and zeros.
  Rng rng(11);
  for (Eigen::Index n = 0; n <= 100; ++n)
    for (int pattern = 0; pattern < 3; ++pattern) {
      Eigen::Array<float, 1, Eigen::Dynamic> w(n), g(n);
      for (Eigen::Index i = 0; i < n; ++i) {
        w(i) = static_cast<float>(rng.uniform() - (pattern == 2 ? 0.3 : 0.0));
        if (i % 7 == 3) w(i) = 0.0F;
        const bool zero_packet = pattern == 0 || (pattern == 1 && (i / 16) % 2 == 0);
        g(i) = zero_packet ? 0.0F : static_cast<float>(3.0 * rng.uniform());
      }
      // (inv < 0 for pattern 2: every non-zero weight flips, which H3 itself never does)
      // k varies with n: over many arguments Eigen's vectorised exp and std::exp differ in places.
      const float inv = pattern == 2 ? -1.7F : 1.7F, one = 0.9F;
      const float k = (pattern == 2 ? -40.0F : 0.05F) * (1.0F + 0.37F * static_cast<float>(n));
      Eigen::Array<float, 1, Eigen::Dynamic> expected(n);  // aligned, as H3's row buffers are
      expected = w * inv * (k * (g - one)).exp();
      const std::uint64_t flips = count_sign_changes(w.data(), expected.data(), n);
      Eigen::Array<float, 1, Eigen::Dynamic> got = w;
      EXPECT_EQ(rules::kernels::scale_exp_in_place(got.data(), g.data(), n, inv, k, one), flips) << n;
      for (Eigen::Index i = 0; i < n; ++i)
        ASSERT_EQ(std::bit_cast<std::uint32_t>(got(i)), std::bit_cast<std::uint32_t>(expected(i)))
            << "n " << n << " pattern " << pattern << " at " << i;
    }
}

// ---- the k-means control (docs/RULE.md, "The k-means control") --------------------------------

TEST(KMeansControl, PrototypesStartOnDataPointsAndConvergeToClusterMeans) {
  // Two clusters in 3-D, well separated; two prototypes. The first two examples initialise them,
  // every later example moves its nearest prototype by (x - c) / n: the running mean of its
  // examples, so each prototype ends exactly at the mean of the examples it took.
  Rng rng(5, 0);
  const Eigen::Index n = 400;
  Eigen::MatrixXf X(3, n);
  std::vector<int> cluster(static_cast<std::size_t>(n));
  for (Eigen::Index b = 0; b < n; ++b) {
    const int c = b < 2 ? static_cast<int>(b) : static_cast<int>(rng.below(2));
    cluster[static_cast<std::size_t>(b)] = c;
    for (Eigen::Index i = 0; i < 3; ++i)
      X(i, b) = static_cast<float>((c == 0 ? 1.0 : 5.0) + 0.1 * rng.normal() + (i == 2 && c == 1 ? 2.0 : 0.0));
  }
  WeightMatrix W = WeightMatrix::Constant(2, 3, 0.05F);
  rules::KMeansPrototypes km;
  for (Eigen::Index b = 0; b < n; b += 50) km.step(W, X.middleCols(b, 50));
  EXPECT_EQ(km.counts()[0] + km.counts()[1], n);
  for (int c = 0; c < 2; ++c) {
    Eigen::Vector3d mean = Eigen::Vector3d::Zero();
    int k = 0;
    for (Eigen::Index b = 0; b < n; ++b)
      if (cluster[static_cast<std::size_t>(b)] == c) {
        mean += X.col(b).cast<double>();
        ++k;
      }
    mean /= k;
    EXPECT_EQ(km.counts()[static_cast<std::size_t>(c)], k);
    for (Eigen::Index i = 0; i < 3; ++i) EXPECT_NEAR(W(c, i), mean(i), 1e-4) << "prototype " << c << " input " << i;
  }
  // A pixel that is 0 in every example a prototype took stays exactly 0 (silent, not small).
  Eigen::MatrixXf Y = Eigen::MatrixXf::Ones(3, 10);
  Y.row(1).setZero();
  WeightMatrix V(1, 3);
  rules::KMeansPrototypes one;
  one.step(V, Y);
  EXPECT_EQ(V(0, 1), 0.0F);
  EXPECT_EQ(V(0, 0), 1.0F);
  EXPECT_THROW(one.step(V, Eigen::MatrixXf::Ones(4, 2)), InputError);
}

TEST(KMeansControl, TrainsThroughTheBioRuleAndIsNotALocalPlasticity) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 300, 50);
  TrainOptions opts;
  opts.out_dir = dir / "run";
  const auto r = train(
      parse_config("", "t",
                   {"data.dataset='" + ds + "'", "data.validation=50", "network.hidden=[20]", "network.init=uniform",
                    "train.rule=bio", "bio.hidden_update=kmeans", "bio.homeostasis=false", "bio.structural=false",
                    "train.epochs=2", "bio.readout_epochs=1", "train.batch=50", "train.threads=1"}),
      opts);
  const Model m = load_model(dir / "run/model.safetensors");
  // The E rows are non-negative prototypes of 8x8 images in [0, 1]: every weight in [0, 1].
  const Eigen::Index nE = m.net.layers[1].excitatory_count();
  EXPECT_GE(m.net.projections[0].weight.topRows(nE).minCoeff(), 0.0F);
  EXPECT_LE(m.net.projections[0].weight.topRows(nE).maxCoeff(), 1.0F);
  EXPECT_EQ(r.results["metrics"]["counters"]["sign_flips"], 0);
  BioConfig c;
  c.hidden_update = HiddenUpdate::kmeans;
  EXPECT_THROW(make_hidden_plasticity(c), ConfigError);
}

// ---- transmitter commitment (docs/RULE.md, "Transmitter commitment", D1-D5) --------------------

// D3 on a toy: in log-odds l = ln(a / (1 - a)) the replicator step is l' = g l + ln(U+ / U-); its
// fixed points are a = 0, a = 1 and a* = 1 / (1 + (U+ / U-)^(1 / (g - 1))), unstable for g > 1,
// stable for g < 1; at g = 1 the step only follows the utility ratio.
TEST(TransmitterCommitment, ReplicatorFixedPointsAndStability) {
  using rules::replicator_step;
  const auto logit = [](double a) { return std::log(a / (1.0 - a)); };
  for (const double g : {0.5, 1.0, 1.5, 2.0, 3.0}) {
    for (const double u : {0.3, 1.0, 2.5}) {
      EXPECT_EQ(replicator_step(0.0, g, u, 1.0), 0.0);
      EXPECT_EQ(replicator_step(1.0, g, u, 1.0), 1.0);
      for (const double a : {0.1, 0.45, 0.5, 0.8})
        EXPECT_NEAR(logit(replicator_step(a, g, u, 1.0)), g * logit(a) + std::log(u), 1e-9)
            << g << " " << u << " " << a;
      if (g != 1.0 && u != 1.0) {
        const double fixed = 1.0 / (1.0 + std::pow(u, 1.0 / (g - 1.0)));
        EXPECT_NEAR(replicator_step(fixed, g, u, 1.0), fixed, 1e-12);
      }
    }
    // Equal utilities: 1/2 is a fixed point; a perturbation grows for g > 1 and shrinks for g < 1.
    EXPECT_DOUBLE_EQ(replicator_step(0.5, g, 1.0, 1.0), 0.5);
    const double moved = replicator_step(0.51, g, 1.0, 1.0) - 0.5;
    if (g > 1.0) {
      EXPECT_GT(moved, 0.01);
    } else if (g == 1.0) {
      EXPECT_NEAR(moved, 0.01, 1e-12);
    } else {
      EXPECT_LT(moved, 0.01);
    }
  }
  // A silent neuron (no utility either way) is moved by the instability alone.
  EXPECT_DOUBLE_EQ(replicator_step(0.6, 2.0, 0.0, 0.0), replicator_step(0.6, 2.0, 1.0, 1.0));
  EXPECT_THROW(rules::TransmitterCommitment({.gamma = 0.0}), ConfigError);
  EXPECT_THROW(rules::TransmitterCommitment({.interval = 0}), ConfigError);
}

namespace {
// A toy projection [post x pre] with each synapse's sign drawn at random, and random rates.
struct CommitmentToy {
  WeightMatrix w;
  MaskMatrix mask;
  Eigen::MatrixXf pre, post;
  CommitmentToy(Eigen::Index n_post, Eigen::Index n_pre, Eigen::Index batch, Rng& rng)
      : w(n_post, n_pre), mask(MaskMatrix::Ones(n_post, n_pre)), pre(n_pre, batch), post(n_post, batch) {
    for (Eigen::Index k = 0; k < w.size(); ++k)
      w.data()[k] = static_cast<float>((rng.uniform() < 0.5 ? -1.0 : 1.0) * (0.01 + 0.09 * rng.uniform()));
    for (Eigen::Index k = 0; k < pre.size(); ++k) pre.data()[k] = static_cast<float>(rng.uniform());
    for (Eigen::Index k = 0; k < post.size(); ++k) post.data()[k] = static_cast<float>(rng.uniform());
  }
};
// Presynaptic neurons (columns) whose non-zero weights share one sign.
Eigen::Index single_signed_columns(const WeightMatrix& w) {
  Eigen::Index n = 0;
  for (Eigen::Index i = 0; i < w.cols(); ++i)
    n += (w.col(i).array() > 0.0F).any() && (w.col(i).array() < 0.0F).any() ? 0 : 1;
  return n;
}
}  // namespace

// D1-D4 on the toy, g = 2: every presynaptic neuron commits to one sign, the other class is removed
// (weight 0, mask 0), no weight ever changes sign and every survivor keeps its initial sign.
TEST(TransmitterCommitment, EveryNeuronCommitsWithoutAFlip) {
  Rng rng(11, 0);
  CommitmentToy toy(12, 30, 16, rng);
  const WeightMatrix start = toy.w;
  EXPECT_LT(single_signed_columns(start), 3);  // the start is mixed
  rules::TransmitterCommitment c({.gamma = 2.0, .interval = 5, .noise = 0.01, .regrowth = 0.0});
  Rng draw(3, 0);
  c.start({toy.w, toy.mask}, draw);
  for (Eigen::Index k = 0; k < toy.w.size(); ++k)  // D1 scales each class by its share (about 1/2)
    EXPECT_NEAR(toy.w.data()[k] / start.data()[k], 0.5F, 0.0101F);
  PlasticityCounters pc;
  for (int b = 0; b < 500; ++b) c.update({toy.w, toy.mask}, {toy.pre, toy.post, nullptr, 0.0}, pc);
  EXPECT_EQ(pc.sign_flips, 0U);
  EXPECT_EQ(single_signed_columns(toy.w), toy.w.cols());
  EXPECT_TRUE((c.commitment().array() == 0.0F || c.commitment().array() == 1.0F).all());
  std::uint64_t removed = 0;
  for (Eigen::Index k = 0; k < toy.w.size(); ++k) {
    if (toy.w.data()[k] == 0.0F) {
      EXPECT_EQ(toy.mask.data()[k], 0);
      ++removed;
    } else {
      EXPECT_EQ(toy.w.data()[k] > 0.0F, start.data()[k] > 0.0F);
      EXPECT_EQ(toy.mask.data()[k], 1);
    }
  }
  EXPECT_EQ(removed, c.eliminations());
  EXPECT_GT(removed, 0U);
}

// The g = 1 control on a toy whose two classes are exactly equally useful (each column holds the
// same sizes with both signs, every postsynaptic rate the same): the commitments never move, so
// nothing commits. With g = 2 the same toy commits (the instability alone decides).
TEST(TransmitterCommitment, WithoutInstabilityEqualUtilitiesCommitNothing) {
  for (const double g : {1.0, 2.0}) {
    Rng rng(5, 0);
    CommitmentToy toy(10, 8, 4, rng);
    for (Eigen::Index j = 0; j < 5; ++j) toy.w.row(5 + j) = -toy.w.row(j).cwiseAbs();
    toy.w.topRows(5) = toy.w.topRows(5).cwiseAbs();
    toy.post.setConstant(0.5F);
    rules::TransmitterCommitment c({.gamma = g, .interval = 1, .noise = 0.01, .regrowth = 0.0});
    Rng draw(9, 0);
    c.start({toy.w, toy.mask}, draw);
    const Eigen::VectorXf a0 = c.commitment();
    PlasticityCounters pc;
    for (int b = 0; b < 200; ++b) c.update({toy.w, toy.mask}, {toy.pre, toy.post, nullptr, 0.0}, pc);
    if (g == 1.0) {
      EXPECT_LT((c.commitment() - a0).cwiseAbs().maxCoeff(), 1e-5F);
      EXPECT_EQ(single_signed_columns(toy.w), 0);
      EXPECT_EQ(c.eliminations(), 0U);
    } else {
      EXPECT_EQ(single_signed_columns(toy.w), toy.w.cols());
    }
  }
}

// D5: a silent site regrows with the sign of the neuron's commitment (share 0: never).
TEST(TransmitterCommitment, RegrowthTakesTheCommittedSign) {
  Rng rng(2, 0);
  CommitmentToy toy(10, 6, 8, rng);
  rules::TransmitterCommitment c({.gamma = 3.0, .interval = 2, .noise = 0.2, .regrowth = 0.3});
  Rng draw(4, 0);
  c.start({toy.w, toy.mask}, draw);
  PlasticityCounters pc;
  for (int b = 0; b < 400; ++b) c.update({toy.w, toy.mask}, {toy.pre, toy.post, nullptr, 0.0}, pc);
  EXPECT_EQ(pc.sign_flips, 0U);
  EXPECT_GT(c.creations(), 0U);
  EXPECT_EQ(single_signed_columns(toy.w), toy.w.cols());
  for (Eigen::Index i = 0; i < toy.w.cols(); ++i) {
    const float a = c.commitment()(i);
    ASSERT_TRUE(a == 0.0F || a == 1.0F);
    for (Eigen::Index j = 0; j < toy.w.rows(); ++j)
      if (toy.mask(j, i) != 0) {
        EXPECT_EQ(toy.w(j, i) > 0.0F, a == 1.0F);
      }
  }
}

// End to end: from a mixed-sign start, with commitment every projection ends Dale-compliant with
// no flips and the task learned; without it, it does not. The input commitment is local: permuted
// labels leave the whole hidden layer bit-identical.
TEST(BioRule, TransmitterCommitmentMakesDalesLawEmerge) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 3000, 500);
  const std::vector<std::string> mixed = {"network.sign_init=mixed", "bio.commitment_interval=4"};
  const TrainOutcome committed = train(bio_config(ds, with(mixed, "bio.commitment=true")), {});
  const TrainOutcome without = train(bio_config(ds, mixed), {});
  EXPECT_EQ(committed.results["metrics"]["counters"]["sign_flips"], 0);
  EXPECT_EQ(committed.results["metrics"]["counters"]["clip_events"], 0);
  EXPECT_GT(committed.results["metrics"]["test"]["accuracy"].get<double>(), 0.5);  // chance: 0.1
  const auto& last = committed.results["metrics"]["epochs"].back();
  for (int l = 0; l < 2; ++l) {
    EXPECT_EQ(last["structure"][l]["dale_compliance"].get<double>(), 1.0) << "projection " << l;
    EXPECT_LT(without.results["metrics"]["epochs"].back()["structure"][l]["dale_compliance"].get<double>(), 0.9);
  }
  EXPECT_EQ(last["rule"]["commitment"]["hidden"]["committed_fraction"].get<double>(), 1.0);
  const double inhibitory = last["structure"][1]["realised_inhibitory_fraction"].get<double>();
  EXPECT_NEAR(last["rule"]["commitment"]["hidden"]["inhibitory_fraction"].get<double>(), inhibitory, 1e-12);
  auto labels = read_bytes(dir / "train-labels");
  for (std::size_t i = 8; i < labels.size(); ++i) labels[i] = static_cast<std::uint8_t>((labels[i] + 1) % 10);
  write_bytes(dir / "train-labels", labels);
  const TrainOutcome permuted = train(bio_config(ds, with(mixed, "bio.commitment=true")), {});
  expect_same_hidden_layer(committed.model.net, permuted.model.net);
  EXPECT_THROW(train(bio_config(ds, {"bio.commitment=true", "bio.output_rule=perturbation"}), {}), ConfigError);
}
