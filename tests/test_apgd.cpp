// Auto-PGD (src/eval/attacks/apgd.cpp) against what is known about it: the reference code's
// checkpoint schedule, the DLR and cross-entropy losses' gradients by finite differences and the
// DLR loss's invariances (closed forms), the exact minimal L-inf radius of linear classifiers, an
// L2 ball it must respect, and the registry that lists it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "attack_models.hpp"
#include "dalenet/attack.hpp"
#include "dalenet/backprop.hpp"
#include "dalenet/error.hpp"
#include "eval/attack_internal.hpp"
#include "eval/attacks/registry.hpp"

using namespace dalenet;
using namespace dalenet::test;

namespace {

Eigen::MatrixXf random_logits(int classes, int n, std::uint64_t seed) {
  Rng rng(seed);
  Eigen::MatrixXf z(classes, n);
  for (Eigen::Index i = 0; i < z.size(); ++i) z.data()[i] = static_cast<float>(2.0 * rng.normal());
  return z;
}

// Central differences of a per-example loss wrt each logit, in double from float evaluations.
template <typename Loss>
void expect_gradient_matches(const Eigen::MatrixXf& z, const Loss& loss, const Eigen::MatrixXf& d, double tol) {
  // tol is relative to the derivative where that exceeds 1.
  const float h = 1e-3F;
  for (Eigen::Index b = 0; b < z.cols(); ++b)
    for (Eigen::Index c = 0; c < z.rows(); ++c) {
      Eigen::MatrixXf up = z.col(b), down = z.col(b);
      up(c) += h;
      down(c) -= h;
      const double fd = (static_cast<double>(loss(up, b)) - loss(down, b)) / (2.0 * h);
      EXPECT_NEAR(d(c, b), fd, tol * std::max(1.0, std::abs(fd))) << "example " << b << " class " << c;
    }
}

// The accuracy of one attack alone at one eps (exhaustive schedule).
double own_correct(const RobustnessReport& r, const std::string& attack, double eps) {
  for (const auto& run : r.runs)
    if (run.attack == attack && run.eps == eps) return static_cast<double>(run.correct);
  ADD_FAILURE() << attack << " did not run at eps " << eps;
  return -1.0;
}

}  // namespace

