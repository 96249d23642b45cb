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
#include "util/clock.hpp"

namespace dalenet {
namespace {

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

namespace {

// The run folder: a finished run (results.json) is refused unless opts.overwrite; the folder is
// locked until train() returns. results.json marks a finished run and is written last, so it is
// removed first: a run that fails while overwriting leaves an unfinished folder, never a mix that
// looks finished.
void open_run_folder(const TrainOptions& opts, std::optional<DirectoryLock>& lock) {
  namespace fs = std::filesystem;
  if (opts.out_dir.empty()) return;
  if (fs::exists(fs::path(opts.out_dir) / "results.json") && !opts.overwrite)
    throw IoError("output folder '" + opts.out_dir +
                  "' already holds a finished run (results.json); choose another --out or pass --overwrite");
  std::error_code ec;
  fs::create_directories(opts.out_dir, ec);
  if (ec) throw IoError("cannot create output folder '" + opts.out_dir + "': " + ec.message());
  lock.emplace(opts.out_dir);
  fs::remove(fs::path(opts.out_dir) / "results.json", ec);
}

// The training, validation and test sets: given in memory (opts.train_data, ...) or loaded as the
// config says, with the validation split drawn from the training images.
struct TrainingData {
  TrainTestData data;  // data.test: the test set (empty: none)
  TrainValSplit split;
  std::size_t n_val = 0;
};

TrainingData load_training_data(const TrainConfig& cfg, const TrainOptions& opts) {
  TrainingData t;
  if (opts.train_data != nullptr) {
    t.split.train = *opts.train_data;
    if (opts.validation_data != nullptr) t.split.validation = *opts.validation_data;
    if (opts.test_data != nullptr) t.data.test = *opts.test_data;
    t.n_val = t.split.validation.size();
  } else {
    t.data = load_config_data(cfg.data, data_dir_or_default(opts.data_dir));
    t.n_val = static_cast<std::size_t>(cfg.data.validation);
    if (t.n_val > 0) {
      t.split = split_validation(t.data.train, t.n_val, static_cast<std::uint64_t>(cfg.data.split_seed));
    } else {
      t.split.train = std::move(t.data.train);
    }
  }
  if (opts.keep_best_validation && t.n_val == 0)
    throw ConfigError("early stopping (keep_best_validation) needs validation data");
  const Dataset& train_set = t.split.train;
  if (train_set.size() == 0) throw DataError("the training set is empty");
  if (cfg.loop.augment_shift > 0 && cfg.loop.augment_shift >= std::min(train_set.rows, train_set.cols))
    throw ConfigError(cfg.source + ": key 'train.augment_shift' = " + std::to_string(cfg.loop.augment_shift) +
                      " must be smaller than the images of " + train_set.name + " (" + std::to_string(train_set.rows) +
                      " x " + std::to_string(train_set.cols) + " pixels)");
  return t;
}

// The examples of each batch: a fresh shuffle per epoch (stream rng_stream::shuffle) and, with
// train.augment_shift, a shift per image drawn serially (stream rng_stream::augment_shift), so
// that the shifts do not depend on the thread count and runs without them are unchanged.
class BatchSource {
 public:
  BatchSource(const Dataset& set, const TrainConfig& cfg)
      : set_(set),
        batch_(static_cast<std::size_t>(cfg.loop.batch)),
        order_(set.size()),
        shuffle_rng_(static_cast<std::uint64_t>(cfg.loop.seed), rng_stream::shuffle),
        shift_rng_(static_cast<std::uint64_t>(cfg.loop.seed), rng_stream::augment_shift),
        max_shift_(static_cast<int>(cfg.loop.augment_shift)) {
    std::iota(order_.begin(), order_.end(), 0U);
  }
  std::size_t batches() const { return (set_.size() + batch_ - 1) / batch_; }
  void shuffle() { shuffle_rng_.shuffle(std::span<std::uint32_t>(order_)); }
  // Batch b of this epoch's order into X (one example per column) and labels; returns its size.
  std::size_t fill(std::size_t b, Eigen::MatrixXf& X, std::vector<std::uint8_t>& labels) {
    const std::size_t begin = b * batch_, end = std::min(set_.size(), begin + batch_);
    const std::span<const std::uint32_t> idx(order_.data() + begin, end - begin);
    if (max_shift_ > 0) {
      const std::uint64_t choices = (2 * static_cast<std::uint64_t>(max_shift_)) + 1;  // {-S, ..., S}
      shifts_.resize(idx.size());
      for (ImageShift& sh : shifts_) {
        sh.dx = static_cast<int>(shift_rng_.below(choices)) - max_shift_;
        sh.dy = static_cast<int>(shift_rng_.below(choices)) - max_shift_;
      }
      fill_batch_shifted(set_, idx, shifts_, X);
    } else {
      fill_batch(set_, idx, X);
    }
    labels.resize(idx.size());
    for (std::size_t k = 0; k < idx.size(); ++k) labels[k] = set_.labels[idx[k]];
    return idx.size();
  }

