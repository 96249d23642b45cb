#pragma once
// Learning rules behind one small interface. A rule sees a network and a mini-batch and updates
// the network; the training loop (train.hpp) owns data, epochs, checkpoints and progress.
//
// Gradient rules (bp, bp_sign, eg) receive exact gradients from backprop.hpp. Local rules
// (docs/RULE.md) update each projection from presynaptic activity, postsynaptic state and the
// synapse itself (LocalPlasticity, local.hpp).
//
// Adding a rule in the tree: one new file in src/rules/ implementing LearningRule, one line in
// src/rules/registry.cpp, and its tests. Outside the tree: a plugin (plugin.hpp,
// examples/custom_rule/) that calls register_rule().
#include <Eigen/Core>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dalenet/enum_names.hpp"
#include "dalenet/local.hpp"
#include "dalenet/network.hpp"

namespace dalenet {

// train.optimizer. by_rule ("auto") is resolved when the config is read: adam for bp and
// bp_sign, sgd for eg.
enum class OptimizerKind { by_rule, sgd, adam };
inline constexpr EnumNames<OptimizerKind, 3> kOptimizerNames = {
    {{OptimizerKind::by_rule, "auto"}, {OptimizerKind::sgd, "sgd"}, {OptimizerKind::adam, "adam"}}};

// bio.hidden_update: H3 (multiplicative), H3a (additive), H3m (mean), or the k-means control.
enum class HiddenUpdate { multiplicative, additive, mean, kmeans };
inline constexpr EnumNames<HiddenUpdate, 4> kHiddenUpdateNames = {{{HiddenUpdate::multiplicative, "multiplicative"},
                                                                   {HiddenUpdate::additive, "additive"},
                                                                   {HiddenUpdate::mean, "mean"},
                                                                   {HiddenUpdate::kmeans, "kmeans"}}};
// bio.signed_hebbian (mixed-sign starts only).
enum class SignedHebbian { magnitude, efficacy };
inline constexpr EnumNames<SignedHebbian, 2> kSignedHebbianNames = {
    {{SignedHebbian::magnitude, "magnitude"}, {SignedHebbian::efficacy, "efficacy"}}};
// bio.hidden_modulation (H3r).
enum class HiddenModulation { none, reward };
inline constexpr EnumNames<HiddenModulation, 2> kHiddenModulationNames = {
    {{HiddenModulation::none, "none"}, {HiddenModulation::reward, "reward"}}};
// bio.output_rule: O1 (delta, three-factor) or O2 (perturbation).
enum class OutputRule { delta, perturbation };
inline constexpr EnumNames<OutputRule, 2> kOutputRuleNames = {
    {{OutputRule::delta, "delta"}, {OutputRule::perturbation, "perturbation"}}};
// bio.competition: the competitions a bio-rule hidden layer may have (not Competition::none).
inline constexpr EnumNames<Competition, 2> kBioCompetitionNames = {
    {{Competition::feedback_inhibition, "feedback_inhibition"}, {Competition::kwta, "kwta"}}};

struct OptimizerConfig {
  OptimizerKind optimizer = OptimizerKind::adam;  // sgd (with momentum) or adam
  double lr = 1e-3;                               // learning rate (EG: the exponent's step size)
  double momentum = 0.9;                          // sgd only (PyTorch convention: v = mu*v + g; w -= lr*v)
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adam only
  double weight_decay = 0.0;                      // L2 coefficient added to weight gradients (not to biases)
  // Decoupled L1 on weights (bp, bp_sign): after each step w <- sign(w) max(|w| - lr * l1, 0).
  double l1 = 0.0;
};

// The biologically guided rule (docs/RULE.md); config section [bio].
struct BioConfig {
  HiddenUpdate hidden_update = HiddenUpdate::multiplicative;
  double eta_hidden = 0.01;  // hidden plasticity rate
  // Mixed-sign starts only: H3 grows a synapse's magnitude with co-activity whatever its sign
  // ("magnitude"), or moves its signed efficacy in the Hebbian direction ("efficacy": an
  // inhibitory synapse weakens where an excitatory one would strengthen). docs/RULE.md.
  SignedHebbian signed_hebbian = SignedHebbian::magnitude;
  // H3r: "none" (hidden plasticity sees no label information) | "reward": one global scalar per
  // example, +1 if the network's answer was right and -reward_punish if wrong, gates H3 (docs/RULE.md).
  HiddenModulation hidden_modulation = HiddenModulation::none;
  double reward_punish = 0.5;
  // H3p: the postsynaptic factor of H3 is r_j = y_j^p / sum_k y_k^p (p = hebbian_exponent; 1 gives
  // H3 as first written). p > 1: plasticity depends supralinearly on the postsynaptic rate, so the
  // strongest responders learn most (docs/RULE.md).
  double hebbian_exponent = 1.0;
  // H3p annealed: the exponent rises linearly, epoch by epoch, from 1 in the first plastic epoch
  // to hebbian_exponent in the last (soft shares while the features form, sharper ones after).
  bool hebbian_anneal = false;
  Competition competition = Competition::feedback_inhibition;  // feedback_inhibition (interneurons) | kwta
  double inhibition_gain = 1.0;                                // E -> I -> E loop gain (feedback_inhibition)
  int kwta_k = 20;                                             // winners (kwta)
  bool divisive = false;         // H2b: normalise the rates sent to the output by their sum
  double silence_factor = 1e-3;  // efficacy floor = silence_factor / fan_in
  bool homeostasis = true;
  double homeostasis_rate = 0.01;  // beta in H4
  double rate_decay = 0.01;        // alpha: running-rate time constant, in batches^-1
  bool structural = true;
  double regrowth = 0.0;                   // probability per silent synapse per structural step
  std::int64_t structural_interval = 100;  // batches between structural steps
  OutputRule output_rule = OutputRule::delta;
  double eta_output = 0.05;
  // O1c: the last readout_epochs of train.epochs are a readout phase: hidden plasticity (H3, H4,
  // H5) is off and only the output rule learns, on the now fixed hidden code (0: none). At most
  // train.epochs - 1 of them: a shorter run keeps one plastic epoch.
  std::int64_t readout_epochs = 0;
  // O1c: whether the output rule also learns in the plastic epochs. false: it learns only in the
  // readout phase, from its initial weights, on the mature hidden code (needs readout_epochs > 0;
  // a run shortened to no readout phase learns the output throughout, as readout_epochs = 0 does).
  bool output_in_plastic_phase = true;
  // The random-features control (docs/RULE.md): false turns hidden plasticity (H3, H4, H5) off in
  // every epoch, so the hidden layer keeps its initial random draw and only the output rule learns.
  bool hidden_plasticity = true;
  // Fraction of the potential input -> hidden synapses present at the start (each drawn
  // independently; the others absent, mask 0). 1: all. With hidden_plasticity = false it sets the
  // connection density of the fixed random features.
  double initial_density = 1.0;
  // H6: retinotopic potential connectivity (docs/RULE.md). window > 0: each excitatory hidden
  // neuron may connect only to a window x window square of the (square) input image; the windows'
  // corners lie on a grid of pitch window_stride, and the neurons are shared out equally among
  // them. 0: full field (every input is potential).
  int window = 0;
  int window_stride = 4;
  // H6b: each window's neurons compete among themselves (local interneuron pools) instead of
  // across the whole layer (needs window > 0).
  bool local_inhibition = false;
  // D1-D4: presynaptic transmitter commitment (docs/RULE.md, "Transmitter commitment"). Each
  // presynaptic neuron of a plastic projection holds a share a_i of excitatory transmitter; its
  // + synapses act at a_i and its - synapses at 1 - a_i, and a replicator step on their utilities
  // every commitment_interval batches moves a_i (unstable at 1/2 for commitment_gamma > 1).
  bool commitment = false;
  double commitment_gamma = 1.5;
  std::int64_t commitment_interval = 50;  // batches per replicator step
  double commitment_noise = 0.01;         // a_i starts at 1/2 + commitment_noise * U(-1, 1)
  // D5: silent sites regrow with this probability per replicator step, + with probability a_i,
  // at commitment_regrowth_size times the mean size of the postsynaptic row's synapses.
  double commitment_regrowth = 0.5;
  double commitment_regrowth_size = 0.3;
  double perturbation_sigma = 0.05;  // O2: size of the multiplicative weight perturbation
  double eta_hebbian = 0.01;         // O2: label-gated Hebbian term
};

struct RuleConfig {
  std::string name = "bp";  // see rule_registry()
  OptimizerConfig optim;
  BioConfig bio;
  // Section [rule_params]: the keys a rule declares in RuleInfo::params (plugin rules; the
  // built-in rules take theirs from [train] and [bio]). After loading, every declared key is
  // present, defaults filled in, each of its default's type.
  nlohmann::json params = nlohmann::json::object();
  // train.plugins: shared objects loaded before the rule is looked up (plugin.hpp); absolute
  // paths once loaded.
  std::vector<std::string> plugins;
};

struct BatchStats {
  double loss = 0.0;        // mean loss over the batch (NaN if the rule defines none)
  std::size_t correct = 0;  // examples classified correctly before the update
};

// Events that would make an emergent property imposed rather than emergent; reported per run.
struct RuleCounters {
  std::uint64_t sign_flips = 0;    // weights whose sign changed (non-zero to opposite non-zero/zero)
  std::uint64_t clip_events = 0;   // weights clamped/projected by the rule itself
  std::uint64_t eliminations = 0;  // synapses made silent by structural plasticity
  std::uint64_t creations = 0;     // synapses regrown by structural plasticity
};

class LearningRule {
 public:
  virtual ~LearningRule() = default;
  virtual std::string name() const = 0;
  // Called once on the freshly initialised network, before begin(): a rule may set up the
  // structure it needs (masks, efficacy, competition). Deterministic given `rng`.
  virtual void prepare(Network& /*net*/, Rng& /*rng*/) {}
  // Called once before training: create per-run state (optimiser moments, traces) sized to `net`.
  virtual void begin(const Network& net) = 0;
  // One update from the mini-batch X [input x B] with its labels.
  virtual BatchStats train_batch(Network& net, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                 std::span<const std::uint8_t> labels) = 0;
  virtual RuleCounters counters() const { return {}; }
  // Called by the training loop before each epoch (1-based, of `epochs`): rules whose behaviour
  // changes over the run (phases) learn where they are; the others ignore it.
  virtual void begin_epoch(int /*epoch*/, int /*epochs*/) {}
  // Epochs (of `epochs`) after which train.lr_schedule starts again from its initial value: a rule
  // with phases gives each phase a whole schedule (the bio rule's readout phase). Default: none.
  virtual std::vector<int> schedule_restarts(int /*epochs*/) const { return {}; }
  // Called at the end of each epoch: rule-specific state worth logging (JSON object, may be empty).
  virtual nlohmann::json epoch_log(const Network& /*net*/) { return nlohmann::json::object(); }
  // Learning-rate schedule: the loop sets a factor in (0, 1] that scales the rule's step sizes
  // (train.lr_schedule). Rules without a step size may ignore it.
  void set_lr_scale(double scale) { lr_scale_ = scale; }
  double lr_scale() const { return lr_scale_; }

