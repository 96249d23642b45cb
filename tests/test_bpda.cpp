// The positive control for attacks on sparse competition (issue 32): a prototype network behind
// feedback inhibition on which an adversarial example provably exists, every gradient attack that
// follows the exact gradient stalls on at least 90 % of the examples (the silent unit of the wrong class gets no
// gradient), and the adaptive attack pgd_bpda succeeds. Each of its two parts (the leaky surrogate, the template-swap
// start) succeeds alone. If pgd_bpda is removed from the registry, or loses both parts, this fails.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "attack_models.hpp"
#include "dalenet/attack.hpp"
#include "dalenet/backprop.hpp"
#include "dalenet/error.hpp"
#include "dalenet/rng.hpp"
#include "eval/attack_internal.hpp"
#include "eval/attacks/registry.hpp"

using namespace dalenet;
using namespace dalenet::test;

namespace {

constexpr double kEps = 0.35;

// Three prototype units behind feedback inhibition (gain 4: a unit is active when its drive
// exceeds 4/5 of the inhibition's share): A and A2 vote for class 0, B for class 1, each summing
// its own block of 10 of the 30 inputs.
Network prototype_toy() {
  NetworkSpec spec;
  spec.input = 30;
  spec.hidden = {3};
  spec.output = 2;
  spec.hidden_activation = Activation::identity;
  Network net = make_network(spec);
  net.layers[1].competition = Competition::feedback_inhibition;
  net.layers[1].inhibition_gain = 4.0;
  auto& w = net.projections[0].weight;
  w.setZero();
  for (int i = 0; i < 10; ++i) {
    w(0, i) = 1.0F;
    w(1, 10 + i) = 1.0F;
    w(2, 20 + i) = 1.0F;
  }
  net.projections[0].bias.setZero();
  auto& r = net.projections[1].weight;
  r.setZero();
  r(0, 0) = r(0, 1) = r(1, 2) = 1.0F;
  net.projections[1].bias.setZero();
  return net;
}

// Class-0 inputs: A's block near 0.6 (drive 6, alone above the inhibition), A2's near 0.47
// (drive 4.7, silenced), B's near 0.02 (drive 0.2). Within eps = 0.35, B's block can rise to
// drive 3.7 while A's and A2's fall to 2.5 and 1.2: B alone is then active.
Points toy_points(int n) {
  Points p;
  Rng rng(17);
  p.X.resize(30, n);
  for (int b = 0; b < n; ++b) {
    for (int i = 0; i < 10; ++i) {
      p.X(i, b) = static_cast<float>(rng.uniform(0.55, 0.65));
      p.X(10 + i, b) = static_cast<float>(rng.uniform(0.44, 0.50));
      p.X(20 + i, b) = static_cast<float>(rng.uniform(0.0, 0.04));
    }
    p.labels.push_back(0);
  }
  return p;
}

std::size_t fooled(const std::vector<std::uint8_t>& robust) {
  return static_cast<std::size_t>(std::count(robust.begin(), robust.end(), std::uint8_t{0}));
}

}  // namespace

