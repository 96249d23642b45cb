#pragma once
// Helpers shared by the few-shot regimes (src/eval/fewshot.cpp: A and B; fewshot_unlabelled.cpp:
// C). Internal to the library.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "dalenet/config.hpp"
#include "dalenet/data.hpp"
#include "dalenet/fewshot.hpp"
#include "dalenet/io.hpp"
#include "util/clock.hpp"

namespace dalenet::fewshot {

// Pixels / 255 of every image of d, [dim x N].
Eigen::MatrixXf pixels(const Dataset& d);
// Predictions by the nearest column of `centres` (labels `centre_labels`), Euclidean.
std::vector<std::uint8_t> nearest(const Eigen::MatrixXf& query, const Eigen::MatrixXf& centres,
                                  const std::vector<std::uint8_t>& centre_labels);
// Class means of the columns of F by label (classes in increasing order).
void class_means(const Eigen::MatrixXf& F, const std::vector<std::uint8_t>& labels, Eigen::MatrixXf& means,
                 std::vector<std::uint8_t>& mean_labels);
double accuracy_of(const std::vector<std::uint8_t>& pred, const std::vector<std::uint8_t>& labels);

using dalenet::Clock;
using dalenet::seconds_since;

// Stored units (resume): out_dir/units/<name>.json.
struct UnitStore {
  std::string dir;
  bool has(const std::string& name, nlohmann::json& out) const {
    if (dir.empty()) return false;
    const std::string path = dir + "/units/" + name + ".json";
    if (!std::filesystem::exists(path)) return false;
    std::ifstream in(path);
    out = nlohmann::json::parse(in, nullptr, false);
    return !out.is_discarded();  // a unit that does not parse is recomputed
  }
  void put(const std::string& name, const nlohmann::json& j) const {
    if (dir.empty()) return;
    std::filesystem::create_directories(dir + "/units");
    write_file_atomic(dir + "/units/" + name + ".json", j.dump() + "\n");
  }
};

// An arm's training config for a k-shot set of n_train examples under the budget rule of
// docs/EVALUATION.md ("Regime A budgets"): at least `updates` updates (for the bio rule: of the
// output rule alone, in its readout phase), and `budget` times the config's plastic epochs.
TrainConfig arm_config(const FewShotArm& arm, std::size_t n_train, int updates, int budget, std::uint64_t seed);
// {"mean", "ci95" (null for one value), "n"}: Student-t 95 % CI.
nlohmann::json summarise(const std::vector<double>& v);
// The key of a regime-B seed row that holds readout "prototype" ("k5") or "own" ("own_k5").
std::string readout_key(std::string_view readout, int k);
// ConfigError unless opt.trainers holds both functions.
void require_trainers(const FewShotOptions& opt);

// One trained arm on a k-shot set: opt.trainers.supervised on `support` (with early stopping when the arm asks),
// test accuracy on `test`; `first`, when set, replaces the first projection (ae_bp). Returns
// {"accuracy", "epochs", "budget", "train_accuracy", ["best_epoch"], and for bio-rule arms
// "readout_epochs", "prototype_accuracy" (nearest class mean on the hidden layer)}.
nlohmann::json train_on_support(const FewShotArm& arm, const Dataset& support, const Dataset& test,
                                const FewShotOptions& opt, std::uint64_t seed, const Projection* first, int budget);

// Regime C (docs/EVALUATION.md): rows per arm, readout, k and draw, on the draws of regime A
// (`draw_seeds[(k, d)]`); `regime_a_rows` supplies the bp arm. Returns {"draws", "summary",
// "paired_vs_bio"}.
nlohmann::json run_regime_c(const FewShotOptions& opt, const Dataset& train_all, const Dataset& test,
                            const nlohmann::json& regime_a_rows, const UnitStore& store,
                            const std::function<void(const std::string&)>& say);
// The seed of draw d at k (regime A's and C's stratified draws).
std::uint64_t draw_seed(const FewShotOptions& opt, int k, int d);

}  // namespace dalenet::fewshot
