// Few-shot protocols: regime A (low data, same classes) and regime B (novel classes on a frozen
// hidden layer). Every unit (arm x k x draw, or arm x seed) is stored atomically in out_dir/units
// when out_dir is set, and skipped when present, so an interrupted run resumes.
#include "dalenet/fewshot.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "dalenet/backprop.hpp"
#include "dalenet/config.hpp"
#include "dalenet/error.hpp"
#include "dalenet/eval.hpp"
#include "dalenet/io.hpp"
#include "dalenet/progress.hpp"
#include "dalenet/rng.hpp"
#include "dalenet/stats.hpp"
#include "dalenet/train.hpp"
#include "eval/fewshot_internal.hpp"
#include "io/toml_reader.hpp"

namespace dalenet {

std::vector<std::uint32_t> sample_per_class(const Dataset& d, std::span<const int> classes, std::size_t k,
                                            std::uint64_t seed) {
  std::vector<std::uint32_t> out;
  for (const int c : classes) {
    std::vector<std::uint32_t> pool;
    for (std::size_t i = 0; i < d.size(); ++i)
      if (d.labels[i] == c) pool.push_back(static_cast<std::uint32_t>(i));
    if (pool.size() < k)
      throw DataError(d.name + ": class " + std::to_string(c) + " has " + std::to_string(pool.size()) +
                      " examples, a draw of " + std::to_string(k) + " per class is impossible" +
                      (pool.empty() ? " (the class is empty)" : ""));
    Rng rng(seed, 0xF5000000ULL + static_cast<std::uint64_t>(c));
    rng.shuffle(std::span<std::uint32_t>(pool));
    out.insert(out.end(), pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(k));
  }
  std::sort(out.begin(), out.end());
  return out;
}

Dataset filter_classes(const Dataset& d, std::span<const int> classes) {
  std::vector<std::uint32_t> idx;
  for (std::size_t i = 0; i < d.size(); ++i)
    if (std::find(classes.begin(), classes.end(), d.labels[i]) != classes.end())
      idx.push_back(static_cast<std::uint32_t>(i));
  return subset(d, idx, d.name);
}

namespace fewshot {

Eigen::MatrixXf pixels(const Dataset& d) {
  Eigen::MatrixXf X;
  fill_batch_range(d, 0, d.size(), X);
  return X;
}

// Squared Euclidean distances [test x support] via one GEMM.
Eigen::MatrixXf squared_distances(const Eigen::MatrixXf& A, const Eigen::MatrixXf& B) {
  Eigen::MatrixXf D = -2.0F * (A.transpose() * B);
  D.colwise() += A.colwise().squaredNorm().transpose();
  D.rowwise() += B.colwise().squaredNorm();
  return D;
}

// Predictions by the nearest column of `centres` (labels `centre_labels`).
std::vector<std::uint8_t> nearest(const Eigen::MatrixXf& query, const Eigen::MatrixXf& centres,
                                  const std::vector<std::uint8_t>& centre_labels) {
  std::vector<std::uint8_t> out(static_cast<std::size_t>(query.cols()));
  const std::size_t chunk = 2000;
  for (Eigen::Index s = 0; s < query.cols(); s += static_cast<Eigen::Index>(chunk)) {
    const Eigen::Index m = std::min<Eigen::Index>(static_cast<Eigen::Index>(chunk), query.cols() - s);
    const Eigen::MatrixXf D = squared_distances(query.middleCols(s, m), centres);
    for (Eigen::Index i = 0; i < m; ++i) {
      Eigen::Index j = 0;
      D.row(i).minCoeff(&j);
      out[static_cast<std::size_t>(s + i)] = centre_labels[static_cast<std::size_t>(j)];
    }
  }
  return out;
}

// Class means of the columns of F by label (classes in increasing order).
void class_means(const Eigen::MatrixXf& F, const std::vector<std::uint8_t>& labels, Eigen::MatrixXf& means,
                 std::vector<std::uint8_t>& mean_labels) {
  std::map<int, std::vector<Eigen::Index>> by;
  for (std::size_t i = 0; i < labels.size(); ++i) by[labels[i]].push_back(static_cast<Eigen::Index>(i));
  means.setZero(F.rows(), static_cast<Eigen::Index>(by.size()));
  mean_labels.clear();
  Eigen::Index k = 0;
  for (const auto& [c, idx] : by) {
    for (auto i : idx) means.col(k) += F.col(i);
    means.col(k) /= static_cast<float>(idx.size());
    mean_labels.push_back(static_cast<std::uint8_t>(c));
    ++k;
  }
}

double accuracy_of(const std::vector<std::uint8_t>& pred, const std::vector<std::uint8_t>& labels) {
  std::size_t ok = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) ok += pred[i] == labels[i] ? 1 : 0;
  return pred.empty() ? 0.0 : static_cast<double>(ok) / static_cast<double>(pred.size());
}

TrainConfig arm_config(const FewShotArm& arm, std::size_t n_train, int updates, int budget, std::uint64_t seed) {
  std::vector<std::string> ov = arm.overrides;
  ov.emplace_back("train.seed=" + std::to_string(seed));
  ov.emplace_back("data.validation=0");
  TrainConfig cfg = load_config(arm.config, ov);
  // The budget rule (docs/EVALUATION.md, "Regime A budgets"). `updates` = budget x min_updates.
  const auto B = static_cast<std::size_t>(cfg.loop.batch);
  const auto batches = static_cast<std::int64_t>((n_train + B - 1) / B);
  const std::int64_t raised = (updates + batches - 1) / batches;  // epochs that make `updates` updates
  auto& bio = cfg.rule.bio;
  const bool phases =
      cfg.rule.name == "bio" && bio.hidden_plasticity && bio.readout_epochs > 0 && cfg.loop.epochs > bio.readout_epochs;
  if (phases) {
    // The bio rule's plastic phase: `budget` times the config's plastic epochs, so each image is
    // presented as often per unit of budget as in the full-data run, at the config's per-image
    // rates; then a readout phase long enough for the output rule alone to make `updates` updates
    // (as many as a gradient arm makes in all).
    const std::int64_t plastic = budget * (cfg.loop.epochs - bio.readout_epochs);
    bio.readout_epochs = std::max<std::int64_t>(bio.readout_epochs, raised);
    cfg.loop.epochs = plastic + bio.readout_epochs;
  } else {
    // One phase (gradient rules; the bio rule without hidden plasticity or without a readout
    // phase): the config's epochs, raised until the run makes `updates` updates.
    cfg.loop.epochs = std::max<std::int64_t>(cfg.loop.epochs, raised);
  }
  return cfg;
}

nlohmann::json summarise(const std::vector<double>& v) {
  const stats::MeanCI ci = stats::mean_ci95(v);
  return {{"mean", ci.mean},
          {"ci95", std::isnan(ci.half_width) ? nlohmann::json(nullptr) : nlohmann::json(ci.half_width)},
          {"n", ci.n}};
}

// The key of a regime-B seed row that holds readout "prototype" ("k5") or "own" ("own_k5").
void require_trainers(const FewShotOptions& opt) {
  if (!opt.trainers.supervised || !opt.trainers.autoencoder)
    throw ConfigError("few-shot options: `trainers` is empty (pass dalenet::default_trainers(), or your own)");
}

std::string readout_key(std::string_view readout, int k) {
  return (readout == "own" ? "own_k" : "k") + std::to_string(k);
}

}  // namespace fewshot