TEST(Bpda, ToyHasAnAdversarialExampleThatExactGradientsMiss) {
  const Network net = prototype_toy();
  const Points p = toy_points(60);
  // Every clean point is class 0, and the witness (A and A2 down, B up by eps) is class 1.
  Eigen::MatrixXf witness = p.X;
  witness.topRows(20).array() -= static_cast<float>(kEps);
  witness.bottomRows(10).array() += static_cast<float>(kEps);
  const Eigen::MatrixXf clean = predict_logits(net, p.X), adv = predict_logits(net, witness);
  for (Eigen::Index b = 0; b < p.X.cols(); ++b) {
    ASSERT_GT(clean(0, b), clean(1, b)) << b;
    ASSERT_GT(adv(1, b), adv(0, b)) << b;
  }

  NetworkClassifier clf(net);
  AttackOptions o;
  o.eps = {0.0, kEps};
  o.attacks = {"fgsm", "pgd_ce", "pgd_margin", "apgd_ce", "pgd_bpda"};
  o.schedule = AttackSchedule::exhaustive;
  o.steps = 50;
  o.restarts = 3;
  o.unbounded_check = false;
  const RobustnessReport r = evaluate_robustness(clf, p.X, p.labels, o);
  for (const auto& run : r.runs) {
    if (run.eps != kEps) continue;
    if (run.attack == "pgd_bpda") {
      EXPECT_EQ(run.correct, 0U) << "the adaptive attack must break the toy";
    } else if (run.attack != "pgd_check") {
      // A lucky random start may wake B on an example or two; the gradient never does.
      EXPECT_GE(run.correct, 54U) << run.attack << " follows the exact gradient and should stall";
    }
  }
  EXPECT_EQ(r.by_eps[1].robust_correct, 0U);
}

TEST(Bpda, TheSurrogateAloneAndTheTemplateStartAloneEachBreakTheToy) {
  const Network net = prototype_toy();
  const Points p = toy_points(60);
  PgdOptions o;
  o.eps = kEps;
  o.steps = 50;
  o.restarts = 3;
  o.margin_loss = true;
  Eigen::MatrixXf adv;
  NetworkClassifier exact(net);
  EXPECT_LE(fooled(pgd_attack(exact, p.X, p.labels, o, adv)), 6U);  // the exact gradient, random starts
  NetworkClassifier surrogate(net, false, 0.1F);
  EXPECT_EQ(fooled(pgd_attack(surrogate, p.X, p.labels, o, adv)), 60U);  // the surrogate, random starts

  const Eigen::MatrixXf starts = detail::template_swap_starts(net, p.X, p.labels, ThreatNorm::linf, kEps);
  ASSERT_EQ(starts.cols(), p.X.cols());
  // A's block down by eps, B's up by eps, A2's (not in the swap) unchanged.
  EXPECT_NEAR((starts.topRows(10) - p.X.topRows(10)).maxCoeff(), -kEps, 1e-6);
  EXPECT_EQ((starts.middleRows(10, 10) - p.X.middleRows(10, 10)).cwiseAbs().maxCoeff(), 0.0F);
  EXPECT_NEAR((starts.bottomRows(10) - p.X.bottomRows(10)).minCoeff(), kEps, 1e-6);
  o.restarts = 1;
  const auto ok = detail::pgd_attack_keyed(exact, p.X, p.labels, o, {}, adv, nullptr, &starts);
  EXPECT_EQ(fooled(ok), 60U);  // the exact gradient from the template swap
}

// The surrogate changes the gradient only: logits stay exact, a leak of 0 is the exact gradient,
// and a network without competition has nothing to leak through.
TEST(Bpda, SurrogateKeepsLogitsAndIsExactWithoutCompetition) {
  const Network toy = prototype_toy();
  const Points p = toy_points(20);
  auto margin = [&](const Eigen::MatrixXf& z, Eigen::MatrixXf& d) { detail::margin_gradient(z, p.labels, d); };
  Eigen::MatrixXf z0, g0, z1, g1;
  NetworkClassifier exact(toy, false), leaky(toy, false, 0.1F), zero(toy, false, 0.0F);
  exact.input_gradient(p.X, margin, z0, g0);
  leaky.input_gradient(p.X, margin, z1, g1);
  EXPECT_EQ(z0, z1);
  EXPECT_GT((g1 - g0).cwiseAbs().maxCoeff(), 0.05F);         // B's block gets a gradient
  EXPECT_EQ(g0.bottomRows(10).cwiseAbs().maxCoeff(), 0.0F);  // the exact one gives it none
  zero.input_gradient(p.X, margin, z1, g1);
  EXPECT_EQ(g0, g1);

  const Network relu = random_network(30, {12}, 2, 5);
  NetworkClassifier plain(relu, false), leaky_relu(relu, false, 0.1F);
  plain.input_gradient(p.X, margin, z0, g0);
  leaky_relu.input_gradient(p.X, margin, z1, g1);
  EXPECT_EQ(g0, g1);
  EXPECT_TRUE(detail::template_swap_starts(relu, p.X, p.labels, ThreatNorm::linf, kEps).size() == 0);
  EXPECT_THROW(NetworkClassifier(relu, false, -0.1F), InputError);
  EXPECT_TRUE(detail::attack_info("pgd_bpda").iterative);
}

