#pragma once
// Training configuration: TOML files plus `--set key=value` overrides, validated strictly.
// An unknown or mistyped key, a wrong type, or an out-of-range value is a ConfigError naming
// the key and the file. The resolved configuration (every key, defaults filled in) is written
// next to each run and embedded in the model file. Keys and defaults: docs/CONFIG.md.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dalenet/network.hpp"
#include "dalenet/rule.hpp"

namespace dalenet {

struct DataConfig {
  std::string dataset = "mnist";   // mnist | fashion | idx:TRAIN_IMAGES,TRAIN_LABELS[;TEST_IMAGES,TEST_LABELS]
  std::int64_t validation = 5000;  // examples carved from the training set for validation
  std::int64_t split_seed = 1;     // seed of the validation split
  std::int64_t train_limit = 0;    // use only the first N training examples (0: all)
  std::int64_t test_limit = 0;     // evaluate on the first N test examples (0: all)
  std::vector<int> classes;        // train and test on these classes only (empty: all)
};

struct NetworkConfig {
  std::vector<int> hidden = {1000};
  Activation activation = Activation::relu;
  double inhibitory_fraction = 0.0;
  InitKind init = InitKind::uniform_fan_in;
  // nullopt ("auto" in the file): the rule's default (bp: free, bp_sign/eg: per_neuron), filled in
  // when the config is read.
  std::optional<SignInit> sign_init;
  double init_low = 0.01, init_high = 0.1;
  double init_mu = 0.0, init_sigma = 0.5;
};

// train.lr_schedule: constant, or cosine decay per batch from lr down to 0.
enum class LrSchedule { constant, cosine };
inline constexpr EnumNames<LrSchedule, 2> kLrScheduleNames = {
    {{LrSchedule::constant, "constant"}, {LrSchedule::cosine, "cosine"}}};

struct LoopConfig {
  std::int64_t epochs = 10;
  std::int64_t batch = 128;
  std::int64_t seed = 1;
  std::int64_t threads = 0;  // 0: all hardware threads
  LrSchedule lr_schedule = LrSchedule::constant;
  // Fixational jitter: each training image is translated by (dx, dy) drawn uniformly from
  // {-S, ..., S}^2 (S = augment_shift, pixels), zero-filled, afresh every epoch. 0: off.
  // Validation and test images are never shifted. docs/RULE.md, "Fixational jitter".
  std::int64_t augment_shift = 0;
};

struct TrainConfig {
  DataConfig data;
  NetworkConfig network;
  RuleConfig rule;
  LoopConfig loop;
  std::string source = "<defaults>";  // where it was read from (for messages)

  NetworkSpec network_spec(int input, int output) const;
  InitSpec init_spec() const;
};

// Reads `path` (may be empty: defaults only), applies `overrides` ("section.key=value", the
// value in TOML syntax; bare words are taken as strings), validates, resolves "auto" values.
TrainConfig load_config(const std::string& path, const std::vector<std::string>& overrides = {});
// Parses TOML text (for tests and the Python front); `source` names it in error messages.
TrainConfig parse_config(const std::string& toml_text, const std::string& source,
                         const std::vector<std::string>& overrides = {});

// Every configuration key with its documentation and default (for `dalenet config keys`).
struct ConfigKeyDoc {
  std::string key, doc, default_value;
};
std::vector<ConfigKeyDoc> config_schema();

// The resolved configuration as TOML (round-trips through parse_config) and as JSON.
std::string to_toml(const TrainConfig& cfg);
nlohmann::json to_json(const TrainConfig& cfg);

}  // namespace dalenet
