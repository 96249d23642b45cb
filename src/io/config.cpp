#include "dalenet/config.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <type_traits>

#include <toml++/toml.h>

#include "dalenet/error.hpp"
#include "dalenet/plugin.hpp"

namespace dalenet {
namespace {

// One entry per configuration key: how to read it from a TOML node (with range checks) and
// how to write it back. The table is the single source of truth for the schema.
struct KeyDef {
  std::string doc;
  std::function<void(TrainConfig&, const toml::node&, const std::string& where)> read;
  std::function<void(const TrainConfig&, toml::table&, const std::string& leaf)> write;
};

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw ConfigError(where + ": " + what);
}

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "a date/time";
  }
}

std::int64_t get_int(const toml::node& n, const std::string& where, std::int64_t lo, std::int64_t hi) {
  const auto v = n.value_exact<std::int64_t>();
  if (!v) fail(where, "expected an integer, got " + type_name(n));
  if (*v < lo || *v > hi)
    fail(where,
         "value " + std::to_string(*v) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return *v;
}

double get_double(const toml::node& n, const std::string& where, double lo, double hi, bool lo_open = false) {
  std::optional<double> v;
  if (n.is_floating_point())
    v = n.value_exact<double>();
  else if (n.is_integer())
    v = static_cast<double>(*n.value_exact<std::int64_t>());
  if (!v) fail(where, "expected a number, got " + type_name(n));
  if (!std::isfinite(*v)) fail(where, "value must be finite");
  if ((lo_open ? *v <= lo : *v < lo) || *v > hi) {
    std::ostringstream os;
    os << "value " << *v << " is out of range " << (lo_open ? "(" : "[") << lo << ", " << hi << "]";
    fail(where, os.str());
  }
  return *v;
}

std::string get_string(const toml::node& n, const std::string& where, const std::vector<std::string>& allowed = {}) {
  const auto v = n.value_exact<std::string>();
  if (!v) fail(where, "expected a string, got " + type_name(n));
  if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), *v) == allowed.end()) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    fail(where, "'" + *v + "' is not one of: " + list);
  }
  return *v;
}

bool get_bool(const toml::node& n, const std::string& where) {
  const auto v = n.value_exact<bool>();
  if (!v) fail(where, "expected true or false, got " + type_name(n));
  return *v;
}

constexpr std::int64_t kBig = std::int64_t{1} << 40;

