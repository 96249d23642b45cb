// End-to-end training on a synthetic task, divergence handling, determinism, and the CLI's
// error paths (run as a subprocess, checking exit codes and messages).
#include <gtest/gtest.h>

#include "dalenet/error.hpp"
#include "dalenet/train.hpp"
#include "helpers.hpp"

using namespace dalenet;
using namespace dalenet::test;

namespace {
TrainConfig synthetic_config(const std::string& dataset, const std::string& rule = "bp") {
  return parse_config(
      "", "test",
      {"data.dataset='" + dataset + "'", "data.validation=200", "network.hidden=[32]", "train.rule=" + rule,
       "train.epochs=4", "train.batch=32", "train.threads=1", rule == "eg" ? "train.lr=0.5" : "train.lr=0.01"});
}

}  // namespace

TEST(Train, EveryGradientRuleLearnsASyntheticTask) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 2000, 500);
  for (const char* rule : {"bp", "bp_sign", "eg"}) {
    const TrainOutcome r = train(synthetic_config(ds, rule), TrainOptions{});
    const double acc = r.results["metrics"]["test"]["accuracy"];
    EXPECT_GT(acc, 0.9) << rule;  // chance is 0.1
    EXPECT_EQ(r.results["status"], "completed");
    EXPECT_EQ(r.results["metrics"]["epochs"].size(), 4u);
  }
}

TEST(Train, WritesRunFolderAndRefusesToOverwriteIt) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 500, 100);
  TrainOptions opts;
  opts.out_dir = dir / "run";
  train(synthetic_config(ds), opts);
  for (const char* f : {"config.toml", "results.json", "model.safetensors"})
    EXPECT_TRUE(std::filesystem::exists(dir / ("run/" + std::string(f)))) << f;
  const Model m = load_model(dir / "run/model.safetensors");
  EXPECT_EQ(m.info["rule"], "bp");
  EXPECT_EQ(m.info["data"]["train"]["files"][0]["sha256"].get<std::string>().size(), 64u);
  // The resolved config re-loads to the same configuration.
  EXPECT_EQ(to_json(load_config(dir / "run/config.toml")), to_json(synthetic_config(ds)));
  EXPECT_THROW(train(synthetic_config(ds), opts), IoError);
  opts.overwrite = true;
  EXPECT_NO_THROW(train(synthetic_config(ds), opts));
}

TEST(Train, DivergenceStopsWithClearErrorAndKeepsLastGoodModel) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 500, 100);
  TrainConfig cfg = parse_config(
      "", "test",
      {"data.dataset='" + ds + "'", "data.validation=100", "network.hidden=[16]", "network.activation=identity",
       "train.optimizer=sgd", "train.lr=1000", "train.epochs=3", "train.batch=50", "train.threads=1"});
  TrainOptions opts;
  opts.out_dir = dir / "run";
  try {
    train(cfg, opts);
    FAIL() << "expected DivergenceError";
  } catch (const DivergenceError& e) {
    EXPECT_TRUE(has(e.what(), "diverged")) << e.what();
    EXPECT_TRUE(has(e.what(), "train.lr")) << e.what();
  }
  const Model m = load_model(dir / "run/model.safetensors");  // loadable, hence finite
  EXPECT_TRUE(m.info.contains("diverged_at"));
  const auto results = nlohmann::json::parse(read_bytes(dir / "run/results.json"));
  EXPECT_EQ(results["status"], "diverged");
}

TEST(Train, SameSeedAndThreadsGiveBitIdenticalResults) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 1000, 200);
  TrainOptions a, b;
  a.out_dir = dir / "a";
  b.out_dir = dir / "b";
  const TrainOutcome ra = train(synthetic_config(ds), a);
  const TrainOutcome rb = train(synthetic_config(ds), b);
  EXPECT_EQ(ra.results["metrics"], rb.results["metrics"]);
  EXPECT_EQ(read_bytes(dir / "a/model.safetensors"), read_bytes(dir / "b/model.safetensors"));
  // A different seed gives a different model.
  TrainConfig other = synthetic_config(ds);
  other.loop.seed = 2;
  EXPECT_NE(train(other, {}).results["metrics"], ra.results["metrics"]);
}

// Fixational jitter (train.augment_shift): seeded, so two runs agree bit for bit; it changes
// what is learned; a shift as large as the image is refused, naming the key.
TEST(Train, FixationalJitterIsSeededAndChecked) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 1000, 200);  // 8 x 8 images
  TrainConfig jitter = synthetic_config(ds);
  jitter.loop.augment_shift = 1;
  const TrainOutcome a = train(jitter, {});
  const TrainOutcome b = train(jitter, {});
  EXPECT_EQ(a.results["metrics"], b.results["metrics"]);
  EXPECT_NE(a.results["metrics"], train(synthetic_config(ds), {}).results["metrics"]);
  jitter.loop.augment_shift = 8;
  try {
    train(jitter, {});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(has(e.what(), "train.augment_shift")) << e.what();
    EXPECT_TRUE(has(e.what(), "8 x 8")) << e.what();
  }
  EXPECT_THROW(parse_config("", "test", {"train.augment_shift=-1"}), ConfigError);
}