using namespace fewshot;  // NOLINT(google-build-using-namespace): the helpers of src/eval/fewshot_internal.hpp

std::vector<std::uint8_t> nearest_class_mean(const Dataset& support, const Dataset& test) {
  Eigen::MatrixXf means;
  std::vector<std::uint8_t> mean_labels;
  class_means(pixels(support), support.labels, means, mean_labels);
  return nearest(pixels(test), means, mean_labels);
}

std::vector<std::uint8_t> nearest_neighbour(const Dataset& support, const Dataset& test) {
  return nearest(pixels(test), pixels(support), support.labels);
}

Eigen::MatrixXf hidden_features(const Network& net, const Dataset& d) {
  if (net.layers.size() < 3) throw InputError("hidden_features: the network has no hidden layer");
  const std::size_t h = net.layers.size() - 2;
  const Layer& layer = net.layers[h];
  const Eigen::Index units = layer.competition == Competition::none ? layer.size() : layer.excitatory_count();
  Eigen::MatrixXf F(units, static_cast<Eigen::Index>(d.size()));
  ForwardCache cache;
  cache.weights_fixed = true;
  Eigen::MatrixXf X;
  for (std::size_t s = 0; s < d.size(); s += 1000) {
    const std::size_t e = std::min(d.size(), s + 1000);
    fill_batch_range(d, s, e, X);
    forward(net, X, cache);
    F.middleCols(static_cast<Eigen::Index>(s), static_cast<Eigen::Index>(e - s)) = cache.act[h].topRows(units);
  }
  return F;
}