// Builders of schema entries. `get` is a generic lambda returning a reference to the field, so
// one accessor serves reading (non-const) and writing back (const).
template <class F>
KeyDef int_key(std::string doc, F get, std::int64_t lo, std::int64_t hi) {
  return {std::move(doc),
          [=](TrainConfig& c, const toml::node& n, const std::string& w) {
            using T = std::remove_reference_t<decltype(get(c))>;
            get(c) = static_cast<T>(get_int(n, w, lo, hi));
          },
          [=](const TrainConfig& c, toml::table& t, const std::string& leaf) {
            t.insert_or_assign(leaf, static_cast<std::int64_t>(get(c)));
          }};
}
// An array of integers, each in [lo, hi]; `example` completes the type error message.
template <class F>
KeyDef int_list_key(std::string doc, F get, std::int64_t lo, std::int64_t hi, const std::string& example) {
  return {std::move(doc),
          [=](TrainConfig& c, const toml::node& n, const std::string& w) {
            const auto* arr = n.as_array();
            if (arr == nullptr) fail(w, "expected an array of " + example);
            get(c).clear();
            for (std::size_t i = 0; i < arr->size(); ++i)
              get(c).push_back(static_cast<int>(
                  get_int(*arr->get(i), w.substr(0, w.size() - 1) + "[" + std::to_string(i) + "]'", lo, hi)));
          },
          [=](const TrainConfig& c, toml::table& t, const std::string& leaf) {
            toml::array a;
            for (int v : get(c)) a.push_back(v);
            t.insert_or_assign(leaf, a);
          }};
}
template <class F>
KeyDef double_key(std::string doc, F get, double lo, double hi, bool lo_open = false) {
  return {
      std::move(doc),
      [=](TrainConfig& c, const toml::node& n, const std::string& w) { get(c) = get_double(n, w, lo, hi, lo_open); },
      [=](const TrainConfig& c, toml::table& t, const std::string& leaf) { t.insert_or_assign(leaf, get(c)); }};
}
template <class F>
KeyDef string_key(std::string doc, F get, const std::vector<std::string>& allowed) {
  return {std::move(doc),
          [=](TrainConfig& c, const toml::node& n, const std::string& w) { get(c) = get_string(n, w, allowed); },
          [=](const TrainConfig& c, toml::table& t, const std::string& leaf) { t.insert_or_assign(leaf, get(c)); }};
}
// A key whose value is one of an enum's names (kXNames): parsed once here, written back by name.
template <class E, std::size_t N, class F>
KeyDef enum_key(std::string doc, F get, const EnumNames<E, N>& names) {
  return {std::move(doc),
          [=](TrainConfig& c, const toml::node& n, const std::string& w) {
            get(c) = *parse_enum(names, get_string(n, w, enum_names(names)));
          },
          [=](const TrainConfig& c, toml::table& t, const std::string& leaf) {
            t.insert_or_assign(leaf, std::string(enum_name(names, get(c))));
          }};
}
// network.sign_init: a SignInit, or "auto" (nullopt: the rule's default, filled in by resolve()).
KeyDef sign_init_key(std::string doc) {
  std::vector<std::string> allowed = enum_names(kSignInitNames);
  allowed.insert(allowed.begin(), "auto");
  return {std::move(doc),
          [=](TrainConfig& c, const toml::node& n, const std::string& w) {
            const std::string name = get_string(n, w, allowed);
            c.network.sign_init = name == "auto" ? std::nullopt : parse_enum(kSignInitNames, name);
          },
          [](const TrainConfig& c, toml::table& t, const std::string& leaf) {
            t.insert_or_assign(leaf, c.network.sign_init ? to_string(*c.network.sign_init) : std::string("auto"));
          }};
}
template <class F>
KeyDef bool_key(std::string doc, F get) {
  return {std::move(doc), [=](TrainConfig& c, const toml::node& n, const std::string& w) { get(c) = get_bool(n, w); },
          [=](const TrainConfig& c, toml::table& t, const std::string& leaf) { t.insert_or_assign(leaf, get(c)); }};
}

