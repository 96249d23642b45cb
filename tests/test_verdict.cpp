// The verdict rules of the report: every branch of every rule, on small documents built here
// with the keys `dalenet analyze --json` writes (docs/FORMATS.md), plus one real analysis.
#include <gtest/gtest.h>

#include "dalenet/analyze.hpp"
#include "dalenet/error.hpp"
#include "dalenet/io.hpp"
#include "dalenet/train.hpp"
#include "dalenet/verdict.hpp"
#include "helpers.hpp"

using namespace dalenet;
using namespace dalenet::test;

namespace {
nlohmann::json vuong(bool normal, bool gamma, bool exponential, double p = 0.0) {
  auto one = [&](bool lognormal) {
    return nlohmann::json{{"preferred", lognormal ? "lognormal" : "other"}, {"p_value", p}, {"statistic", 1.0}};
  };
  return {{"normal", one(normal)}, {"gamma", one(gamma)}, {"exponential", one(exponential)}};
}
nlohmann::json projection(double silent, double compliance, const nlohmann::json& v) {
  return {{"sparsity", {{"silent_fraction", silent}, {"threshold", 0.01}}},
          {"dale", {{"compliance", compliance}, {"violating_synapses", compliance < 1.0 ? 7 : 0}}},
          {"distribution", {{"positive", {{"vuong_lognormal_vs", v}}}}}};
}
nlohmann::json analysis(double silent, double compliance, const nlohmann::json& learned, const nlohmann::json& initial,
                        int flips = 0) {
  return {{"projections", {projection(silent, compliance, learned), projection(0.0, 1.0, learned)}},
          {"initial", {projection(0.0, 1.0, initial)}},
          {"counters", {{"sign_flips", flips}}}};
}
}  // namespace

TEST(Verdict, SparsityThresholds) {
  const auto none = vuong(false, false, false);
  EXPECT_EQ(sparsity_verdict(analysis(0.92, 1, none, none)).verdict, Verdict::reproduced);
  EXPECT_EQ(sparsity_verdict(analysis(0.8, 1, none, none)).verdict, Verdict::reproduced);
  EXPECT_EQ(sparsity_verdict(analysis(0.6, 1, none, none)).verdict, Verdict::partly);
  EXPECT_EQ(sparsity_verdict(analysis(0.1, 1, none, none)).verdict, Verdict::not_reproduced);
  EXPECT_NE(sparsity_verdict(analysis(0.92, 1, none, none)).deciding.find("0.920"), std::string::npos);
  EXPECT_THROW(sparsity_verdict(nlohmann::json::object()), InputError);
}

TEST(Verdict, LognormalNeedsAllFamiliesAndARejectingControl) {
  const auto all = vuong(true, true, true), some = vuong(true, false, false), none = vuong(false, false, false);
  EXPECT_EQ(lognormal_verdict(analysis(0.9, 1, all, none)).verdict, Verdict::reproduced);
  EXPECT_EQ(lognormal_verdict(analysis(0.9, 1, all, all)).verdict, Verdict::partly);  // the control is lognormal too
  EXPECT_EQ(lognormal_verdict(analysis(0.9, 1, some, none)).verdict, Verdict::partly);
  EXPECT_EQ(lognormal_verdict(analysis(0.9, 1, none, none)).verdict, Verdict::not_reproduced);
  // Preferred but not significant at 1 % does not count.
  EXPECT_EQ(lognormal_verdict(analysis(0.9, 1, vuong(true, true, true, 0.05), none)).verdict, Verdict::not_reproduced);
}