TEST(Cli, TrainTwiceIsBitIdenticalAndEvalPredictAgree) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 1000, 200);
  const std::string common = "train --quiet --set \"data.dataset='" + ds +
                             "'\" --set data.validation=100 --set network.hidden=[24] --set train.epochs=2 "
                             "--set train.threads=2 --out ";
  const CliRun a = run_cli(common + (dir / "a"));
  const CliRun b = run_cli(common + (dir / "b"));
  ASSERT_EQ(a.code, 0) << a.output;
  ASSERT_EQ(b.code, 0) << b.output;
  EXPECT_EQ(read_bytes(dir / "a/model.safetensors"), read_bytes(dir / "b/model.safetensors"));
  const auto ja = nlohmann::json::parse(read_bytes(dir / "a/results.json"));
  const auto jb = nlohmann::json::parse(read_bytes(dir / "b/results.json"));
  EXPECT_EQ(ja["metrics"], jb["metrics"]);

  const CliRun ev = run_cli("eval --json --model " + (dir / "a/model.safetensors") +
                            " --data idx:" + (dir / "test-images") + "," + (dir / "test-labels"));
  ASSERT_EQ(ev.code, 0) << ev.output;
  const auto je = nlohmann::json::parse(ev.output);
  EXPECT_EQ(je["accuracy"], ja["metrics"]["test"]["accuracy"]);

  const CliRun pr = run_cli("predict --model " + (dir / "a/model.safetensors") + " --images " + (dir / "test-images") +
                            " --out " + (dir / "logits.csv"));
  ASSERT_EQ(pr.code, 0) << pr.output;
  const auto csv = read_bytes(dir / "logits.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 201);  // header + 200 rows
}

TEST(Cli, BadInputsGiveClearErrorsAndNonZeroExit) {
  TempDir dir;
  write_bytes(dir / "bad.toml", {'[', 't', 'r', 'a', 'i', 'n', ']', '\n', 'l', 'r', 'r', '=', '1', '\n'});
  CliRun r = run_cli("train --config " + (dir / "bad.toml"));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.output, "train.lrr") && has(r.output, dir / "bad.toml")) << r.output;

  write_bytes(dir / "corrupt.safetensors", {1, 2, 3});
  r = run_cli("eval --model " + (dir / "corrupt.safetensors"));
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.output, "corrupt.safetensors")) << r.output;

  r = run_cli("--data-dir " + (dir / "empty") + " data info mnist:train");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.output, "dalenet data fetch")) << r.output;

  r = run_cli("--data-dir " + (dir / "empty") + " data verify mnist");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.output, "MISSING")) << r.output;

  r = run_cli("train --bogus-flag");
  EXPECT_EQ(r.code, 2);

  r = run_cli("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(has(r.output, "train") && has(r.output, "predict")) << r.output;
}

TEST(Cli, AnalyzeAndConfigCommands) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 600, 100);
  const CliRun t =
      run_cli("train --quiet --set \"data.dataset='" + ds +
              "'\" --set data.validation=100 --set network.hidden=[20] --set train.epochs=1 --out " + (dir / "run"));
  ASSERT_EQ(t.code, 0) << t.output;
  const CliRun a =
      run_cli("analyze --json --model " + (dir / "run/model.safetensors") + " --data idx:" + (dir / "test-images") +
              "," + (dir / "test-labels") + " --out " + (dir / "analysis.json"));
  ASSERT_EQ(a.code, 0) << a.output;
  const auto rep = nlohmann::json::parse(read_bytes(dir / "analysis.json"));
  EXPECT_EQ(rep["format"], "dalenet-analysis");
  EXPECT_EQ(rep["projections"].size(), 2u);
  EXPECT_TRUE(rep.contains("initial"));  // the control was rebuilt from the stored config and seed
  EXPECT_EQ(rep["activity"][0]["examples"], 100);
  const CliRun summary = run_cli("analyze --model " + (dir / "run/model.safetensors"));
  EXPECT_EQ(summary.code, 0);
  EXPECT_TRUE(has(summary.output, "Dale: compliance")) << summary.output;

  const CliRun keys = run_cli("config keys");
  EXPECT_EQ(keys.code, 0);
  EXPECT_TRUE(has(keys.output, "bio.eta_hidden") && has(keys.output, "train.lr")) << keys.output;
  const CliRun show = run_cli("config show --set train.rule=bio");
  EXPECT_EQ(show.code, 0);
  EXPECT_TRUE(has(show.output, "rule = 'bio'") || has(show.output, "rule = \"bio\"")) << show.output;
  const CliRun bad = run_cli("config show --set bio.eta_hiden=1");
  EXPECT_EQ(bad.code, 2);
  EXPECT_TRUE(has(bad.output, "bio.eta_hiden")) << bad.output;
}