namespace {

// [fewshot]: what is drawn and measured.
void read_fewshot_section(const TomlReader& r, const toml::table& f, FewShotOptions& o) {
  for (const auto& [k, v] : f) {
    const std::string leaf(k.str()), key = "fewshot." + leaf;
    const auto shots = [&](const toml::node& n) { return integers_as<int>(r.integers(n, key, 1, 100000)); };
    if (leaf == "dataset") {
      o.dataset = r.str(v, key);
    } else if (leaf == "shots") {
      o.shots = shots(v);
    } else if (leaf == "draws") {
      o.draws = static_cast<int>(r.integer(v, key, 1, 100000));
    } else if (leaf == "seed") {
      o.seed = static_cast<std::uint64_t>(r.integer(v, key, 0, INT64_MAX));
    } else if (leaf == "min_updates") {
      o.min_updates = static_cast<int>(r.integer(v, key, 1, 10000000));
    } else if (leaf == "holdout_fraction") {
      o.holdout_fraction = r.number_between(v, key, 0.0, 1.0);
    } else if (leaf == "test_limit") {
      o.test_limit = static_cast<std::size_t>(r.integer(v, key, 0, INT64_MAX));
    } else if (leaf == "novel") {
      o.novel = r.boolean(v, key);
    } else if (leaf == "novel_shots") {
      o.novel_shots = shots(v);
    } else if (leaf == "episodes") {
      o.episodes = static_cast<int>(r.integer(v, key, 1, 10000000));
    } else if (leaf == "queries_per_class") {
      o.queries_per_class = static_cast<int>(r.integer(v, key, 1, 100000));
    } else if (leaf == "novel_seeds") {
      o.novel_seeds = integers_as<std::uint64_t>(r.integers(v, key, 1, 100000));
    } else if (leaf == "unlabelled") {
      o.unlabelled = r.boolean(v, key);
    } else if (leaf == "ae_epochs") {
      o.ae_epochs = static_cast<int>(r.integer(v, key, 1, 10000));
    } else if (leaf == "budgets") {
      o.budgets = shots(v);
    } else if (leaf == "selection_draws") {
      o.selection_draws = static_cast<int>(r.integer(v, key, 1, 1000));
    } else if (leaf == "selection_images") {
      o.selection_images = static_cast<std::size_t>(r.integer(v, key, 10, 1000000));
    } else {
      r.unknown(key,
                "dataset, shots, draws, seed, min_updates, holdout_fraction, test_limit, novel, novel_shots, "
                "episodes, queries_per_class, novel_seeds, unlabelled, ae_epochs, budgets, selection_draws, "
                "selection_images");
    }
  }
}

// One [[arm]] table, the i-th.
FewShotArm read_arm(const TomlReader& r, const toml::node& node, std::size_t i) {
  const std::string at = "arm[" + std::to_string(i) + "]";
  const auto* table = node.as_table();
  if (table == nullptr) throw ConfigError(r.where("arm") + ": use [[arm]] tables");
  FewShotArm arm;
  for (const auto& [k, v] : *table) {
    const std::string leaf(k.str()), key = at + "." + leaf;
    if (leaf == "name") {
      arm.name = r.str(v, key);
    } else if (leaf == "kind") {
      const std::string kind = r.str(v, key);
      const auto parsed = parse_fewshot_arm_kind(kind);
      if (!parsed) throw ConfigError(r.where(key) + ": '" + kind + "' (known: train, ncm, knn)");
      arm.kind = *parsed;
    } else if (leaf == "config") {
      arm.config = r.str(v, key);
    } else if (leaf == "set") {
      arm.overrides = r.strings(v, key, true);
    } else if (leaf == "early_stopping") {
      arm.early_stopping = r.boolean(v, key);
    } else {
      r.unknown(key, "name, kind, config, set, early_stopping");
    }
  }
  if (arm.name.empty()) throw ConfigError(r.where(at) + ": needs a name");
  if (arm.kind == FewShotArmKind::train) (void)load_config(arm.config, arm.overrides);  // now, not after an hour
  return arm;
}

}  // namespace

std::string_view fewshot_arm_kind_name(FewShotArmKind kind) {
  switch (kind) {
    case FewShotArmKind::train:
      return "train";
    case FewShotArmKind::ncm:
      return "ncm";
    case FewShotArmKind::knn:
      return "knn";
  }
  return "train";  // unreachable: every enumerator is handled above
}

std::optional<FewShotArmKind> parse_fewshot_arm_kind(std::string_view name) {
  for (const FewShotArmKind k : {FewShotArmKind::train, FewShotArmKind::ncm, FewShotArmKind::knn})
    if (fewshot_arm_kind_name(k) == name) return k;
  return std::nullopt;
}

FewShotOptions load_fewshot_config(const std::string& path) {
  const TomlReader r(path);
  const toml::table t = r.parse();
  for (const auto& [k, v] : t) {
    const std::string key(k.str());
    if (key != "fewshot" && key != "arm") throw ConfigError(r.where(key) + ": unknown section (known: fewshot, arm)");
  }
  FewShotOptions o;
  if (t.contains("fewshot")) {
    const auto* f = t["fewshot"].as_table();
    if (f == nullptr) throw ConfigError(r.where("fewshot") + ": expected a table [fewshot]");
    read_fewshot_section(r, *f, o);
  }
  if (t.contains("arm")) {
    const toml::array& arms = r.array(*t.get("arm"), "arm");
    for (std::size_t i = 0; i < arms.size(); ++i) o.arms.push_back(read_arm(r, arms[i], i));
  }
  if (o.arms.empty()) throw ConfigError("'" + path + "': no [[arm]] defined");
  check_regime_c_arms(o, r.where("fewshot.unlabelled"));
  std::set<std::string> names;
  for (const auto& a : o.arms)
    if (!names.insert(a.name).second) throw ConfigError("'" + path + "': two arms are named '" + a.name + "'");
  return o;
}

std::uint64_t fewshot::draw_seed(const FewShotOptions& opt, int k, int d) {
  return opt.seed * 1000003ULL + static_cast<std::uint64_t>(k) * 1009ULL + static_cast<std::uint64_t>(d);
}

