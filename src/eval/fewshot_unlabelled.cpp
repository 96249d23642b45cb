// Few-shot regime C (docs/EVALUATION.md): hidden layers learned from the unlabelled training
// images (bio, its controls, PCA, pixels; an autoencoder for ae_bp), a readout from the k labels of
// regime A's draws. Units (arm x k x draw) are stored like regime A's, so a run resumes.
#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <Eigen/Eigenvalues>

#include "dalenet/autoencoder.hpp"
#include "dalenet/error.hpp"
#include "dalenet/fewshot.hpp"
#include "dalenet/progress.hpp"
#include "dalenet/rng.hpp"
#include "dalenet/rule.hpp"
#include "dalenet/train.hpp"
#include "eval/fewshot_internal.hpp"

namespace dalenet {

using namespace fewshot;  // NOLINT(google-build-using-namespace): the helpers of src/eval/fewshot_internal.hpp

void check_regime_c_arms(const FewShotOptions& opt, const std::string& where) {
  if (!opt.unlabelled) return;
  for (const char* name : {"bio", "bp"}) {
    const auto it = std::find_if(opt.arms.begin(), opt.arms.end(), [&](const FewShotArm& a) { return a.name == name; });
    if (it == opt.arms.end() || it->kind != FewShotArmKind::train)
      throw ConfigError(where + ": regime C needs a trained arm named '" + name +
                        "' (bio: the rule's unlabelled hidden layer; bp: the BP arms' config)");
    if (std::string(name) == "bio" && load_config(it->config, it->overrides).rule.name != "bio")
      throw ConfigError(where + ": regime C's arm 'bio' must use train.rule = \"bio\"");
  }
}

Model train_unlabelled_hidden(const FewShotArm& arm, const Dataset& images, std::uint64_t seed,
                              const Trainers& trainers) {
  std::vector<std::string> ov = arm.overrides;
  ov.emplace_back("train.seed=" + std::to_string(seed));
  ov.emplace_back("data.validation=0");
  TrainConfig cfg = load_config(arm.config, ov);
  if (cfg.rule.name != "bio")
    throw ConfigError("few-shot regime C: arm '" + arm.name + "' (" + arm.config +
                      ") learns its hidden layer with train.rule = '" + cfg.rule.name +
                      "'; the unlabelled feature arms use the bio rule's machinery (bio, rf, kmeans)");
  // The plastic phase of the configured run, then one readout epoch (the readout is discarded).
  // Each phase has its own learning-rate schedule, so this plastic phase is the full run's.
  const std::int64_t readout =
      std::min<std::int64_t>(cfg.rule.bio.readout_epochs, std::max<std::int64_t>(0, cfg.loop.epochs - 1));
  const std::int64_t plastic = cfg.rule.bio.hidden_plasticity ? cfg.loop.epochs - readout : 0;
  cfg.loop.epochs = plastic + 1;
  cfg.rule.bio.readout_epochs = 1;
  Dataset scrambled = images;  // no label information can reach the hidden layer
  Rng rng(seed, 0xC1A55ULL);
  rng.shuffle(std::span<std::uint8_t>(scrambled.labels));
  TrainOptions to;
  to.train_data = &scrambled;
  return trainers.supervised(cfg, to).model;
}

Pca fit_pca(const Eigen::MatrixXf& X, int components) {
  if (X.cols() < 2) throw InputError("fit_pca: needs at least 2 examples");
  if (components < 1 || components > X.rows())
    throw InputError("fit_pca: " + std::to_string(components) + " components of " + std::to_string(X.rows()) +
                     "-dimensional data");
  Pca p;
  p.mean = X.rowwise().mean();
  const Eigen::MatrixXf centred = X.colwise() - p.mean;
  const Eigen::MatrixXd cov = (centred * centred.transpose()).cast<double>() / static_cast<double>(X.cols() - 1);
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(cov);  // eigenvalues ascending
  const Eigen::Index c = components;
  p.components = eig.eigenvectors().rightCols(c).rowwise().reverse().transpose().cast<float>();
  p.variance = eig.eigenvalues().tail(c).reverse();
  return p;
}

Eigen::MatrixXf Pca::on_off_features(const Eigen::MatrixXf& X) const {
  const Eigen::MatrixXf proj = components * (X.colwise() - mean);
  Eigen::MatrixXf out(2 * proj.rows(), proj.cols());
  out.topRows(proj.rows()) = proj.cwiseMax(0.0F);
  out.bottomRows(proj.rows()) = (-proj).cwiseMax(0.0F);
  return out;
}

namespace {

// A feature arm of regime C: how it maps images to non-negative features.
struct FeatureArm {
  std::string name;
  std::function<Eigen::MatrixXf(const Dataset&)> features;
  Eigen::MatrixXf test;  // features of the test set (computed once)
};

const FewShotArm& arm_named(const FewShotOptions& opt, const std::string& name) {
  for (const auto& a : opt.arms)
    if (a.name == name) return a;
  throw ConfigError("few-shot regime C needs an arm named '" + name + "'");
}

// The feature arms: every bio-rule arm, PCA at half the bio arm's width (ON/OFF doubles it), pixels.
std::vector<FeatureArm> feature_arms(const FewShotOptions& opt, const Dataset& train_all,
                                     const std::function<void(const std::string&)>& say) {
  std::vector<FeatureArm> arms;
  Eigen::Index bio_units = 0;
  for (const auto& arm : opt.arms) {
    if (arm.kind != FewShotArmKind::train || load_config(arm.config, arm.overrides).rule.name != "bio") continue;
    const auto t0 = Clock::now();
    auto model = std::make_shared<Model>(train_unlabelled_hidden(arm, train_all, opt.seed, opt.trainers));
    say(fmt::format("[C] {}: hidden layer learned from {} unlabelled images in {:.0f}s", arm.name, train_all.size(),
                    seconds_since(t0)));
    arms.push_back({arm.name, [model](const Dataset& d) { return hidden_features(model->net, d); }, {}});
    const std::vector<std::uint32_t> first = {0U};
    if (arm.name == "bio") bio_units = hidden_features(model->net, subset(train_all, first, "one")).rows();
  }
  const Eigen::MatrixXf X = pixels(train_all);
  const int components = static_cast<int>(std::min<Eigen::Index>(std::max<Eigen::Index>(1, bio_units / 2), X.rows()));
  auto pca = std::make_shared<Pca>(fit_pca(X, components));
  arms.push_back({"pca", [pca](const Dataset& d) { return pca->on_off_features(pixels(d)); }, {}});
  arms.push_back({"pixels", [](const Dataset& d) { return pixels(d); }, {}});
  return arms;
}

// The ae_bp arm's autoencoder: the bp arm's hidden width and learning rate, on every training image.
Autoencoder pretrain_for(const FewShotArm& bp, const FewShotOptions& opt, const Dataset& train_all,
                         const std::function<void(const std::string&)>& say) {
  const TrainConfig cfg = load_config(bp.config, bp.overrides);
  if (cfg.network.hidden.empty()) throw ConfigError("few-shot regime C: the bp arm's network has no hidden layer");
  AutoencoderOptions ao;
  ao.hidden = cfg.network.hidden.front();
  ao.lr = cfg.rule.optim.lr;
  ao.epochs = opt.ae_epochs;
  ao.seed = opt.seed;
  ao.progress = [&](int e, int n, double loss) {
    say(fmt::format("[C] ae_bp: autoencoder epoch {}/{}, reconstruction error {:.5f}", e, n, loss));
  };
  return opt.trainers.autoencoder(train_all, ao);
}

// Per (arm, readout, k): mean ± CI over draws; paired differences bio (own readout) − every other
// (arm, readout) on the same draws.
nlohmann::json summarise_regime_c(const FewShotOptions& opt, const nlohmann::json& rows) {
  using Key = std::pair<std::string, std::string>;  // (arm, readout)
  std::vector<Key> order;
  std::map<Key, std::map<int, std::map<int, double>>> by;  // -> k -> draw -> accuracy
  for (const auto& r : rows) {
    const Key key{r.at("arm").get<std::string>(), r.at("readout").get<std::string>()};
    if (!by.contains(key)) order.push_back(key);
    by[key][r.at("k").get<int>()][r.at("draw").get<int>()] = r.at("accuracy").get<double>();
  }
  nlohmann::json summary = nlohmann::json::array(), paired = nlohmann::json::array();
  const Key bio{"bio", "own"};
  for (const auto& key : order)
    for (const int k : opt.shots) {
      std::vector<double> v, diff;
      for (const auto& [d, a] : by[key][k]) {
        v.push_back(a);
        if (by[bio][k].contains(d)) diff.push_back(by[bio][k][d] - a);
      }
      summary.push_back({{"arm", key.first}, {"readout", key.second}, {"k", k}, {"accuracy", summarise(v)}});
      if (key != bio && !diff.empty())
        paired.push_back({{"arm", key.first}, {"readout", key.second}, {"k", k}, {"bio_minus", summarise(diff)}});
    }
  return {{"draws", rows}, {"summary", summary}, {"paired_vs_bio", paired}};
}

}  // namespace

nlohmann::json fewshot::run_regime_c(const FewShotOptions& opt, const Dataset& train_all, const Dataset& test,
                                     const nlohmann::json& regime_a_rows, const UnitStore& store,
                                     const std::function<void(const std::string&)>& say) {
  const FewShotArm& bp = arm_named(opt, "bp");
  const double eta = load_config(arm_named(opt, "bio").config, arm_named(opt, "bio").overrides).rule.bio.eta_output;
  std::vector<int> all_classes(static_cast<std::size_t>(train_all.num_classes));
  std::iota(all_classes.begin(), all_classes.end(), 0);
  std::optional<std::vector<FeatureArm>> features;  // learned on the first unit that needs them
  std::optional<Autoencoder> ae;
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : regime_a_rows)
    if (r.at("arm") == "bp")
      rows.push_back({{"regime", "C"},
                      {"arm", "bp"},
                      {"readout", "own"},
                      {"k", r.at("k")},
                      {"draw", r.at("draw")},
                      {"accuracy", r.at("accuracy")}});
  auto bp_budget = [&](int k) {  // ae_bp trains with the budget regime A's bp got at this k
    for (const auto& r : regime_a_rows)
      if (r.at("arm") == "bp" && r.at("k") == k) return r.value("budget", 1);
    return 1;
  };
  const std::size_t total = opt.shots.size() * static_cast<std::size_t>(opt.draws);
  std::size_t done = 0;
  double unit_seconds = 0.0;  // the units' own time, without learning the features (done once)
  std::size_t timed = 0;
  for (const int k : opt.shots)
    for (int d = 0; d < opt.draws; ++d) {
      const std::uint64_t seed = draw_seed(opt, k, d);
      const auto idx = sample_per_class(train_all, all_classes, static_cast<std::size_t>(k), seed);
      const Dataset support = subset(train_all, idx, fmt::format("{}:train/k{}-draw{}", opt.dataset, k, d));
      nlohmann::json unit;
      const std::string name = fmt::format("C-k{}-d{}", k, d);
      if (!store.has(name, unit)) {
        if (!features) {
          features = feature_arms(opt, train_all, say);
          for (auto& f : *features) f.test = f.features(test);
        }
        if (!ae) ae = pretrain_for(bp, opt, train_all, say);
        const auto tu = Clock::now();
        // The readout makes as many updates as BP makes at this k (its budget, chosen on validation).
        const int readout_updates = bp_budget(k) * opt.min_updates;
        unit = nlohmann::json::array();
        for (const auto& f : *features) {
          const Eigen::MatrixXf S = f.features(support);
          const LocalReadout own =
              train_bio_readout(S, support.labels, train_all.num_classes, eta, readout_updates, seed ^ 0x0DEULL);
          Eigen::MatrixXf means;
          std::vector<std::uint8_t> mean_labels;
          class_means(S, support.labels, means, mean_labels);
          unit.push_back({{"arm", f.name},
                          {"readout", "own"},
                          {"updates", readout_updates},
                          {"accuracy", accuracy_of(own.predict(f.test), test.labels)}});
          unit.push_back({{"arm", f.name},
                          {"readout", "prototype"},
                          {"accuracy", accuracy_of(nearest(f.test, means, mean_labels), test.labels)}});
        }
        const nlohmann::json r =
            train_on_support(bp, support, test, opt, seed, &ae->net.projections.front(), bp_budget(k));
        unit.push_back({{"arm", "ae_bp"}, {"readout", "own"}, {"accuracy", r.at("accuracy")}});
        store.put(name, unit);
        unit_seconds += seconds_since(tu);
        ++timed;
      }
      for (auto r : unit) {
        r.update({{"regime", "C"}, {"k", k}, {"draw", d}});
        rows.push_back(r);
      }
      ++done;
      const auto bio = std::find_if(unit.begin(), unit.end(), [](const nlohmann::json& r) {
        return r.at("arm") == "bio" && r.at("readout") == "own";
      });
      // ETA from the units' own time (learning the features is done once, before the first unit).
      const double per_unit = timed > 0 ? unit_seconds / static_cast<double>(timed) : 0.0;
      const double eta_s = per_unit * static_cast<double>(total - done);
      say(fmt::format("[C {}/{}] k={:<4} draw {:<3} bio {:.2f}%   (ETA {})", done, total, k, d,
                      bio == unit.end() ? std::nan("") : 100.0 * bio->at("accuracy").get<double>(),
                      format_duration(eta_s)));
      if (opt.on_event)
        opt.on_event({{"event", "cell"},
                      {"regime", "C"},
                      {"k", k},
                      {"draw", d},
                      {"done", done},
                      {"total", total},
                      {"eta_s", eta_s}});
    }
  return summarise_regime_c(opt, rows);
}

}  // namespace dalenet
