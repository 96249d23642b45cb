// `dalenet paper`: config parsing (every error names the file and key) and the plan of units.
// The end-to-end behaviour (resume after kill -9, MPI equivalence, the report in a browser) is
// tested by tests/paper/test_paper.sh.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "dalenet/data.hpp"
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
      EXPECT_EQ(u.stage, u.kind == PaperUnitKind::train || u.kind == PaperUnitKind::fewshot ? 1 : 2) << u.id;
      EXPECT_EQ(u.id.find('/'), std::string::npos);
      // The id starts with the kind's name, which is what plan.json and done.json hold.
      EXPECT_TRUE(u.id.starts_with(paper_unit_kind_name(u.kind) + "-")) << u.id;
      EXPECT_EQ(nlohmann::json(u.kind), paper_unit_kind_name(u.kind));
      EXPECT_EQ(nlohmann::json(paper_unit_kind_name(u.kind)).get<PaperUnitKind>(), u.kind);
    }
  }
  EXPECT_EQ(load_paper_config(std::string(DALENET_SOURCE_DIR) + "/experiments/paper_full.toml").seeds.size(), 3U);
  // The estimate's check (docs/PERFORMANCE.md) runs the full preset's units of MNIST, seed 1.
  const PaperConfig check = load_paper_config(std::string(DALENET_SOURCE_DIR) + "/bench/paper_full_mnist_seed1.toml");
  const PaperConfig full = load_paper_config(std::string(DALENET_SOURCE_DIR) + "/experiments/paper_full.toml");
  EXPECT_EQ(check.arms, full.arms);
  EXPECT_EQ(check.attack_n, full.attack_n);
  EXPECT_EQ(check.attack_steps, full.attack_steps);
  EXPECT_EQ(check.attack_restarts, full.attack_restarts);
  EXPECT_EQ(check.square_queries, full.square_queries);
  EXPECT_EQ(check.analyze_limit, full.analyze_limit);
  EXPECT_EQ(check.represent_limit, full.represent_limit);
  EXPECT_FALSE(check.fewshot);
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

// Local workers are the front end's processes: without a launcher workers > 1 is refused before
// any work; with one, run_paper hands it one task per worker and reports the failures it counts.
TEST(Paper, LocalWorkersRunThroughTheGivenLauncher) {
  TempDir dir;
  const std::string path = write_config(dir, "datasets = [\"mnist\"]\narms = [\"bio\", \"bp\"]\nthreads = 1\n");
  const PaperConfig c = load_paper_config(path);
  PaperOptions o;
  o.out_dir = dir / "out";
  o.estimate = false;
  o.workers = 3;
  o.config_path = path;
  PaperComm single;
  try {
    run_paper(c, o, single);
    FAIL() << "workers without a launcher ran";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("worker launcher"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "out")) << "refused before any work";
  std::vector<PaperWorkerTask> seen;
  o.launch_workers = [&seen](const std::vector<PaperWorkerTask>& tasks) {
    seen = tasks;
    return 2;  // two of the three failed
  };
  try {
    run_paper(c, o, single);
    FAIL() << "failed workers were not reported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("2 of 3 local workers failed in stage 1"), std::string::npos) << e.what();
  }
  ASSERT_EQ(seen.size(), 3U);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(seen[static_cast<std::size_t>(k)].index, k);
    EXPECT_EQ(seen[static_cast<std::size_t>(k)].workers, 3);
    EXPECT_EQ(seen[static_cast<std::size_t>(k)].stage, 1);
    EXPECT_EQ(seen[static_cast<std::size_t>(k)].threads, 1);
    EXPECT_EQ(seen[static_cast<std::size_t>(k)].config_path, path);
    EXPECT_EQ(seen[static_cast<std::size_t>(k)].out_dir, o.out_dir);
  }
}

TEST(Paper, RunProcessesCountsTheFailures) {
  EXPECT_EQ(run_processes({{"/bin/true"}, {"/bin/sh", "-c", "exit 3"}, {"/bin/sh", "-c", "kill -9 $$"}}), 2);
  EXPECT_EQ(run_processes({}), 0);
  try {
    (void)run_processes({{"/bin/true"}, {"/no/such/program"}});
    FAIL() << "a missing program was not reported";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("/no/such/program"), std::string::npos) << e.what();
  }
}