// A data table: one entry per key.
const std::map<std::string, KeyDef>& schema() {  // NOLINT(readability-function-size)
  static const std::map<std::string, KeyDef> keys = {
      // [data]
      {"data.dataset",
       {"mnist | fashion | idx:TRAIN_IMAGES,TRAIN_LABELS[;TEST_IMAGES,TEST_LABELS]",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.data.dataset = get_string(n, w);
          const auto& d = c.data.dataset;
          if (d != "mnist" && d != "fashion" && d.rfind("idx:", 0) != 0)
            fail(w, "'" + d + "' is not mnist, fashion or idx:IMAGES,LABELS");
        },
        [](const TrainConfig& c, toml::table& t, const std::string& leaf) {
          t.insert_or_assign(leaf, c.data.dataset);
        }}},
      {"data.validation", int_key(
                              "examples carved from the training set for validation",
                              [](auto& c) -> auto& { return c.data.validation; }, 0, kBig)},
      {"data.split_seed",
       int_key(
           "seed of the validation split", [](auto& c) -> auto& { return c.data.split_seed; }, 0, kBig)},
      {"data.train_limit", int_key(
                               "use only the first N training examples (0: all)",
                               [](auto& c) -> auto& { return c.data.train_limit; }, 0, kBig)},
      {"data.test_limit", int_key(
                              "evaluate on the first N test examples (0: all)",
                              [](auto& c) -> auto& { return c.data.test_limit; }, 0, kBig)},
      {"data.classes",
       int_list_key(
           "train and test on these classes only, e.g. [0, 1] (empty: all); for the task-growth analysis",
           [](auto& c) -> auto& { return c.data.classes; }, 0, 255, "class labels, e.g. [0, 1, 2]")},
      // [network]
      {"network.hidden", int_list_key(
                             "hidden layer sizes, e.g. [1000]", [](auto& c) -> auto& { return c.network.hidden; }, 1,
                             1 << 20, "integers, e.g. [1000]")},
      {"network.activation", enum_key(
                                 "hidden activation: identity, relu, sigmoid, sigmoid2 (2*sigma(a)-1), tanh",
                                 [](auto& c) -> auto& { return c.network.activation; }, kActivationNames)},
      {"network.inhibitory_fraction", double_key(
                                          "fraction of each hidden layer that is inhibitory, [0, 1)",
                                          [](auto& c) -> auto& { return c.network.inhibitory_fraction; }, 0.0, 0.99)},
      {"network.init", enum_key(
                           "uniform_fan_in (PyTorch default) | he_normal | uniform (init_low..init_high) | lognormal",
                           [](auto& c) -> auto& { return c.network.init; }, kInitKindNames)},
      {"network.sign_init", sign_init_key("auto | free | per_neuron | mixed")},
      {"network.init_low",
       double_key(
           "lower bound of |w| for init = uniform", [](auto& c) -> auto& { return c.network.init_low; }, 0.0, 1e3)},
      {"network.init_high", double_key(
                                "upper bound of |w| for init = uniform",
                                [](auto& c) -> auto& { return c.network.init_high; }, 0.0, 1e3, true)},
      {"network.init_mu", double_key(
                              "mean of ln|w| for init = lognormal (before 1/sqrt(fan_in) scaling)",
                              [](auto& c) -> auto& { return c.network.init_mu; }, -20.0, 20.0)},
      {"network.init_sigma", double_key(
                                 "std of ln|w| for init = lognormal",
                                 [](auto& c) -> auto& { return c.network.init_sigma; }, 0.0, 10.0, true)},
      // [train]
      {"train.rule",
       {"bp | bp_sign | eg | bp_arch | bio, or a rule registered by one of train.plugins (`dalenet rules`)",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          c.rule.name = get_string(n, w);
          try {
            find_rule(c.rule.name);
          } catch (const ConfigError& e) {
            fail(w, e.what());
          }
        },
        [](const TrainConfig& c, toml::table& t, const std::string& leaf) { t.insert_or_assign(leaf, c.rule.name); }}},
      {"train.plugins",
       {"rule plugins to load before train.rule is looked up, e.g. [\"build/liboja_rule.so\"]: shared objects built "
        "against this dalenet (docs/INSTALL.md); relative paths are taken from the config file's folder",
        [](TrainConfig& c, const toml::node& n, const std::string& w) {
          const auto* arr = n.as_array();
          if (arr == nullptr) fail(w, "expected an array of paths, e.g. [\"liboja_rule.so\"]");
          c.rule.plugins.clear();
          for (std::size_t i = 0; i < arr->size(); ++i)
            c.rule.plugins.push_back(
                get_string(*arr->get(i), w.substr(0, w.size() - 1) + "[" + std::to_string(i) + "]'"));
        },
        [](const TrainConfig& c, toml::table& t, const std::string& leaf) {
          // Written only when set, so that the resolved configuration of a run without plugins
          // (and every hash and model file made from it) is what it was before the key existed.
          if (c.rule.plugins.empty()) return;
          toml::array a;
          for (const auto& p : c.rule.plugins) a.push_back(p);
          t.insert_or_assign(leaf, a);
        }}},
      {"train.optimizer", enum_key(
                              "auto | sgd | adam (auto: adam for bp/bp_sign, sgd for eg)",
                              [](auto& c) -> auto& { return c.rule.optim.optimizer; }, kOptimizerNames)},
      {"train.lr", double_key(
                       "learning rate, > 0", [](auto& c) -> auto& { return c.rule.optim.lr; }, 0.0, 1e3, true)},
      {"train.momentum",
       double_key(
           "SGD momentum, [0, 1)", [](auto& c) -> auto& { return c.rule.optim.momentum; }, 0.0, 0.9999)},
      {"train.beta1", double_key(
                          "Adam beta1, [0, 1)", [](auto& c) -> auto& { return c.rule.optim.beta1; }, 0.0, 0.9999)},
      {"train.beta2", double_key(
                          "Adam beta2, [0, 1)", [](auto& c) -> auto& { return c.rule.optim.beta2; }, 0.0, 0.999999)},
      {"train.eps", double_key(
                        "Adam epsilon, > 0", [](auto& c) -> auto& { return c.rule.optim.eps; }, 0.0, 1.0, true)},
      {"train.weight_decay",
       double_key(
           "L2 coefficient on weights, >= 0", [](auto& c) -> auto& { return c.rule.optim.weight_decay; }, 0.0, 1e3)},
      {"train.l1",
       double_key(
           "decoupled L1 on weights (bp, bp_sign): after each step w <- sign(w) max(|w| - lr * l1, 0), >= 0",
           [](auto& c) -> auto& { return c.rule.optim.l1; }, 0.0, 1e3)},
      {"train.epochs", int_key(
                           "passes over the training set", [](auto& c) -> auto& { return c.loop.epochs; }, 1, 100000)},
      {"train.batch", int_key(
                          "mini-batch size", [](auto& c) -> auto& { return c.loop.batch; }, 1, 1 << 20)},
      {"train.seed",
       int_key(
           "seed of initialisation and shuffling", [](auto& c) -> auto& { return c.loop.seed; }, 0, kBig)},
      {"train.lr_schedule",
       enum_key(
           "constant | cosine (lr * (1 + cos(pi * t / T)) / 2 over all T batches, or over each phase of a rule "
           "with phases (bio.readout_epochs); also scales the bio rule's rates)",
           [](auto& c) -> auto& { return c.loop.lr_schedule; }, kLrScheduleNames)},
      {"train.augment_shift",
       int_key(
           "fixational jitter: translate each training image by (dx, dy) uniform in {-S..S}^2 pixels, zero-filled "
           "(0: off; validation and test images are never shifted)",
           [](auto& c) -> auto& { return c.loop.augment_shift; }, 0, 64)},
      {"train.threads", int_key(
                            "threads (0: all hardware threads); results are bit-identical for a fixed count",
                            [](auto& c) -> auto& { return c.loop.threads; }, 0, 4096)},
      // [bio] (docs/RULE.md)
      {"bio.hidden_update",
       enum_key(
           "multiplicative (H3) | additive (H3a) | mean (H3m, towards the mean input) | kmeans (the k-means "
           "control: mini-batch k-means prototypes, no Hebbian rule)",
           [](auto& c) -> auto& { return c.rule.bio.hidden_update; }, kHiddenUpdateNames)},
      {"bio.signed_hebbian",
       enum_key(
           "mixed-sign starts: H3 on |w| whatever the sign (magnitude) | on the signed efficacy (efficacy)",
           [](auto& c) -> auto& { return c.rule.bio.signed_hebbian; }, kSignedHebbianNames)},
      {"bio.hidden_modulation",
       enum_key(
           "H3r: none (label-blind hidden plasticity) | reward (a global right/wrong scalar per example gates H3)",
           [](auto& c) -> auto& { return c.rule.bio.hidden_modulation; }, kHiddenModulationNames)},
      {"bio.reward_punish", double_key(
                                "H3r: the scalar of a wrong answer is -reward_punish, [0, 10]",
                                [](auto& c) -> auto& { return c.rule.bio.reward_punish; }, 0.0, 10.0, false)},
      {"bio.hebbian_exponent",
       double_key(
           "H3p: H3's postsynaptic factor is y_j^p / sum_k y_k^p with p = hebbian_exponent, [1, 1000]",
           [](auto& c) -> auto& { return c.rule.bio.hebbian_exponent; }, 1.0, 1000.0, false)},
      {"bio.hebbian_anneal",
       bool_key(
           "H3p annealed: the exponent rises linearly from 1 (first plastic epoch) to hebbian_exponent (last)",
           [](auto& c) -> auto& { return c.rule.bio.hebbian_anneal; })},
      {"bio.eta_hidden",
       double_key(
           "hidden plasticity rate, > 0", [](auto& c) -> auto& { return c.rule.bio.eta_hidden; }, 0.0, 10.0, true)},
      {"bio.competition", enum_key(
                              "feedback_inhibition (interneurons) | kwta (fixed k-WTA ablation)",
                              [](auto& c) -> auto& { return c.rule.bio.competition; }, kBioCompetitionNames)},
      {"bio.inhibition_gain", double_key(
                                  "gain of the E->I->E feedback loop, > 0",
                                  [](auto& c) -> auto& { return c.rule.bio.inhibition_gain; }, 0.0, 1e6, true)},
      {"bio.kwta_k",
       int_key(
           "winners of the kwta ablation", [](auto& c) -> auto& { return c.rule.bio.kwta_k; }, 1, 1 << 20)},
      {"bio.divisive", bool_key(
                           "H2b: divide the hidden rates sent to the output by their sum (divisive normalisation)",
                           [](auto& c) -> auto& { return c.rule.bio.divisive; })},
      {"bio.silence_factor", double_key(
                                 "efficacy floor (and silence threshold) = silence_factor / fan_in",
                                 [](auto& c) -> auto& { return c.rule.bio.silence_factor; }, 0.0, 1.0, true)},
      {"bio.homeostasis",
       bool_key(
           "homeostatic thresholds on/off", [](auto& c) -> auto& { return c.rule.bio.homeostasis; })},
      {"bio.homeostasis_rate",
       double_key(
           "beta of the threshold update", [](auto& c) -> auto& { return c.rule.bio.homeostasis_rate; }, 0.0, 100.0)},
      {"bio.rate_decay", double_key(
                             "alpha of the running rate, (0, 1]",
                             [](auto& c) -> auto& { return c.rule.bio.rate_decay; }, 0.0, 1.0, true)},
      {"bio.structural", bool_key(
                             "structural plasticity on/off", [](auto& c) -> auto& { return c.rule.bio.structural; })},
      {"bio.regrowth", double_key(
                           "probability per silent synapse per structural step",
                           [](auto& c) -> auto& { return c.rule.bio.regrowth; }, 0.0, 1.0)},
      {"bio.structural_interval", int_key(
                                      "batches between structural steps",
                                      [](auto& c) -> auto& { return c.rule.bio.structural_interval; }, 1, 1 << 30)},
      {"bio.readout_epochs",
       int_key(
           "O1c: the last readout_epochs of train.epochs train the output rule alone (hidden plasticity off); "
           "at most train.epochs - 1",
           [](auto& c) -> auto& { return c.rule.bio.readout_epochs; }, 0, 100000)},
      {"bio.output_in_plastic_phase",
       bool_key(
           "O1c: the output rule also learns in the plastic epochs (false: only in the readout phase, "
           "from its initial weights; needs bio.readout_epochs > 0)",
           [](auto& c) -> auto& { return c.rule.bio.output_in_plastic_phase; })},
      {"bio.hidden_plasticity",
       bool_key(
           "H3, H4 and H5 on/off. false: the random-features control (docs/RULE.md): the hidden layer keeps its "
           "initial random draw and only the output rule learns, in every epoch",
           [](auto& c) -> auto& { return c.rule.bio.hidden_plasticity; })},
      {"bio.initial_density",
       double_key(
           "fraction of the potential input -> hidden synapses present at the start, each drawn independently "
           "(the others absent); 1: all",
           [](auto& c) -> auto& { return c.rule.bio.initial_density; }, 0.0, 1.0, true)},
      {"bio.window",
       int_key(
           "H6: side of each excitatory hidden neuron's square receptive field on the (square) input image; "
           "the neurons are shared out equally among the windows (0: full field)",
           [](auto& c) -> auto& { return c.rule.bio.window; }, 0, 1 << 12)},
      {"bio.window_stride", int_key(
                                "H6: pitch of the grid of window corners, in pixels",
                                [](auto& c) -> auto& { return c.rule.bio.window_stride; }, 1, 1 << 12)},
      {"bio.local_inhibition",
       bool_key(
           "H6b: each window's neurons compete among themselves (one interneuron pool per window) instead of "
           "across the layer (needs bio.window > 0)",
           [](auto& c) -> auto& { return c.rule.bio.local_inhibition; })},
      {"bio.commitment",
       bool_key(
           "D1-D5: presynaptic transmitter commitment on the plastic projections (docs/RULE.md): each "
           "presynaptic neuron's + synapses act at a_i, its - synapses at 1 - a_i, a_i moved by a replicator "
           "step on their utilities (needs bio.output_rule = delta)",
           [](auto& c) -> auto& { return c.rule.bio.commitment; })},
      {"bio.commitment_gamma",
       double_key(
           "D3: replicator exponent g; > 1 makes the 50/50 state unstable, 1 follows the utility ratio only",
           [](auto& c) -> auto& { return c.rule.bio.commitment_gamma; }, 0.0, 100.0, true)},
      {"bio.commitment_interval", int_key(
                                      "D3: batches between replicator steps (utilities summed over them)",
                                      [](auto& c) -> auto& { return c.rule.bio.commitment_interval; }, 1, 1 << 30)},
      {"bio.commitment_noise", double_key(
                                   "D1: a_i starts at 1/2 + noise * U(-1, 1), [0, 0.49]",
                                   [](auto& c) -> auto& { return c.rule.bio.commitment_noise; }, 0.0, 0.49)},
      {"bio.commitment_regrowth",
       double_key(
           "D5: probability per silent site per replicator step that a synapse regrows (sign + with probability "
           "a_i), [0, 1]",
           [](auto& c) -> auto& { return c.rule.bio.commitment_regrowth; }, 0.0, 1.0)},
      {"bio.commitment_regrowth_size",
       double_key(
           "D5: a regrown synapse's size relative to the mean size of its postsynaptic neuron's synapses, > 0",
           [](auto& c) -> auto& { return c.rule.bio.commitment_regrowth_size; }, 0.0, 100.0, true)},
      {"bio.output_rule", enum_key(
                              "delta (O1, three-factor) | perturbation (O2, Hebbian + weight perturbation)",
                              [](auto& c) -> auto& { return c.rule.bio.output_rule; }, kOutputRuleNames)},
      {"bio.eta_output",
       double_key(
           "output plasticity rate, > 0", [](auto& c) -> auto& { return c.rule.bio.eta_output; }, 0.0, 100.0, true)},
      {"bio.perturbation_sigma", double_key(
                                     "O2: size of the multiplicative weight perturbation",
                                     [](auto& c) -> auto& { return c.rule.bio.perturbation_sigma; }, 0.0, 10.0, true)},
      {"bio.eta_hebbian", double_key(
                              "O2: rate of the label-gated Hebbian term",
                              [](auto& c) -> auto& { return c.rule.bio.eta_hebbian; }, 0.0, 100.0)},
  };
  return keys;
}