// pgd_drive (attacks/drive.cpp) on the same toy: the drive loss moves B's block up and the
// strongest class-0 unit's down, so it must break every example; each adversarial example it
// returns is misclassified by the exact network; and it refuses a network without the units.
TEST(Drive, BreaksTheToyAndItsSuccessesAreExact) {
  const Network net = prototype_toy();
  const Points p = toy_points(60);
  NetworkClassifier clf(net);
  AttackOptions o;
  o.eps = {0.0, kEps};
  o.attacks = {"pgd_drive"};
  o.steps = 50;
  o.restarts = 3;
  o.unbounded_check = false;
  const RobustnessReport r = evaluate_robustness(clf, p.X, p.labels, o);
  EXPECT_EQ(r.by_eps[1].robust_correct, 0U) << "the drive loss must break the toy";

  const detail::AttackInfo& drive = detail::attack_info("pgd_drive");
  EXPECT_TRUE(drive.white_box && drive.iterative && drive.in_default_ladder);
  Eigen::MatrixXf adv;
  PgdStats restarts;
  const std::vector<std::size_t> keys;
  const detail::AttackCall call{clf, nullptr, o, kEps, 7, p.X, p.labels, keys};
  const auto robust = drive.run(call, adv, restarts);
  EXPECT_EQ(fooled(robust), 60U);
  const Eigen::MatrixXf z = predict_logits(net, adv);
  for (Eigen::Index b = 0; b < p.X.cols(); ++b) {
    EXPECT_GT(z(1, b), z(0, b)) << b;
    EXPECT_LE((adv.col(b) - p.X.col(b)).cwiseAbs().maxCoeff(), kEps + 1e-6) << b;
  }

  const Network relu = random_network(30, {12}, 2, 5);
  NetworkClassifier plain(relu);
  EXPECT_FALSE(drive.applies(plain));
  EXPECT_TRUE(drive.applies(clf));
  const detail::AttackCall on_relu{plain, nullptr, o, kEps, 7, p.X, p.labels, keys};
  EXPECT_THROW(drive.run(on_relu, adv, restarts), InputError);
}

// VotingUnits: the units, their drives and classes, and the strongest of each side.
TEST(Drive, VotingUnitsFindTheStrongestUnitOfEachSide) {
  const Network net = prototype_toy();
  const Points p = toy_points(5);
  const detail::VotingUnits u = detail::VotingUnits::of(net);
  ASSERT_FALSE(u.empty());
  EXPECT_EQ(u.classes, (std::vector<int>{0, 0, 1}));
  const Eigen::MatrixXf d = u.drives(p.X);
  for (Eigen::Index b = 0; b < p.X.cols(); ++b) {
    EXPECT_NEAR(d(0, b), p.X.col(b).head(10).sum(), 1e-5);
    const auto [win, wrong] = u.strongest(d, b, 0);
    EXPECT_EQ(win, 0);  // A's block (near 0.6) beats A2's (near 0.47)
    EXPECT_EQ(wrong, 2);
    const auto [win1, wrong1] = u.strongest(d, b, 1);  // as if the label were 1
    EXPECT_EQ(win1, 2);
    EXPECT_EQ(wrong1, 0);
  }
  EXPECT_TRUE(detail::VotingUnits::of(random_network(30, {12}, 2, 5)).empty());
}
