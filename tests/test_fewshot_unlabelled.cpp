// Few-shot regime C pieces: the unlabelled hidden layer (blind to labels, bit-identical to the
// labelled run's), PCA against a known covariance, the autoencoder pre-training and its hand-over
// to BP, and a whole small regime-C run through the CLI.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "dalenet/autoencoder.hpp"
#include "dalenet/error.hpp"
#include "dalenet/fewshot.hpp"
#include "dalenet/rng.hpp"
#include "dalenet/train.hpp"
#include "eval/fewshot_internal.hpp"
#include "helpers.hpp"

using namespace dalenet;
using namespace dalenet::test;

namespace {
const std::vector<std::string> kBio = {"train.rule=bio",       "network.hidden=[30]",
                                       "network.init=uniform", "train.threads=1",
                                       "train.batch=50",       "train.epochs=4",
                                       "bio.readout_epochs=2", "bio.structural_interval=5",
                                       "bio.eta_hidden=0.05",  "bio.output_in_plastic_phase=true"};
}  // namespace

// The hidden layer regime C learns from scrambled labels, plastic phase only, is bit-identical to
// the one the full labelled run learns: no label information reaches it, and cutting the readout
// phase changes nothing before it. The output layer, which does use labels, differs.
TEST(FewShot, UnlabelledHiddenLayerIgnoresLabels) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 400, 50);
  std::vector<std::string> set = kBio;
  set.push_back("data.dataset='" + ds + "'");
  const FewShotArm arm{"bio", FewShotArmKind::train, "", set, false};
  const Dataset images = load_dataset("idx:" + (dir / "train-images") + "," + (dir / "train-labels"), "");
  const Model unlabelled = train_unlabelled_hidden(arm, images, 3, default_trainers());
  std::vector<std::string> labelled_set = set;
  labelled_set.emplace_back("train.seed=3");
  labelled_set.emplace_back("data.validation=0");
  TrainOptions to;
  to.train_data = &images;
  const Model labelled = train(parse_config("", "t", labelled_set), to).model;
  ASSERT_EQ(unlabelled.net.projections.size(), labelled.net.projections.size());
  EXPECT_TRUE(unlabelled.net.projections[0].weight == labelled.net.projections[0].weight);
  EXPECT_TRUE(unlabelled.net.layers[1].threshold == labelled.net.layers[1].threshold);
  EXPECT_FALSE(unlabelled.net.projections.back().weight == labelled.net.projections.back().weight);
  // A BP arm cannot be a feature arm.
  const FewShotArm bp{"bp", FewShotArmKind::train, "", {"data.dataset='" + ds + "'", "network.hidden=[8]"}, false};
  EXPECT_THROW(train_unlabelled_hidden(bp, images, 3, default_trainers()), ConfigError);
}

// Data with a known covariance: two orthogonal directions with variances 9 and 1 plus isotropic
// noise of variance 0.01. PCA recovers both directions (up to sign) and their variances.
TEST(FewShot, PcaRecoversAKnownCovariance) {
  const int dim = 6, n = 20000;
  Eigen::VectorXf u = Eigen::VectorXf::Zero(dim), v = Eigen::VectorXf::Zero(dim);
  u << 1, 1, 0, 0, 0, 0;
  v << 0, 0, 1, -1, 1, 0;
  u.normalize();
  v.normalize();
  Rng rng(5);
  Eigen::MatrixXf X(dim, n);
  for (int i = 0; i < n; ++i) {
    X.col(i) = static_cast<float>(3.0 * rng.normal()) * u + static_cast<float>(rng.normal()) * v;
    for (int r = 0; r < dim; ++r) X(r, i) += static_cast<float>(0.1 * rng.normal()) + 2.0F;  // mean 2
  }
  const Pca p = fit_pca(X, 2);
  EXPECT_NEAR(std::abs(p.components.row(0).dot(u.transpose())), 1.0, 1e-3);
  EXPECT_NEAR(std::abs(p.components.row(1).dot(v.transpose())), 1.0, 1e-3);
  EXPECT_NEAR(p.variance(0), 9.01, 0.3);  // sampling error of a variance: sd 9 * sqrt(2 / n) = 0.09
  EXPECT_NEAR(p.variance(1), 1.01, 0.04);
  EXPECT_NEAR(p.mean.mean(), 2.0, 0.05);
  // ON/OFF halves: non-negative, and their difference is the projection.
  const Eigen::MatrixXf f = p.on_off_features(X.leftCols(10));
  EXPECT_GE(f.minCoeff(), 0.0F);
  const Eigen::MatrixXf proj = p.components * (X.leftCols(10).colwise() - p.mean);
  EXPECT_LT((f.topRows(2) - f.bottomRows(2) - proj).cwiseAbs().maxCoeff(), 1e-5F);
  EXPECT_THROW(fit_pca(X, 7), InputError);
}

