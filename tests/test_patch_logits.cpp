// The Square attack's incremental candidates (src/eval/patch_logits.hpp): the forward pass from
// the first projection's drive equals forward(); PatchLogits follows a sequence of window changes
// within float rounding on every kind of network the library builds (linear, ReLU, two hidden
// layers, feedback inhibition, k-WTA, divisive normalisation, the log-normalised efficacy, E/I
// layers); and the Square attack on a NetworkClassifier with and without incremental candidates
// (a full pass per query) leaves the same examples robust, every reported witness fooling the
// model's own forward pass.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "attack_models.hpp"
#include "dalenet/attack.hpp"
#include "dalenet/backprop.hpp"
#include "dalenet/error.hpp"
#include "dalenet/rng.hpp"
#include "eval/patch_logits.hpp"
#include "net/forward_from_drive.hpp"

using namespace dalenet;
using namespace dalenet::test;

namespace {

struct NetCase {
  const char* name;
  std::vector<int> hidden;
  Competition competition;
  bool divisive;
  Efficacy efficacy;
  double inhibitory_fraction;
};

Network make_case(const NetCase& c, int dim, int classes, std::uint64_t seed) {
  Network net = random_network(dim, c.hidden, classes, seed);
  if (c.inhibitory_fraction > 0.0) {  // the last neurons of the hidden layer inhibitory
    const int size = net.layers[1].size();
    const int inhibitory = static_cast<int>(std::lround(c.inhibitory_fraction * size));
    NetworkSpec spec;
    spec.input = dim;
    spec.hidden = c.hidden;
    spec.output = classes;
    spec.inhibitory_fraction = c.inhibitory_fraction;
    net.layers[1].populations = make_network(spec).layers[1].populations;
    EXPECT_EQ(net.layers[1].size() - net.layers[1].excitatory_count(), inhibitory);
  }
  if (!c.hidden.empty()) {
    Projection& first = net.projections[0];
    first.efficacy = c.efficacy;
    if (c.efficacy == Efficacy::log_normalized) {
      first.weight = first.weight.cwiseAbs();
      first.efficacy_floor = 0.3F / static_cast<float>(dim);
    }
    Layer& h = net.layers[1];
    h.competition = c.competition;
    h.kwta_k = 5;
    h.inhibition_gain = 0.5;
    h.divisive = c.divisive;
    const int inhibitory = h.size() - h.excitatory_count();
    if (inhibitory > 0) {  // interneurons take no feedforward input (as the bio rule sets them up)
      first.weight.bottomRows(inhibitory).setZero();
      first.bias.tail(inhibitory).setZero();
    }
  }
  return net;
}

const NetCase kCases[] = {
    {"linear", {}, Competition::none, false, Efficacy::linear, 0.0},
    {"relu", {40}, Competition::none, false, Efficacy::linear, 0.0},
    {"two_hidden", {40, 30}, Competition::none, false, Efficacy::linear, 0.0},
    {"kwta_lognormalised", {40}, Competition::kwta, false, Efficacy::log_normalized, 0.0},
    {"feedback_ei", {40}, Competition::feedback_inhibition, false, Efficacy::log_normalized, 0.2},
    {"feedback_divisive", {40}, Competition::feedback_inhibition, true, Efficacy::linear, 0.2},
};

}  // namespace

TEST(PatchLogits, ForwardFromTheFirstDriveIsForward) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    const Network net = make_case(c, 36, 4, 3);
    Rng rng(5);
    const Eigen::MatrixXf X = uniform_batch(36, 23, rng);
    ForwardCache full;
    forward(net, X, full);
    WeightMatrix e;
    net.projections[0].effective_weight(e);
    const Eigen::MatrixXf drive = Eigen::MatrixXf(e) * X;
    ForwardCache from;
    detail::forward_from_first_drive(net, drive, from);
    EXPECT_LE((from.logits() - full.logits()).cwiseAbs().maxCoeff(),
              1e-4F * (1.0F + full.logits().cwiseAbs().maxCoeff()));
  }
}

