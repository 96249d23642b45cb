// The two attack schedules (AttackSchedule, docs/EVALUATION.md "Which examples each attack runs
// on"): carrying the fooled set forward over eps and attacks must give the robust accuracy of
// running every attack on every example, example by example, on models of every kind the
// classifier computes differently (linear; one ReLU layer, incremental and dense; competition
// with the log-normalised efficacy), with transfer, noise and the Square attack in the ladder,
// and on an eps grid out of order. It must also do less work, and its witnesses must be valid.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>

#include "attack_models.hpp"
#include "dalenet/attack.hpp"
#include "dalenet/error.hpp"
#include "dalenet/rng.hpp"
#include "eval/attacks/registry.hpp"

using namespace dalenet;
using namespace dalenet::test;

namespace {

// The bio model's forward pass in miniature: non-negative weights through the log-normalised
// efficacy, then k-WTA competition in the hidden layer.
Network competitive_model(int dim, int hidden, int classes, std::uint64_t seed) {
  Network net = random_network(dim, {hidden}, classes, seed);
  net.projections[0].weight = net.projections[0].weight.cwiseAbs();
  net.projections[0].efficacy = Efficacy::log_normalized;
  net.projections[0].efficacy_floor = 0.02F;  // about a third of the mean normalised weight
  net.layers[1].competition = Competition::kwta;
  net.layers[1].kwta_k = 6;
  return net;
}

AttackOptions small_ladder(std::vector<double> eps) {
  AttackOptions o;
  o.eps = std::move(eps);
  o.attacks = {"fgsm", "pgd_ce", "pgd_margin", "square", "transfer", "gaussian", "salt_pepper", "apgd_ce", "apgd_t"};
  o.steps = 20;
  o.restarts = 2;
  o.square_queries = 150;
  o.noise_draws = 3;
  o.image_rows = 4;
  o.image_cols = 4;
  o.batch = 37;  // several batches, and survivors regroup into different ones
  o.keep_adversarial = true;
  o.seed = 11;
  return o;
}

std::size_t total_attacked(const RobustnessReport& r) {
  std::size_t s = 0;
  for (const auto& run : r.runs) s += run.attacked;
  return s;
}

// Runs both schedules and checks they agree example by example; returns (carried, exhaustive).
std::pair<RobustnessReport, RobustnessReport> both(const Network& net, bool incremental, const Points& p,
                                                   AttackOptions o) {
  const Network source = random_network(net.input_size(), {12}, net.output_size(), 99);
  NetworkClassifier src(source);
  NetworkClassifier clf(net, incremental);
  o.schedule = AttackSchedule::carried;
  RobustnessReport carried = evaluate_robustness(clf, p.X, p.labels, o, &src);
  o.schedule = AttackSchedule::exhaustive;
  RobustnessReport exhaustive = evaluate_robustness(clf, p.X, p.labels, o, &src);
  EXPECT_EQ(carried.by_eps.size(), o.eps.size());
  EXPECT_EQ(exhaustive.by_eps.size(), o.eps.size());
  for (std::size_t i = 0; i < o.eps.size(); ++i) {
    const EpsResult& c = carried.by_eps[i];
    const EpsResult& e = exhaustive.by_eps[i];
    EXPECT_EQ(c.eps, o.eps[i]);  // reported in the grid's order
    EXPECT_EQ(c.robust, e.robust) << "eps " << c.eps;
    EXPECT_EQ(c.robust_correct, e.robust_correct) << "eps " << c.eps;
    EXPECT_EQ(c.black_box_only, e.black_box_only) << "eps " << c.eps;
    EXPECT_LT(c.at_eps_accuracy, 0.0);  // not measured by the carried schedule
    EXPECT_GE(e.at_eps_accuracy, e.robust_accuracy);
    // The carried witnesses fool the model within eps.
    const Eigen::MatrixXf z = predict_logits(net, c.adversarial);
    for (Eigen::Index b = 0; b < p.X.cols(); ++b) {
      EXPECT_LE((c.adversarial.col(b) - p.X.col(b)).cwiseAbs().maxCoeff(), c.eps + 1e-6);
      Eigen::Index arg = 0;
      z.col(b).maxCoeff(&arg);
      EXPECT_EQ(arg == p.labels[static_cast<std::size_t>(b)], c.robust[static_cast<std::size_t>(b)] == 1)
          << "eps " << c.eps << " example " << b;
    }
  }
  EXPECT_LT(total_attacked(carried), total_attacked(exhaustive));
  // Some eps must fool some examples and leave others, or the comparison shows little.
  EXPECT_TRUE(std::any_of(exhaustive.by_eps.begin(), exhaustive.by_eps.end(), [&](const EpsResult& e) {
    return e.robust_correct > 0 && e.robust_correct + 10 < exhaustive.clean_correct;
  }));
  return {std::move(carried), std::move(exhaustive)};
}

}  // namespace