// The autoencoder learns to reconstruct (its error falls well below the untrained network's), and
// its encoder hands over to a BP run of the same width; a wrong width is a clear error.
TEST(FewShot, AutoencoderPretrainsTheFirstLayer) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 600, 50);
  const Dataset images = load_dataset("idx:" + (dir / "train-images") + "," + (dir / "train-labels"), "");
  AutoencoderOptions o;
  o.hidden = 32;
  o.epochs = 1;
  const double one = reconstruction_error(train_autoencoder(images, o).net, images);
  o.epochs = 15;
  const Autoencoder ae = train_autoencoder(images, o);
  ASSERT_EQ(ae.epoch_loss.size(), 15u);
  EXPECT_LT(ae.epoch_loss.back(), ae.epoch_loss.front());
  EXPECT_LT(reconstruction_error(ae.net, images), 0.5 * one);
  EXPECT_NEAR(reconstruction_error(ae.net, images), ae.epoch_loss.back(), 0.5 * ae.epoch_loss.back());
  TrainOptions to;
  to.train_data = &images;
  to.first_projection = &ae.net.projections.front();
  // At a negligible learning rate the trained first layer is still the encoder.
  const TrainConfig frozen =
      parse_config("", "t", {"network.hidden=[32]", "train.epochs=1", "train.threads=1", "train.lr=1e-9"});
  const Model m = train(frozen, to).model;
  EXPECT_LT((m.net.projections[0].weight - ae.net.projections[0].weight).cwiseAbs().maxCoeff(), 1e-5F);
  const TrainConfig wrong = parse_config("", "t", {"network.hidden=[16]", "train.epochs=1", "train.threads=1"});
  EXPECT_THROW(train(wrong, to), InputError);
  o.lr = -1.0;
  EXPECT_THROW(train_autoencoder(images, o), InputError);
}

// A whole small regime-C run: every arm and readout, bp taken from regime A's same draws, paired
// differences against bio; a config without a bp arm is refused before any work.
TEST(Cli, FewShotRegimeCRunsEveryArm) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 600, 200);
  std::string bio_set;
  for (const auto& s : kBio) bio_set += "\"" + s + "\", ";
  const std::string arms =
      "[[arm]]\nname = \"bio\"\nconfig = \"\"\nset = [" + bio_set +
      "]\n[[arm]]\nname = \"rf\"\nconfig = \"\"\nset = [" + bio_set +
      "\"bio.hidden_plasticity=false\"]\n"
      "[[arm]]\nname = \"bp\"\nconfig = \"\"\nset = [\"network.hidden=[32]\", \"train.threads=1\"]\n"
      "[[arm]]\nname = \"ncm\"\nkind = \"ncm\"\n";
  const std::string head = "[fewshot]\ndataset = \"" + ds +
                           "\"\nshots = [1, 5]\ndraws = 2\nmin_updates = 30\nnovel = false\nunlabelled = true\n"
                           "ae_epochs = 2\n";
  const std::string cfg = head + arms;
  write_bytes(dir / "fs.toml", std::vector<std::uint8_t>(cfg.begin(), cfg.end()));
  const CliRun r = run_cli("fewshot --config " + (dir / "fs.toml") + " --out " + (dir / "out"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto res = nlohmann::json::parse(read_bytes(dir / "out/fewshot.json"));
  const auto& c = res.at("regime_c");
  std::set<std::string> seen;
  for (const auto& row : c.at("summary")) {
    seen.insert(row.at("arm").get<std::string>() + "/" + row.at("readout").get<std::string>());
    EXPECT_EQ(row.at("accuracy").at("n"), 2) << row;
  }
  EXPECT_EQ(seen, (std::set<std::string>{"bio/own", "bio/prototype", "rf/own", "rf/prototype", "pca/own",
                                         "pca/prototype", "pixels/own", "pixels/prototype", "bp/own", "ae_bp/own"}));
  // bp in regime C is regime A's bp, draw by draw.
  std::map<std::pair<int, int>, double> a_bp, c_bp;
  for (const auto& row : res["regime_a"]["draws"])
    if (row["arm"] == "bp") a_bp[{row["k"], row["draw"]}] = row["accuracy"];
  for (const auto& row : c["draws"])
    if (row["arm"] == "bp") c_bp[{row["k"], row["draw"]}] = row["accuracy"];
  EXPECT_EQ(a_bp, c_bp);
  EXPECT_EQ(c.at("paired_vs_bio").size(), (seen.size() - 1) * 2);
  // The pixel prototype readout is regime A's pixel nearest class mean on the same draws.
  for (const auto& row : c["draws"]) {
    if (row["arm"] != "pixels" || row["readout"] != "prototype") continue;
    for (const auto& a : res["regime_a"]["draws"]) {
      if (a["arm"] == "ncm" && a["k"] == row["k"] && a["draw"] == row["draw"]) {
        EXPECT_DOUBLE_EQ(a["accuracy"].get<double>(), row["accuracy"].get<double>());
      }
    }
  }
  // Resume: same numbers without recomputation.
  const CliRun again = run_cli("fewshot --config " + (dir / "fs.toml") + " --out " + (dir / "out"));
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_EQ(nlohmann::json::parse(read_bytes(dir / "out/fewshot.json"))["regime_c"], c);
  EXPECT_EQ(again.output.find("hidden layer learned"), std::string::npos) << again.output;
  // Without a bp arm: a clear error naming the key, before any work.
  const std::string no_bp = head + "[[arm]]\nname = \"bio\"\nconfig = \"\"\nset = [" + bio_set + "]\n";
  write_bytes(dir / "bad.toml", std::vector<std::uint8_t>(no_bp.begin(), no_bp.end()));
  const CliRun bad = run_cli("fewshot --config " + (dir / "bad.toml") + " --out " + (dir / "bad"));
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.output.find("fewshot.unlabelled"), std::string::npos) << bad.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "bad/fewshot.json"));
}

