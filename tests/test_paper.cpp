// `dalenet paper`: config parsing (every error names the file and key) and the plan of units.
// The end-to-end behaviour (resume after kill -9, MPI equivalence, the report in a browser) is
// tested by tests/paper/test_paper.sh.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "dalenet/error.hpp"
#include "dalenet/paper.hpp"
#include "helpers.hpp"

using namespace dalenet;
using namespace dalenet::test;

namespace {
// Writes a paper config whose arm configs live in the repository's experiments/.
std::string write_config(const TempDir& dir, const std::string& body) {
  const std::string path = dir / "paper_test.toml";
  std::ofstream(path) << "[paper]\nconfig_dir = \"" << DALENET_SOURCE_DIR << "/experiments\"\n" << body;
  return path;
}
std::string error_of(const std::string& path) {
  try {
    load_paper_config(path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Paper, PresetsParseAndPlan) {
  // The presets name their arm configs relative to the repository root, where `dalenet paper` runs.
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(DALENET_SOURCE_DIR);
  for (const std::string preset : {"quick", "full"}) {
    const PaperConfig c = load_paper_config(std::string(DALENET_SOURCE_DIR) + "/experiments/paper_" + preset + ".toml");
    EXPECT_EQ(c.preset, preset);
    const auto units = plan_paper(c);
    const std::size_t runs = c.datasets.size() * c.arms.size() * c.seeds.size();
    // train + audit + attack per run, one few-shot unit per data set
    EXPECT_EQ(units.size(), 3 * runs + (c.fewshot ? c.datasets.size() : 0));
    for (const auto& u : units) {
      EXPECT_EQ(u.stage, u.kind == "train" || u.kind == "fewshot" ? 1 : 2) << u.id;
      EXPECT_EQ(u.id.find('/'), std::string::npos);
    }
  }
  EXPECT_EQ(load_paper_config(std::string(DALENET_SOURCE_DIR) + "/experiments/paper_full.toml").seeds.size(), 3U);
  std::filesystem::current_path(cwd);
}

TEST(Paper, UnitIdsAreUniqueAndNameTheirRun) {
  TempDir dir;
  const auto units = plan_paper(
      load_paper_config(write_config(dir, "datasets = [\"mnist\"]\narms = [\"bio\", \"bp\"]\nseeds = [3, 4]\n")));
  std::set<std::string> ids;
  for (const auto& u : units) ids.insert(u.id);
  EXPECT_EQ(ids.size(), units.size());
  EXPECT_TRUE(ids.contains("train-bio_mnist-seed3"));
  EXPECT_TRUE(ids.contains("attack-bp_mnist-seed4"));
  EXPECT_TRUE(ids.contains("audit-bp_mnist-seed3"));
  EXPECT_TRUE(ids.contains("fewshot-mnist"));
}

TEST(Paper, ConfigErrorsNameFileAndKey) {
  TempDir dir;
  struct Case {
    std::string body, expect;
  };
  const std::vector<Case> cases = {
      {"colour = 3\n", "paper.colour"},
      {"[robustnes]\nn = 3\n", "unknown section"},
      {"arms = [\"bp\", \"eg\"]\n", "must contain \"bio\" and \"bp\""},
      {"datasets = [\"cifar\"]\n", "paper.datasets"},
      {"seeds = [1, 1]\n", "distinct"},
      {"seeds = []\n", "must not be empty"},
      {"threads = -1\n", "paper.threads"},
      {"[robustness]\nn = 5\n", "robustness.n"},
      {"[robustness]\nattacks = [\"cw\"]\n", "unknown attack 'cw'"},
      {"datasets = [\"mnist\"]\n[robustness]\neps_fashion = [0.1]\n", "not in paper.datasets"},
      {"[robustness]\neps_mnist = [0.1, 2.0]\n", "robustness.eps_mnist"},
      {"[fewshot]\narms = [\"bio\", \"ncm\"]\n", "fewshot.arms"},
      {"[fewshot]\ndraws = 1\n", "fewshot.draws"},
      {"[overrides]\nbio = [\"train.nonsense=1\"]\n", "nonsense"},
      {"[overrides]\nzzz = []\n", "overrides.zzz"},
      {"arms = [\"bio\", \"bp\", \"nosuch\"]\n", "nosuch_mnist.toml"},
      {"seeds = [1\n", "paper_test.toml"},  // TOML syntax error
  };
  for (const auto& c : cases) {
    const std::string msg = error_of(write_config(dir, c.body));
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.body << " -> " << msg;
    if (!msg.empty()) {
      EXPECT_NE(msg.find("paper_test.toml"), std::string::npos) << msg;
    }
  }
}

TEST(Paper, PresetNamesAreNamesNotPaths) {
  EXPECT_THROW(preset_config_path("../etc/passwd"), ConfigError);
  EXPECT_THROW(preset_config_path("nosuchpreset"), ConfigError);
}

TEST(Paper, ReportOnlyNeedsFinishedUnits) {
  TempDir dir;
  PaperConfig c = load_paper_config(write_config(dir, "datasets = [\"mnist\"]\narms = [\"bio\", \"bp\"]\n"));
  PaperOptions o;
  o.out_dir = dir / "out";
  o.report_only = true;
  PaperComm single;
  try {
    run_paper(c, o, single);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has not finished"), std::string::npos) << e.what();
  }
}
