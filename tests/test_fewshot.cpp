// Few-shot protocol pieces: the per-class sampler, the pixel baselines, hidden features, the
// strict config reader, and a whole (small) run on a synthetic task through the CLI, resumed.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "dalenet/error.hpp"
#include "dalenet/fewshot.hpp"
#include "helpers.hpp"

using namespace dalenet;
using namespace dalenet::test;

namespace {
Dataset toy(std::size_t n, int classes) {
  Dataset d;
  d.name = "toy";
  d.rows = 1;
  d.cols = 2;
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<std::uint8_t>(i % static_cast<std::size_t>(classes));
    d.labels.push_back(c);
    d.pixels.push_back(static_cast<std::uint8_t>(20 * c + i % 3));  // class c near (20c, 255 - 20c)
    d.pixels.push_back(static_cast<std::uint8_t>(255 - 20 * c));
  }
  return d;
}
}  // namespace

TEST(FewShot, SamplerReturnsExactlyKPerClassReproducibly) {
  const Dataset d = toy(1000, 10);
  const std::vector<int> classes = {0, 3, 7};
  const auto a = sample_per_class(d, classes, 5, 42);
  ASSERT_EQ(a.size(), 15u);
  std::map<int, int> per;
  for (auto i : a) per[d.labels[i]]++;
  EXPECT_EQ(per, (std::map<int, int>{{0, 5}, {3, 5}, {7, 5}}));
  EXPECT_EQ(sample_per_class(d, classes, 5, 42), a);
  EXPECT_NE(sample_per_class(d, classes, 5, 43), a);
  // An empty class (or too few examples) is named, never silently short.
  try {
    (void)sample_per_class(toy(100, 5), std::vector<int>{0, 9}, 1, 1);
    ADD_FAILURE() << "no error for an empty class";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("class 9"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos) << e.what();
  }
}

TEST(FewShot, PixelBaselinesClassifySeparableClusters) {
  const Dataset d = toy(500, 5);
  const auto idx = sample_per_class(d, std::vector<int>{0, 1, 2, 3, 4}, 2, 1);
  const Dataset support = subset(d, idx, "support");
  const auto ncm = nearest_class_mean(support, d);
  const auto knn = nearest_neighbour(support, d);
  for (std::size_t i = 0; i < d.size(); ++i) {
    EXPECT_EQ(ncm[i], d.labels[i]) << i;
    EXPECT_EQ(knn[i], d.labels[i]) << i;
  }
  const Dataset three = filter_classes(d, std::vector<int>{1, 2, 4});
  EXPECT_EQ(three.size(), 300u);
  for (auto l : three.labels) EXPECT_TRUE(l == 1 || l == 2 || l == 4);
}

TEST(FewShot, ConfigIsStrict) {
  TempDir dir;
  auto write = [&](const std::string& text) {
    write_bytes(dir / "f.toml", std::vector<std::uint8_t>(text.begin(), text.end()));
    return dir / "f.toml";
  };
  EXPECT_THROW(load_fewshot_config(write("[fewshot]\nshotz = [1]\n[[arm]]\nname='n'\nkind='ncm'\n")), ConfigError);
  EXPECT_THROW(load_fewshot_config(write("[fewshot]\nshots = [0]\n[[arm]]\nname='n'\nkind='ncm'\n")), ConfigError);
  EXPECT_THROW(load_fewshot_config(write("[fewshot]\n")), ConfigError);  // no arms
  EXPECT_THROW(load_fewshot_config(write("[[arm]]\nname='a'\nkind='ncm'\n[[arm]]\nname='a'\nkind='knn'\n")),
               ConfigError);  // duplicate names
  EXPECT_THROW(load_fewshot_config(write("[[arm]]\nname='b'\nconfig='x'\nset=['train.lrr=1']\n")), Error);
  const auto o =
      load_fewshot_config(write("[fewshot]\nshots = [1, 3]\ndraws = 2\nholdout_fraction = 0.25\nnovel_seeds = [4, 2]\n"
                                "[[arm]]\nname='n'\nkind='ncm'\n[[arm]]\nname='k'\nkind='knn'\n"));
  EXPECT_EQ(o.shots, (std::vector<int>{1, 3}));
  EXPECT_EQ(o.draws, 2);
  EXPECT_DOUBLE_EQ(o.holdout_fraction, 0.25);
  EXPECT_EQ(o.novel_seeds, (std::vector<std::uint64_t>{4, 2}));
  ASSERT_EQ(o.arms.size(), 2u);
  EXPECT_EQ(o.arms[0].kind, FewShotArmKind::ncm);
  EXPECT_EQ(o.arms[1].kind, FewShotArmKind::knn);
}