constexpr const char* kRuleParamsSection = "rule_params";

// [rule_params]: scalars kept as JSON; resolve() checks them against the rule's declared keys.
void read_rule_params(const toml::table& tbl, TrainConfig& cfg) {
  for (const auto& [k, node] : tbl) {
    const std::string where = cfg.source + ": key '" + kRuleParamsSection + "." + std::string(k.str()) + "'";
    nlohmann::json v;
    if (const auto b = node.value_exact<bool>())
      v = *b;
    else if (const auto i = node.value_exact<std::int64_t>())
      v = *i;
    else if (node.is_floating_point())
      v = get_double(node, where, -std::numeric_limits<double>::max(), std::numeric_limits<double>::max());
    else if (const auto str = node.value_exact<std::string>())
      v = *str;
    else
      fail(where, "expected a number, boolean or string, got " + type_name(node));
    cfg.rule.params[std::string(k.str())] = v;
  }
}

// Walks the table; every leaf must be a known key.
void read_table(const toml::table& tbl, const std::string& prefix, TrainConfig& cfg) {
  for (const auto& [k, node] : tbl) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (key == kRuleParamsSection) {
      const auto* sub = node.as_table();
      if (sub == nullptr) fail(cfg.source + ": key '" + key + "'", "expected a section [" + key + "]");
      read_rule_params(*sub, cfg);
      continue;
    }
    const auto& keys = schema();
    if (const auto* sub = node.as_table(); sub != nullptr && keys.find(key) == keys.end()) {
      bool is_section = false;
      for (const auto& [name, def] : keys)
        if (name.rfind(key + ".", 0) == 0) is_section = true;
      if (!is_section) fail(cfg.source + ": [" + key + "]", "unknown section");
      read_table(*sub, key, cfg);
      continue;
    }
    const auto it = keys.find(key);
    if (it == keys.end()) {
      // Suggest the closest known key in the same section, to catch typos.
      std::string hint;
      const auto dot = key.rfind('.');
      const std::string section = dot == std::string::npos ? "" : key.substr(0, dot + 1);
      for (const auto& [name, def] : keys)
        if (!section.empty() && name.rfind(section, 0) == 0)
          hint += (hint.empty() ? "" : ", ") + name.substr(section.size());
      fail(
          cfg.source + ": key '" + key + "'",
          "unknown key" + (hint.empty() ? std::string()
                                        : " (known in [" + section.substr(0, section.size() - 1) + "]: " + hint + ")"));
    }
    it->second.read(cfg, node, cfg.source + ": key '" + key + "'");
  }
}