nlohmann::json fewshot::train_on_support(const FewShotArm& arm, const Dataset& support, const Dataset& test,
                                         const FewShotOptions& opt, std::uint64_t seed, const Projection* first,
                                         int budget) {
  nlohmann::json row;
  Dataset tr = support, val;
  const int k = static_cast<int>(support.size()) / std::max(1, support.num_classes);
  if (arm.early_stopping && k >= 2) {
    const auto per =
        static_cast<std::size_t>(std::max<long>(1, std::lround(static_cast<double>(k) * opt.holdout_fraction)));
    std::vector<int> classes(static_cast<std::size_t>(support.num_classes));
    std::iota(classes.begin(), classes.end(), 0);
    const auto hold = sample_per_class(support, classes, per, seed ^ 0xE5ULL);
    std::vector<std::uint32_t> keep;
    for (std::uint32_t i = 0; i < support.size(); ++i)
      if (!std::binary_search(hold.begin(), hold.end(), i)) keep.push_back(i);
    val = subset(support, hold, support.name + "/holdout");
    tr = subset(support, keep, support.name + "/fit");
  }
  const TrainConfig cfg = arm_config(arm, tr.size(), budget * opt.min_updates, budget, seed);
  TrainOptions to;
  to.train_data = &tr;
  to.test_data = &test;
  to.first_projection = first;
  if (val.size() > 0) {
    to.validation_data = &val;
    to.keep_best_validation = true;
  }
  const TrainOutcome r = opt.trainers.supervised(cfg, to);
  row["accuracy"] = r.results["metrics"]["test"]["accuracy"];
  row["epochs"] = cfg.loop.epochs;
  row["budget"] = budget;
  // Diagnostics: the fit of the k-shot set itself, and for the bio rule's machinery the
  // prototype probe on its hidden layer (what the readout could get from the code).
  row["train_accuracy"] = evaluate(r.model.net, tr).accuracy;
  if (cfg.rule.name == "bio") {
    row["readout_epochs"] = cfg.rule.bio.readout_epochs;
    Eigen::MatrixXf means;
    std::vector<std::uint8_t> mean_labels;
    class_means(hidden_features(r.model.net, tr), tr.labels, means, mean_labels);
    row["prototype_accuracy"] =
        accuracy_of(nearest(hidden_features(r.model.net, test), means, mean_labels), test.labels);
  }
  if (r.results.contains("best_epoch")) row["best_epoch"] = r.results["best_epoch"];
  row["train_seconds"] = r.results["timings"].value("train_s", 0.0);
  return row;
}

FewShotCellSeconds time_fewshot_cell(const FewShotOptions& opt, const FewShotArm& arm, const Dataset& train_all,
                                     const Dataset& test, int k, int budget) {
  require_trainers(opt);
  std::vector<int> classes(static_cast<std::size_t>(train_all.num_classes));
  std::iota(classes.begin(), classes.end(), 0);
  const std::uint64_t seed = draw_seed(opt, k, 0);
  const auto idx = sample_per_class(train_all, classes, static_cast<std::size_t>(k), seed);
  const Dataset support = subset(train_all, idx, fmt::format("{}:train/k{}-calibration", opt.dataset, k));
  const auto t0 = Clock::now();
  const nlohmann::json row = train_on_support(arm, support, test, opt, seed, nullptr, budget);
  const double all = seconds_since(t0);
  const double training = row.value("train_seconds", 0.0);
  return {training, std::max(0.0, all - training)};
}