TEST(AttackSchedule, CarriedEqualsExhaustiveOnALinearModel) {
  const Network net = random_network(16, {}, 4, 3);
  both(net, true, labelled_by(net, 160, 5, 5), small_ladder({0.0, 0.05, 0.1, 0.2, 0.3}));
}

TEST(AttackSchedule, CarriedEqualsExhaustiveOnAReluModelIncrementalAndDense) {
  const Network net = random_network(16, {24}, 4, 7);
  const Points p = labelled_by(net, 160, 9, 5);
  for (const bool incremental : {true, false}) {
    SCOPED_TRACE(incremental ? "incremental" : "dense");
    both(net, incremental, p, small_ladder({0.0, 0.1, 0.2, 0.35, 0.5}));
  }
}

TEST(AttackSchedule, CarriedEqualsExhaustiveWithCompetitionAndAnUnsortedGrid) {
  const Network net = competitive_model(16, 30, 4, 13);
  both(net, true, labelled_by(net, 160, 15, 5), small_ladder({0.1, 0.0, 0.01, 0.2, 0.03}));
}

// In the carried schedule each attack's accuracy is the worst case over it and every attack
// before it: non-increasing in run order, and the last in-threat one equals the robust accuracy
// before the convergence check; every attack runs only on what was standing.
TEST(AttackSchedule, CarriedPerAttackAccuraciesAreCumulative) {
  const Network net = random_network(16, {24}, 4, 21);
  const Points p = labelled_by(net, 160, 23, 5);
  AttackOptions o = small_ladder({0.0, 0.05, 0.1, 0.2});
  const Network source = random_network(16, {12}, 4, 99);
  NetworkClassifier src(source);
  NetworkClassifier clf(net);
  const RobustnessReport r = evaluate_robustness(clf, p.X, p.labels, o, &src);
  std::size_t clean = r.clean_correct;
  for (const auto& e : r.by_eps) {
    std::size_t standing = clean;
    std::vector<std::string> order;
    for (const auto& run : r.runs) {
      if (run.eps != e.eps || run.attack == "salt_pepper") continue;
      order.push_back(run.attack);
      if (run.attack == "pgd_check") {
        EXPECT_EQ(run.attacked, standing);
        standing -= run.newly_fooled;
        continue;
      }
      EXPECT_EQ(run.attacked, standing) << run.attack << " at " << e.eps;
      EXPECT_EQ(run.correct, standing - run.newly_fooled) << run.attack << " at " << e.eps;
      standing = run.correct;
    }
    EXPECT_EQ(standing, e.robust_correct) << e.eps;
    clean = e.robust_correct;  // the next eps starts from what is left here
    const std::vector<std::string> expected =
        e.eps > 0.0 ? std::vector<std::string>{"pgd_ce",   "pgd_margin", "apgd_ce", "apgd_t",   "fgsm",
                                               "transfer", "gaussian",   "square",  "pgd_check"}
                    : std::vector<std::string>{"pgd_ce", "pgd_margin", "apgd_ce",  "apgd_t",
                                               "fgsm",   "transfer",   "gaussian", "square"};
    EXPECT_EQ(order, expected);
  }
}

