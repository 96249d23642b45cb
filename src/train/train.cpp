#include "dalenet/train.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <numbers>
#include <numeric>
#include <optional>

#include "dalenet/analyze.hpp"
#include "dalenet/backprop.hpp"
#include "dalenet/error.hpp"
#include "dalenet/eval.hpp"
#include "dalenet/rule.hpp"
#include "dalenet/threads.hpp"
#include "dalenet/version.hpp"

namespace dalenet {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

nlohmann::json describe(const Dataset& d) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& s : d.sources)
    files.push_back({{"file", std::filesystem::path(s.path).filename().string()}, {"sha256", s.sha256}});
  return {{"name", d.name}, {"n", d.size()}, {"files", files}};
}

// Weight/bias statistics used to detect divergence at epoch ends.
bool all_finite(const Network& net) {
  for (const auto& p : net.projections)
    if (!p.weight.allFinite() || !p.bias.allFinite()) return false;
  return true;
}

}  // namespace

nlohmann::json build_info() {
  return {{"dalenet", kVersion},
          {"eigen", std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." +
                        std::to_string(EIGEN_MINOR_VERSION)},
          {"compiler", std::string(__VERSION__)},
          {"native", kBuiltNative},
          {"simd", Eigen::SimdInstructionSetsInUse()}};
}

TrainTestData load_config_data(const DataConfig& cfg, const std::string& data_dir) {
  TrainTestData d;
  if (cfg.dataset.rfind("idx:", 0) == 0) {
    const std::string rest = cfg.dataset.substr(4);
    const auto semi = rest.find(';');
    d.train = load_dataset("idx:" + rest.substr(0, semi), data_dir);
    d.train.name = "train";
    if (semi != std::string::npos) {
      d.test = load_dataset("idx:" + rest.substr(semi + 1), data_dir);
      d.test.name = "test";
    }
  } else {
    d.train = load_dataset(cfg.dataset + ":train", data_dir);
    d.test = load_dataset(cfg.dataset + ":test", data_dir);
  }
  if (!cfg.classes.empty()) {
    // Output units stay num_classes wide; only examples of the listed classes are kept.
    auto keep = [&](const Dataset& ds) {
      std::vector<std::uint32_t> idx;
      for (std::size_t i = 0; i < ds.size(); ++i)
        if (std::find(cfg.classes.begin(), cfg.classes.end(), ds.labels[i]) != cfg.classes.end())
          idx.push_back(static_cast<std::uint32_t>(i));
      return subset(ds, idx, ds.name);
    };
    d.train = keep(d.train);
    if (d.test.size() > 0) d.test = keep(d.test);
    if (d.train.size() == 0) throw ConfigError("data.classes: no training example has one of the listed classes");
  }
  if (cfg.train_limit > 0 && static_cast<std::size_t>(cfg.train_limit) < d.train.size()) {
    std::vector<std::uint32_t> idx(static_cast<std::size_t>(cfg.train_limit));
    std::iota(idx.begin(), idx.end(), 0U);
    d.train = subset(d.train, idx, d.train.name);
  }
  if (cfg.test_limit > 0 && static_cast<std::size_t>(cfg.test_limit) < d.test.size()) {
    std::vector<std::uint32_t> idx(static_cast<std::size_t>(cfg.test_limit));
    std::iota(idx.begin(), idx.end(), 0U);
    d.test = subset(d.test, idx, d.test.name);
  }
  return d;
}