namespace {

// Budget selection (docs/EVALUATION.md, "Regime A budgets"): for each trained arm and k, every
// candidate budget is trained on `selection_draws` k-shot sets drawn from the training images
// outside a held-out validation split, and scored on that split; the best mean wins (ties: the
// smaller budget). The test set is never seen. Units "S-<arm>-k<k>".
nlohmann::json select_budgets(const FewShotOptions& opt, const Dataset& train_all, const UnitStore& store,
                              const std::function<void(const std::string&)>& say) {
  nlohmann::json out = nlohmann::json::array();
  if (opt.budgets.size() < 2) return out;
  const TrainValSplit split =
      split_validation(train_all, std::min(opt.selection_images, train_all.size() / 2), opt.seed ^ 0x5E1EC7ULL);
  std::vector<int> classes(static_cast<std::size_t>(train_all.num_classes));
  std::iota(classes.begin(), classes.end(), 0);
  for (const auto& arm : opt.arms) {
    if (arm.kind != FewShotArmKind::train) continue;
    for (const int k : opt.shots) {
      const std::string unit = fmt::format("S-{}-k{}", arm.name, k);
      nlohmann::json row;
      if (!store.has(unit, row)) {
        const auto tu = Clock::now();
        nlohmann::json scores = nlohmann::json::array();
        int best = opt.budgets.front();
        double best_score = -1.0;
        for (const int b : opt.budgets) {
          std::vector<double> acc;
          for (int v = 0; v < opt.selection_draws; ++v) {
            const std::uint64_t seed = draw_seed(opt, k, v) ^ 0x5E1EC7ULL;
            const auto idx = sample_per_class(split.train, classes, static_cast<std::size_t>(k), seed);
            const Dataset support = subset(split.train, idx, fmt::format("{}:selection/k{}-v{}", opt.dataset, k, v));
            acc.push_back(train_on_support(arm, support, split.validation, opt, seed, nullptr, b)["accuracy"]);
          }
          const double mean = std::accumulate(acc.begin(), acc.end(), 0.0) / static_cast<double>(acc.size());
          scores.push_back({{"budget", b}, {"validation_accuracy", mean}, {"draws", acc}});
          if (mean > best_score) {
            best_score = mean;
            best = b;
          }
        }
        row = {{"arm", arm.name},
               {"k", k},
               {"chosen", best},
               {"candidates", scores},
               {"validation_images", split.validation.size()},
               {"seconds", seconds_since(tu)}};
        store.put(unit, row);
      }
      std::string scored;
      for (const auto& c : row["candidates"])
        scored += fmt::format(" {}: {:.2f}%", c["budget"].get<int>(), 100.0 * c["validation_accuracy"].get<double>());
      say(fmt::format("[A budget] {:<10} k={:<4} chose {} (validation accuracy by budget:{})", arm.name, k,
                      row["chosen"].get<int>(), scored));
      if (opt.on_event)
        opt.on_event(
            {{"event", "budget"}, {"arm", arm.name}, {"k", k}, {"chosen", row["chosen"]}, {"seconds", row["seconds"]}});
      out.push_back(row);
    }
  }
  return out;
}

// Regime A: every arm on the k-shot draws from the training set, evaluated on `test`, at the
// budget chosen on validation (or the single budget of fewshot.budgets).
nlohmann::json run_regime_a(const FewShotOptions& opt, const Dataset& train_all, const Dataset& test,
                            const UnitStore& store, const std::function<void(const std::string&)>& say,
                            const nlohmann::json& selection) {
  auto chosen_budget = [&](const FewShotArm& arm, int k) {
    for (const auto& r : selection)
      if (r["arm"] == arm.name && r["k"] == k) return r["chosen"].get<int>();
    return opt.budgets.front();
  };
  std::vector<int> all_classes(static_cast<std::size_t>(train_all.num_classes));
  std::iota(all_classes.begin(), all_classes.end(), 0);
  nlohmann::json rows = nlohmann::json::array();
  const std::size_t total = opt.shots.size() * static_cast<std::size_t>(opt.draws) * opt.arms.size();
  std::size_t done = 0, timed = 0;
  double unit_seconds = 0.0;  // the cells computed here (stored ones cost nothing): the ETA's rate
  const auto t0 = Clock::now();
  for (const int k : opt.shots) {
    for (int d = 0; d < opt.draws; ++d) {
      const std::uint64_t seed = draw_seed(opt, k, d);
      const auto idx = sample_per_class(train_all, all_classes, static_cast<std::size_t>(k), seed);
      const Dataset support = subset(train_all, idx, fmt::format("{}:train/k{}-draw{}", opt.dataset, k, d));
      for (const auto& arm : opt.arms) {
        const std::string unit = fmt::format("A-{}-k{}-d{}", arm.name, k, d);
        nlohmann::json row;
        if (!store.has(unit, row)) {
          const auto tu = Clock::now();
          if (arm.kind == FewShotArmKind::ncm || arm.kind == FewShotArmKind::knn) {
            const auto pred =
                arm.kind == FewShotArmKind::ncm ? nearest_class_mean(support, test) : nearest_neighbour(support, test);
            row["accuracy"] = accuracy_of(pred, test.labels);
          } else {
            row = train_on_support(arm, support, test, opt, seed, nullptr, chosen_budget(arm, k));
          }
          row.update({{"regime", "A"}, {"arm", arm.name}, {"k", k}, {"draw", d}, {"draw_seed", seed}});
          row["seconds"] = seconds_since(tu);
          store.put(unit, row);
          unit_seconds += row["seconds"].get<double>();
          ++timed;
        }
        rows.push_back(row);
        ++done;
        const double el = seconds_since(t0);
        const double eta =
            timed > 0 ? unit_seconds / static_cast<double>(timed) * static_cast<double>(total - done) : 0.0;
        say(fmt::format("[A {}/{}] {:<10} k={:<4} draw {:<3} accuracy {:.2f}%   (elapsed {}, ETA {})", done, total,
                        arm.name, k, d, 100.0 * row["accuracy"].get<double>(), format_duration(el),
                        format_duration(eta)));
        if (opt.on_event)
          opt.on_event({{"event", "cell"},
                        {"regime", "A"},
                        {"arm", arm.name},
                        {"k", k},
                        {"draw", d},
                        {"accuracy", row["accuracy"]},
                        {"done", done},
                        {"total", total},
                        {"elapsed_s", el},
                        {"eta_s", eta}});
      }
    }
  }
  return rows;
}

// Regime B: each trained arm learns classes 0-4, then k-shot episodes on 5-9 with a frozen hidden layer.
nlohmann::json run_regime_b(const FewShotOptions& opt, const Dataset& train_all, const Dataset& test,
                            const UnitStore& store, const std::function<void(const std::string&)>& say) {
  nlohmann::json novel_rows = nlohmann::json::array();
  if (opt.novel) {
    const std::vector<int> base = {0, 1, 2, 3, 4}, novel = {5, 6, 7, 8, 9};
    const Dataset base_train = filter_classes(train_all, base);
    const Dataset novel_pool = filter_classes(train_all, novel);
    const Dataset novel_test = filter_classes(test, novel);
    for (const auto& arm : opt.arms) {
      if (arm.kind == FewShotArmKind::knn) continue;  // the pixel prototype probe is the "ncm" arm
      const std::vector<std::uint64_t> seeds =
          arm.kind == FewShotArmKind::ncm ? std::vector<std::uint64_t>{opt.novel_seeds.front()} : opt.novel_seeds;
      for (const std::uint64_t s : seeds) {
        const std::string unit = fmt::format("B-{}-seed{}", arm.name, s);
        nlohmann::json row;
        if (!store.has(unit, row)) {
          const auto tu = Clock::now();
          Eigen::MatrixXf pool_features, test_features;
          // The bio rule also gets its own readout (O1 alone on the frozen hidden rates, from a fresh
          // initialisation, min_updates full-batch steps at the arm's bio.eta_output), besides the
          // common prototype probe.
          bool own_readout = false;
          double own_eta = 0.0;
          if (arm.kind == FewShotArmKind::ncm) {
            pool_features = pixels(novel_pool);
            test_features = pixels(novel_test);
          } else {
            TrainConfig cfg = load_config(arm.config, [&] {
              auto ov = arm.overrides;
              ov.emplace_back("train.seed=" + std::to_string(s));
              ov.emplace_back("data.validation=0");
              return ov;
            }());
            TrainOptions to;
            to.train_data = &base_train;
            const TrainOutcome r = opt.trainers.supervised(cfg, to);
            own_readout = cfg.rule.name == "bio";
            own_eta = cfg.rule.bio.eta_output;
            pool_features = hidden_features(r.model.net, novel_pool);
            test_features = hidden_features(r.model.net, novel_test);
          }
          row = {{"regime", "B"}, {"arm", arm.name}, {"seed", s}};
          for (const int k : opt.novel_shots) {
            std::vector<double> acc, own_acc;
            for (int e = 0; e < opt.episodes; ++e) {
              const std::uint64_t es = opt.seed * 7919ULL + s * 104729ULL + static_cast<std::uint64_t>(k) * 131ULL +
                                       static_cast<std::uint64_t>(e);
              const auto sup = sample_per_class(novel_pool, novel, static_cast<std::size_t>(k), es);
              const auto qry =
                  sample_per_class(novel_test, novel, static_cast<std::size_t>(opt.queries_per_class), es ^ 0x51ULL);
              Eigen::MatrixXf S(pool_features.rows(), static_cast<Eigen::Index>(sup.size()));
              std::vector<std::uint8_t> sl, ql;
              for (std::size_t i = 0; i < sup.size(); ++i) {
                S.col(static_cast<Eigen::Index>(i)) = pool_features.col(sup[i]);
                sl.push_back(novel_pool.labels[sup[i]]);
              }
              Eigen::MatrixXf Q(test_features.rows(), static_cast<Eigen::Index>(qry.size()));
              for (std::size_t i = 0; i < qry.size(); ++i) {
                Q.col(static_cast<Eigen::Index>(i)) = test_features.col(qry[i]);
                ql.push_back(novel_test.labels[qry[i]]);
              }
              Eigen::MatrixXf means;
              std::vector<std::uint8_t> ml;
              class_means(S, sl, means, ml);
              acc.push_back(accuracy_of(nearest(Q, means, ml), ql));
              if (own_readout) {
                std::vector<std::uint8_t> sl0(sl.size()), ql0(ql.size());  // labels 5..9 -> output neurons 0..4
                for (std::size_t i = 0; i < sl.size(); ++i) sl0[i] = static_cast<std::uint8_t>(sl[i] - novel.front());
                for (std::size_t i = 0; i < ql.size(); ++i) ql0[i] = static_cast<std::uint8_t>(ql[i] - novel.front());
                const LocalReadout ro =
                    train_bio_readout(S, sl0, static_cast<int>(novel.size()), own_eta, opt.min_updates, es ^ 0x0DEULL);
                own_acc.push_back(accuracy_of(ro.predict(Q), ql0));
              }
            }
            row[readout_key("prototype", k)] = {{"episodes", acc.size()}, {"accuracy", summarise(acc)}};
            if (own_readout)
              row[readout_key("own", k)] = {{"episodes", own_acc.size()}, {"accuracy", summarise(own_acc)}};
          }
          row["seconds"] = seconds_since(tu);
          store.put(unit, row);
        }
        novel_rows.push_back(row);
        say(fmt::format("[B] {:<10} seed {}: {}", arm.name, s, row.dump()));
        if (opt.on_event)
          opt.on_event(
              {{"event", "cell"}, {"regime", "B"}, {"arm", arm.name}, {"seed", s}, {"seconds", row["seconds"]}});
      }
    }
  }

  return novel_rows;
}

// Regime A's summaries: mean ± CI per arm and k, and paired differences of every arm against bp.
nlohmann::json summarise_regime_a(const FewShotOptions& opt, const nlohmann::json& rows) {
  nlohmann::json summary = nlohmann::json::array();
  std::map<std::pair<std::string, int>, std::map<int, double>> by;  // (arm, k) -> draw -> accuracy
  for (const auto& r : rows) by[{r["arm"].get<std::string>(), r["k"].get<int>()}][r["draw"].get<int>()] = r["accuracy"];
  for (const auto& arm : opt.arms)
    for (const int k : opt.shots) {
      std::vector<double> v, fit, probe;
      for (const auto& [d, a] : by[{arm.name, k}]) v.push_back(a);
      for (const auto& r : rows) {
        if (r["arm"] != arm.name || r["k"] != k) continue;
        if (r.contains("train_accuracy")) fit.push_back(r["train_accuracy"].get<double>());
        if (r.contains("prototype_accuracy")) probe.push_back(r["prototype_accuracy"].get<double>());
      }
      nlohmann::json row = {{"arm", arm.name}, {"k", k}, {"accuracy", summarise(v)}};
      if (!fit.empty()) row["train_accuracy"] = summarise(fit);  // diagnostics: the k-shot set's own fit
      if (!probe.empty()) row["prototype_accuracy"] = summarise(probe);
      summary.push_back(row);
    }
  // Paired differences of every arm against "bp" (same draws), if both ran.
  nlohmann::json paired = nlohmann::json::array();
  const bool have_bp = std::any_of(opt.arms.begin(), opt.arms.end(), [](const auto& a) { return a.name == "bp"; });
  if (have_bp)
    for (const auto& arm : opt.arms) {
      if (arm.name == "bp") continue;
      for (const int k : opt.shots) {
        std::vector<double> diff;
        for (const auto& [d, a] : by[{arm.name, k}])
          if (by[{"bp", k}].count(d) != 0) diff.push_back(a - by[{"bp", k}][d]);
        paired.push_back({{"arm", arm.name}, {"minus", "bp"}, {"k", k}, {"difference", summarise(diff)}});
      }
    }
  return {{"draws", rows}, {"summary", summary}, {"paired_vs_bp", paired}};
}

// Regime B's summaries: per arm, k and readout, the mean over training seeds of the episode means.
nlohmann::json summarise_regime_b(const FewShotOptions& opt, const nlohmann::json& novel_rows) {
  nlohmann::json novel_summary = nlohmann::json::array();
  for (const auto& arm : opt.arms)
    for (const int k : opt.novel_shots) {
      for (const char* readout : {"prototype", "own"}) {
        const std::string key = readout_key(readout, k);
        std::vector<double> means;  // one mean per training seed (episodes averaged within a seed)
        for (const auto& r : novel_rows)
          if (r["arm"].get<std::string>() == arm.name && r.contains(key))
            means.push_back(r[key]["accuracy"]["mean"].get<double>());
        if (!means.empty())
          novel_summary.push_back(
              {{"arm", arm.name}, {"k", k}, {"readout", readout}, {"accuracy_over_seeds", summarise(means)}});
      }
    }

  return {{"seeds", novel_rows}, {"summary", novel_summary}};
}

}  // namespace

