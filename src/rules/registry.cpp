#include <algorithm>
#include <mutex>

#include "dalenet/error.hpp"
#include "dalenet/plugin.hpp"
#include "dalenet/rule.hpp"
#include "rules/gradient_rules.hpp"

namespace dalenet {
namespace {

std::deque<RuleInfo>& mutable_registry() {
  static std::deque<RuleInfo> registry = {
      {"bp", "backprop with SGD+momentum or Adam, unconstrained weights", SignInit::free, rules::make_backprop},
      {"bp_sign",
       "backprop with weights projected onto their presynaptic neuron's sign after every step "
       "(Chorowski & Zurada 2015)",
       SignInit::per_neuron, rules::make_sign_constrained_backprop},
      {"eg", "exponentiated gradient w <- w*exp(-lr*sign(w)*dL/dw) (Cornford et al. 2024)", SignInit::per_neuron,
       rules::make_exponentiated_gradient},
      {"bp_arch",
       "backprop through the bio rule's forward pass: log-normalised efficacy, feedback inhibition, the "
       "interneuron loop (the architecture control, docs/EVALUATION.md)",
       SignInit::per_neuron, rules::make_backprop_bio_architecture},
      {"bio",
       "biologically guided local rule: competitive multiplicative Hebbian plasticity, interneuron feedback "
       "inhibition, homeostasis, structural plasticity, local output rule (docs/RULE.md)",
       SignInit::per_neuron, rules::make_bio},
  };
  return registry;
}

}  // namespace

const std::deque<RuleInfo>& rule_registry() {
  return mutable_registry();
}

void register_rule(RuleInfo info) {
  static std::mutex mutex;
  const std::lock_guard<std::mutex> lock(mutex);
  if (info.name.empty()) throw ConfigError("register_rule: a rule needs a name");
  if (!info.make) throw ConfigError("register_rule: rule '" + info.name + "' has no make function");
  for (const auto& r : rule_registry())
    if (r.name == info.name) throw ConfigError("register_rule: a rule named '" + info.name + "' is already registered");
  for (const auto& p : info.params) {
    const auto& d = p.default_value;
    if (p.key.empty() || !(d.is_number() || d.is_boolean() || d.is_string()))
      throw ConfigError("register_rule: rule '" + info.name + "': parameter '" + p.key +
                        "' needs a name and a number, boolean or string default");
  }
  mutable_registry().push_back(std::move(info));
}

const RuleInfo& find_rule(const std::string& name) {
  const auto& r = rule_registry();
  const auto it = std::find_if(r.begin(), r.end(), [&](const RuleInfo& i) { return i.name == name; });
  if (it == r.end()) {
    std::string known;
    for (const auto& i : r) known += (known.empty() ? "" : ", ") + i.name;
    throw ConfigError("train.rule: unknown rule '" + name + "' (known: " + known + ")");
  }
  return *it;
}

std::unique_ptr<LearningRule> make_rule(const RuleConfig& cfg) {
  return find_rule(cfg.name).make(cfg);
}

}  // namespace dalenet