 private:
  const Dataset& set_;
  std::size_t batch_;
  std::vector<std::uint32_t> order_;
  Rng shuffle_rng_, shift_rng_;
  int max_shift_;
  std::vector<ImageShift> shifts_;
};

// The learning-rate schedule (train.lr_schedule = "cosine"): cosine decay over the span of epochs
// that holds this epoch, [span_begin, span_end), cut at the rule's restarts.
class RateSchedule {
 public:
  RateSchedule(const TrainConfig& cfg, std::vector<int> restarts, int epochs, std::size_t batches)
      : cosine_(cfg.loop.lr_schedule == dalenet::LrSchedule::cosine),
        restarts_(std::move(restarts)),
        epochs_(epochs),
        batches_(batches) {}
  void begin_epoch(int epoch) {
    span_begin_ = 0;
    span_end_ = epochs_;
    for (const int r : restarts_) {
      if (r < epoch) span_begin_ = std::max(span_begin_, r);
      if (r >= epoch) span_end_ = std::min(span_end_, r);
    }
    epoch_ = epoch;
  }
  // Sets the rule's scale before batch b (nothing for a constant rate).
  void apply(LearningRule& rule, std::size_t b) const {
    if (!cosine_) return;
    // t runs from 0 to 1 over the schedule's span: the whole run, or the phase that holds this epoch.
    const double t = static_cast<double>((epoch_ - 1 - span_begin_) * batches_ + b) /
                     static_cast<double>((span_end_ - span_begin_) * batches_);
    rule.set_lr_scale(0.5 * (1.0 + std::cos(std::numbers::pi * t)));
  }

