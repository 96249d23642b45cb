#include <algorithm>

#include "dalenet/error.hpp"
#include "dalenet/rule.hpp"
#include "rules/gradient_rules.hpp"

namespace dalenet {

const std::vector<RuleInfo>& rule_registry() {
  static const std::vector<RuleInfo> registry = {
      {"bp", "backprop with SGD+momentum or Adam, unconstrained weights", SignInit::free, rules::make_backprop},
      {"bp_sign",
       "backprop with weights projected onto their presynaptic neuron's sign after every step "
       "(Chorowski & Zurada 2015)",
       SignInit::per_neuron, rules::make_sign_constrained_backprop},
      {"eg", "exponentiated gradient w <- w*exp(-lr*sign(w)*dL/dw) (Cornford et al. 2024)", SignInit::per_neuron,
       rules::make_exponentiated_gradient},
      {"bio",
       "biologically guided local rule: competitive multiplicative Hebbian plasticity, interneuron feedback "
       "inhibition, homeostasis, structural plasticity, local output rule (docs/RULE.md)",
       SignInit::per_neuron, rules::make_bio},
  };
  return registry;
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