// Applies "a.b=value" to the TOML table before validation.
void apply_override(toml::table& tbl, const std::string& ov) {
  const auto eq = ov.find('=');
  if (eq == std::string::npos || eq == 0) throw ConfigError("--set '" + ov + "': expected key=value");
  const std::string key = ov.substr(0, eq);
  const std::string value = ov.substr(eq + 1);
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    parsed = toml::table{{"v", value}};  // a bare word: take it as a string
  }
  toml::table* cur = &tbl;
  std::size_t start = 0;
  for (;;) {
    const auto dot = key.find('.', start);
    if (dot == std::string::npos) break;
    const std::string part = key.substr(start, dot - start);
    auto* next = (*cur)[part].as_table();
    if (next == nullptr) {
      cur->insert_or_assign(part, toml::table{});
      next = (*cur)[part].as_table();
    }
    cur = next;
    start = dot + 1;
  }
  cur->insert_or_assign(key.substr(start), *parsed.get("v"));
}

// Every key of [rule_params] must be one the rule declares, of its default's type; missing keys
// take their defaults, so the resolved configuration records every value the rule used.
void resolve_rule_params(TrainConfig& cfg, const RuleInfo& info) {
  nlohmann::json resolved = nlohmann::json::object();
  std::string known;
  for (const auto& p : info.params) known += (known.empty() ? "" : ", ") + p.key;
  for (const auto& item : cfg.rule.params.items()) {
    const std::string& key = item.key();
    const nlohmann::json& value = item.value();
    const std::string where = cfg.source + ": key '" + kRuleParamsSection + "." + key + "'";
    const auto it =
        std::find_if(info.params.begin(), info.params.end(), [&](const RuleParam& p) { return p.key == key; });
    if (it == info.params.end())
      fail(where, "rule '" + info.name + "' has no such parameter" +
                      (known.empty() ? std::string(" (it takes none)") : " (known: " + known + ")"));
    const auto& d = it->default_value;
    if (d.is_number() && !value.is_number()) fail(where, "expected a number, got " + value.dump());
    if (d.is_boolean() && !value.is_boolean()) fail(where, "expected true or false, got " + value.dump());
    if (d.is_string() && !value.is_string()) fail(where, "expected a string, got " + value.dump());
    if (d.is_number_integer() && !value.is_number_integer()) fail(where, "expected an integer, got " + value.dump());
    resolved[key] = d.is_number_float() ? nlohmann::json(value.get<double>()) : value;
  }
  for (const auto& p : info.params)
    if (!resolved.contains(p.key)) resolved[p.key] = p.default_value;
  cfg.rule.params = resolved;
}