TrainOutcome train(const TrainConfig& cfg, const TrainOptions& opts) {
  namespace fs = std::filesystem;
  const auto t_start = Clock::now();
  std::optional<DirectoryLock> lock;  // held until train() returns
  if (!opts.out_dir.empty()) {
    if (fs::exists(fs::path(opts.out_dir) / "results.json") && !opts.overwrite)
      throw IoError("output folder '" + opts.out_dir +
                    "' already holds a finished run (results.json); choose another --out or pass --overwrite");
    std::error_code ec;
    fs::create_directories(opts.out_dir, ec);
    if (ec) throw IoError("cannot create output folder '" + opts.out_dir + "': " + ec.message());
    lock.emplace(opts.out_dir);
    // results.json marks a finished run and is written last; remove it first, so that a run that
    // fails while overwriting leaves an unfinished folder, never a mix that looks finished.
    fs::remove(fs::path(opts.out_dir) / "results.json", ec);
  }
  const int threads = set_threads(static_cast<int>(cfg.loop.threads));

  // ---- data ------------------------------------------------------------------------------
  const auto t_data = Clock::now();
  TrainTestData data;
  TrainValSplit split;
  std::size_t n_val = 0;
  if (opts.train_data != nullptr) {
    split.train = *opts.train_data;
    if (opts.validation_data != nullptr) split.validation = *opts.validation_data;
    if (opts.test_data != nullptr) data.test = *opts.test_data;
    n_val = split.validation.size();
  } else {
    data = load_config_data(cfg.data, opts.data_dir.empty() ? default_data_dir() : opts.data_dir);
    n_val = static_cast<std::size_t>(cfg.data.validation);
    if (n_val > 0) {
      split = split_validation(data.train, n_val, static_cast<std::uint64_t>(cfg.data.split_seed));
    } else {
      split.train = std::move(data.train);
    }
  }
  if (opts.keep_best_validation && n_val == 0)
    throw ConfigError("early stopping (keep_best_validation) needs validation data");
  if (split.train.size() == 0) throw DataError("the training set is empty");
  const Dataset& train_set = split.train;
  if (cfg.loop.augment_shift > 0 && cfg.loop.augment_shift >= std::min(train_set.rows, train_set.cols))
    throw ConfigError(cfg.source + ": key 'train.augment_shift' = " + std::to_string(cfg.loop.augment_shift) +
                      " must be smaller than the images of " + train_set.name + " (" + std::to_string(train_set.rows) +
                      " x " + std::to_string(train_set.cols) + " pixels)");
  const double data_s = seconds_since(t_data);

  // ---- network and rule ------------------------------------------------------------------
  Model model;
  model.net = make_network(cfg.network_spec(train_set.dim(), train_set.num_classes));
  Rng init_rng(static_cast<std::uint64_t>(cfg.loop.seed), /*stream=*/1);
  init_weights(model.net, cfg.init_spec(), init_rng);
  if (opts.first_projection != nullptr) {
    Projection& first = model.net.projections.front();
    const Projection& given = *opts.first_projection;
    if (given.weight.rows() != first.weight.rows() || given.weight.cols() != first.weight.cols() ||
        given.bias.size() != first.bias.size())
      throw InputError("train: the pre-trained first projection is " + std::to_string(given.weight.rows()) + " x " +
                       std::to_string(given.weight.cols()) + ", the config's network needs " +
                       std::to_string(first.weight.rows()) + " x " + std::to_string(first.weight.cols()));
    first.weight = given.weight;
    first.bias = given.bias;
  }
  std::unique_ptr<LearningRule> rule = make_rule(cfg.rule);
  Rng prepare_rng(static_cast<std::uint64_t>(cfg.loop.seed), /*stream=*/4);
  rule->prepare(model.net, prepare_rng);
  rule->begin(model.net);
  // Silent fraction and Dale compliance before learning (epoch 0 of the structure log).
  const nlohmann::json initial_structure = structure_summary(model.net, AnalyzeOptions{}.silence_threshold);

  nlohmann::json data_json = {{"train", describe(train_set)}};
  if (n_val > 0) data_json["validation"] = describe(split.validation);
  if (data.test.size() > 0) data_json["test"] = describe(data.test);
  model.info = {{"rule", cfg.rule.name},
                {"config", to_json(cfg)},
                {"seed", cfg.loop.seed},
                {"dataset", cfg.data.dataset},
                {"data", data_json}};

  nlohmann::json results = {{"status", "running"}, {"config", to_json(cfg)}, {"seed", cfg.loop.seed},
                            {"threads", threads},  {"build", build_info()},  {"data", data_json}};
  nlohmann::json epochs_json = nlohmann::json::array();
  nlohmann::json epoch_seconds = nlohmann::json::array();

  auto write_outputs = [&](const Model& m) {
    if (opts.out_dir.empty()) return;
    write_file_atomic((fs::path(opts.out_dir) / "config.toml").string(), to_toml(cfg));
    save_model((fs::path(opts.out_dir) / "model.safetensors").string(), m);
    write_file_atomic((fs::path(opts.out_dir) / "results.json").string(), results.dump(2) + "\n");
  };

  // ---- training --------------------------------------------------------------------------
  const auto n = train_set.size();
  const auto B = static_cast<std::size_t>(cfg.loop.batch);
  const std::size_t batches = (n + B - 1) / B;
  std::vector<std::uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0U);
  Rng shuffle_rng(static_cast<std::uint64_t>(cfg.loop.seed), /*stream=*/2);
  // Fixational jitter (train.augment_shift): drawn serially here, so the shifts do not depend on
  // the thread count; its own stream, so runs without it are unchanged.
  Rng shift_rng(static_cast<std::uint64_t>(cfg.loop.seed), /*stream=*/5);
  const auto max_shift = static_cast<int>(cfg.loop.augment_shift);
  const std::uint64_t shift_choices = (2 * static_cast<std::uint64_t>(max_shift)) + 1;  // {-S, ..., S}
  std::vector<ImageShift> shifts;
  Eigen::MatrixXf X;
  std::vector<std::uint8_t> labels;
  Network last_good = model.net;
  Network best = model.net;  // keep_best_validation: the network of the best validation epoch
  double best_val = -1.0;
  int best_epoch = 0;
  const auto t_train = Clock::now();
  const int epochs = static_cast<int>(cfg.loop.epochs);
  const std::vector<int> restarts = rule->schedule_restarts(epochs);
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    const auto t_epoch = Clock::now();
    rule->begin_epoch(epoch, epochs);
    // The schedule's span: [span_begin, span_end) in epochs, cut at the rule's restarts.
    int span_begin = 0, span_end = epochs;
    for (const int r : restarts) {
      if (r < epoch) span_begin = std::max(span_begin, r);
      if (r >= epoch) span_end = std::min(span_end, r);
    }
    shuffle_rng.shuffle(std::span<std::uint32_t>(order));
    double loss_sum = 0.0;
    std::size_t correct = 0, seen = 0;
    for (std::size_t b = 0; b < batches; ++b) {
      const std::size_t begin = b * B, end = std::min(n, begin + B);
      const std::span<const std::uint32_t> idx(order.data() + begin, end - begin);
      if (max_shift > 0) {
        shifts.resize(idx.size());
        for (ImageShift& sh : shifts) {
          sh.dx = static_cast<int>(shift_rng.below(shift_choices)) - max_shift;
          sh.dy = static_cast<int>(shift_rng.below(shift_choices)) - max_shift;
        }
        fill_batch_shifted(train_set, idx, shifts, X);
      } else {
        fill_batch(train_set, idx, X);
      }
      labels.resize(idx.size());
      for (std::size_t k = 0; k < idx.size(); ++k) labels[k] = train_set.labels[idx[k]];
      if (cfg.loop.lr_schedule == "cosine") {
        // t runs from 0 to 1 over the schedule's span: the whole run, or the phase that holds this epoch.
        const double t = static_cast<double>((epoch - 1 - span_begin) * batches + b) /
                         static_cast<double>((span_end - span_begin) * batches);
        rule->set_lr_scale(0.5 * (1.0 + std::cos(std::numbers::pi * t)));
      }
      const BatchStats s = rule->train_batch(model.net, X, labels);
      if (!std::isfinite(s.loss)) {
        results["status"] = "diverged";
        results["diverged_at"] = {{"epoch", epoch}, {"batch", b + 1}};
        results["metrics"] = {{"epochs", epochs_json}};
        Model good{last_good, model.info};
        good.info["diverged_at"] = results["diverged_at"];
        write_outputs(good);
        throw DivergenceError(
            "training diverged at epoch " + std::to_string(epoch) + ", batch " + std::to_string(b + 1) +
            ": the loss is " + std::to_string(s.loss) + " (train.lr = " + std::to_string(cfg.rule.optim.lr) + ")" +
            (opts.out_dir.empty()
                 ? std::string()
                 : "; the last good model (end of epoch " + std::to_string(epoch - 1) + ") is in " + opts.out_dir));
      }
      loss_sum += s.loss * static_cast<double>(idx.size());
      correct += s.correct;
      seen += idx.size();
      if (opts.progress) {
        ProgressEvent ev;
        ev.epoch = epoch;
        ev.epochs = epochs;
        ev.batch = b + 1;
        ev.batches = batches;
        ev.loss = loss_sum / static_cast<double>(seen);
        ev.accuracy = static_cast<double>(correct) / static_cast<double>(seen);
        ev.elapsed_s = seconds_since(t_train);
        const double done = static_cast<double>(epoch - 1) + static_cast<double>(b + 1) / static_cast<double>(batches);
        ev.eta_s = ev.elapsed_s / done * (static_cast<double>(epochs) - done);
        opts.progress(ev);
      }
    }
    if (!all_finite(model.net)) {
      results["status"] = "diverged";
      results["diverged_at"] = {{"epoch", epoch}, {"batch", batches}};
      results["metrics"] = {{"epochs", epochs_json}};
      write_outputs(Model{last_good, model.info});
      throw DivergenceError("training diverged in epoch " + std::to_string(epoch) + ": a weight became NaN/Inf");
    }
    epoch_seconds.push_back(seconds_since(t_epoch));  // training only, validation excluded
    nlohmann::json ej = {{"epoch", epoch},
                         {"train_loss", loss_sum / static_cast<double>(seen)},
                         {"train_accuracy", static_cast<double>(correct) / static_cast<double>(seen)}};
    if (n_val > 0) {
      const EvalResult v = evaluate(model.net, split.validation);
      ej["val_loss"] = v.mean_loss;
      ej["val_accuracy"] = v.accuracy;
      if (opts.keep_best_validation && v.accuracy > best_val) {
        best_val = v.accuracy;
        best_epoch = epoch;
        best = model.net;
      }
    }
    if (nlohmann::json log = rule->epoch_log(model.net); !log.empty()) ej["rule"] = log;
    ej["structure"] = structure_summary(model.net, AnalyzeOptions{}.silence_threshold);
    epochs_json.push_back(ej);
    last_good = model.net;
    if (opts.progress) {
      ProgressEvent ev;
      ev.kind = ProgressEvent::Kind::epoch;
      ev.epoch = epoch;
      ev.epochs = epochs;
      ev.batch = ev.batches = batches;
      ev.loss = ej["train_loss"];
      ev.accuracy = ej["train_accuracy"];
      ev.val_loss = ej.value("val_loss", 0.0);
      ev.val_accuracy = ej.value("val_accuracy", 0.0);
      ev.elapsed_s = seconds_since(t_train);
      ev.eta_s = ev.elapsed_s / epoch * (epochs - epoch);
      opts.progress(ev);
    }
  }
  const double train_s = seconds_since(t_train);
  if (opts.keep_best_validation && best_epoch > 0) {
    model.net = best;
    results["best_epoch"] = best_epoch;
  }

  // ---- evaluation and outputs ------------------------------------------------------------
  const auto t_eval = Clock::now();
  nlohmann::json metrics = {{"epochs", epochs_json}, {"initial_structure", initial_structure}};
  if (n_val > 0) metrics["validation"] = evaluate(model.net, split.validation).to_json();
  if (data.test.size() > 0) metrics["test"] = evaluate(model.net, data.test).to_json();
  const RuleCounters c = rule->counters();
  metrics["counters"] = {{"sign_flips", c.sign_flips},
                         {"clip_events", c.clip_events},
                         {"eliminations", c.eliminations},
                         {"creations", c.creations}};
  model.info["counters"] = metrics["counters"];
  results["metrics"] = metrics;
  results["status"] = "completed";
  results["timings"] = {{"data_s", data_s},
                        {"train_s", train_s},
                        {"epoch_s", epoch_seconds},
                        {"eval_s", seconds_since(t_eval)},
                        {"total_s", seconds_since(t_start)}};
  write_outputs(model);
  return {std::move(model), std::move(results)};
}

}  // namespace dalenet