 private:
  bool cosine_;
  std::vector<int> restarts_;
  int epochs_;
  std::size_t batches_;
  int epoch_ = 1, span_begin_ = 0, span_end_ = 0;
};

// What an epoch's batches add up to.
struct EpochTotals {
  double loss_sum = 0.0;
  std::size_t correct = 0, seen = 0;
  double loss() const { return loss_sum / static_cast<double>(seen); }
  double accuracy() const { return static_cast<double>(correct) / static_cast<double>(seen); }
};

// The state of a run that an epoch reads and writes.
struct RunState {
  RunState(const TrainConfig& config, const TrainOptions& options, Model& m, LearningRule& r, nlohmann::json& res)
      : cfg(config), opts(options), model(m), rule(r), results(res), last_good(m.net) {}
  const TrainConfig& cfg;
  const TrainOptions& opts;
  Model& model;
  LearningRule& rule;
  nlohmann::json& results;
  nlohmann::json epochs_json = nlohmann::json::array();
  Network last_good;  // the network at the end of the last finished epoch (written on divergence)
  Clock::time_point t_train;
  int epochs = 0;
  Eigen::MatrixXf X;  // the batch buffers, reused from batch to batch
  std::vector<std::uint8_t> labels;
  void write_outputs(const Model& m) const {
    namespace fs = std::filesystem;
    if (opts.out_dir.empty()) return;
    write_file_atomic((fs::path(opts.out_dir) / "config.toml").string(), to_toml(cfg));
    save_model((fs::path(opts.out_dir) / "model.safetensors").string(), m);
    write_file_atomic((fs::path(opts.out_dir) / "results.json").string(), results.dump(2) + "\n");
  }
};

// The batches of one epoch; on a non-finite loss the last good model is written and
// DivergenceError thrown.
EpochTotals run_epoch_batches(RunState& st, int epoch, BatchSource& source, const RateSchedule& schedule) {
  const std::size_t batches = source.batches();
  EpochTotals tot;
  for (std::size_t b = 0; b < batches; ++b) {
    const std::size_t size = source.fill(b, st.X, st.labels);
    schedule.apply(st.rule, b);
    const BatchStats s = st.rule.train_batch(st.model.net, st.X, st.labels);
    if (!std::isfinite(s.loss)) {
      st.results["status"] = "diverged";
      st.results["diverged_at"] = {{"epoch", epoch}, {"batch", b + 1}};
      st.results["metrics"] = {{"epochs", st.epochs_json}};
      Model good{st.last_good, st.model.info};
      good.info["diverged_at"] = st.results["diverged_at"];
      st.write_outputs(good);
      throw DivergenceError(
          "training diverged at epoch " + std::to_string(epoch) + ", batch " + std::to_string(b + 1) +
          ": the loss is " + std::to_string(s.loss) + " (train.lr = " + std::to_string(st.cfg.rule.optim.lr) + ")" +
          (st.opts.out_dir.empty()
               ? std::string()
               : "; the last good model (end of epoch " + std::to_string(epoch - 1) + ") is in " + st.opts.out_dir));
    }
    tot.loss_sum += s.loss * static_cast<double>(size);
    tot.correct += s.correct;
    tot.seen += size;
    if (st.opts.progress) {
      ProgressEvent ev;
      ev.epoch = epoch;
      ev.epochs = st.epochs;
      ev.batch = b + 1;
      ev.batches = batches;
      ev.loss = tot.loss();
      ev.accuracy = tot.accuracy();
      ev.elapsed_s = seconds_since(st.t_train);
      const double done = static_cast<double>(epoch - 1) + static_cast<double>(b + 1) / static_cast<double>(batches);
      ev.eta_s = ev.elapsed_s / done * (static_cast<double>(st.epochs) - done);
      st.opts.progress(ev);
    }
  }
  return tot;
}

void report_epoch(const RunState& st, int epoch, std::size_t batches, const nlohmann::json& ej) {
  if (!st.opts.progress) return;
  ProgressEvent ev;
  ev.kind = ProgressEvent::Kind::epoch;
  ev.epoch = epoch;
  ev.epochs = st.epochs;
  ev.batch = ev.batches = batches;
  ev.loss = ej["train_loss"];
  ev.accuracy = ej["train_accuracy"];
  ev.val_loss = ej.value("val_loss", 0.0);
  ev.val_accuracy = ej.value("val_accuracy", 0.0);
  ev.elapsed_s = seconds_since(st.t_train);
  ev.eta_s = ev.elapsed_s / epoch * (st.epochs - epoch);
  st.opts.progress(ev);
}

}  // namespace

Network make_initial_network(const TrainConfig& cfg, int inputs, int classes, LearningRule& rule,
                             const Projection* first_projection) {
  Network net = make_network(cfg.network_spec(inputs, classes));
  Rng init_rng(static_cast<std::uint64_t>(cfg.loop.seed), rng_stream::init);
  init_weights(net, cfg.init_spec(), init_rng);
  if (first_projection != nullptr) {
    Projection& first = net.projections.front();
    const Projection& given = *first_projection;
    if (given.weight.rows() != first.weight.rows() || given.weight.cols() != first.weight.cols() ||
        given.bias.size() != first.bias.size())
      throw InputError("train: the pre-trained first projection is " + std::to_string(given.weight.rows()) + " x " +
                       std::to_string(given.weight.cols()) + ", the config's network needs " +
                       std::to_string(first.weight.rows()) + " x " + std::to_string(first.weight.cols()));
    first.weight = given.weight;
    first.bias = given.bias;
  }
  Rng prepare_rng(static_cast<std::uint64_t>(cfg.loop.seed), rng_stream::prepare);
  rule.prepare(net, prepare_rng);
  return net;
}

TrainOutcome train(const TrainConfig& cfg, const TrainOptions& opts) {
  const auto t_start = Clock::now();
  std::optional<DirectoryLock> lock;  // held until train() returns
  open_run_folder(opts, lock);
  const int threads = set_threads(static_cast<int>(cfg.loop.threads));
  const auto t_data = Clock::now();
  const TrainingData td = load_training_data(cfg, opts);
  const Dataset& train_set = td.split.train;
  const double data_s = seconds_since(t_data);

  Model model;
  std::unique_ptr<LearningRule> rule = make_rule(cfg.rule);
  model.net = make_initial_network(cfg, train_set.dim(), train_set.num_classes, *rule, opts.first_projection);
  rule->begin(model.net);
  // Silent fraction and Dale compliance before learning (epoch 0 of the structure log).
  const nlohmann::json initial_structure = structure_summary(model.net, AnalyzeOptions{}.silence_threshold);
  nlohmann::json data_json = {{"train", describe(train_set)}};
  if (td.n_val > 0) data_json["validation"] = describe(td.split.validation);
  if (td.data.test.size() > 0) data_json["test"] = describe(td.data.test);
  model.info = {{"rule", cfg.rule.name},
                {"config", to_json(cfg)},
                {"seed", cfg.loop.seed},
                {"dataset", cfg.data.dataset},
                {"data", data_json}};
  nlohmann::json results = {{"status", "running"}, {"config", to_json(cfg)}, {"seed", cfg.loop.seed},
                            {"threads", threads},  {"build", build_info()},  {"data", data_json}};

  RunState st(cfg, opts, model, *rule, results);
  st.epochs = static_cast<int>(cfg.loop.epochs);
  BatchSource source(train_set, cfg);
  RateSchedule schedule(cfg, rule->schedule_restarts(st.epochs), st.epochs, source.batches());
  nlohmann::json epoch_seconds = nlohmann::json::array();
  Network best = model.net;  // keep_best_validation: the network of the best validation epoch
  double best_val = -1.0;
  int best_epoch = 0;
  st.t_train = Clock::now();
  for (int epoch = 1; epoch <= st.epochs; ++epoch) {
    const auto t_epoch = Clock::now();
    rule->begin_epoch(epoch, st.epochs);
    schedule.begin_epoch(epoch);
    source.shuffle();
    const EpochTotals tot = run_epoch_batches(st, epoch, source, schedule);
    if (!all_finite(model.net)) {
      results["status"] = "diverged";
      results["diverged_at"] = {{"epoch", epoch}, {"batch", source.batches()}};
      results["metrics"] = {{"epochs", st.epochs_json}};
      st.write_outputs(Model{st.last_good, model.info});
      throw DivergenceError("training diverged in epoch " + std::to_string(epoch) + ": a weight became NaN/Inf");
    }
    epoch_seconds.push_back(seconds_since(t_epoch));  // training only, validation excluded
    nlohmann::json ej = {{"epoch", epoch}, {"train_loss", tot.loss()}, {"train_accuracy", tot.accuracy()}};
    if (td.n_val > 0) {
      const EvalResult v = evaluate(model.net, td.split.validation);
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
    st.epochs_json.push_back(ej);
    st.last_good = model.net;
    report_epoch(st, epoch, source.batches(), ej);
  }
  const double train_s = seconds_since(st.t_train);
  if (opts.keep_best_validation && best_epoch > 0) {
    model.net = best;
    results["best_epoch"] = best_epoch;
  }

  const auto t_eval = Clock::now();
  nlohmann::json metrics = {{"epochs", st.epochs_json}, {"initial_structure", initial_structure}};
  if (td.n_val > 0) metrics["validation"] = evaluate(model.net, td.split.validation).to_json();
  if (td.data.test.size() > 0) metrics["test"] = evaluate(model.net, td.data.test).to_json();
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
  st.write_outputs(model);
  return {std::move(model), std::move(results)};
}

Trainers default_trainers() {
  return {train, train_autoencoder};
}

}  // namespace dalenet
