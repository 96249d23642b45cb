#pragma once
// The training loop shared by the CLI, the report and the Python bindings: loads the
// data named by the config, builds and initialises the network, runs the rule over shuffled
// mini-batches, validates each epoch, evaluates on test, and writes the run folder
// (config.toml, results.json, model.safetensors), each file atomically.
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "dalenet/autoencoder.hpp"
#include "dalenet/config.hpp"
#include "dalenet/data.hpp"
#include "dalenet/io.hpp"
#include "dalenet/rule.hpp"

namespace dalenet {

struct ProgressEvent {
  enum class Kind { batch, epoch } kind = Kind::batch;
  int epoch = 0, epochs = 0;                  // 1-based epoch
  std::size_t batch = 0, batches = 0;         // 1-based batch within the epoch
  double loss = 0.0;                          // running mean training loss of this epoch
  double accuracy = 0.0;                      // running training accuracy of this epoch
  double val_loss = 0.0, val_accuracy = 0.0;  // epoch events only
  double elapsed_s = 0.0, eta_s = 0.0;
};

struct TrainOptions {
  std::string out_dir;                                 // empty: write nothing
  std::string data_dir;                                // data cache (default_data_dir() if empty)
  bool overwrite = false;                              // allow an out_dir that already holds a finished run
  std::function<void(const ProgressEvent&)> progress;  // may be empty
  // In-memory data instead of the data sets the config names (few-shot draws): if train_data
  // is set it is the training set, validation_data (may be null) the validation set and
  // test_data (may be null) the test set; data.validation/train_limit/test_limit are ignored.
  const Dataset* train_data = nullptr;
  const Dataset* validation_data = nullptr;
  const Dataset* test_data = nullptr;
  // Early stopping by model selection: return (and save) the network of the epoch with the best
  // validation accuracy (needs validation data); results.json records "best_epoch".
  bool keep_best_validation = false;
  // Pre-training (few-shot regime C's ae_bp arm): when set, its weight and bias replace the freshly
  // initialised input -> first hidden projection before the rule prepares the network. Throws
  // InputError when the shapes differ from the config's network.
  const Projection* first_projection = nullptr;
};

struct TrainOutcome {
  Model model;
  nlohmann::json results;  // the content of results.json
};

// The network a training run starts from: the config's architecture, its initial weights (random
// stream rng_stream::init) and the rule's preparation (rng_stream::prepare), as train() builds it;
// the audit rebuilds a model's initial state with it. first_projection, when given, replaces the
// first projection's weights and biases before the preparation (InputError if its shape differs).
Network make_initial_network(const TrainConfig& cfg, int inputs, int classes, LearningRule& rule,
                             const Projection* first_projection = nullptr);

// Throws ConfigError/DataError before any work when inputs are bad, DivergenceError when the
// loss or a weight becomes NaN/Inf (the last good model and a results.json with
// status "diverged" are written to out_dir first).
TrainOutcome train(const TrainConfig& cfg, const TrainOptions& opts);

// Training as a dependency of the evaluation modules: few-shot (src/eval/) trains through the
// functions its caller hands it, so evaluation does not call src/train/ itself and a caller can
// wrap, count or replace the training it runs.
struct Trainers {
  std::function<TrainOutcome(const TrainConfig&, const TrainOptions&)> supervised;
  std::function<Autoencoder(const Dataset&, const AutoencoderOptions&)> autoencoder;
};
// dalenet::train and dalenet::train_autoencoder.
Trainers default_trainers();

// Loads the train and test sets a config names (test may be empty for idx: without a test pair).
struct TrainTestData {
  Dataset train, test;
};
TrainTestData load_config_data(const DataConfig& cfg, const std::string& data_dir);

// Versions of dalenet and its build, for results files.
nlohmann::json build_info();

}  // namespace dalenet