TEST(Verdict, DaleDependsOnTheStartingSigns) {
  const auto none = vuong(false, false, false);
  EXPECT_EQ(dale_verdict(analysis(0.9, 1.0, none, none), true).verdict, Verdict::reproduced);
  EXPECT_EQ(dale_verdict(analysis(0.9, 0.95, none, none), true).verdict, Verdict::partly);
  EXPECT_EQ(dale_verdict(analysis(0.9, 0.5, none, none), true).verdict, Verdict::not_reproduced);
  EXPECT_EQ(dale_verdict(analysis(0.9, 1.0, none, none), false).verdict, Verdict::partly);  // given, not learned
  EXPECT_EQ(dale_verdict(analysis(0.9, 1.0, none, none, 3), false).verdict, Verdict::not_reproduced);
  EXPECT_EQ(dale_verdict(analysis(0.9, 1.0, none, none, 3), true).verdict, Verdict::partly);
  // Both starts measured: the mixed-sign run decides, whichever way it goes; the text names both.
  const auto both = dale_verdict(analysis(0.9, 1.0, none, none), analysis(0.9, 0.2, none, none));
  EXPECT_EQ(both.verdict, Verdict::not_reproduced);
  EXPECT_NE(both.deciding.find("mixed-sign start (decides)"), std::string::npos);
  EXPECT_NE(both.deciding.find("Per-neuron start: partly"), std::string::npos);
  EXPECT_EQ(dale_verdict(analysis(0.9, 0.2, none, none), analysis(0.9, 1.0, none, none)).verdict, Verdict::reproduced);
}

TEST(Verdict, RobustnessNeedsAMajorityOfEpsPerDataSetAndNoLoss) {
  const Difference up{"e1", 0.2, 0.05}, up2{"e2", 0.3, 0.1}, flat{"e3", 0.02, 0.05}, down{"e4", -0.1, 0.05};
  EXPECT_EQ(robustness_verdict({{"mnist", {up, up2, flat}}, {"fashion", {up, up2}}}).verdict, Verdict::reproduced);
  EXPECT_EQ(robustness_verdict({{"mnist", {up, up2, flat}}, {"fashion", {down, flat}}}).verdict, Verdict::partly);
  EXPECT_EQ(robustness_verdict({{"mnist", {up, up2, down}}}).verdict, Verdict::not_reproduced);   // a loss vetoes
  EXPECT_EQ(robustness_verdict({{"mnist", {up, flat, flat}}}).verdict, Verdict::not_reproduced);  // no majority
  EXPECT_EQ(robustness_verdict({}).verdict, Verdict::not_measured);
  EXPECT_NE(robustness_verdict({{"mnist", {up}}}).deciding.find("+20.0 ± 5.0"), std::string::npos);
}

TEST(Verdict, FewShotAndRepresentationsCount) {
  const Difference up{"a", 0.05, 0.01}, down{"b", -0.1, 0.02}, flat{"c", 0.0, 0.1};
  EXPECT_EQ(fewshot_verdict({up, up}).verdict, Verdict::reproduced);
  EXPECT_EQ(fewshot_verdict({up, down, flat}).verdict, Verdict::partly);
  EXPECT_EQ(fewshot_verdict({down, flat}).verdict, Verdict::not_reproduced);
  EXPECT_EQ(fewshot_verdict({}).verdict, Verdict::not_measured);
  EXPECT_EQ(representation_verdict({{"sparse", true}, {"alpha", true}}).verdict, Verdict::reproduced);
  EXPECT_EQ(representation_verdict({{"sparse", true}, {"alpha", false}}).verdict, Verdict::partly);
  EXPECT_EQ(representation_verdict({{"sparse", false}}).verdict, Verdict::not_reproduced);
  EXPECT_EQ(to_string(Verdict::not_reproduced), "not reproduced");
  EXPECT_EQ(fewshot_verdict({up}).to_json()["verdict"], "reproduced");
}

// On a real `analyze` document of a small bio run: the rules find every key they need.
TEST(Verdict, ReadsARealAnalysisDocument) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 300, 50);
  TrainOptions opts;
  opts.out_dir = dir / "run";
  train(parse_config("", "t",
                     {"data.dataset='" + ds + "'", "data.validation=50", "network.hidden=[20]", "network.init=uniform",
                      "train.rule=bio", "train.epochs=1", "train.batch=50", "train.threads=1"}),
        opts);
  const nlohmann::json a = analyze_model(load_model(dir / "run/model.safetensors"), nullptr);
  for (const auto& v : {sparsity_verdict(a), lognormal_verdict(a), dale_verdict(a, false)}) {
    EXPECT_NE(v.verdict, Verdict::not_measured) << v.claim;
    EXPECT_FALSE(v.deciding.empty());
  }
}