// The exhaustive schedule's robust accuracy is the monotone envelope of its per-eps worst cases.
// A model that FGSM overshoots: one input x in [0, 0.15], class 0 scores 0.05, class 1 scores
// 0.01 x plus a tent of height 0.1 on [0.2, 0.4]. FGSM steps to x + eps: it fools the examples at
// eps 0.2 (into the tent) and none at eps 0.5 (past it). The envelope counts them as fooled at
// 0.5 too, the monotonicity flag says the attack is weak, and the carried schedule agrees.
TEST(AttackSchedule, ExhaustiveRobustAccuracyIsTheEnvelopeAndFlagsNonMonotoneAttacks) {
  Network net = random_network(1, {4}, 2, 31);
  net.projections[0].weight << 1.0F, 1.0F, 1.0F, 1.0F;
  net.projections[0].bias << 0.0F, -0.2F, -0.3F, -0.4F;
  net.projections[1].weight << 0.0F, 0.0F, 0.0F, 0.0F, 0.01F, 1.0F, -2.0F, 1.0F;
  net.projections[1].bias << 0.05F, 0.0F;
  Points p;
  p.X.resize(1, 100);
  for (Eigen::Index b = 0; b < 100; ++b) p.X(0, b) = 0.0015F * static_cast<float>(b);
  p.labels.assign(100, 0);
  AttackOptions o;
  o.eps = {0.0, 0.2, 0.5};
  o.attacks = {"fgsm"};
  o.unbounded_check = false;
  o.schedule = AttackSchedule::exhaustive;
  NetworkClassifier clf(net);
  const RobustnessReport r = evaluate_robustness(clf, p.X, p.labels, o);
  ASSERT_EQ(r.clean_correct, 100u);
  EXPECT_LT(r.by_eps[1].at_eps_correct, 70u);                         // FGSM fools most at 0.2 ...
  EXPECT_EQ(r.by_eps[2].at_eps_correct, 100u);                        // ... and none at 0.5
  EXPECT_EQ(r.by_eps[2].robust_correct, r.by_eps[1].robust_correct);  // the envelope
  EXPECT_EQ(r.by_eps[2].robust, r.by_eps[1].robust);
  bool flagged = false;
  for (const auto& f : r.flags)
    if (f.name == "robust_accuracy_increases_with_eps") flagged = f.raised;
  EXPECT_TRUE(flagged);
  o.schedule = AttackSchedule::carried;
  const RobustnessReport c = evaluate_robustness(clf, p.X, p.labels, o);
  for (std::size_t i = 0; i < r.by_eps.size(); ++i) EXPECT_EQ(c.by_eps[i].robust, r.by_eps[i].robust) << i;
  EXPECT_EQ(c.runs.back().attacked, r.by_eps[1].robust_correct);  // eps 0.5 only attacks the survivors
}

// One progress event per attack and eps (the convergence check included), in run order, with
// elapsed time that never decreases and, once every attack has run at an eps > 0, an ETA.
TEST(AttackSchedule, ProgressEventsCarryElapsedTimeAndAnEtaFromWorkDone) {
  const Network net = random_network(16, {24}, 4, 41);
  const Points p = labelled_by(net, 120, 43, 5);
  AttackOptions o = small_ladder({0.0, 0.1, 0.2, 0.35});
  o.attacks = {"fgsm", "pgd_ce", "pgd_margin", "square", "gaussian"};
  std::vector<AttackProgress> events;
  o.on_progress = [&](const AttackProgress& e) { events.push_back(e); };
  NetworkClassifier clf(net);
  const RobustnessReport r = evaluate_robustness(clf, p.X, p.labels, o);
  ASSERT_EQ(events.size(), r.runs.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].attack, r.runs[i].attack);
    EXPECT_EQ(events[i].eps, r.runs[i].eps);
    EXPECT_EQ(events[i].attacked, r.runs[i].attacked);
    if (i > 0) {
      EXPECT_GE(events[i].elapsed_s, events[i - 1].elapsed_s);
    }
    // Unknown until the first eps > 0 is through (its last event is the convergence check).
    const bool first_eps_done = r.runs[i].eps > 0.1 || (r.runs[i].eps == 0.1 && r.runs[i].attack == "pgd_check");
    if (first_eps_done) {
      EXPECT_GE(events[i].eta_s, 0.0) << i;
    } else {
      EXPECT_LT(events[i].eta_s, 0.0) << i;
    }
    EXPECT_EQ(events[i].to_json()["event"], "attack");
  }
}

TEST(AttackSchedule, NamesRoundTripAndUnknownIsRefused) {
  for (const auto s : {AttackSchedule::carried, AttackSchedule::exhaustive})
    EXPECT_EQ(attack_schedule_from_string(to_string(s)), s);
  EXPECT_THROW(attack_schedule_from_string("lazy"), ConfigError);
}