nlohmann::json run_fewshot(const FewShotOptions& opt) {
  require_trainers(opt);
  check_regime_c_arms(opt, "few-shot options");  // before hours of regime A
  const std::string dir = data_dir_or_default(opt.data_dir);
  DataConfig dc;
  dc.dataset = opt.dataset;
  TrainTestData data = load_config_data(dc, dir);
  const Dataset train_all = std::move(data.train);
  Dataset test = std::move(data.test);
  if (test.size() == 0) throw DataError("few-shot: '" + opt.dataset + "' has no test set");
  if (opt.test_limit > 0 && opt.test_limit < test.size()) {
    std::vector<std::uint32_t> idx(opt.test_limit);
    std::iota(idx.begin(), idx.end(), 0U);
    test = subset(test, idx, test.name);
  }
  const UnitStore store{opt.out_dir};
  auto say = [&](const std::string& s) {
    if (opt.progress) opt.progress(s);
  };

  const nlohmann::json selection = select_budgets(opt, train_all, store, say);
  const nlohmann::json rows = run_regime_a(opt, train_all, test, store, say, selection);
  const nlohmann::json novel_rows =
      opt.novel ? run_regime_b(opt, train_all, test, store, say) : nlohmann::json::array();
  nlohmann::json regime_c;  // null without fewshot.unlabelled
  if (opt.unlabelled) regime_c = run_regime_c(opt, train_all, test, rows, store, say);
  nlohmann::json arms = nlohmann::json::array();
  for (const auto& a : opt.arms)
    arms.push_back({{"name", a.name},
                    {"kind", fewshot_arm_kind_name(a.kind)},
                    {"config", a.config},
                    {"set", a.overrides},
                    {"early_stopping", a.early_stopping}});
  return {{"format", "dalenet-fewshot"},
          {"format_version", 1},
          {"dataset", opt.dataset},
          {"test_examples", test.size()},
          {"options",
           {{"shots", opt.shots},
            {"draws", opt.draws},
            {"seed", opt.seed},
            {"min_updates", opt.min_updates},
            {"holdout_fraction", opt.holdout_fraction},
            {"novel", opt.novel},
            {"novel_shots", opt.novel_shots},
            {"episodes", opt.episodes},
            {"queries_per_class", opt.queries_per_class},
            {"novel_seeds", opt.novel_seeds},
            {"unlabelled", opt.unlabelled},
            {"budgets", opt.budgets},
            {"selection_draws", opt.selection_draws},
            {"selection_images", opt.selection_images},
            {"ae_epochs", opt.ae_epochs}}},
          {"arms", arms},
          {"regime_a",
           [&] {
             nlohmann::json a = summarise_regime_a(opt, rows);
             a["budget_selection"] = selection;
             return a;
           }()},
          {"regime_b", summarise_regime_b(opt, novel_rows)},
          {"regime_c", regime_c}};
}