TEST(Verdict, CombineTakesTheWeakestMeasuredVerdict) {
  const ClaimVerdict yes{"c", Verdict::reproduced, "a"}, part{"c", Verdict::partly, "b"},
      no{"c", Verdict::not_reproduced, "n"}, none{"c", Verdict::not_measured, "-"};
  EXPECT_EQ(combine_verdicts({{"A", yes}, {"B", yes}}).verdict, Verdict::reproduced);
  EXPECT_EQ(combine_verdicts({{"A", no}, {"B", no}}).verdict, Verdict::not_reproduced);
  EXPECT_EQ(combine_verdicts({{"A", part}, {"B", part}}).verdict, Verdict::partly);
  // Holds on one data set, not on the other: partly.
  EXPECT_EQ(combine_verdicts({{"A", yes}, {"B", no}}).verdict, Verdict::partly);
  EXPECT_EQ(combine_verdicts({{"A", yes}, {"B", none}}).verdict, Verdict::reproduced);
  EXPECT_EQ(combine_verdicts({{"A", none}}).verdict, Verdict::not_measured);
  EXPECT_EQ(combine_verdicts({}).verdict, Verdict::not_measured);
  const auto c = combine_verdicts({{"MNIST", yes}, {"Fashion", no}});
  EXPECT_EQ(c.claim, "c");
  EXPECT_NE(c.deciding.find("MNIST: reproduced — a"), std::string::npos);
  EXPECT_NE(c.deciding.find("Fashion: not reproduced — n"), std::string::npos);
}

TEST(Verdict, ProportionDifferenceMatchesTheClosedForm) {
  // 80/100 vs 60/100: difference 0.2, se = sqrt(.8*.2/100 + .6*.4/100) = sqrt(0.004) = 0.0632456
  const Difference d = proportion_difference("x", 80, 100, 60, 100);
  EXPECT_DOUBLE_EQ(d.mean, 0.2);
  EXPECT_NEAR(d.ci95, 1.959963984540054 * 0.06324555320336759, 1e-12);
  EXPECT_EQ(d.sign(), 1);
  EXPECT_EQ(proportion_difference("x", 50, 100, 55, 100).sign(), 0);  // 95 % CI covers 0
  EXPECT_DOUBLE_EQ(proportion_difference("x", 0, 10, 0, 10).ci95, 0.0);
  EXPECT_THROW(proportion_difference("x", 1, 0, 1, 10), InputError);
}

TEST(Verdict, RepresentationMarkers) {
  auto rep = [](double active, double moran, double alpha, double selective) {
    return nlohmann::json{{"activity", {{"fraction_active", active}}},
                          {"receptive_field_morans_i", moran},
                          {"eigenspectrum_alpha", alpha},
                          {"class_selectivity", {{"fraction_above_0_5", selective}}}};
  };
  // Means over seeds decide: bio active 0.05 (vs BP 0.5), Moran 0.9 > 0.5, alpha 1.05, 30 % selective.
  auto m =
      representation_markers({rep(0.04, 0.9, 1.0, 0.2), rep(0.06, 0.9, 1.1, 0.4)}, {rep(0.5, 0.5, 1.7, 0.6)}, "X: ");
  ASSERT_EQ(m.size(), 4U);
  for (const auto& [name, holds] : m) {
    EXPECT_TRUE(holds) << name;
    EXPECT_EQ(name.rfind("X: ", 0), 0U);
  }
  EXPECT_EQ(representation_verdict(m).verdict, Verdict::reproduced);
  // The opposite on every marker; a missing alpha (null) does not hold.
  auto bad = rep(0.4, 0.1, 1.0, 0.9);
  bad["eigenspectrum_alpha"] = nullptr;
  m = representation_markers({bad}, {rep(0.5, 0.5, 1.7, 0.6)}, "");
  for (const auto& [name, holds] : m) EXPECT_FALSE(holds) << name;
  EXPECT_EQ(representation_verdict(m).verdict, Verdict::not_reproduced);
  EXPECT_TRUE(representation_markers({}, {rep(0.5, 0.5, 1.7, 0.6)}, "").empty());
}