// The estimate's arithmetic: a stage takes its slowest process's share of the pending units,
// shared out as run_paper shares them (the i-th unit of a stage to process i mod P), times the
// slowdown of processes competing for cores; finished units cost nothing.
TEST(PaperEstimate, StageWallIsTheSlowestShareOfPendingUnits) {
  PaperEstimate e;
  auto unit = [](const std::string& id, int stage, double s, double high, bool done) {
    return UnitEstimate{id, PaperUnitKind::train, stage, s, s, high, done, "", {}};
  };
  e.units = {unit("a", 1, 10, 10, false), unit("b", 1, 20, 20, false), unit("c", 1, 30, 60, false),
             unit("d", 2, 5, 5, false), unit("e", 2, 7, 7, true)};
  EXPECT_DOUBLE_EQ(e.stage_wall(1), 60.0);  // one process: the sum
  EXPECT_DOUBLE_EQ(e.stage_wall(1, true), 90.0);
  EXPECT_DOUBLE_EQ(e.stage_wall(2), 5.0);  // "e" is done
  EXPECT_DOUBLE_EQ(e.total_wall(), 65.0);
  e.processes = 2;  // process 0: a and c; process 1: b
  EXPECT_DOUBLE_EQ(e.stage_wall(1), 40.0);
  EXPECT_DOUBLE_EQ(e.stage_wall(2), 5.0);
  e.slowdown = 2.0;
  EXPECT_DOUBLE_EQ(e.total_wall(), 90.0);
  e.processes = 3;
  e.slowdown = 1.0;
  EXPECT_DOUBLE_EQ(e.stage_wall(1), 30.0);
  // The stored form reads back to the same projection.
  const PaperEstimate back = PaperEstimate::from_json(e.to_json());
  ASSERT_EQ(back.units.size(), e.units.size());
  EXPECT_DOUBLE_EQ(back.total_wall(), e.total_wall());
  EXPECT_DOUBLE_EQ(back.total_wall(true), e.total_wall(true));
  EXPECT_EQ(back.to_json().dump(), e.to_json().dump());
  EXPECT_NE(e.table().find("stage 1"), std::string::npos) << e.table();
}

// Attack units are timed at a full batch once the unit attacks ten of them (per image a full batch
// costs more than a small one), at a tenth of the unit below that, never below 50 images or above
// the unit; without trained models at 50.
TEST(PaperEstimate, AttackCalibrationReachesAFullBatch) {
  using P = std::pair<std::size_t, std::size_t>;
  EXPECT_EQ(attack_calibration_images(10000, 1000, true), (P{200, 1000}));  // the full preset
  EXPECT_EQ(attack_calibration_images(100000, 1000, true), (P{200, 1000}));
  EXPECT_EQ(attack_calibration_images(5000, 1000, true), (P{100, 500}));
  EXPECT_EQ(attack_calibration_images(500, 1000, true), (P{10, 50}));  // the quick preset
  EXPECT_EQ(attack_calibration_images(30, 1000, true), (P{6, 30}));
  EXPECT_EQ(attack_calibration_images(10000, 1000, false), (P{10, 50}));
  EXPECT_EQ(attack_calibration_images(10000, 1000, true, 20), (P{4, 20}));
  EXPECT_EQ(attack_calibration_images(3, 1000, true, 20), (P{1, 3}));
}

// A calibration on a small config projects every unit, and the projection of a training unit
// grows with its training examples (the quantity the scaling rests on).
TEST(PaperEstimate, ProjectsEveryUnitAndScalesWithTheTrainingSet) {
  for (const auto& f : verify_data(default_data_dir(), {"mnist"}))  // `make test` fetches it first
    ASSERT_TRUE(f.ok) << f.path << ": MNIST is not in the data cache (make data)";
  TempDir dir;
  const std::string body =
      "datasets = [\"mnist\"]\narms = [\"bio\", \"bp\"]\nthreads = 1\n"
      "[overrides]\nall = [\"data.train_limit=3000\", \"data.validation=500\", \"data.test_limit=500\", "
      "\"train.epochs=1\", \"network.hidden=[32]\"]\n"
      "[robustness]\nn = 40\nsteps = 3\nrestarts = 1\nsquare_queries = 10\nnoise_draws = 1\neps_mnist = [0.0, 0.1]\n"
      "[fewshot]\narms = [\"bio\", \"bp\", \"ncm\"]\nshots = [1, 2]\ndraws = 2\nmin_updates = 5\ntest_limit = 200\n"
      "[audit]\nactivity_limit = 100\nrepresent_limit = 100\n";
  const PaperConfig c = load_paper_config(write_config(dir, body));
  PaperEstimateOptions o;
  o.train_examples = 500;  // of 2500: the epochs' time is scaled x5
  o.attack_images = 20;
  const PaperEstimate e = estimate_paper(c, o);
  ASSERT_EQ(e.units.size(), plan_paper(c).size());
  for (const auto& u : e.units) {
    EXPECT_GT(u.seconds, 0.0) << u.id;
    EXPECT_LE(u.low, u.seconds) << u.id;
    EXPECT_GE(u.high, u.seconds) << u.id;
    EXPECT_FALSE(u.basis.empty()) << u.id;
    EXPECT_FALSE(u.done) << u.id;
  }
  const auto train_bp =
      std::find_if(e.units.begin(), e.units.end(), [](auto& u) { return u.id == "train-bp_mnist-seed1"; });
  ASSERT_NE(train_bp, e.units.end());
  EXPECT_NE(train_bp->basis.find("500 of 2500"), std::string::npos) << train_bp->basis;
  EXPECT_NE(train_bp->basis.find("x5.0"), std::string::npos) << train_bp->basis;
  EXPECT_GT(e.total_wall(), 0.0);
  EXPECT_GT(e.calibration_s, 0.0);
}