std::string fewshot_csv(const nlohmann::json& results) {
  std::string csv = "regime,arm,readout,k,draw_or_seed,accuracy,episodes\n";
  for (const auto& r : results["regime_a"]["draws"])
    csv += fmt::format("A,{},own,{},{},{:.6f},\n", r["arm"].get<std::string>(), r["k"].get<int>(), r["draw"].get<int>(),
                       r["accuracy"].get<double>());
  if (results.contains("regime_c") && results["regime_c"].is_object())
    for (const auto& r : results["regime_c"]["draws"])
      csv += fmt::format("C,{},{},{},{},{:.6f},\n", r["arm"].get<std::string>(), r["readout"].get<std::string>(),
                         r["k"].get<int>(), r["draw"].get<int>(), r["accuracy"].get<double>());
  for (const auto& r : results["regime_b"]["seeds"])
    for (const int k : results["options"]["novel_shots"].get<std::vector<int>>())
      for (const char* readout : {"prototype", "own"}) {
        const std::string key = readout_key(readout, k);
        if (!r.contains(key)) continue;
        const auto& a = r[key];
        csv +=
            fmt::format("B,{},{},{},{},{:.6f},{}\n", r["arm"].get<std::string>(), readout, k,
                        r["seed"].get<std::uint64_t>(), a["accuracy"]["mean"].get<double>(), a["episodes"].get<int>());
      }
  return csv;
}

