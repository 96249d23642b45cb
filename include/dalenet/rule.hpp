#pragma once
// Learning rules behind one small interface. A rule sees a network and a mini-batch and updates
// the network; the training loop (train.hpp) owns data, epochs, checkpoints and progress.
//
// Gradient rules (bp, bp_sign, eg) receive exact gradients from backprop.hpp. Local rules
// (docs/RULE.md, issue 3) will be given per-projection views that expose only presynaptic
// activity, postsynaptic state and the synapse itself, so that non-local information is
// unreachable by construction.
//
// Adding a rule: one new file in src/rules/ implementing LearningRule, one line in
// src/rules/registry.cpp, and its tests.
#include <Eigen/Core>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dalenet/network.hpp"

namespace dalenet {

struct OptimizerConfig {
  std::string optimizer = "adam";                 // "sgd" (with momentum) or "adam"
  double lr = 1e-3;                               // learning rate (EG: the exponent's step size)
  double momentum = 0.9;                          // sgd only (PyTorch convention: v = mu*v + g; w -= lr*v)
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adam only
  double weight_decay = 0.0;                      // L2 coefficient added to weight gradients (not to biases)
};

struct RuleConfig {
  std::string name = "bp";  // see rule_names()
  OptimizerConfig optim;
};

struct BatchStats {
  double loss = 0.0;        // mean loss over the batch (NaN if the rule defines none)
  std::size_t correct = 0;  // examples classified correctly before the update
};

// Events that would make an emergent property imposed rather than emergent; reported per run.
struct RuleCounters {
  std::uint64_t sign_flips = 0;   // weights whose sign changed (non-zero to opposite non-zero/zero)
  std::uint64_t clip_events = 0;  // weights clamped/projected by the rule itself
};

class LearningRule {
 public:
  virtual ~LearningRule() = default;
  virtual std::string name() const = 0;
  // Called once before training: create per-run state (optimiser moments, traces) sized to `net`.
  virtual void begin(const Network& net) = 0;
  // One update from the mini-batch X [input x B] with its labels.
  virtual BatchStats train_batch(Network& net, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                 std::span<const std::uint8_t> labels) = 0;
  virtual RuleCounters counters() const { return {}; }
  // Learning-rate schedule: the loop sets a factor in (0, 1] that scales the rule's step sizes
  // (train.lr_schedule). Rules without a step size may ignore it.
  void set_lr_scale(double scale) { lr_scale_ = scale; }
  double lr_scale() const { return lr_scale_; }

 private:
  double lr_scale_ = 1.0;
};

struct RuleInfo {
  std::string name;
  std::string description;
  SignInit default_sign_init;  // what network.sign_init = "auto" resolves to
  std::function<std::unique_ptr<LearningRule>(const RuleConfig&)> make;
};
const std::vector<RuleInfo>& rule_registry();
const RuleInfo& find_rule(const std::string& name);  // throws ConfigError naming train.rule
std::unique_ptr<LearningRule> make_rule(const RuleConfig& cfg);

}  // namespace dalenet