// An attack's draws are keyed by its name and the eps (detail::attack_seed_key), not by its
// place in the ladder or by the other attacks: the same attack in two ladders of different
// order and make-up gives the same examples fooled, run by run.
TEST(AttackSchedule, AnAttacksDrawsDoNotDependOnTheLadder) {
  const Network net = random_network(16, {24}, 4, 41);
  const Points p = labelled_by(net, 120, 43, 5);
  NetworkClassifier clf(net);
  AttackOptions o = small_ladder({0.0, 0.1, 0.2});
  o.schedule = AttackSchedule::exhaustive;
  o.attacks = {"pgd_ce", "gaussian", "square"};
  const RobustnessReport a = evaluate_robustness(clf, p.X, p.labels, o);
  o.attacks = {"square", "fgsm", "gaussian", "pgd_ce"};
  const RobustnessReport b = evaluate_robustness(clf, p.X, p.labels, o);
  const auto correct_of = [](const RobustnessReport& r, const std::string& attack, double eps) {
    for (const auto& run : r.runs)
      if (run.attack == attack && run.eps == eps) return static_cast<long>(run.correct);
    return -1L;
  };
  int compared = 0;
  for (const double eps : o.eps)
    for (const char* attack : {"pgd_ce", "gaussian", "square"}) {
      EXPECT_EQ(correct_of(a, attack, eps), correct_of(b, attack, eps)) << attack << " at " << eps;
      EXPECT_GE(correct_of(a, attack, eps), 0) << attack << " at " << eps;
      ++compared;
    }
  EXPECT_EQ(compared, 9);
  // Random draws do differ between attacks: the keys differ.
  EXPECT_NE(detail::attack_seed_key("pgd_ce"), detail::attack_seed_key("pgd_margin"));
}

// The default ladder runs each attack where it applies: pgd_bpda and pgd_drive only on a network
// with competition, apgd_t only with >= 4 classes; transfer only with a source.
TEST(AttackSchedule, TheDefaultLadderRunsWhatAppliesToTheModel) {
  const auto has = [](const std::vector<std::string>& v, const char* a) {
    return std::find(v.begin(), v.end(), a) != v.end();
  };
  const Network competitive_net = competitive_model(16, 30, 4, 13), mlp_net = random_network(16, {24}, 4, 7),
                three_class_net = random_network(16, {24}, 3, 7);
  NetworkClassifier competitive(competitive_net), mlp(mlp_net), three_classes(three_class_net);
  EXPECT_TRUE(has(detail::default_ladder(competitive, ThreatNorm::linf, false), "pgd_bpda"));
  EXPECT_TRUE(has(detail::default_ladder(competitive, ThreatNorm::linf, false), "apgd_t"));
  EXPECT_FALSE(has(detail::default_ladder(mlp, ThreatNorm::linf, false), "pgd_bpda"));
  EXPECT_TRUE(has(detail::default_ladder(competitive, ThreatNorm::linf, false), "pgd_drive"));
  EXPECT_FALSE(has(detail::default_ladder(mlp, ThreatNorm::linf, false), "pgd_drive"));
  EXPECT_TRUE(has(detail::default_ladder(mlp, ThreatNorm::linf, false), "apgd_t"));
  EXPECT_FALSE(has(detail::default_ladder(three_classes, ThreatNorm::linf, false), "apgd_t"));
  EXPECT_TRUE(has(detail::default_ladder(three_classes, ThreatNorm::linf, false), "apgd_ce"));
  EXPECT_FALSE(has(detail::default_ladder(mlp, ThreatNorm::linf, false), "transfer"));
  EXPECT_TRUE(has(detail::default_ladder(mlp, ThreatNorm::linf, true), "transfer"));
  EXPECT_FALSE(has(detail::default_ladder(mlp, ThreatNorm::l2, false), "square"));
  // A 3-class model attacked with the defaults runs without the DLR loss's error.
  const Points p = labelled_by(three_class_net, 40, 45, 5);
  AttackOptions o = small_ladder({0.0, 0.1});
  o.attacks.clear();
  const RobustnessReport r = evaluate_robustness(three_classes, p.X, p.labels, o);
  for (const auto& run : r.runs) EXPECT_NE(run.attack, "apgd_t");
}