// Loads train.plugins (they may register the rule train.rule names) before the table is read,
// and rewrites them as absolute paths, so that a model file's configuration loads them from
// anywhere. Relative paths are taken from the config file's folder (the working directory for
// text without a file).
void load_plugins(toml::table& tbl, TrainConfig& cfg) {
  auto* train = tbl["train"].as_table();
  if (train == nullptr || !train->contains("plugins")) return;
  const std::string where = cfg.source + ": key 'train.plugins'";
  schema().at("train.plugins").read(cfg, *train->get("plugins"), where);
  std::error_code ec;
  std::filesystem::path base = std::filesystem::current_path();
  if (std::filesystem::is_regular_file(cfg.source, ec)) base = std::filesystem::absolute(cfg.source).parent_path();
  toml::array resolved;
  for (std::size_t i = 0; i < cfg.rule.plugins.size(); ++i) {
    const std::filesystem::path p = cfg.rule.plugins[i];
    const std::string abs = (p.is_absolute() ? p : base / p).lexically_normal().string();
    load_plugin(abs, cfg.source + ": key 'train.plugins[" + std::to_string(i) + "]'");
    resolved.push_back(abs);
  }
  train->insert_or_assign("plugins", resolved);
}

void resolve(TrainConfig& cfg) {
  const RuleInfo& info = find_rule(cfg.rule.name);
  if (!cfg.network.sign_init) cfg.network.sign_init = info.default_sign_init;
  if (cfg.rule.optim.optimizer == OptimizerKind::by_rule)
    cfg.rule.optim.optimizer = cfg.rule.name == "eg" ? OptimizerKind::sgd : OptimizerKind::adam;
  if (cfg.network.init == InitKind::uniform && !(cfg.network.init_high > cfg.network.init_low))
    fail(cfg.source + ": key 'network.init_high'", "must be greater than network.init_low");
  resolve_rule_params(cfg, info);
  // Validate the rule's own constraints now, not after loading data.
  make_rule(cfg.rule);
}

}  // namespace