std::string fewshot_summary(const nlohmann::json& results) {
  auto cell = [](const nlohmann::json& s) {
    if (s["ci95"].is_null()) return fmt::format("{:.2f}", 100.0 * s["mean"].get<double>());
    return fmt::format("{:.2f} ± {:.2f}", 100.0 * s["mean"].get<double>(), 100.0 * s["ci95"].get<double>());
  };
  std::string out =
      fmt::format("Regime A ({}): test accuracy %, mean ± 95 % CI over draws\n", results["dataset"].get<std::string>());
  for (const auto& r : results["regime_a"]["summary"])
    out += fmt::format("  {:<10} k={:<4} {}\n", r["arm"].get<std::string>(), r["k"].get<int>(), cell(r["accuracy"]));
  if (!results["regime_a"]["paired_vs_bp"].empty()) out += "Paired difference vs bp (same draws), percentage points\n";
  for (const auto& r : results["regime_a"]["paired_vs_bp"])
    out += fmt::format("  {:<10} k={:<4} {}\n", r["arm"].get<std::string>(), r["k"].get<int>(), cell(r["difference"]));
  if (results.contains("regime_c") && results["regime_c"].is_object()) {
    out +=
        "Regime C (hidden layer from the unlabelled training images, readout from the k labels): accuracy %, "
        "mean ± 95 % CI over draws\n";
    for (const auto& r : results["regime_c"]["summary"])
      out += fmt::format("  {:<10} {:<9} k={:<4} {}\n", r["arm"].get<std::string>(), r["readout"].get<std::string>(),
                         r["k"].get<int>(), cell(r["accuracy"]));
    out += "Regime C, paired difference bio (own readout) minus each, percentage points\n";
    for (const auto& r : results["regime_c"]["paired_vs_bio"])
      out += fmt::format("  {:<10} {:<9} k={:<4} {}\n", r["arm"].get<std::string>(), r["readout"].get<std::string>(),
                         r["k"].get<int>(), cell(r["bio_minus"]));
  }
  if (!results["regime_b"]["summary"].empty())
    out +=
        "Regime B (5-way, novel classes 5-9, frozen hidden layer; prototype probe for every arm, the bio rule's own "
        "readout too): accuracy %, mean ± 95 % CI over training seeds\n";
  for (const auto& r : results["regime_b"]["summary"])
    out += fmt::format("  {:<10} {:<9} k={:<4} {}\n", r["arm"].get<std::string>(),
                       r.value("readout", std::string("prototype")), r["k"].get<int>(), cell(r["accuracy_over_seeds"]));
  return out;
}

}  // namespace dalenet
