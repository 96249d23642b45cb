#pragma once
// Few-shot generalisation (docs/EVALUATION.md, "Few-shot"): regime A (k examples per class of
// the same ten classes, many stratified draws, the full test set) and regime B (five novel
// classes, k-shot episodes on a frozen hidden layer with a prototype readout), for every arm,
// with per-draw results kept and 95 % confidence intervals.
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "dalenet/data.hpp"
#include "dalenet/io.hpp"
#include "dalenet/network.hpp"
#include "dalenet/train.hpp"

namespace dalenet {

// What a few-shot arm is: a learning rule run by train() on the k-shot set, or a pixel-space
// reference (nearest class mean, 1-nearest neighbour).
enum class FewShotArmKind { train, ncm, knn };

// "train", "ncm" or "knn" (the config's `kind`); nullopt for anything else.
std::optional<FewShotArmKind> parse_fewshot_arm_kind(std::string_view name);
// The kind's name in configs and in fewshot.json: "train", "ncm" or "knn".
std::string_view fewshot_arm_kind_name(FewShotArmKind kind);

struct FewShotArm {
  std::string name;  // its label in the tables
  FewShotArmKind kind = FewShotArmKind::train;
  std::string config;                  // kind train: the TOML config (the full-data defaults; "" = built-in)
  std::vector<std::string> overrides;  // "section.key=value"
  bool early_stopping = false;         // hold out part of the k-shot set, keep the best-validation epoch
};

struct FewShotOptions {
  std::string dataset = "mnist";  // mnist | fashion | idx:TRAIN_IMAGES,TRAIN_LABELS;TEST_IMAGES,TEST_LABELS
                                  // (draws from the training set, evaluation on the test set)
  std::string data_dir;
  std::vector<int> shots = {1, 2, 5, 10, 20, 50, 100};
  int draws = 10;  // stratified draws per k (each its own seed)
  std::uint64_t seed = 1;
  int min_updates = 100;  // every trained run makes at least budget x this many updates (docs/EVALUATION.md)
  // Regime A budgets: candidate multipliers of min_updates (and of the bio rule's plastic epochs);
  // with more than one, each arm's budget per k is chosen on validation draws from the training
  // images (selection_draws k-shot sets, scored on selection_images held-out training images).
  std::vector<int> budgets = {1};
  int selection_draws = 2;
  std::size_t selection_images = 5000;
  double holdout_fraction = 0.2;  // early-stopping arms: per class max(1, round(k * f)) held out (k >= 2)
  std::size_t test_limit = 0;     // 0: the full test set
  std::vector<FewShotArm> arms;
  // Regime B: train on classes 0-4 (full training data), episodes on classes 5-9.
  bool novel = true;
  std::vector<int> novel_shots = {1, 5};
  int episodes = 600;
  int queries_per_class = 15;
  std::vector<std::uint64_t> novel_seeds = {1, 2, 3};  // training seeds of the base-class models
  // Regime C (docs/EVALUATION.md): hidden layers learned from the unlabelled training images, a
  // readout from the k labels of regime A's draws. Needs arms named "bio" and "bp".
  bool unlabelled = false;
  int ae_epochs = 5;    // the ae_bp arm's autoencoder pre-training, passes over the training images
  std::string out_dir;  // per-unit results are stored here (resumable); "" = in memory only
  // The training the arms run (required; dalenet::default_trainers() in the front ends). Neither
  // run_fewshot nor time_fewshot_cell trains otherwise.
  Trainers trainers;
  std::function<void(const std::string&)> progress;
  // Structured progress (`dalenet fewshot --log-json`): {"event": "budget"} per arm and k chosen,
  // {"event": "cell"} per regime-A cell (done, total, elapsed_s, eta_s from the cells computed so
  // far), per regime-B arm and seed, per regime-C draw.
  std::function<void(const nlohmann::json&)> on_event;
};

// Reads a few-shot config (strict: unknown keys are ConfigErrors naming the key). Relative arm
// config paths are taken as they are (relative to the working directory).
FewShotOptions load_fewshot_config(const std::string& path);
// Runs both regimes; returns the results document (docs/FORMATS.md, "Few-shot results").
nlohmann::json run_fewshot(const FewShotOptions& opt);
// The per-draw table of a results document as CSV (regime A draws; regime B per seed and k).
std::string fewshot_csv(const nlohmann::json& results);
// A plain-text summary table (mean +- 95 % CI per arm and k; paired differences vs bp).
std::string fewshot_summary(const nlohmann::json& results);

// What one regime-A cell costs on this machine (`dalenet paper --estimate`): `arm` trained at
// `budget` on draw 0 of the k-shot sets of `train_all`, then evaluated on `test`. `training` is
// the training epochs' time (it scales with the budget), `other` everything else (the
// evaluations, which scale with the size of `test`).
struct FewShotCellSeconds {
  double training = 0.0, other = 0.0;
};
FewShotCellSeconds time_fewshot_cell(const FewShotOptions& opt, const FewShotArm& arm, const Dataset& train_all,
                                     const Dataset& test, int k, int budget);

// Exactly k examples of each class in `classes`, drawn without replacement, seeded; sorted.
// Throws DataError naming the class when one has fewer than k examples.
std::vector<std::uint32_t> sample_per_class(const Dataset& d, std::span<const int> classes, std::size_t k,
                                            std::uint64_t seed);
// The examples of `d` whose label is in `classes`, labels unchanged.
Dataset filter_classes(const Dataset& d, std::span<const int> classes);

// Pixel baselines: predictions for `test` from the examples `support` (features are pixels/255).
std::vector<std::uint8_t> nearest_class_mean(const Dataset& support, const Dataset& test);
std::vector<std::uint8_t> nearest_neighbour(const Dataset& support, const Dataset& test);

// With opt.unlabelled: throws ConfigError (prefixed by `where`) unless the arms include "bio" (a
// bio-rule config) and "bp" (a trained arm: the ae_bp arm uses its config). Nothing otherwise.
void check_regime_c_arms(const FewShotOptions& opt, const std::string& where);
// Regime C's hidden layer for a bio-rule arm (bio, rf, kmeans): the arm's config trained (by
// trainers.supervised) on `images` with their labels replaced by a seeded random permutation,
// plastic phase only (train.epochs = plastic epochs + 1, bio.readout_epochs = 1; the readout is
// meaningless). Throws ConfigError naming the arm when its config does not use the bio rule.
Model train_unlabelled_hidden(const FewShotArm& arm, const Dataset& images, std::uint64_t seed,
                              const Trainers& trainers);

// Principal components of the columns of X [dim x N] (N >= 2): the mean, the top `components`
// unit-norm directions as rows [components x dim], and their variances, largest first.
struct Pca {
  Eigen::VectorXf mean;
  Eigen::MatrixXf components;
  Eigen::VectorXd variance;
  // Projections onto the components split into ON and OFF halves, [max(p, 0); max(-p, 0)]:
  // non-negative rates, [2 components x N].
  Eigen::MatrixXf on_off_features(const Eigen::MatrixXf& X) const;
};
Pca fit_pca(const Eigen::MatrixXf& X, int components);

// Representation the readout sees: rates of the last hidden layer [units x N] (its excitatory
// neurons only when the layer has competition: the interneurons carry one shared level).
Eigen::MatrixXf hidden_features(const Network& net, const Dataset& d);

}  // namespace dalenet