std::vector<ConfigKeyDoc> config_schema() {
  TrainConfig defaults;
  defaults.rule.optim.optimizer = OptimizerKind::by_rule;
  const nlohmann::json d = to_json(defaults);
  std::vector<ConfigKeyDoc> out;
  for (const auto& [name, def] : schema()) {
    const auto dot = name.find('.');
    const auto& section = d[name.substr(0, dot)];
    const std::string leaf = name.substr(dot + 1);
    out.push_back({name, def.doc, section.contains(leaf) ? section[leaf].dump() : "[]"});
  }
  for (const auto& rule : rule_registry())
    for (const auto& p : rule.params)
      out.push_back(
          {std::string(kRuleParamsSection) + "." + p.key, "(rule " + rule.name + ") " + p.doc, p.default_value.dump()});
  return out;
}

NetworkSpec TrainConfig::network_spec(int input, int output) const {
  NetworkSpec s;
  s.input = input;
  s.output = output;
  s.hidden = network.hidden;
  s.hidden_activation = network.activation;
  s.inhibitory_fraction = network.inhibitory_fraction;
  return s;
}

InitSpec TrainConfig::init_spec() const {
  InitSpec s;
  if (!network.sign_init)
    throw ConfigError("network.sign_init: 'auto' is filled in when the config is read (parse_config, load_config)");
  s.kind = network.init;
  s.sign = *network.sign_init;
  s.low = network.init_low;
  s.high = network.init_high;
  s.mu = network.init_mu;
  s.sigma = network.init_sigma;
  return s;
}