// Each bad value is refused with the file and the key in the message.
TEST(FewShot, ConfigErrorsNameTheKey) {
  TempDir dir;
  const auto path = dir / "f.toml";
  const std::string arm = "[[arm]]\nname='n'\nkind='ncm'\n";
  auto message = [&](const std::string& text) -> std::string {
    write_bytes(path, std::vector<std::uint8_t>(text.begin(), text.end()));
    try {
      (void)load_fewshot_config(path);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(accepted)";
  };
  const std::string file = "'" + path + "': key ";
  EXPECT_EQ(message("[fewshot]\nshots = [1, 1]\n" + arm), file + "'fewshot.shots': entries must be distinct");
  EXPECT_EQ(message("[fewshot]\ndraws = 2.0\n" + arm), file + "'fewshot.draws': expected an integer in [1, 100000]");
  EXPECT_EQ(message("[fewshot]\nholdout_fraction = 1.0\n" + arm),
            file + "'fewshot.holdout_fraction': expected a number in (0, 1)");
  EXPECT_EQ(message("[fewshot]\nnovel = 1\n" + arm), file + "'fewshot.novel': expected true or false");
  EXPECT_EQ(message("[[arm]]\nname='n'\nkind='svm'\n"), file + "'arm[0].kind': 'svm' (known: train, ncm, knn)");
  EXPECT_EQ(message("[[arm]]\nkind='ncm'\n"), file + "'arm[0]': needs a name");
  EXPECT_EQ(message("[arm]\nname='n'\n"), file + "'arm': expected an array");
  EXPECT_EQ(message("fewshot = 3\n" + arm), file + "'fewshot': expected a table [fewshot]");
  EXPECT_EQ(message("[fewshot]\ndraws = 3\n" + arm), "(accepted)");
}

TEST(FewShot, ArmKindsParse) {
  EXPECT_EQ(parse_fewshot_arm_kind("train"), FewShotArmKind::train);
  EXPECT_EQ(parse_fewshot_arm_kind("ncm"), FewShotArmKind::ncm);
  EXPECT_EQ(parse_fewshot_arm_kind("knn"), FewShotArmKind::knn);
  EXPECT_EQ(parse_fewshot_arm_kind("NCM"), std::nullopt);
  EXPECT_EQ(parse_fewshot_arm_kind(""), std::nullopt);
  for (const FewShotArmKind k : {FewShotArmKind::train, FewShotArmKind::ncm, FewShotArmKind::knn})
    EXPECT_EQ(parse_fewshot_arm_kind(fewshot_arm_kind_name(k)), k);
}

// Few-shot trains only through the trainers its caller hands it (issue 36: evaluation takes
// training as a dependency): a wrapper sees every trained cell, and no trainers is an error.
TEST(FewShot, TrainsThroughTheTrainersItIsGiven) {
  TempDir dir;
  FewShotOptions o;
  o.dataset = write_synthetic_idx(dir, 300, 60);
  o.shots = {1, 2};
  o.draws = 2;
  o.min_updates = 5;
  o.novel = false;
  o.arms = {{"bp", FewShotArmKind::train, "", {"network.hidden=[8]", "train.threads=1"}, false},
            {"ncm", FewShotArmKind::ncm, "", {}, false}};
  try {
    (void)run_fewshot(o);
    ADD_FAILURE() << "no error without trainers";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("trainers"), std::string::npos) << e.what();
  }
  int calls = 0;
  o.trainers = default_trainers();
  o.trainers.supervised = [&calls](const TrainConfig& cfg, const TrainOptions& to) {
    ++calls;
    return train(cfg, to);
  };
  const nlohmann::json res = run_fewshot(o);
  EXPECT_EQ(calls, 4);  // the bp arm: 2 shots x 2 draws; the ncm arm trains nothing
  EXPECT_FALSE(res.dump().empty());
}