 private:
  double lr_scale_ = 1.0;
};

// One key of a rule's [rule_params] section. The default's JSON type (number, boolean or string)
// is the key's type.
struct RuleParam {
  std::string key;
  std::string doc;
  nlohmann::json default_value;
};

struct RuleInfo {
  std::string name;
  std::string description;
  SignInit default_sign_init = SignInit::free;  // what network.sign_init = "auto" resolves to
  std::function<std::unique_ptr<LearningRule>(const RuleConfig&)> make;
  std::vector<RuleParam> params = {};  // its keys in [rule_params] (none for the built-in rules)
};
// The built-in rules, then those registered by plugins (register_rule, plugin.hpp), in order.
// A deque: registering a rule leaves references to the others valid.
const std::deque<RuleInfo>& rule_registry();

// The bio rule's own output plasticity (O1, docs/RULE.md) on fixed features: a readout of
// `classes` output neurons with weights drawn U(init_low, init_high) (the rule's initialisation)
// and zero biases, trained by `updates` full-batch steps of the three-factor delta rule at rate
// `eta`. Used where a frozen hidden layer gets a new readout (few-shot regime B). Labels must lie
// in [0, classes). features: [units x N], non-negative rates.
struct LocalReadout {
  WeightMatrix weight;   // [classes x units]
  Eigen::VectorXf bias;  // [classes]
  std::vector<std::uint8_t> predict(const Eigen::MatrixXf& features) const;
};
LocalReadout train_bio_readout(const Eigen::MatrixXf& features, std::span<const std::uint8_t> labels, int classes,
                               double eta, int updates, std::uint64_t seed, double init_low = 0.01,
                               double init_high = 0.1);
// The bio rule's hidden plasticity on its own (docs/RULE.md: H3, or H3a with
// cfg.hidden_update = "additive", or H3m with "mean"; cfg.signed_hebbian and cfg.eta_hidden as in the rule; H3p's
// exponent and H3r's reward are applied by the rule to the rates it passes in). Rows of the
// synapses are the postsynaptic neurons; LocalBatch::post holds their shares r_jb of the pooled
// rate, LocalBatch::modulator the optional H3r factor. Throws ConfigError for an unknown update.
std::unique_ptr<LocalPlasticity> make_hidden_plasticity(const BioConfig& cfg);
const RuleInfo& find_rule(const std::string& name);  // throws ConfigError naming train.rule
std::unique_ptr<LearningRule> make_rule(const RuleConfig& cfg);

}  // namespace dalenet