TrainConfig parse_config(const std::string& toml_text, const std::string& source,
                         const std::vector<std::string>& overrides) {
  TrainConfig cfg;
  cfg.source = source;
  cfg.rule.optim.optimizer = OptimizerKind::by_rule;  // resolved with the rule (see resolve())
  toml::table tbl;
  try {
    tbl = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << source << ":" << e.source().begin.line << ":" << e.source().begin.column
       << ": TOML syntax error: " << e.description();
    throw ConfigError(os.str());
  }
  for (const auto& ov : overrides) apply_override(tbl, ov);
  load_plugins(tbl, cfg);
  read_table(tbl, "", cfg);
  resolve(cfg);
  return cfg;
}

TrainConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  if (path.empty()) return parse_config("", "<defaults>", overrides);
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot open config file '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path, overrides);
}

namespace {
// The configuration as a TOML table with every key of the schema.
toml::table to_table(const TrainConfig& cfg) {
  toml::table root;
  for (const auto& [name, def] : schema()) {
    const auto dot = name.find('.');
    const std::string section = name.substr(0, dot);
    if (!root.contains(section)) root.insert_or_assign(section, toml::table{});
    def.write(cfg, *root[section].as_table(), name.substr(dot + 1));
  }
  if (!cfg.rule.params.empty()) {
    toml::table params;
    for (const auto& [key, v] : cfg.rule.params.items()) {
      if (v.is_boolean())
        params.insert_or_assign(key, v.get<bool>());
      else if (v.is_number_integer())
        params.insert_or_assign(key, v.get<std::int64_t>());
      else if (v.is_number())
        params.insert_or_assign(key, v.get<double>());
      else
        params.insert_or_assign(key, v.get<std::string>());
    }
    root.insert_or_assign(kRuleParamsSection, params);
  }
  return root;
}
}  // namespace

std::string to_toml(const TrainConfig& cfg) {
  std::ostringstream os;
  os << "# dalenet resolved configuration (every key; re-usable with --config)\n" << to_table(cfg) << "\n";
  return os.str();
}

nlohmann::json to_json(const TrainConfig& cfg) {
  std::ostringstream os;
  os << toml::json_formatter{to_table(cfg)};
  return nlohmann::json::parse(os.str());
}

}  // namespace dalenet