TEST(Cli, FewShotRunsBothRegimesAndResumes) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 1500, 300);
  const std::string cfg =
      "[fewshot]\ndataset = \"" + ds +
      "\"\nshots = [1, 5]\ndraws = 3\nmin_updates = 30\nepisodes = 20\nqueries_per_class = 5\n"
      "novel_seeds = [1, 2]\n"
      "[[arm]]\nname = \"bp\"\nconfig = \"\"\nset = [\"network.hidden=[32]\", \"train.threads=1\"]\n"
      "[[arm]]\nname = \"bp_es\"\nconfig = \"\"\nset = [\"network.hidden=[32]\", "
      "\"train.threads=1\"]\nearly_stopping = true\n"
      "[[arm]]\nname = \"ncm\"\nkind = \"ncm\"\n[[arm]]\nname = \"knn\"\nkind = \"knn\"\n";
  write_bytes(dir / "fs.toml", std::vector<std::uint8_t>(cfg.begin(), cfg.end()));
  const CliRun r = run_cli("fewshot --config " + (dir / "fs.toml") + " --out " + (dir / "out"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto res = nlohmann::json::parse(read_bytes(dir / "out/fewshot.json"));
  EXPECT_EQ(res["regime_a"]["draws"].size(), 2u * 3u * 4u);
  for (const auto& row : res["regime_a"]["summary"]) {
    EXPECT_EQ(row["accuracy"]["n"], 3);
    EXPECT_FALSE(row["accuracy"]["ci95"].is_null());
  }
  // More data helps every arm on this task, and k = 5 is far above chance.
  for (const auto& row : res["regime_a"]["summary"])
    if (row["k"] == 5) {
      EXPECT_GT(row["accuracy"]["mean"].get<double>(), 0.5) << row;
    }
  EXPECT_EQ(res["regime_b"]["summary"].size(), 3u * 2u);  // bp, bp_es, ncm (knn has no regime B) x k
  for (const auto& row : res["regime_b"]["summary"]) EXPECT_EQ(row["readout"], "prototype");
  EXPECT_TRUE(std::filesystem::exists(dir / "out/fewshot.csv"));
  // The arms as configured, each kind by its name (docs/FORMATS.md).
  ASSERT_EQ(res["arms"].size(), 4u);
  EXPECT_EQ(res["arms"][0]["kind"], "train");
  EXPECT_EQ(res["arms"][1]["early_stopping"], true);
  EXPECT_EQ(res["arms"][2]["kind"], "ncm");
  EXPECT_EQ(res["arms"][3]["kind"], "knn");
  // Resume: remove one unit and the result; the rerun recomputes only that unit, same numbers.
  std::filesystem::remove(dir / "out/units/A-bp-k5-d1.json");
  const CliRun again = run_cli("fewshot --config " + (dir / "fs.toml") + " --out " + (dir / "out"));
  ASSERT_EQ(again.code, 0) << again.output;
  const auto res2 = nlohmann::json::parse(read_bytes(dir / "out/fewshot.json"));
  EXPECT_EQ(res2["regime_a"]["summary"], res["regime_a"]["summary"]);
  EXPECT_EQ(res2["regime_b"]["summary"], res["regime_b"]["summary"]);
}

// Regime B gives a bio-rule arm its own readout (O1 on the frozen hidden rates) besides the
// prototype probe; both are far above the 20 % chance of a 5-way episode on this easy task.
TEST(Cli, FewShotRegimeBGivesTheBioRuleItsOwnReadout) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 1500, 300);
  const std::string cfg = "[fewshot]\ndataset = \"" + ds +
                          "\"\nshots = [2]\ndraws = 1\nmin_updates = 50\nepisodes = 20\nqueries_per_class = 5\n"
                          "novel_seeds = [1]\n"
                          "[[arm]]\nname = \"bio\"\nconfig = \"\"\nset = [\"train.rule=bio\", \"network.hidden=[50]\", "
                          "\"network.init=uniform\", \"train.threads=1\", \"train.epochs=2\", "
                          "\"bio.structural_interval=10\", \"bio.eta_hidden=0.05\", \"bio.eta_output=0.5\"]\n";
  write_bytes(dir / "fs.toml", std::vector<std::uint8_t>(cfg.begin(), cfg.end()));
  const CliRun r = run_cli("fewshot --config " + (dir / "fs.toml") + " --out " + (dir / "out"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto res = nlohmann::json::parse(read_bytes(dir / "out/fewshot.json"));
  std::set<std::string> readouts;
  for (const auto& row : res["regime_b"]["summary"]) {
    readouts.insert(row["readout"].get<std::string>());
    EXPECT_GT(row["accuracy_over_seeds"]["mean"].get<double>(), 0.4) << row;
  }
  EXPECT_EQ(readouts, (std::set<std::string>{"prototype", "own"}));
  const auto csv = read_bytes(dir / "out/fewshot.csv");
  EXPECT_NE(std::string(csv.begin(), csv.end()).find("B,bio,own,1,1,"), std::string::npos);
}