// The reference code (fra31/auto-attack, autopgd_base.py) checks after 22 % of the iterations,
// then after intervals 3 % shorter each, down to 6 %: for 100 iterations 22, 41, 57, 70, 80, 87,
// 93, 99.
TEST(Apgd, CheckpointsFollowTheReferenceSchedule) {
  EXPECT_EQ(detail::apgd_checkpoints(100), (std::vector<int>{22, 41, 57, 70, 80, 87, 93, 99}));
  EXPECT_EQ(detail::apgd_checkpoints(10), (std::vector<int>{2, 3, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_EQ(detail::apgd_checkpoints(1), (std::vector<int>{1}));
}

TEST(Apgd, LossGradientsMatchFiniteDifferences) {
  const Eigen::MatrixXf z = random_logits(10, 12, 3);
  std::vector<std::uint8_t> labels, targets;
  for (int b = 0; b < 12; ++b) {
    labels.push_back(static_cast<std::uint8_t>(b % 10));
    targets.push_back(static_cast<std::uint8_t>((b * 7 + 3) % 10 == b % 10 ? (b + 1) % 10 : (b * 7 + 3) % 10));
  }
  Eigen::VectorXf loss;
  Eigen::MatrixXf d;
  detail::dlr_targeted_per_example(z, labels, targets, loss, d);
  auto dlr = [&](const Eigen::MatrixXf& col, Eigen::Index b) {
    Eigen::VectorXf l;
    Eigen::MatrixXf g;
    const auto k = static_cast<std::size_t>(b);
    detail::dlr_targeted_per_example(col, std::span(labels).subspan(k, 1), std::span(targets).subspan(k, 1), l, g);
    return l(0);
  };
  expect_gradient_matches(z, dlr, d, 2e-3);
  // Closed form: L = -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2).
  for (Eigen::Index b = 0; b < z.cols(); ++b) {
    std::vector<float> s(z.col(b).data(), z.col(b).data() + z.rows());
    std::sort(s.begin(), s.end(), std::greater<>());
    const auto k = static_cast<std::size_t>(b);
    const double expect = -(static_cast<double>(z(labels[k], b)) - z(targets[k], b)) / (s[0] - 0.5 * (s[2] + s[3]));
    EXPECT_NEAR(loss(b), expect, 1e-5 * std::max(1.0, std::abs(expect)));
  }
  // The DLR loss is invariant to shifting the logits and to scaling them by a positive factor.
  Eigen::VectorXf shifted, scaled;
  detail::dlr_targeted_per_example((z.array() + 5.0F).matrix(), labels, targets, shifted, d);
  detail::dlr_targeted_per_example(z * 3.0F, labels, targets, scaled, d);
  for (Eigen::Index b = 0; b < z.cols(); ++b) {
    EXPECT_NEAR(shifted(b), loss(b), 1e-4 * std::max(1.0F, std::abs(loss(b))));
    EXPECT_NEAR(scaled(b), loss(b), 1e-4 * std::max(1.0F, std::abs(loss(b))));
  }

  detail::cross_entropy_per_example(z, labels, loss, d);
  auto ce = [&](const Eigen::MatrixXf& col, Eigen::Index b) {
    Eigen::VectorXf l;
    Eigen::MatrixXf g;
    detail::cross_entropy_per_example(col, std::span(labels).subspan(static_cast<std::size_t>(b), 1), l, g);
    return l(0);
  };
  expect_gradient_matches(z, ce, d, 2e-3);
  // The same gradient as the training loss's (softmax minus one-hot).
  Eigen::MatrixXf reference;
  softmax_cross_entropy(z, labels, Reduction::sum, &reference);
  EXPECT_LT((reference - d).cwiseAbs().maxCoeff(), 1e-6F);
}

// On a linear classifier the minimal L-inf radius is known exactly (minimal_linf): APGD-CE and
// APGD-T must fool every example whose radius is below eps and none whose radius is above it,
// with valid adversarial examples.
TEST(Apgd, FindsTheExactMinimalPerturbationOfALinearClassifier) {
  const Network net = linear_model(16, 5, 3);
  const Points p = labelled_by(net, 300, 5);
  std::vector<double> eps_star;
  for (Eigen::Index b = 0; b < p.X.cols(); ++b)
    eps_star.push_back(minimal_linf(net, p.X.col(b), p.labels[static_cast<std::size_t>(b)]));
  const double eps = 0.1;
  const auto above = std::count_if(eps_star.begin(), eps_star.end(), [&](double e) { return e > eps * 1.001; });
  const auto at_least = std::count_if(eps_star.begin(), eps_star.end(), [&](double e) { return e >= eps * 0.98; });
  ASSERT_GT(above, 40);  // the data straddle eps
  ASSERT_LT(at_least, 260);
  NetworkClassifier clf(net);
  for (const char* attack : {"apgd_ce", "apgd_t"}) {
    SCOPED_TRACE(attack);
    AttackOptions o;
    o.eps = {0.0, eps};
    o.attacks = {attack};
    o.schedule = AttackSchedule::exhaustive;
    o.steps = 100;
    o.batch = 64;
    o.unbounded_check = false;
    o.keep_adversarial = true;
    const RobustnessReport r = evaluate_robustness(clf, p.X, p.labels, o);
    EXPECT_EQ(own_correct(r, attack, 0.0), 300.0);  // eps = 0 is the clean point
    const double correct = own_correct(r, attack, eps);
    EXPECT_GE(correct, static_cast<double>(above)) << "fooled beyond the provable radius";
    EXPECT_LE(correct, static_cast<double>(at_least)) << "missed attackable examples";
    const EpsResult& e = r.by_eps[1];
    const Eigen::MatrixXf z = predict_logits(net, e.adversarial);
    for (Eigen::Index b = 0; b < p.X.cols(); ++b) {
      if (e.robust[static_cast<std::size_t>(b)] != 0) continue;
      EXPECT_LE((e.adversarial.col(b) - p.X.col(b)).cwiseAbs().maxCoeff(), eps + 1e-6);
      EXPECT_GE(e.adversarial.col(b).minCoeff(), 0.0F);
      EXPECT_LE(e.adversarial.col(b).maxCoeff(), 1.0F);
      Eigen::Index arg = 0;
      z.col(b).maxCoeff(&arg);
      EXPECT_NE(arg, p.labels[static_cast<std::size_t>(b)]);
    }
  }
}

// In the L2 threat model APGD's witnesses stay in the L2 ball, and it is at least as strong as
// FGSM's single step on a ReLU network (it starts with a step of 2 eps along the same gradient).
TEST(Apgd, L2WitnessesStayInTheBall) {
  const Network net = random_network(16, {24}, 4, 7);
  const Points p = labelled_by(net, 200, 9);
  NetworkClassifier clf(net);
  AttackOptions o;
  o.norm = ThreatNorm::l2;
  o.eps = {1.5};
  o.attacks = {"fgsm", "apgd_ce", "apgd_t"};
  o.schedule = AttackSchedule::exhaustive;
  o.steps = 50;
  o.unbounded_check = false;
  o.keep_adversarial = true;
  const RobustnessReport r = evaluate_robustness(clf, p.X, p.labels, o);
  const EpsResult& e = r.by_eps[0];
  EXPECT_LT(e.robust_correct, 190U);  // the attacks bite
  for (Eigen::Index b = 0; b < p.X.cols(); ++b) {
    if (e.robust[static_cast<std::size_t>(b)] != 0) continue;
    EXPECT_LE((e.adversarial.col(b) - p.X.col(b)).norm(), 1.5 + 1e-5);
  }
  EXPECT_LE(own_correct(r, "apgd_ce", 1.5), own_correct(r, "fgsm", 1.5));
  EXPECT_LE(own_correct(r, "apgd_t", 1.5), own_correct(r, "fgsm", 1.5));
}

TEST(Apgd, RegistryListsItAndTheTargetedLossNeedsFourClasses) {
  const auto& names = attack_names();
  for (const char* a : {"apgd_ce", "apgd_t"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), a), names.end()) << a;
    EXPECT_TRUE(detail::attack_info(a).white_box);
    EXPECT_TRUE(detail::attack_info(a).iterative);
  }
  // Every registered name is unique and resolves to itself; the default ladders hold the APGD
  // attacks and the adaptive pgd_bpda and pgd_drive (each model runs the part that applies to it).
  for (const auto& n : names) EXPECT_EQ(detail::attack_info(n).name, n);
  EXPECT_EQ(std::count(names.begin(), names.end(), "apgd_t"), 1);
  EXPECT_EQ(default_attacks(ThreatNorm::linf),
            (std::vector<std::string>{"fgsm", "pgd_ce", "pgd_margin", "apgd_ce", "apgd_t", "pgd_bpda", "pgd_drive",
                                      "square", "gaussian", "salt_pepper"}));
  EXPECT_EQ(default_attacks(ThreatNorm::l2), (std::vector<std::string>{"fgsm", "pgd_ce", "pgd_margin", "apgd_ce",
                                                                       "apgd_t", "pgd_bpda", "pgd_drive", "gaussian"}));
  EXPECT_THROW(detail::attack_info("apgd_dlr_bogus"), InputError);
  // The carried schedule counts black_box_only right only if every white-box attack runs before
  // every other in-threat attack.
  for (const auto& w : detail::attack_registry()) {
    for (const auto& o : detail::attack_registry()) {
      if (!w.white_box || o.white_box || !o.in_threat_model) continue;
      EXPECT_LT(w.cost_rank, o.cost_rank) << w.name << " " << o.name;
    }
  }

  const Network three = linear_model(8, 3, 1);
  const Points p = labelled_by(three, 20, 2);
  NetworkClassifier clf(three);
  AttackOptions o;
  o.eps = {0.1};
  o.attacks = {"apgd_t"};
  EXPECT_THROW(evaluate_robustness(clf, p.X, p.labels, o), InputError);
}