// A random walk of window changes, accepted at random, and columns dropped on the way: the logits
// of every candidate batch match forward() on the same candidates.
TEST(PatchLogits, FollowsWindowChangesWithinRounding) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    const Network net = make_case(c, 36, 4, 7);
    Rng rng(9);
    Eigen::MatrixXf x = uniform_batch(36, 20, rng);
    detail::PatchLogits patch(net);
    Eigen::MatrixXf logits;
    patch.reset(x, logits);
    EXPECT_LE((logits - predict_logits(net, x)).cwiseAbs().maxCoeff(), 1e-4F);
    float worst = 0.0F;
    for (int it = 0; it < 2 * detail::PatchLogits::kRefreshAfterCalls + 7; ++it) {
      Eigen::MatrixXf cand = x;
      std::vector<std::vector<std::int32_t>> changed(static_cast<std::size_t>(x.cols()));
      for (Eigen::Index b = 0; b < x.cols(); ++b) {
        const int s = 1 + static_cast<int>(rng.below(3)), r0 = static_cast<int>(rng.below(6 - s + 1)),
                  c0 = static_cast<int>(rng.below(6 - s + 1));
        for (int r = r0; r < r0 + s; ++r)
          for (int q = c0; q < c0 + s; ++q) {
            cand(r * 6 + q, b) = static_cast<float>(rng.uniform());
            changed[static_cast<std::size_t>(b)].push_back(r * 6 + q);
          }
      }
      patch.evaluate(cand, changed, logits);
      const Eigen::MatrixXf truth = predict_logits(net, cand);
      worst = std::max(worst, (logits - truth).cwiseAbs().maxCoeff() / (1.0F + truth.cwiseAbs().maxCoeff()));
      std::vector<std::uint8_t> take(static_cast<std::size_t>(x.cols()));
      for (auto& t : take) t = rng.uniform() < 0.5 ? 1 : 0;
      patch.accept(cand, take);
      for (Eigen::Index b = 0; b < x.cols(); ++b)
        if (take[static_cast<std::size_t>(b)] != 0) x.col(b) = cand.col(b);
      if (it % 97 == 50 && x.cols() > 4) {  // drop every third column
        std::vector<Eigen::Index> keep;
        for (Eigen::Index b = 0; b < x.cols(); ++b)
          if (b % 3 != 0) keep.push_back(b);
        patch.keep_columns(keep);
        Eigen::MatrixXf kept(x.rows(), static_cast<Eigen::Index>(keep.size()));
        for (std::size_t k = 0; k < keep.size(); ++k) kept.col(static_cast<Eigen::Index>(k)) = x.col(keep[k]);
        x = kept;
      }
    }
    EXPECT_LE(worst, 1e-4F);
  }
}

TEST(PatchLogits, RefusesShapesThatDoNotMatch) {
  const Network net = make_case(kCases[1], 36, 4, 11);
  detail::PatchLogits patch(net);
  Eigen::MatrixXf logits;
  EXPECT_THROW(patch.reset(Eigen::MatrixXf::Zero(35, 3), logits), InputError);
  patch.reset(Eigen::MatrixXf::Zero(36, 3), logits);
  EXPECT_THROW(patch.evaluate(Eigen::MatrixXf::Zero(36, 4), std::vector<std::vector<std::int32_t>>(4), logits),
               InputError);
}

// The Square attack through PatchLogits and through a full pass per query: the same robust
// examples up to rounding ties, and every witness misclassified by the model's own forward pass.
TEST(PatchLogits, SquareAttackAgreesWithTheFullPass) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    const Network net = make_case(c, 36, 4, 13);
    const auto [X, labels] = labelled_by(net, 120, 15);
    NetworkClassifier incremental(net);
    NetworkClassifier full(net, false);
    for (const double eps : {0.05, 0.15}) {
      Eigen::MatrixXf adv_i, adv_f;
      const auto rob_i = square_attack(incremental, X, labels, eps, 400, 0.8, 6, 6, 21, 50, adv_i);
      const auto rob_f = square_attack(full, X, labels, eps, 400, 0.8, 6, 6, 21, 50, adv_f);
      // A random search: where two candidates' margins tie within rounding the paths can part, so
      // a few examples may fall differently (on this machine none do).
      std::size_t differ = 0;
      for (std::size_t k = 0; k < rob_i.size(); ++k) differ += rob_i[k] != rob_f[k] ? 1 : 0;
      EXPECT_LE(differ, 2u) << "eps " << eps;
      const auto fooled = std::count(rob_i.begin(), rob_i.end(), std::uint8_t{0});
      const Eigen::MatrixXf za = predict_logits(net, adv_i);
      for (Eigen::Index b = 0; b < X.cols(); ++b) {
        if (rob_i[static_cast<std::size_t>(b)] != 0) continue;
        Eigen::Index arg = 0;
        za.col(b).maxCoeff(&arg);
        EXPECT_NE(arg, labels[static_cast<std::size_t>(b)]) << "example " << b;
        EXPECT_LE((adv_i.col(b) - X.col(b)).cwiseAbs().maxCoeff(), eps + 1e-6);
      }
      if (eps > 0.1) {
        EXPECT_GT(fooled, 0) << "the attack found nothing: the comparison shows little";
      }
    }
  }
}