// The regime-A budget rule: the bio rule keeps its plastic epochs per unit of budget and gets a
// readout phase in which its output rule alone makes at least as many updates as BP makes in
// all; BP's epochs are raised to the same count. (At k = 1 both have one batch per epoch.)
TEST(FewShot, BudgetRuleGivesTheBioReadoutAsManyUpdatesAsBp) {
  const FewShotArm bio{"bio", FewShotArmKind::train, "", kBio, false};  // 4 epochs, 2 of them readout, batch 50
  const TrainConfig one = fewshot::arm_config(bio, 10, 100, 1, 1);
  EXPECT_EQ(one.loop.epochs - one.rule.bio.readout_epochs, 2);  // plastic: the config's 2 epochs
  EXPECT_EQ(one.rule.bio.readout_epochs, 100);                  // 100 output updates of 1 batch
  const TrainConfig three = fewshot::arm_config(bio, 10, 300, 3, 1);
  EXPECT_EQ(three.loop.epochs - three.rule.bio.readout_epochs, 6);
  EXPECT_EQ(three.rule.bio.readout_epochs, 300);
  // 1000 examples at batch 50: 20 batches per epoch; the config's 2 readout epochs already make 40,
  // raised to 5 epochs = 100 updates.
  EXPECT_EQ(fewshot::arm_config(bio, 1000, 100, 1, 1).rule.bio.readout_epochs, 5);
  const FewShotArm bp{"bp", FewShotArmKind::train, "", {"train.batch=128", "train.epochs=10"}, false};
  EXPECT_EQ(fewshot::arm_config(bp, 10, 100, 1, 1).loop.epochs, 100);
  EXPECT_EQ(fewshot::arm_config(bp, 1000, 100, 1, 1).loop.epochs, 13);   // 8 batches per epoch
  EXPECT_EQ(fewshot::arm_config(bp, 10000, 100, 1, 1).loop.epochs, 10);  // the config's own epochs
}

// Budget selection runs on validation draws from the training images only, picks one of the
// candidates per arm and k, and regime A then trains every draw at the chosen budget.
TEST(Cli, FewShotChoosesBudgetsOnValidation) {
  TempDir dir;
  const std::string ds = write_synthetic_idx(dir, 600, 100);
  const std::string cfg =
      "[fewshot]\ndataset = \"" + ds +
      "\"\nshots = [2]\ndraws = 2\nmin_updates = 10\nnovel = false\nbudgets = [1, 3]\n"
      "selection_draws = 2\nselection_images = 200\n"
      "[[arm]]\nname = \"bp\"\nconfig = \"\"\nset = [\"network.hidden=[16]\", \"train.threads=1\"]\n";
  write_bytes(dir / "fs.toml", std::vector<std::uint8_t>(cfg.begin(), cfg.end()));
  const CliRun r = run_cli("fewshot --config " + (dir / "fs.toml") + " --out " + (dir / "out"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto res = nlohmann::json::parse(read_bytes(dir / "out/fewshot.json"));
  const auto& sel = res.at("regime_a").at("budget_selection");
  ASSERT_EQ(sel.size(), 1u);
  const int chosen = sel[0].at("chosen").get<int>();
  EXPECT_TRUE(chosen == 1 || chosen == 3) << sel;
  EXPECT_EQ(sel[0].at("candidates").size(), 2u);
  EXPECT_EQ(sel[0].at("validation_images"), 200);
  for (const auto& row : res["regime_a"]["draws"]) {
    EXPECT_EQ(row.at("budget"), chosen) << row;
    EXPECT_GE(row.at("epochs").get<int>(), chosen * 10) << row;  // one batch per epoch: >= budget x 10 updates
    EXPECT_TRUE(row.contains("train_accuracy"));
  }
  EXPECT_NE(r.output.find("[A budget]"), std::string::npos) << r.output;
}
